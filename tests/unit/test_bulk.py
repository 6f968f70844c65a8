"""The Bulk Data client's transport edge cases (HTTP mocked with `responses`; what HAPI decides
is tested on HAPI in tests/integration/test_bulk_export.py)."""

from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path
from typing import Any

import pytest
import responses

from adapter.backfill import code_everything
from adapter.fhir.auth import BearerAuth
from adapter.fhir.client import FhirClient
from adapter.fhir.errors import ProtocolError
from adapter.settings import BulkSettings, Settings
from adapter.sources.bulk import BulkExport, BulkSource, with_types
from tests.helpers import MemorySink

BASE = "https://ehr.example.org/fhir"
STATUS = f"{BASE}/jobs/1"
KICK_OFF = f"{BASE}/$export"
PROCEDURE = {"resourceType": "Procedure", "id": "p1", "status": "completed", "subject": {"reference": "Patient/1"}}


def manifest(
    requires_token: bool, url: str = f"{BASE}/files/procedure.ndjson", errors: list[str] | None = None
) -> dict[str, Any]:
    return {
        "transactionTime": "2026-12-01T00:00:00Z",
        "request": KICK_OFF,
        "requiresAccessToken": requires_token,
        "output": [{"type": "Procedure", "url": url}],
        "error": [{"type": "OperationOutcome", "url": u} for u in errors or []],
    }


def export(tmp_path: Path, waits: list[float]) -> BulkExport:
    client = FhirClient(BASE, BearerAuth("secret-token"), sleep=waits.append)
    return BulkExport(client, KICK_OFF, tmp_path, BulkSettings(poll_max_delay_s=30), sleep=waits.append)


def kick_off_and_delete() -> None:
    responses.add(responses.GET, f"{BASE}/$export", status=202, headers={"Content-Location": STATUS})
    responses.add(responses.DELETE, STATUS, status=202)


def ndjson(*resources: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in resources)


@responses.activate
def test_retry_after_in_seconds_and_as_a_date_is_honoured_and_capped(tmp_path: Path) -> None:
    kick_off_and_delete()
    soon = email.utils.formatdate(time.time() + 20, usegmt=True)
    responses.add(responses.GET, STATUS, status=202, headers={"Retry-After": "3", "X-Progress": "10%"})
    responses.add(responses.GET, STATUS, status=202, headers={"Retry-After": soon})
    responses.add(responses.GET, STATUS, status=202, headers={"Retry-After": "18000"})  # five hours
    responses.add(responses.GET, STATUS, json=manifest(False))
    responses.add(responses.GET, f"{BASE}/files/procedure.ndjson", body=ndjson(PROCEDURE))
    waits: list[float] = []
    downloaded = export(tmp_path, waits).run()
    assert waits[0] == 3 and 15 < waits[1] <= 20 and waits[2] == 30  # our cap, not the five hours
    assert [p.name for p in downloaded.outputs] == ["output-00000-Procedure.ndjson"]
    assert "Prefer" in responses.calls[0].request.headers
    assert "_type=" in str(responses.calls[0].request.url)  # the types the rules read, one comma list


@responses.activate
def test_a_5xx_while_polling_is_retried(tmp_path: Path) -> None:
    kick_off_and_delete()
    responses.add(responses.GET, STATUS, status=503)
    responses.add(responses.GET, STATUS, json=manifest(False))
    responses.add(responses.GET, f"{BASE}/files/procedure.ndjson", body=ndjson(PROCEDURE))
    waits: list[float] = []
    assert export(tmp_path, waits).run().outputs
    assert len(waits) == 1  # one transport retry, then the manifest


@responses.activate
def test_an_error_file_becomes_problems_in_our_output(tmp_path: Path) -> None:
    kick_off_and_delete()
    errors_url = f"{BASE}/files/errors.ndjson"
    responses.add(responses.GET, STATUS, json=manifest(False, errors=[errors_url]))
    responses.add(responses.GET, f"{BASE}/files/procedure.ndjson", body=ndjson(PROCEDURE))
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "diagnostics": "Patient/9 failed"}]}
    responses.add(responses.GET, errors_url, body=ndjson(outcome))
    job = export(tmp_path, [])
    source = BulkSource(job, job.run())
    sink = MemorySink()
    code_everything(source, sink, Settings(), workers=1)
    details = [o["issue"][0]["diagnostics"] for o in sink.problems]
    assert any("the server reported: Patient/9 failed" in d for d in details)
    assert [i["id"] for i in source.items() if isinstance(i, dict)] == ["p1"]


@responses.activate
@pytest.mark.parametrize("requires_token", [True, False])
def test_the_token_goes_only_where_the_manifest_asks_and_never_to_a_file_host(
    tmp_path: Path, requires_token: bool
) -> None:
    kick_off_and_delete()
    responses.add(responses.GET, STATUS, json=manifest(requires_token))
    host = "https://files.example.net/bucket/procedure.ndjson?sig=abc"
    responses.add(responses.GET, f"{BASE}/files/procedure.ndjson", status=307, headers={"Location": host})
    responses.add(responses.GET, host, body=ndjson(PROCEDURE))
    downloaded = export(tmp_path, []).run()
    assert downloaded.outputs[0].read_text().strip() == json.dumps(PROCEDURE)
    on_server, on_host = responses.calls[2].request, responses.calls[3].request
    assert ("Authorization" in on_server.headers) is requires_token
    assert "Authorization" not in on_host.headers  # redirected to another origin: no token
    assert responses.calls[1].request.headers["Authorization"] == "Bearer secret-token"  # polls carry it


@responses.activate
def test_a_download_over_plain_http_to_another_host_is_refused(tmp_path: Path) -> None:
    kick_off_and_delete()
    responses.add(responses.GET, STATUS, json=manifest(True, url="http://files.example.net/p.ndjson"))
    with pytest.raises(ProtocolError, match="refusing to download"):
        export(tmp_path, []).run()


@responses.activate
def test_a_rerun_resumes_the_saved_export_and_keeps_finished_files(tmp_path: Path) -> None:
    kick_off_and_delete()
    responses.add(responses.GET, STATUS, status=202, headers={"Retry-After": "1"})
    responses.add(responses.GET, STATUS, json=manifest(False))
    responses.add(responses.GET, f"{BASE}/files/procedure.ndjson", body=ndjson(PROCEDURE))
    first = export(tmp_path, [])
    first.run()
    kick_offs = [c for c in responses.calls if str(c.request.url).startswith(f"{BASE}/$export")]
    again = export(tmp_path, [])
    again.run()  # the manifest and the file are on disk: nothing is asked again
    assert [c for c in responses.calls if str(c.request.url).startswith(f"{BASE}/$export")] == kick_offs
    (first.work_dir / "output-00000-Procedure.ndjson").unlink()  # as if half written and removed
    responses.add(responses.GET, f"{BASE}/files/procedure.ndjson", body=ndjson(PROCEDURE))
    assert export(tmp_path, []).run().outputs[0].exists()  # downloaded again, no new kick-off
    assert len([c for c in responses.calls if str(c.request.url).startswith(f"{BASE}/$export")]) == 1


def test_kick_off_urls_keep_their_own_types() -> None:
    assert with_types(f"{BASE}/$export?_type=Procedure&_since=2026-01-01").endswith("_type=Procedure&_since=2026-01-01")
    assert "Practitioner" not in with_types(f"{BASE}/Group/g1/$export")  # patient compartment only
    assert "Practitioner" in with_types(f"{BASE}/$export")


@responses.activate
def test_files_of_types_the_rules_never_read_are_not_downloaded(tmp_path: Path) -> None:
    """Issue 17: a kick-off with its own _type may list unused types; the manifest names each
    file's type, so those files are never fetched (responses fails any unregistered URL)."""
    kick_off_and_delete()
    listed = manifest(False)
    listed["output"] += [
        {"type": "ExplanationOfBenefit", "url": f"{BASE}/files/eob.ndjson"},
        {"type": "Immunization", "url": f"{BASE}/files/imm.ndjson"},
    ]
    responses.add(responses.GET, STATUS, json=listed)
    responses.add(responses.GET, f"{BASE}/files/procedure.ndjson", body=ndjson(PROCEDURE))
    downloaded = export(tmp_path, []).run()
    assert [p.name for p in downloaded.outputs] == ["output-00000-Procedure.ndjson"]
    assert not [c for c in responses.calls if "eob" in str(c.request.url) or "imm" in str(c.request.url)]
