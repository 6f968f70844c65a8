"""The server sink's decisions: create, unchanged, update, cancel (transport mocked)."""

from __future__ import annotations

import json
from typing import Any

import responses

from adapter.build import claim_fingerprint, provenance_id
from adapter.fhir.client import FhirClient, RetryPolicy
from adapter.grouping import group_by_patient
from adapter.pipeline import code_patient, load_run_tables
from adapter.settings import Settings
from adapter.sinks.base import CaseResult
from adapter.sinks.server import ServerSink
from tests.factory import Case, site
from tests.helpers import ListSource, claim_of, sent_body

BASE = "http://fhir.test/fhir"


def case_result(status: str = "completed") -> CaseResult:
    case = Case(key="sink")
    case.procedure("p1", [site("31764008", "7771000")], status=status)
    grouped = group_by_patient(ListSource(case.resources()).items())
    ((patient, group),) = list(grouped.groups)
    results, _ = code_patient(
        patient, group, grouped.shared, load_run_tables(Settings()), Settings(), "2026-01-01T00:00:00Z"
    )
    return results[0]


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def sink_with(existing_claims: list[dict[str, Any]], edited_elsewhere: bool = False) -> ServerSink:
    """A sink over a mocked server holding these Claims, each written by us unless edited elsewhere."""
    responses.get(f"{BASE}/Claim", json=searchset(existing_claims))
    responses.get(f"{BASE}/Task", json=searchset([]))
    ours = [
        {
            "resourceType": "Provenance",
            "id": provenance_id(c["identifier"][0]["value"], claim_fingerprint(c), "CREATE"),
        }
        for c in existing_claims
        if not edited_elsewhere
    ]
    responses.get(f"{BASE}/Provenance", json=searchset(ours))
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    return ServerSink(FhirClient(BASE, retry=RetryPolicy(attempts=2), sleep=lambda s: None))


def posted() -> list[dict[str, Any]]:
    return [json.loads(sent_body(c.request)) for c in responses.calls if c.request.method == "POST"]


@responses.activate
def test_new_case_is_a_conditional_create_with_provenance() -> None:
    sink = sink_with([])
    sink.write_case(case_result())
    sink.close()
    (bundle,) = posted()
    methods = [(e["resource"]["resourceType"], e["request"]["method"]) for e in bundle["entry"]]
    assert methods == [("Claim", "POST"), ("Provenance", "PUT")]
    provenance = bundle["entry"][1]["resource"]
    assert provenance["target"][0]["reference"] == bundle["entry"][0]["fullUrl"]
    assert sink.stats.created == 1


@responses.activate
def test_unchanged_case_writes_nothing() -> None:
    result = case_result()
    stored = {**claim_of(result), "id": "123", "meta": {"versionId": "1"}, "created": "2020-01-01T00:00:00Z"}
    sink = sink_with([stored])
    sink.write_case(result)
    sink.close()
    assert posted() == [] and sink.stats.unchanged == 1


@responses.activate
def test_changed_case_is_a_version_aware_update() -> None:
    result = case_result()
    stored = {**claim_of(result), "id": "123", "meta": {"versionId": "4"}, "status": "draft"}
    sink = sink_with([stored])
    sink.write_case(result)
    sink.close()
    (bundle,) = posted()
    claim_entry = bundle["entry"][0]
    assert claim_entry["request"] == {"method": "PUT", "url": "Claim/123", "ifMatch": 'W/"4"'}
    assert claim_entry["resource"]["status"] == "active"


@responses.activate
def test_submitted_claim_is_not_touched_a_task_asks_a_person() -> None:
    result = case_result()
    stored = {
        **claim_of(result),
        "id": "123",
        "status": "draft",
        "meta": {
            "versionId": "4",
            "tag": [
                {"system": "https://dry-needling-adapter.github.io/fhir/CodeSystem/claim-workflow", "code": "submitted"}
            ],
        },
    }
    sink = sink_with([stored])
    sink.write_case(result)
    sink.close()
    (bundle,) = posted()
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Task"]
    assert "picked up for submission" in bundle["entry"][0]["resource"]["description"]


@responses.activate
def test_claim_edited_by_a_person_is_not_overwritten_a_task_asks() -> None:
    """Its content has no Provenance of ours: someone changed it, so re-coding leaves it alone."""
    result = case_result()
    stored = {**claim_of(result), "id": "123", "meta": {"versionId": "5"}, "priority": {"text": "biller: stat"}}
    sink = sink_with([stored], edited_elsewhere=True)
    sink.write_case(result)
    sink.close()
    (bundle,) = posted()
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Task"]
    assert "changed outside the adapter" in bundle["entry"][0]["resource"]["description"]
    assert bundle["entry"][0]["resource"]["focus"] == {"reference": "Claim/123"}


@responses.activate
def test_no_longer_billable_cancels_the_claim() -> None:
    billable = case_result()
    stored = {**claim_of(billable), "id": "123", "meta": {"versionId": "2"}}
    sink = sink_with([stored])
    sink.write_case(case_result(status="entered-in-error"))
    sink.close()
    (bundle,) = posted()
    claim_entry = bundle["entry"][0]
    assert claim_entry["resource"]["status"] == "cancelled" and claim_entry["request"]["ifMatch"] == 'W/"2"'
    assert bundle["entry"][1]["resource"]["resourceType"] == "Provenance"
    assert sink.stats.cancelled == 1


def test_file_sink_writes_compact_utf8_json_lines(tmp_path: Any) -> None:
    """One resource a line, UTF-8 as written (not \\u escapes), complete files only after close."""
    from adapter.sinks.files import FileSink

    result = case_result()
    assert result.claim is not None
    result.claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["display"] = "Myalgie, région — épaule"
    sink = FileSink(tmp_path)
    sink.write_case(result)
    assert not (tmp_path / "Claim.ndjson").exists()  # still under its temporary name
    sink.close()
    raw = (tmp_path / "Claim.ndjson").read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    assert "région — épaule".encode() in raw and b"\\u" not in raw and b'": ' not in raw
    assert json.loads(raw) == result.claim
