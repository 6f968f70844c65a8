"""The adapter against EHR-like APIs: HAPI behind a proxy that enforces one vendor's published
constraints (tests/vendors/profiles.py), coding into a claims store apart from the EHR.

For each profile: every public scenario's outcome matches expected.json, a second pass writes
nothing, an amendment inside the window re-codes, and a session entered in error inside the
window is cancelled. The claims store is a directory with its ledger, so nothing here mixes
with the Claims other tests write on the same HAPI server.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from adapter.cli import main
from tests.expectations import check_outcome
from tests.helpers import put_transaction, scenario_resources
from tests.vendors.profiles import PROFILES, VendorProfile
from tests.vendors.proxy import VendorProxy

EXPECTED: list[dict[str, Any]] = json.loads((Path(__file__).parents[1] / "scenarios" / "expected.json").read_text())
GROUP = "Group/dn-vendor-patients"
# The public scenarios are dated 2025; the window reaches back to them.
CONFIG = "[selection]\nwindow_days = 1500\n"


@pytest.fixture(scope="module")
def loaded(fhir_base: str) -> Iterator[None]:
    """The public scenarios on HAPI (as shipped), and a Group of their patients."""
    for scenario in EXPECTED:
        put_transaction(fhir_base, scenario_resources(scenario["bundle"]))
    members = [{"entity": {"reference": p}} for p in sorted({s["patient"] for s in EXPECTED})]
    group = {"resourceType": "Group", "id": GROUP.split("/")[1], "type": "person", "actual": True, "member": members}
    put_transaction(fhir_base, [group])
    yield
    for scenario in EXPECTED:  # as shipped again, for the tests that follow
        put_transaction(fhir_base, scenario_resources(scenario["bundle"]))


def claims_in(store: Path) -> list[dict[str, Any]]:
    """The newest version of every Claim the store's passes hold, by id."""
    newest: dict[str, dict[str, Any]] = {}
    for ndjson in sorted(store.glob("pass-*/Claim.ndjson")):
        for line in ndjson.read_text().splitlines():
            claim = json.loads(line)
            newest[claim["id"]] = claim
    return list(newest.values())


def tasks_in(store: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(store.glob("pass-*/Task.ndjson")) for line in f.read_text().splitlines()]


def sync_pass(proxy: VendorProxy, store: Path, state: Path, config: Path) -> int:
    argv = ["sync", "--server", proxy.base, "--patients", GROUP, "--sink", str(store), "--once"]
    return main([*argv, "--state-dir", str(state), "--config", str(config), "--log-level", "error"])


def procedure_of(fhir_base: str, scenario_id: str) -> dict[str, Any]:
    scenario = next(s for s in EXPECTED if s["id"] == scenario_id)
    return next(r for r in scenario_resources(scenario["bundle"]) if r["resourceType"] == "Procedure")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_scenarios_through_the_vendor_profile(
    name: str, loaded: None, fhir_base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(CONFIG)
    store, state = tmp_path / "claims", tmp_path / "state"
    with VendorProxy(fhir_base, PROFILES[name]) as proxy:
        assert sync_pass(proxy, store, state, config) == 0, capsys.readouterr().err
        assert proxy.refused == {}, proxy.refused  # the adapter sent nothing the vendor refuses
        claims, tasks = claims_in(store), tasks_in(store)
        for scenario in EXPECTED:
            check_outcome(scenario, claims, tasks)
        passes = sorted(store.glob("pass-*"))

        assert sync_pass(proxy, store, state, config) == 0
        assert sorted(store.glob("pass-*")) == passes  # the second pass writes nothing
        assert "created=0 updated=0 cancelled=0" in capsys.readouterr().out

        amended = procedure_of(fhir_base, "DN-001")  # one muscle, 20560: amended to three
        amended["bodySite"] = [
            *amended["bodySite"],
            {"coding": [{"system": "http://snomed.info/sct", "code": "72573008:272741003=24028007"}]},
            {"coding": [{"system": "http://snomed.info/sct", "code": "6423006:272741003=24028007"}]},
        ]
        put_transaction(fhir_base, [amended])
        assert sync_pass(proxy, store, state, config) == 0
        (claim,) = [c for c in claims_in(store) if c["patient"]["reference"] == "Patient/dn-001-patient"]
        assert claim["item"][0]["productOrService"]["coding"][0]["code"] == "20561"
        assert "created=0 updated=1 cancelled=0" in capsys.readouterr().out

        wrong = {**copy.deepcopy(amended), "status": "entered-in-error"}
        put_transaction(fhir_base, [wrong])
        assert sync_pass(proxy, store, state, config) == 0
        (claim,) = [c for c in claims_in(store) if c["patient"]["reference"] == "Patient/dn-001-patient"]
        assert claim["status"] == "cancelled"
        assert "cancelled=1" in capsys.readouterr().out
        assert proxy.refused == {}, proxy.refused
    put_transaction(fhir_base, [procedure_of(fhir_base, "DN-001")])


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_stateless_run_reads_the_listed_patients(name: str, loaded: None, fhir_base: str, tmp_path: Path) -> None:
    with VendorProxy(fhir_base, PROFILES[name]) as proxy:
        assert main(["run", "--source", proxy.base, "--patients", GROUP, "--sink", str(tmp_path)]) == 0
        assert proxy.refused == {}, proxy.refused
    claims = [json.loads(line) for line in (tmp_path / "Claim.ndjson").read_text().splitlines()]
    tasks = [json.loads(line) for line in (tmp_path / "Task.ndjson").read_text().splitlines()]
    for scenario in EXPECTED:
        check_outcome(scenario, claims, tasks)


def test_a_server_that_needs_patient_is_refused_without_patients(
    loaded: None, fhir_base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with VendorProxy(fhir_base, PROFILES["epic"]) as proxy:
        argv = ["sync", "--server", proxy.base, "--sink", str(tmp_path / "claims"), "--once"]
        assert main([*argv, "--state-dir", str(tmp_path / "state")]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "requires patient" in line and "--patients" in line
        assert main(["run", "--source", proxy.base, "--sink", str(tmp_path / "out")]) == 2
        assert "--patients" in capsys.readouterr().err


def test_an_ehr_that_takes_no_claims_is_refused_as_the_sink(
    loaded: None, fhir_base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with VendorProxy(fhir_base, PROFILES["epic"]) as proxy:
        argv = ["sync", "--server", proxy.base, "--patients", GROUP, "--once", "--state-dir", str(tmp_path)]
        assert main(argv) == 2
        assert "does not take Claim writes" in capsys.readouterr().err
        assert proxy.requests["POST /"] == 0  # refused before anything was written


def test_patients_from_a_file(loaded: None, fhir_base: str, tmp_path: Path) -> None:
    listed = tmp_path / "patients.txt"
    listed.write_text("# our patients\nPatient/dn-001-patient\n\nPatient/dn-001-patient\n")
    with VendorProxy(fhir_base, PROFILES["us-core"]) as proxy:
        assert main(["run", "--source", proxy.base, "--patients", str(listed), "--sink", str(tmp_path / "out")]) == 0
    claims = (tmp_path / "out" / "Claim.ndjson").read_text().splitlines()
    assert [json.loads(c)["patient"]["reference"] for c in claims] == ["Patient/dn-001-patient"]
    listed.write_text("dn-001-patient\n")
    assert main(["run", "--source", fhir_base, "--patients", str(listed), "--sink", str(tmp_path / "x")]) == 2


def test_bare_hapi_still_reads_by_watermark(fhir_base: str) -> None:
    from adapter.fhir.capabilities import read_capabilities
    from adapter.fhir.client import FhirClient
    from adapter.sources.reading import LAST_UPDATED, choose_reading

    reading = choose_reading(fhir_base, read_capabilities(FhirClient(fhir_base)), False, "auto")
    assert (reading.patients, reading.changes) == ("server-wide", LAST_UPDATED)
    assert requests.get(f"{fhir_base}/metadata", timeout=30).ok


def test_a_server_without_last_updated_is_read_by_window_across_patients(
    loaded: None, fhir_base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Searches across patients are allowed (a population server), `_lastUpdated` is not: the
    # worker finds the window's patients with one Procedure?code=&date= search.
    profile = VendorProfile(name="no-last-updated", patient_parameters={}, comma_lists_in=frozenset({"code"}))
    config = tmp_path / "settings.toml"
    config.write_text(CONFIG)
    with VendorProxy(fhir_base, profile) as proxy:
        argv = ["sync", "--server", proxy.base, "--sink", str(tmp_path / "claims"), "--once"]
        assert main([*argv, "--state-dir", str(tmp_path / "state"), "--config", str(config)]) == 0
        assert proxy.refused == {}, proxy.refused
    claims, tasks = claims_in(tmp_path / "claims"), tasks_in(tmp_path / "claims")
    for scenario in EXPECTED:
        check_outcome(scenario, claims, tasks)


def test_sessions_older_than_the_window_are_not_coded(loaded: None, fhir_base: str, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("[selection]\nwindow_days = 1\n")  # the public scenarios are dated 2025
    with VendorProxy(fhir_base, PROFILES["epic"]) as proxy:
        assert sync_pass(proxy, tmp_path / "claims", tmp_path / "state", config) == 0
    assert list((tmp_path / "claims").glob("pass-*")) == []


def test_a_group_the_client_cannot_read_is_exported_instead(loaded: None, fhir_base: str, tmp_path: Path) -> None:
    # A backend client with Bulk Data scopes only: the Group's members come from its $export.
    from dataclasses import replace

    profile = replace(PROFILES["epic"], unreadable=frozenset({"Group"}))
    config = tmp_path / "settings.toml"
    config.write_text("[bulk]\npoll_max_delay_s = 1.0\n")
    with VendorProxy(fhir_base, profile) as proxy:
        argv = ["run", "--source", proxy.base, "--patients", GROUP, "--sink", str(tmp_path / "out")]
        assert main([*argv, "--config", str(config), "--state-dir", str(tmp_path / "state")]) == 0
        assert proxy.refused == {"Group read is not permitted for this client": 1}
        assert proxy.requests["GET Group"] >= 2  # the refused read, then the export's kick-off
    claims = [json.loads(line) for line in (tmp_path / "out" / "Claim.ndjson").read_text().splitlines()]
    tasks = [json.loads(line) for line in (tmp_path / "out" / "Task.ndjson").read_text().splitlines()]
    for scenario in EXPECTED:
        check_outcome(scenario, claims, tasks)
