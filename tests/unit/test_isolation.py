"""A defect met while coding one patient stops neither the run nor the other patients' Claims."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adapter.pipeline import CaseCoder
from adapter.rules import Decision
from adapter.rules import decide as real_decide
from adapter.session import Session
from adapter.settings import CodingSettings, Settings
from adapter.tables import CodingTables
from tests.factory import Case, site
from tests.helpers import ListSource, MemorySink, run_resources


def two_patients() -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for key in ("good", "bad"):
        case = Case(key=key)
        case.procedure("p1", [site("31764008", "7771000")])
        resources += case.resources()
    return resources


def decide_failing_for_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    def decide(session: Session, tables: CodingTables, settings: CodingSettings) -> Decision:
        if session.patient == "Patient/bad-patient":
            raise KeyError("Jane Doe, born 1970")  # the message of a real error may quote the record
        return real_decide(session, tables, settings)

    monkeypatch.setattr("adapter.pipeline.decide", decide)


def test_a_failing_patient_is_reported_and_the_others_are_coded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    decide_failing_for_bad(monkeypatch)
    with caplog.at_level(logging.ERROR, logger="adapter"):
        sink = run_resources(two_patients())
    assert [c["patient"]["reference"] for c in sink.resources("Claim")] == ["Patient/good-patient"]
    (outcome,) = [o for o in sink.problems if "internal error" in o["issue"][0]["diagnostics"]]
    assert outcome["issue"][0]["severity"] == "error"
    assert outcome["issue"][0]["location"] == ["Patient/bad-patient"]
    assert "KeyError" in outcome["issue"][0]["diagnostics"]
    (record,) = [r for r in caplog.records if r.getMessage() == "patient not coded"]
    assert record.__dict__["patient"] == "Patient/bad-patient" and record.__dict__["error"] == "KeyError"
    assert "Jane" not in caplog.text and "Jane" not in str(sink.problems)


def test_the_summary_counts_the_patients_not_coded(monkeypatch: pytest.MonkeyPatch) -> None:
    decide_failing_for_bad(monkeypatch)
    coder = CaseCoder(MemorySink(), Settings())
    coder.code(ListSource(two_patients()).items())
    summary = coder.finish()
    assert summary.patients_failed == 1 and summary.sessions == 1
    assert coder.failed_patients == {"Patient/bad-patient"}
    assert any(line.startswith("NOT CODED:") for line in summary.lines())
    monkeypatch.undo()
    coder.code(ListSource(two_patients()).items())  # the defect is gone: the next batch codes it
    assert coder.failed_patients == set()
