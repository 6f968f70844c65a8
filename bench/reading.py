"""Requests per session for each way of reading a server (issue 15).

The public scenarios are loaded into the server with a Group of their patients; then the same
sessions are read (a stateless `run` into a directory) four ways, each through a local proxy
that counts what reaches the server: across all patients on bare HAPI (`Procedure?code=`,
comma lists of patients, `_include`), and one listed patient at a time through the Epic-,
Oracle-Health- and US-Core-like profiles (tests/vendors/). Run with `--reading` and `--server`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from adapter.backfill import code_everything
from adapter.cli.endpoints import Endpoints
from adapter.pipeline import load_run_tables
from adapter.settings import Settings
from adapter.sinks.files import FileSink
from tests.helpers import SCENARIOS, put_transaction, scenario_resources
from tests.reliability.proxy import FaultProxy
from tests.vendors.profiles import PROFILES
from tests.vendors.proxy import VendorProxy

GROUP = "Group/dn-bench-patients"


def load_scenarios(server: str) -> None:
    import json

    expected = json.loads((SCENARIOS / "expected.json").read_text())
    patients = set()
    for scenario in expected:
        put_transaction(server, scenario_resources(scenario["bundle"]))
        patients.add(scenario["patient"])
    members = [{"entity": {"reference": p}} for p in sorted(patients)]
    put_transaction(
        server,
        [{"resourceType": "Group", "id": GROUP.split("/")[1], "type": "person", "actual": True, "member": members}],
    )


def requests_per_session(base: str, patients: str | None) -> tuple[int, int]:
    """(sessions, requests) of one stateless run of this base into a directory."""
    settings = Settings()
    tables = load_run_tables(settings)
    endpoints = Endpoints(settings, tables, patients=patients)
    with tempfile.TemporaryDirectory() as out:
        summary = code_everything(endpoints.source(base), FileSink(Path(out)), settings, workers=1, tables=tables)
    return summary.sessions, endpoints.requests_sent


def reading(server: str) -> None:
    load_scenarios(server)
    rows = []
    with FaultProxy(server, seed=0, budget=0) as bare:
        rows.append(("hapi, all patients (server-wide)", *requests_per_session(bare.base, None)))
    with FaultProxy(server, seed=0, budget=0) as bare:
        rows.append(("hapi, listed patients", *requests_per_session(bare.base, GROUP)))
    for name, profile in sorted(PROFILES.items()):
        with VendorProxy(server, profile) as proxy:
            rows.append((f"{name}-like, listed patients", *requests_per_session(proxy.base, GROUP)))
            if proxy.refused:
                raise SystemExit(f"{name}: the proxy refused {dict(proxy.refused)}")
    for way, sessions, sent in rows:
        print(f"reading: {way:36} sessions={sessions:3} requests={sent:4} per session={sent / max(sessions, 1):.1f}")
