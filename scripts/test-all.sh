#!/usr/bin/env bash
# The full test command: lint and types, unit tests, then the integration tests against a real
# HAPI FHIR server started here and stopped on exit (also when tests fail).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${BIN:-.venv/bin}"
port="${HAPI_TEST_PORT:-8089}"

"$BIN/ruff" check adapter tests bench scripts
"$BIN/ruff" format --check adapter tests bench scripts
"$BIN/mypy"
"$BIN/lint-imports"   # the layer contracts in .importlinter

# The review-page test drives the system's Chromium through its chromedriver (Debian packages
# chromium and chromium-driver); installed here when missing, as the HAPI server is built here.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver for the review-page test"
  sudo_="" && [ "$(id -u)" -ne 0 ] && sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium chromium-driver >/dev/null
fi

trap 'tests/hapi-server/hapi.sh down "$port"' EXIT
base="$(tests/hapi-server/hapi.sh up "$port")"
echo "HAPI FHIR server for the tests: $base"
HAPI_BASE_URL="$base" "$BIN/python" -m pytest "$@"
