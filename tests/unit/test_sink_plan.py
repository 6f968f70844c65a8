"""The server sink's plan is pure: what the server holds and what coding gave in, the writes out."""

from __future__ import annotations

from typing import Any

from adapter.sinks.plan import CLAIM_WORKFLOW_SYSTEM, SUBMITTED, ServerState, plan_case
from tests.factory import LEFT, RIGHT, TRAPEZIUS, Case, site
from tests.helpers import run_resources


def one_case(sites: list[dict[str, Any]]) -> Any:
    case = Case("plan")
    case.procedure("p1", sites)
    (result,) = run_resources(case.resources()).cases
    return result


def methods(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["request"]["method"], e["request"]["url"].split("/")[0]) for e in entries]


def test_a_new_case_is_a_conditional_create_with_its_provenance() -> None:
    result = one_case([site(TRAPEZIUS, LEFT)])
    entries = plan_case(result, ServerState())
    assert methods(entries) == [("POST", "Claim"), ("PUT", "Provenance")]
    assert entries[0]["request"]["ifNoneExist"].endswith(f"|{result.claim['id']}")


def test_an_unchanged_case_writes_nothing_and_an_amended_one_updates_with_if_match() -> None:
    result = one_case([site(TRAPEZIUS, LEFT)])
    existing = {**result.claim, "id": "77", "meta": {**result.claim["meta"], "versionId": "3"}}
    state = ServerState(claims={result.claim["id"]: [existing]})
    assert plan_case(result, state) == []
    amended = one_case([site(TRAPEZIUS, LEFT), site(TRAPEZIUS, RIGHT)])
    entries = plan_case(amended, state)
    assert methods(entries) == [("PUT", "Claim"), ("PUT", "Provenance")]
    assert entries[0]["request"]["ifMatch"] == 'W/"3"'


def test_a_claim_picked_up_for_submission_is_left_and_a_task_says_what_recoding_gives() -> None:
    result = one_case([site(TRAPEZIUS, LEFT)])
    tag = {"system": CLAIM_WORKFLOW_SYSTEM, "code": SUBMITTED}
    existing = {**result.claim, "id": "77", "meta": {"versionId": "3", "tag": [tag]}}
    amended = one_case([site(TRAPEZIUS, LEFT), site(TRAPEZIUS, RIGHT)])
    entries = plan_case(amended, ServerState(claims={result.claim["id"]: [existing]}))
    assert methods(entries) == [("POST", "Task")]
    assert "picked up for submission" in entries[0]["resource"]["description"]
