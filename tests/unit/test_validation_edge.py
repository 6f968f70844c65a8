"""A builder bug never reaches an EHR or a file: sinks check resources against the R4 models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import adapter.build
import adapter.pipeline
from adapter.backfill import code_everything
from adapter.cli import main
from adapter.settings import Settings
from adapter.sinks.files import FileSink
from adapter.sinks.server import ServerSink
from adapter.sinks.validation import invalid_reason
from adapter.sources.ndjson import NdjsonSource
from tests.factory import LEFT, TRAPEZIUS, Case, site

GOOD = adapter.build.build_claim


def broken_claim(*args: Any, **kwargs: Any) -> dict[str, Any]:
    claim = GOOD(*args, **kwargs)
    claim["item"][0]["quantity"] = {"value": "one"}  # a builder bug: not a decimal
    return claim


def test_invalid_reason_names_the_element() -> None:
    reason = invalid_reason({"resourceType": "Claim", "id": "x", "status": "active", "created": "yesterday"})
    assert (reason is not None and "created" in reason) or "type" in str(reason)
    assert (
        invalid_reason(
            {"resourceType": "OperationOutcome", "id": "x", "issue": [{"severity": "error", "code": "invalid"}]}
        )
        is None
    )


class RecordingClient:
    """Stands in for the FHIR client: answers searches with nothing and records transactions."""

    base_url = "http://127.0.0.1:1/fhir"

    def __init__(self) -> None:
        self.transactions: list[dict[str, Any]] = []

    def search_resources(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return []

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        self.transactions.append(bundle)
        return {"resourceType": "Bundle", "type": "transaction-response"}


def coded_cases(monkeypatch: pytest.MonkeyPatch, broken: bool) -> ServerSink:
    from adapter.backfill import code_everything
    from adapter.settings import Settings
    from tests.helpers import ListSource

    if broken:
        monkeypatch.setattr(adapter.pipeline, "build_claim", broken_claim)
    case = Case("v")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    client = RecordingClient()
    sink = ServerSink(client)  # type: ignore[arg-type]
    code_everything(ListSource(case.resources()), sink, Settings(), workers=1)
    return sink


def test_server_sink_sends_nothing_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    good = coded_cases(monkeypatch, broken=False)
    assert len(good.client.transactions) == 1 and good.stats.errors == []  # type: ignore[attr-defined]
    bad = coded_cases(monkeypatch, broken=True)
    assert bad.client.transactions == []  # type: ignore[attr-defined]
    ((patient, message),) = bad.stats.errors
    assert patient == "Patient/v-patient"
    assert "not valid R4, not sent: Claim/" in message and "quantity" in message


def test_run_validate_refuses_the_case_and_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    case = Case("w")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    bundle = tmp_path / "b.json"
    bundle.write_text(
        json.dumps(
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in case.resources()]}
        )
    )
    monkeypatch.setattr(adapter.pipeline, "build_claim", broken_claim)
    assert main(["run", "--source", str(bundle), "--sink", str(tmp_path / "unchecked")]) == 0
    assert (tmp_path / "unchecked" / "Claim.ndjson").read_text()  # without --validate it is written as built
    assert main(["run", "--validate", "--source", str(bundle), "--sink", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "Claim.ndjson").read_text() == ""
    assert (tmp_path / "out" / "Provenance.ndjson").read_text() == ""
    outcomes = (tmp_path / "out" / "OperationOutcome.ndjson").read_text()
    assert "not written, not valid R4: Claim/" in outcomes and "quantity" in outcomes


def test_run_validate_holds_on_every_core_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A big export is coded by worker processes into part files: --validate must reach them."""
    case = Case("x")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    export = tmp_path / "export"
    export.mkdir()
    for resource in case.resources():
        with (export / f"{resource['resourceType']}.ndjson").open("a") as out:
            out.write(json.dumps(resource) + "\n")
    monkeypatch.setattr(adapter.pipeline, "build_claim", broken_claim)  # the forked workers inherit it
    source = NdjsonSource(sorted(export.glob("*.ndjson")), str(export))
    summary = code_everything(source, FileSink(tmp_path / "out", validate=True), Settings(), workers=2, spill_above=0)
    assert summary.sessions == 1
    assert (tmp_path / "out" / "Claim.ndjson").read_text() == ""
    assert "not written, not valid R4: Claim/" in (tmp_path / "out" / "OperationOutcome.ndjson").read_text()
