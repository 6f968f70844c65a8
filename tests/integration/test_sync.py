"""The sync worker against the real HAPI server: scenarios, reruns, amendments, cancellations."""

from __future__ import annotations

import copy
import json
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from adapter import systems
from adapter.cli import main
from adapter.fhir.client import FhirClient
from adapter.pipeline import CaseCoder
from adapter.rules import decide as real_decide
from adapter.settings import MappingSettings, Settings
from adapter.sinks.base import WriteStats
from adapter.sinks.server import ServerSink
from adapter.sources.server import fetch_patients
from adapter.sync.state import SyncState
from adapter.sync.worker import StopFlag, sync_once
from tests.expectations import check_outcome
from tests.factory import Case, site
from tests.helpers import SCENARIOS, put_transaction, scenario_resources

EXPECTED: list[dict[str, Any]] = json.loads((SCENARIOS / "expected.json").read_text())


def run_sync(base: str, state_dir: Path, settings: Settings | None = None) -> tuple[WriteStats, int]:
    client = FhirClient(base)
    sink = ServerSink(client)
    state = SyncState(state_dir, base)
    try:
        sync_once(client, sink, CaseCoder(sink, settings or Settings()), state, StopFlag())
    finally:
        state.close()
    return sink.stats, client.requests_sent


def ours(base: str, resource_type: str) -> list[dict[str, Any]]:
    client = FhirClient(base)
    params = {"_tag": f"{systems.WRITTEN_BY_TAG_SYSTEM}|dry-needling-adapter", "_count": "500"}
    return list(client.search_resources(resource_type, params))


@pytest.fixture(scope="module")
def synced(fhir_base: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for scenario in EXPECTED:
        put_transaction(fhir_base, scenario_resources(scenario["bundle"]))
    state_dir = tmp_path_factory.mktemp("state")
    stats, _ = run_sync(fhir_base, state_dir)
    assert stats.errors == []
    return state_dir


@pytest.mark.parametrize("scenario", EXPECTED, ids=[s["id"] for s in EXPECTED])
def test_every_scenario_outcome_on_the_server(synced: Path, fhir_base: str, scenario: dict[str, Any]) -> None:
    check_outcome(scenario, ours(fhir_base, "Claim"), ours(fhir_base, "Task"))


def test_rerun_writes_nothing(synced: Path, fhir_base: str, tmp_path: Path) -> None:
    claims, provenances = len(ours(fhir_base, "Claim")), len(ours(fhir_base, "Provenance"))
    again, _ = run_sync(fhir_base, synced)
    fresh, _ = run_sync(fhir_base, tmp_path / "fresh-state")  # a full re-crawl, as after losing the state
    for stats in (again, fresh):
        assert (stats.created, stats.updated, stats.cancelled, stats.tasks, stats.errors) == (0, 0, 0, 0, [])
    assert (len(ours(fhir_base, "Claim")), len(ours(fhir_base, "Provenance"))) == (claims, provenances)


def test_stateless_run_against_the_server_writes_nothing_new(synced: Path, fhir_base: str) -> None:
    claims = len(ours(fhir_base, "Claim"))
    assert main(["run", "--source", fhir_base, "--sink", fhir_base]) == 0
    assert len(ours(fhir_base, "Claim")) == claims


def test_stateless_run_from_the_server_into_files(synced: Path, fhir_base: str, tmp_path: Path) -> None:
    assert main(["run", "--source", fhir_base, "--sink", str(tmp_path)]) == 0
    claims = [json.loads(line) for line in (tmp_path / "Claim.ndjson").read_text().splitlines()]
    tasks = [json.loads(line) for line in (tmp_path / "Task.ndjson").read_text().splitlines()]
    for scenario in EXPECTED:
        check_outcome(scenario, claims, tasks)


def claim_for(base: str, patient: str) -> dict[str, Any]:
    mine = [c for c in ours(base, "Claim") if c["patient"]["reference"] == patient]
    assert len(mine) == 1
    return mine[0]


def test_amended_procedure_updates_its_claim(synced: Path, fhir_base: str) -> None:
    before = claim_for(fhir_base, "Patient/dn-001-patient")
    procedure = next(r for r in scenario_resources("DN-001.json") if r["id"] == "dn-001-proc-1")
    amended = copy.deepcopy(procedure)
    amended["bodySite"] += [site("72573008", "24028007"), site("6423006", "24028007")]
    put_transaction(fhir_base, [amended])
    stats, _ = run_sync(fhir_base, synced)
    after = claim_for(fhir_base, "Patient/dn-001-patient")
    assert stats.updated == 1 and stats.created == 0
    assert after["id"] == before["id"] and after["meta"]["versionId"] != before["meta"]["versionId"]
    assert after["item"][0]["productOrService"]["coding"][0]["code"] == "20561"
    provenances = [p for p in ours(fhir_base, "Provenance") if p["target"][0]["reference"] == f"Claim/{after['id']}"]
    assert {p["activity"]["coding"][0]["code"] for p in provenances} == {"CREATE", "UPDATE"}


def test_entered_in_error_cancels_the_claim(synced: Path, fhir_base: str) -> None:
    procedure = next(r for r in scenario_resources("DN-002.json") if r["id"] == "dn-002-proc-2")
    put_transaction(fhir_base, [{**procedure, "status": "entered-in-error"}])
    stats, _ = run_sync(fhir_base, synced)
    assert stats.cancelled == 1
    assert claim_for(fhir_base, "Patient/dn-002-patient")["status"] == "cancelled"


def test_two_workers_at_once_write_one_claim(fhir_base: str, tmp_path: Path) -> None:
    case = Case(key="twoworkers")
    case.procedure("p1", [site("31764008", "7771000")])
    put_transaction(fhir_base, case.resources())
    results: list[WriteStats] = []

    def worker(n: int) -> None:
        client = FhirClient(fhir_base)
        sink = ServerSink(client)
        coder = CaseCoder(sink, Settings())
        coder.code(fetch_patients(client, [case.patient]))
        sink.flush()
        results.append(sink.stats)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.errors for r in results] == [[], []]
    assert len([c for c in ours(fhir_base, "Claim") if c["patient"]["reference"] == case.patient]) == 1


def test_watch_mode_stops_gracefully_on_sigterm(fhir_base: str, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adapter",
            "sync",
            "--server",
            fhir_base,
            "--watch",
            "--interval",
            "1",
            "--state-dir",
            str(tmp_path / "state"),
            "--log-level",
            "error",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)  # at least one pass
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    assert "dn-adapter summary" in out


def test_moved_case_key_cancels_the_old_claim(fhir_base: str, tmp_path: Path) -> None:
    """An amended performer moves the case to another clinician: one active Claim, not two."""
    key = f"moved{uuid.uuid4().hex[:8]}"  # a fresh patient, so reruns against one server do not meet old data
    case = Case(key=key)
    case.add_clinician("b", "225100000X")
    procedure = case.procedure("p1", [site("31764008", "7771000")])
    put_transaction(fhir_base, case.resources())
    run_sync(fhir_base, tmp_path)
    (first,) = [c for c in ours(fhir_base, "Claim") if c["patient"]["reference"] == case.patient]
    procedure["performer"] = [{"actor": {"reference": f"PractitionerRole/{key}-role-b"}}]
    put_transaction(fhir_base, [procedure])
    stats, _ = run_sync(fhir_base, tmp_path)
    claims = {c["id"]: c for c in ours(fhir_base, "Claim") if c["patient"]["reference"] == case.patient}
    assert stats.created == 1 and stats.cancelled == 1
    assert claims[first["id"]]["status"] == "cancelled"
    assert [c["careTeam"][0]["provider"]["reference"] for c in claims.values() if c["status"] == "active"] == [
        f"PractitionerRole/{key}-role-b"
    ]


def test_non_ascii_text_reaches_the_server_unchanged(fhir_base: str, tmp_path: Path) -> None:
    """Bodies are sent as UTF-8 JSON: a diagnosis display with accents and a dash comes back as written."""
    key = f"utf{uuid.uuid4().hex[:8]}"
    case = Case(key=key)
    display = "Myalgie, région de l'épaule — côté gauche"
    case.find(f"Condition/{key}-cond-1")["code"]["coding"][0]["display"] = display
    case.procedure("p1", [site("31764008", "7771000")])
    put_transaction(fhir_base, case.resources())
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.errors == [] and stats.created == 1
    (claim,) = [c for c in ours(fhir_base, "Claim") if c["patient"]["reference"] == case.patient]
    assert claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["display"] == display


def test_hard_deletes_are_followed(fhir_base: str, tmp_path: Path) -> None:
    """A DELETEd Observation re-codes its case; a DELETEd Procedure cancels its Claim."""
    key = f"del{uuid.uuid4().hex[:8]}"
    case = Case(key=key)
    case.procedure("p1", [site("31764008", "7771000"), site("72573008", "7771000")], code="20561")
    case.observation("twitch", "p1", site("6423006", "7771000"))  # the third muscle
    put_transaction(fhir_base, case.resources())
    # The watermark is the server's clock at the crawl start, to the second (Date header): one
    # second later the next pass no longer re-reads these resources, so only a deletion can
    # bring the patient back.
    time.sleep(1.1)
    run_sync(fhir_base, tmp_path)

    def claims() -> list[dict[str, Any]]:
        return [c for c in ours(fhir_base, "Claim") if c["patient"]["reference"] == case.patient]

    (claim,) = claims()
    assert claim["item"][0]["productOrService"]["coding"][0]["code"] == "20561"
    assert requests.delete(f"{fhir_base}/Observation/{key}-twitch", timeout=60).status_code in (200, 204)
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.updated == 1 and stats.errors == []
    (claim,) = claims()
    assert claim["item"][0]["productOrService"]["coding"][0]["code"] == "20560"
    assert requests.delete(f"{fhir_base}/Procedure/{key}-p1", timeout=60).status_code in (200, 204)
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.cancelled == 1 and stats.errors == []
    assert [c["status"] for c in claims()] == ["cancelled"]
    stats, _ = run_sync(fhir_base, tmp_path)
    assert (stats.created, stats.updated, stats.cancelled) == (0, 0, 0)  # nothing twice


def test_session_moved_to_another_patient_is_billed_once(fhir_base: str, tmp_path: Path) -> None:
    """A wrong-chart correction moves the session's records to patient B: B's Claim, A's cancelled."""
    key = f"mv{uuid.uuid4().hex[:8]}"
    case = Case(key=key)
    case.procedure("p1", [site("31764008", "7771000")])
    put_transaction(fhir_base, case.resources())
    time.sleep(1.1)  # see test_hard_deletes_are_followed
    run_sync(fhir_base, tmp_path)
    other = f"Patient/{key}-patient-b"
    moved: list[dict[str, Any]] = [{"resourceType": "Patient", "id": f"{key}-patient-b"}]
    for resource in case.resources():
        for field in ("subject", "beneficiary", "patient"):
            if resource.get(field) == {"reference": case.patient}:
                moved.append({**resource, field: {"reference": other}})
    put_transaction(fhir_base, moved)
    stats, _ = run_sync(fhir_base, tmp_path)
    assert (stats.created, stats.cancelled, stats.errors) == (1, 1, [])
    statuses = {
        c["patient"]["reference"]: c["status"] for c in ours(fhir_base, "Claim") if key in c["patient"]["reference"]
    }
    assert statuses == {case.patient: "cancelled", other: "active"}


def synced_case(fhir_base: str, state_dir: Path, case: Case, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Load a case, let a second pass (1 s later) be incremental, return the case's resources."""
    resources = case.resources()
    put_transaction(fhir_base, resources)
    time.sleep(1.1)  # see test_hard_deletes_are_followed
    run_sync(fhir_base, state_dir, settings)
    return resources


def claim_of_patient(fhir_base: str, patient: str) -> dict[str, Any]:
    (claim,) = [c for c in ours(fhir_base, "Claim") if c["patient"]["reference"] == patient]
    return claim


def test_amended_diagnosis_and_late_injectate_re_code_the_case(fhir_base: str, tmp_path: Path) -> None:
    """Conditions and MedicationAdministrations are watched too: each can change the coding."""
    key = f"dx{uuid.uuid4().hex[:8]}"
    case = Case(key=key, payer_type="121", taxonomy="208100000X", diagnosis="M79.18")  # Medicare, physician
    case.procedure("p1", [site("31764008", "7771000")])
    synced_case(fhir_base, tmp_path, case)
    assert claim_of_patient(fhir_base, case.patient)["status"] == "draft"  # R8: not low back pain
    condition = case.find(f"Condition/{key}-cond-1")
    condition["code"]["coding"][0]["code"] = "M54.50"
    put_transaction(fhir_base, [condition])
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.updated == 1 and claim_of_patient(fhir_base, case.patient)["status"] == "active"
    case.injectate("p1")
    put_transaction(fhir_base, [case.find(f"MedicationAdministration/{key}-ma-p1")])
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.cancelled == 1 and claim_of_patient(fhir_base, case.patient)["status"] == "cancelled"


def test_changes_of_patients_without_dry_needling_cost_no_coding(fhir_base: str, tmp_path: Path) -> None:
    """On a hospital-wide server most changed records belong to other patients: they are not fetched."""
    key = f"nodn{uuid.uuid4().hex[:8]}"
    case = Case(key=key)
    case.procedure("p1", [site("31764008", "7771000")], code="97140")  # manual therapy only
    synced_case(fhir_base, tmp_path, case)
    encounter = case.find(f"Encounter/{key}-enc-1")
    put_transaction(fhir_base, [{**encounter, "status": "cancelled"}])
    client = FhirClient(fhir_base)
    sink = ServerSink(client)
    state = SyncState(tmp_path, fhir_base)
    try:
        summary = sync_once(client, sink, CaseCoder(sink, Settings()), state, StopFlag())
    finally:
        state.close()
    assert summary.changed_resources >= 1 and summary.patients == 0


def test_dry_needling_coded_under_the_cpt_oid_is_found_by_the_first_pass(fhir_base: str, tmp_path: Path) -> None:
    key = f"oid{uuid.uuid4().hex[:8]}"
    case = Case(key=key)
    procedure = case.procedure("p1", [site("31764008", "7771000")])
    procedure["code"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.12"
    put_transaction(fhir_base, case.resources())
    time.sleep(1.1)  # only the first pass's dry-needling search can find it, not a same-second overlap
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.errors == []
    assert claim_of_patient(fhir_base, case.patient)["status"] == "active"


def test_a_claim_a_person_edited_is_not_overwritten(fhir_base: str, tmp_path: Path) -> None:
    """A biller changed the Claim; then the session is amended: the Claim stays, a Task asks."""
    key = f"ed{uuid.uuid4().hex[:8]}"
    case = Case(key=key)
    procedure = case.procedure("p1", [site("31764008", "7771000")])
    synced_case(fhir_base, tmp_path, case)
    claim = claim_of_patient(fhir_base, case.patient)
    stat = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "stat"}]}
    response = requests.put(
        f"{fhir_base}/Claim/{claim['id']}",
        json={**claim, "priority": stat},
        headers={"Content-Type": "application/fhir+json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:300]
    procedure["bodySite"] += [site("72573008", "7771000"), site("6423006", "7771000")]  # now 3 muscles
    put_transaction(fhir_base, [procedure])
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.updated == 0 and stats.errors == []
    after = claim_of_patient(fhir_base, case.patient)
    assert after["priority"] == stat and after["item"][0]["productOrService"]["coding"][0]["code"] == "20560"
    tasks = [t for t in ours(fhir_base, "Task") if t["focus"]["reference"] == f"Claim/{claim['id']}"]
    assert any("changed outside the adapter" in t["description"] and "20561" in t["description"] for t in tasks)


class StopAfterFirstPage(StopFlag):
    """Asks the pass to stop at its first page boundary, as SIGTERM would."""

    def __init__(self) -> None:
        super().__init__()
        self.event.set()


def test_a_stop_between_pages_sharing_one_timestamp_skips_nothing(fhir_base: str, tmp_path: Path) -> None:
    """Five Procedures written in one transaction share their lastUpdated; pages of two, stop after one."""
    key = f"ts{uuid.uuid4().hex[:8]}"
    cases = [Case(key=f"{key}{i}") for i in range(5)]
    put_transaction(fhir_base, [r for case in cases for r in case.resources()])  # patients, encounters...
    time.sleep(1.1)
    run_sync(fhir_base, tmp_path)  # an incremental state from here on
    time.sleep(1.1)
    put_transaction(fhir_base, [case.procedure("p1", [site("31764008", "7771000")]) for case in cases])
    time.sleep(1.1)
    client = FhirClient(fhir_base)
    sink = ServerSink(client)
    state = SyncState(tmp_path, fhir_base)
    try:
        sync_once(client, sink, CaseCoder(sink, Settings()), state, StopAfterFirstPage(), page_size=2)
        assert sink.stats.created < 5  # it did stop part-way
        sync_once(client, sink, CaseCoder(sink, Settings()), state, StopFlag(), page_size=2)
    finally:
        state.close()
    billed = {c["patient"]["reference"] for c in ours(fhir_base, "Claim") if c["status"] == "active"}
    assert {case.patient for case in cases} <= billed


def test_a_changed_clinician_role_re_codes_their_patients(fhir_base: str, tmp_path: Path) -> None:
    """The role was entered as physical therapist by mistake: corrected to physician, GP goes."""
    key = f"role{uuid.uuid4().hex[:8]}"
    case = Case(key=key)
    case.procedure("p1", [site("31764008", "7771000")])
    synced_case(fhir_base, tmp_path, case)
    modifiers = claim_of_patient(fhir_base, case.patient)["item"][0].get("modifier", [])
    assert [m["coding"][0]["code"] for m in modifiers] == ["GP"]
    role = case.find(f"PractitionerRole/{key}-role-a")
    role["code"] = [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "208100000X"}]}]
    put_transaction(fhir_base, [role])
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.updated == 1 and stats.errors == []
    assert claim_of_patient(fhir_base, case.patient)["item"][0].get("modifier", []) == []


def test_a_renamed_payer_re_codes_the_patients_it_insures(fhir_base: str, tmp_path: Path) -> None:
    """Payer-policy rows match the payer's name (R8): a payer renamed into one is followed."""
    key = f"payer{uuid.uuid4().hex[:8]}"
    mappings = tmp_path / "mappings"
    shutil.copytree(Settings().mappings.dir, mappings)
    with (mappings / "payer-policies.csv").open("a", encoding="utf-8") as rows:
        rows.write(f"payer-name,{key} health,hold,Plan {key} excludes dry needling,test,test\n")
    settings = Settings(mappings=MappingSettings(dir=mappings))
    case = Case(key=key, payer_name="Northwind Health Plan")
    case.procedure("p1", [site("31764008", "7771000")])
    synced_case(fhir_base, tmp_path, case, settings)
    assert claim_of_patient(fhir_base, case.patient)["status"] == "active"
    payer = case.find(f"Organization/{key}-payer")
    payer["name"] = f"{key.upper()} Health"
    put_transaction(fhir_base, [payer])
    stats, _ = run_sync(fhir_base, tmp_path, settings)
    assert stats.updated == 1 and stats.errors == []
    assert claim_of_patient(fhir_base, case.patient)["status"] == "draft"


def test_a_patient_whose_coding_fails_keeps_its_claim_and_is_retried(
    fhir_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect met while re-coding must not read as 'no longer billable' and cancel the Claim."""
    key = f"fail{uuid.uuid4().hex[:8]}"
    case = Case(key=key)
    procedure = case.procedure("p1", [site("31764008", "7771000")])
    synced_case(fhir_base, tmp_path, case)
    put_transaction(fhir_base, [{**procedure, "status": "entered-in-error"}])

    def decide(session: Any, *args: Any) -> Any:
        if session.patient == case.patient:
            raise RuntimeError("defect")
        return real_decide(session, *args)

    monkeypatch.setattr("adapter.pipeline.decide", decide)
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.cancelled == 0 and claim_of_patient(fhir_base, case.patient)["status"] == "active"
    state = SyncState(tmp_path, fhir_base)
    assert case.patient in state.patients_to_retry()
    state.close()

    monkeypatch.undo()  # the defect is fixed: the retry codes the patient, and the Claim follows
    stats, _ = run_sync(fhir_base, tmp_path)
    assert stats.cancelled == 1 and claim_of_patient(fhir_base, case.patient)["status"] == "cancelled"
    state = SyncState(tmp_path, fhir_base)
    assert case.patient not in state.patients_to_retry()
    state.close()


def test_practitioner_named_only_by_the_encounter_is_fetched(fhir_base: str) -> None:
    """Issue 12 defect 6: a server read gives what a file read of the same data gives, with no
    false 'referenced but not in the source' for a clinician named only by Encounter.participant."""
    from tests.helpers import run_resources

    key = f"d6{uuid.uuid4().hex[:8]}"
    case = Case(key)
    case.items = [r for r in case.items if r["resourceType"] != "PractitionerRole"]  # a Practitioner without a role
    case.find(f"Encounter/{key}-enc-1")["participant"] = [{"individual": {"reference": f"Practitioner/{key}-pr-a"}}]
    procedure = case.procedure("p1", [site("31764008", "7771000")])
    del procedure["performer"]
    put_transaction(fhir_base, case.resources())

    fetched = fetch_patients(FhirClient(fhir_base), [case.patient])
    assert f"Practitioner/{key}-pr-a" in {f"{r['resourceType']}/{r['id']}" for r in fetched}
    from_server, from_file = run_resources(fetched), run_resources(case.resources())

    def diagnostics(sink: Any) -> list[str]:
        return sorted(i["diagnostics"] for o in sink.resources("OperationOutcome") for i in o["issue"])

    assert not any("referenced but not in the source" in d for d in diagnostics(from_server))
    assert diagnostics(from_server) == diagnostics(from_file)
    assert [t["description"] for t in from_server.resources("Task")] == [
        t["description"] for t in from_file.resources("Task")
    ]
