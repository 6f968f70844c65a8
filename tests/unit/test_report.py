"""Issue 20: the review page's reading and rendering, without a browser (see
tests/integration/test_review_page.py for the page in Chromium)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapter.build import build_cancelled_claim, now_instant, provenance_shell
from adapter.cli import main
from adapter.report.cases import Review, ReviewCase, review_of, warning_kind
from adapter.report.page import render_page
from adapter.report.written import read_directory
from adapter.rules.decision import Finding
from tests.factory import DELTOID, LEFT, RIGHT, TRAPEZIUS, Case, site, text_site
from tests.helpers import run_resources


def coded(case: Case) -> dict[str, list[dict[str, Any]]]:
    sink = run_resources(case.resources())
    return {t: sink.resources(t) for t in ("Claim", "Task", "Provenance", "OperationOutcome")}


def write_ndjson(folder: Path, rtype: str, resources: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{rtype}.ndjson").open("a") as out:
        out.writelines(json.dumps(r) + "\n" for r in resources)


def test_a_held_case_carries_its_reasons_the_code_it_would_get_and_its_trace() -> None:
    case = Case("h1")
    case.procedure("p1", [site(TRAPEZIUS, LEFT), text_site("upper trap")])
    written = coded(case)
    review = review_of(written["Claim"], written["Task"], written["Provenance"], written["OperationOutcome"])
    (held,) = review.queue()
    assert held.status == "draft" and held.held_by == ("R6",)
    assert [f.rule for f in held.reasons] == ["R6"]
    assert held.trace is not None and [c.muscle.muscle for c in held.trace.counted] == ["trapezius"]
    assert held.trace.not_counted[0].why == "free text only, not coded"
    assert review.holds_by_rule() == {"R6": 1} and review.open_tasks == 1


def test_later_passes_replace_earlier_ones_and_a_cancelled_claim_says_why(tmp_path: Path) -> None:
    case = Case("c1")
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(TRAPEZIUS, RIGHT), site(DELTOID, LEFT)])
    written = coded(case)
    for rtype, resources in written.items():
        write_ndjson(tmp_path / "pass-20261201T000000Z", rtype, resources)
    (claim,) = written["Claim"]
    cancelled = build_cancelled_claim(claim)
    reason = "no session has this case key any more (its date was amended)"
    provenance = provenance_shell("cancel-1", f"Claim/{claim['id']}", now_instant(), "UPDATE", reason, [])
    write_ndjson(tmp_path / "pass-20261202T000000Z", "Claim", [cancelled])
    write_ndjson(tmp_path / "pass-20261202T000000Z", "Provenance", [provenance])
    (tmp_path / "pass-20261202T000000Z" / "Task.ndjson").write_text("{not json\n")
    read = read_directory(tmp_path)
    assert read.unreadable == ["pass-20261202T000000Z/Task.ndjson line 1: not a Task"]
    review = review_of(*(read.of(t) for t in ("Claim", "Task", "Provenance", "OperationOutcome")))
    (only,) = review.cases
    assert only.status == "cancelled" and only.why_cancelled == reason
    assert only.trace is not None and len(only.trace.counted) == 3  # the trace it was coded with
    assert "Why cancelled:" in render_page(review, "dir", "now")


def test_what_others_wrote_is_not_ours_to_report() -> None:
    claim = {"resourceType": "Claim", "id": "theirs", "status": "active", "patient": {"reference": "Patient/x"}}
    assert review_of([claim], [], [], []).cases == []


def test_the_page_escapes_what_it_shows_and_fetches_nothing() -> None:
    hostile = "<script>alert(1)</script>"
    case = ReviewCase(
        key='Claim/a"><img src=x onerror=alert(2)>',
        status="draft",
        patient=hostile,
        service_date="2025-03-04",
        created="",
        cpt="20560",
        modifiers=("GP",),
        clinician=None,
        reasons=(Finding("R6", hostile),),
        task=None,
        trace=None,
    )
    page = render_page(Review(cases=[case]), hostile, "now", {hostile: hostile})
    assert page.count("<script>") == 1  # ours, at the end
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<img" not in page
    assert "http://" not in page and "https://" not in page


def test_warnings_of_one_kind_differ_only_in_codes_and_ids() -> None:
    one = warning_kind("97112 on the same date: no NCCI pair loaded, so no 59/X; check the PTP edit for 2056x/97112")
    two = warning_kind("97140 on the same date: no NCCI pair loaded, so no 59/X; check the PTP edit for 2056x/97140")
    assert one == two and "same date" in one


def test_report_usage_errors(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "page.html"
    assert main(["report", "--source", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "not a directory or a FHIR server URL" in capsys.readouterr().err
    assert main(["report", "--source", str(tmp_path), "--out", str(out), "--patient-names"]) == 2
    assert "--patient-names" in capsys.readouterr().err
    assert main(["report", "--source", str(tmp_path), "--out", str(out)]) == 0
    assert "Review queue (0)" in out.read_text()
    assert "claims held:      0" in capsys.readouterr().out
