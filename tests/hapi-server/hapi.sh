#!/usr/bin/env bash
# Build, start and stop the HAPI FHIR JPA test server (R4, H2 in memory) on 127.0.0.1.
#   hapi.sh build          build the module if its sources changed (first build downloads ~340 MB)
#   hapi.sh up [PORT]      start in the background, wait for /fhir/metadata, print the base URL
#   hapi.sh down [PORT]    stop exactly the process started by `up` on that port
# PORT defaults to $HAPI_PORT, then 8080. A second `up` while it runs is harmless.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-up}"
port="${2:-${HAPI_PORT:-8080}}"
pidfile="$here/target/hapi-$port.pid"
logfile="$here/target/hapi-$port.log"
base="http://127.0.0.1:$port/fhir"

build() {
  local stamp="$here/target/.built"
  if [ -f "$stamp" ] && [ -f "$here/target/cp.txt" ] &&
     [ -z "$(find "$here/pom.xml" "$here/src" -newer "$stamp" -print -quit)" ]; then
    return 0
  fi
  echo "building the HAPI test server (first build downloads its dependencies)..." >&2
  (cd "$here" && mvn -B -q -DskipTests package dependency:build-classpath -Dmdep.outputFile=target/cp.txt) >&2
  touch "$stamp"
}

alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
answers() { curl -sf -o /dev/null --max-time 5 "$base/metadata"; }

up() {
  build
  if alive && answers; then echo "$base"; return 0; fi
  if ! alive && answers; then
    echo "port $port already serves a FHIR server that this script did not start; stop it or set HAPI_PORT" >&2
    exit 1
  fi
  mkdir -p "$here/target"
  # setsid: the server gets its own session, so it outlives the shell and `down` can stop its group.
  setsid java -Xms256m -Xmx${HAPI_HEAP:-1g} -cp "$here/target/classes:$(cat "$here/target/cp.txt")" \
    org.dnadapter.hapi.Main "$port" >"$logfile" 2>&1 < /dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 180); do
    if answers; then echo "$base"; return 0; fi
    if ! alive; then echo "HAPI server exited during start-up; last log lines:" >&2; tail -20 "$logfile" >&2; exit 1; fi
    sleep 1
  done
  echo "HAPI server did not answer $base/metadata within 180 s; last log lines:" >&2
  tail -20 "$logfile" >&2
  down
  exit 1
}

down() {
  if ! [ -f "$pidfile" ]; then return 0; fi
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "$cmd" in
  build) build ;;
  up) up ;;
  down) down ;;
  *) echo "usage: $0 build|up|down [PORT]" >&2; exit 2 ;;
esac
