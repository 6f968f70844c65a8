"""Reliability campaign: faults between worker and server, and SIGKILLs at random points.

python -m tests.reliability.campaign --seed S --sessions N --faults F --kills K [--server URL]

Starts a fresh HAPI server (or uses --server, expunging it), loads N synthetic sessions, and
codes them with the worker running as a separate process through the fault proxy, killed with
SIGKILL K times at random points and restarted until a pass completes. Then it compares what
the server holds with a clean offline run of the same data:
  duplicates = cases with more than one Claim
  missing    = billable cases (a Claim in the clean run) without a Claim
  wrong      = Claims whose status, code or modifiers differ from the clean run's
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapter import systems  # noqa: E402
from adapter.fhir.client import FhirClient  # noqa: E402
from bench.online import reset_and_load  # noqa: E402
from tests.reliability.proxy import FaultProxy  # noqa: E402
from tests.synthetic import write_ndjson_export  # noqa: E402

CAMPAIGN_PORT = 8093


def clean_claims(sessions: int, seed: int, work: Path) -> dict[str, dict[str, Any]]:
    """What a fault-free offline run of the same data writes, by case identifier."""
    export = work / "export"
    write_ndjson_export(export, sessions, seed, bad_lines=False)
    out = work / "clean"
    subprocess.run(
        [sys.executable, "-m", "adapter", "run", "--source", str(export), "--sink", str(out), "--log-level", "error"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    claims = {}
    for line in (out / "Claim.ndjson").read_text().splitlines():
        claim = json.loads(line)
        claims[claim["identifier"][0]["value"]] = claim
    return claims


def summary_of(claim: dict[str, Any]) -> tuple[str, str | None, tuple[str, ...]]:
    item = (claim.get("item") or [{}])[0]
    code = (item.get("productOrService") or {}).get("coding", [{}])[0].get("code")
    modifiers = tuple(sorted(m["coding"][0]["code"] for m in item.get("modifier", [])))
    return claim["status"], code, modifiers


def server_claims(base: str) -> dict[str, list[dict[str, Any]]]:
    client = FhirClient(base)
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    params = {"identifier": f"{systems.CASE_IDENTIFIER_SYSTEM}|", "_count": "500"}
    for claim in client.search_resources("Claim", params):
        for identifier in claim.get("identifier", []):
            if identifier.get("system") == systems.CASE_IDENTIFIER_SYSTEM:
                found[identifier["value"]].append(claim)
    return found


def worker_command(proxy_base: str, state: Path, config: Path, stateless: bool) -> list[str]:
    if stateless:
        return [
            sys.executable,
            "-m",
            "adapter",
            "run",
            "--source",
            proxy_base,
            "--sink",
            proxy_base,
            "--config",
            str(config),
            "--log-level",
            "error",
        ]
    return [
        sys.executable,
        "-m",
        "adapter",
        "sync",
        "--server",
        proxy_base,
        "--once",
        "--state-dir",
        str(state),
        "--config",
        str(config),
        "--log-level",
        "error",
    ]


def run_campaign(base: str, seed: int, sessions: int, faults: int, kills: int, log: Any = print) -> dict[str, int]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="dn-campaign-") as tmp:
        work = Path(tmp)
        expected = clean_claims(sessions, seed, work)
        reset_and_load(base, sessions, seed)
        config = work / "campaign.toml"
        config.write_text("[http]\ntimeout_s = 4.0\nretry_attempts = 8\nretry_max_delay_s = 2.0\n")
        state = work / "state"
        with FaultProxy(base, seed, faults, delay_s=5.0) as proxy:
            kills_done, runs, started = 0, 0, time.time()
            while True:
                runs += 1
                stateless = runs % 3 == 0
                process = subprocess.Popen(
                    worker_command(proxy.base, state, config, stateless),
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                if kills_done < kills:
                    deadline = time.time() + rng.uniform(0.3, 4.0)
                    while process.poll() is None and time.time() < deadline:
                        time.sleep(0.05)
                    if process.poll() is None:
                        os.kill(process.pid, signal.SIGKILL)
                        process.wait()
                        kills_done += 1
                        log(f"run {runs}: killed ({kills_done}/{kills})")
                        continue
                code = process.wait()
                log(f"run {runs}: exit {code} ({'run' if stateless else 'sync'}), faults so far {proxy.total_injected}")
                if kills_done >= kills and code == 0 and proxy.total_injected >= faults:
                    break
                if time.time() - started > 3600:
                    raise SystemExit("campaign did not converge")
            injected = proxy.total_injected
            log(f"faults injected: {dict(proxy.injected)}; requests forwarded: {proxy.forwarded}")
        # One last fault-free pass, as after an outage ends; then compare with the clean run.
        final = subprocess.run(worker_command(base, state, config, False), cwd=ROOT, capture_output=True)
        log(f"final pass without faults: exit {final.returncode}")
        held = server_claims(base)
        duplicates = sum(1 for claims in held.values() if len(claims) > 1)
        missing = sum(1 for case in expected if case not in held)
        wrong = sum(
            1
            for case, claim in expected.items()
            if case in held and any(summary_of(c) != summary_of(claim) for c in held[case])
        )
        extra = sum(1 for case in held if case not in expected)
        return {
            "sessions": sessions,
            "faults": injected,
            "kills": kills_done,
            "duplicates": duplicates,
            "missing": missing,
            "wrong": wrong + extra,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--faults", type=int, default=300)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--server", default=None, help="use this HAPI server (it is expunged) instead of a fresh one")
    args = parser.parse_args()
    hapi = ROOT / "tests" / "hapi-server" / "hapi.sh"
    base = args.server
    if base is None:
        base = subprocess.run(
            [str(hapi), "up", str(CAMPAIGN_PORT)], check=True, capture_output=True, text=True
        ).stdout.strip()
    try:
        result = run_campaign(base, args.seed, args.sessions, args.faults, args.kills)
    finally:
        if args.server is None:
            subprocess.run([str(hapi), "down", str(CAMPAIGN_PORT)], check=False)
    print(
        f"campaign: sessions={result['sessions']} faults={result['faults']} kills={result['kills']} "
        f"duplicates={result['duplicates']} missing={result['missing']} wrong={result['wrong']}"
    )
    sys.exit(0 if result["duplicates"] == result["missing"] == result["wrong"] == 0 else 1)


if __name__ == "__main__":
    main()
