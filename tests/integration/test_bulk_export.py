"""Backfills through FHIR Bulk Data against the real HAPI server (bulk export enabled):
system and Group exports of the public scenarios, kicked off, polled, downloaded and coded,
and a run killed while polling that resumes the same export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from tests.expectations import check_outcome
from tests.helpers import put_transaction, scenario_resources
from tests.vendors.profiles import VendorProfile
from tests.vendors.proxy import VendorProxy

EXPECTED: list[dict[str, Any]] = json.loads((Path(__file__).parents[1] / "scenarios" / "expected.json").read_text())
GROUP = "Group/dn-bulk-patients"
# HAPI asks for 120 s between polls; its jobs finish in seconds here.
CONFIG = "[bulk]\npoll_max_delay_s = 1.0\n"
# HAPI as it is, seen through a proxy only to count what reaches it.
COUNTING = VendorProfile(
    name="hapi",
    patient_parameters={},
    last_updated=True,
    comma_lists_in=frozenset({"_type", "_id", "code"}),
    includes=True,
    part_of=True,
    history=True,
    refused_writes=frozenset(),
)


@pytest.fixture(scope="module")
def loaded(fhir_base: str) -> Iterator[None]:
    for scenario in EXPECTED:
        put_transaction(fhir_base, scenario_resources(scenario["bundle"]))
    members = [{"entity": {"reference": p}} for p in sorted({s["patient"] for s in EXPECTED})]
    put_transaction(
        fhir_base,
        [{"resourceType": "Group", "id": GROUP.split("/")[1], "type": "person", "actual": True, "member": members}],
    )
    yield


def outputs(out: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / f"{name}.ndjson").read_text().splitlines()]


@pytest.mark.parametrize("level", ["$export", f"{GROUP}/$export"])
def test_an_export_is_kicked_off_polled_downloaded_and_coded(
    level: str, loaded: None, fhir_base: str, tmp_path: Path
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(CONFIG)
    out, state = tmp_path / "out", tmp_path / "state"
    with VendorProxy(fhir_base, COUNTING) as proxy:
        argv = ["run", "--source", f"{proxy.base}/{level}", "--sink", str(out), "--state-dir", str(state)]
        assert main([*argv, "--config", str(config)]) == 0
        assert proxy.requests[f"GET {level.split('/')[0]}"] == 1  # one kick-off
        assert proxy.requests["DELETE $export-poll-status"] == 1  # the job deleted once downloaded
    claims, tasks = outputs(out, "Claim"), outputs(out, "Task")
    for scenario in EXPECTED:
        check_outcome(scenario, claims, tasks)
    assert list(state.glob("bulk-*")) == []  # the downloaded files go once the run is done


def test_a_run_killed_while_polling_resumes_the_same_export(loaded: None, fhir_base: str, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("[bulk]\npoll_max_delay_s = 1.0\npoll_default_delay_s = 1.0\n")
    out, state = tmp_path / "out", tmp_path / "state"
    with VendorProxy(fhir_base, COUNTING) as proxy:
        argv = [sys.executable, "-m", "adapter", "run", "--source", f"{proxy.base}/$export", "--sink", str(out)]
        argv += ["--state-dir", str(state), "--config", str(config)]
        first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not list(state.glob("bulk-*/state.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # while polling: the status URL is saved, nothing downloaded
        first.wait(timeout=30)
        (saved,) = state.glob("bulk-*/state.json")
        assert "status_url" in json.loads(saved.read_text())
        again = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=os.environ)
        assert again.returncode == 0, again.stderr[-2000:]
        assert proxy.requests["GET $export"] == 1  # resumed: one export job on the server
    claims, tasks = outputs(out, "Claim"), outputs(out, "Task")
    for scenario in EXPECTED:
        check_outcome(scenario, claims, tasks)


def test_a_refused_kick_off_exits_with_the_servers_reason(
    loaded: None, fhir_base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # HAPI refuses types outside the patient compartment at Group level (HAPI-0512).
    spec = f"{fhir_base}/{GROUP}/$export?_type=Location"
    assert main(["run", "--source", spec, "--sink", str(tmp_path / "out"), "--state-dir", str(tmp_path)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "bulk export kick-off" in line and "HTTP 400" in line


def test_the_worker_backfills_through_bulk_then_reads_from_the_exports_time(
    loaded: None, fhir_base: str, tmp_path: Path
) -> None:
    from adapter.sync.state import SyncState
    from tests.integration.test_vendor_profiles import claims_in, tasks_in

    config = tmp_path / "settings.toml"
    config.write_text(CONFIG)
    store, state = tmp_path / "claims", tmp_path / "state"
    argv = ["sync", "--server", fhir_base, "--backfill", f"{fhir_base}/$export", "--sink", str(store), "--once"]
    assert main([*argv, "--state-dir", str(state), "--config", str(config)]) == 0
    for scenario in EXPECTED:
        check_outcome(scenario, claims_in(store), tasks_in(store))
    assert len(list(store.glob("pass-*"))) == 1  # the backfill; the incremental pass found nothing new
    marks = SyncState(state, fhir_base, str(store.resolve()))
    try:
        assert marks.watermark("Procedure") is not None and marks.watermark("Procedure/deleted") is not None
    finally:
        marks.close()
    assert list(state.glob("bulk-*")) == []
