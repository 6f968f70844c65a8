"""Check a scenario's expected outcome against the Claims and Tasks written for it."""

from __future__ import annotations

from typing import Any

DRY_NEEDLING = ("20560", "20561")


def claims_of_case(claims: list[dict[str, Any]], patient: str, day: str) -> list[dict[str, Any]]:
    """Claims for the patient whose line (or, without a line, whose procedures) fall on the day."""
    found = []
    for claim in claims:
        if claim["patient"]["reference"] != patient:
            continue
        days = {i.get("servicedDate") for i in claim.get("item", [])} | {
            p.get("date") for p in claim.get("procedure", [])
        }
        if day in days:
            found.append(claim)
    return found


def check_outcome(scenario: dict[str, Any], claims: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
    """Assert the scenario's outcome, code, modifiers and muscle count (expected.json semantics).

    A `muscle_count` of null marks a date with several cases (two clinicians, R3): each case's
    Claim then carries the outcome, code and modifiers.
    """
    mine = [
        c
        for c in claims_of_case(claims, scenario["patient"], scenario["date_of_service"])
        if c["status"] != "cancelled"
    ]
    lines = [i for c in mine for i in c.get("item", []) if i["productOrService"]["coding"][0]["code"] in DRY_NEEDLING]
    if scenario["outcome"] == "no_claim_line":
        assert lines == [], scenario["id"]
        return
    if scenario["muscle_count"] is None:
        assert len(mine) > 1, f"{scenario['id']}: one Claim per case, several cases expected, found {len(mine)}"
    else:
        assert len(mine) == 1, f"{scenario['id']}: one Claim per case, found {len(mine)}"
    for claim in mine:
        _check_claim(scenario, claim, tasks)


def _check_claim(scenario: dict[str, Any], claim: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
    lines = [i for i in claim.get("item", []) if i["productOrService"]["coding"][0]["code"] in DRY_NEEDLING]
    focused = [
        t for t in tasks if t["focus"]["reference"].endswith(f"Claim/{claim['id']}") and t["status"] == "requested"
    ]
    if scenario["outcome"] == "claim_line":
        assert claim["status"] == "active", scenario["id"]
        assert focused == [], scenario["id"]
    else:
        assert claim["status"] == "draft", scenario["id"]
        assert len(focused) == 1, scenario["id"]
    if scenario["cpt"] is None:
        assert lines == [], scenario["id"]
        return
    assert len(lines) == 1, scenario["id"]
    item = lines[0]
    assert item["productOrService"]["coding"][0]["code"] == scenario["cpt"], scenario["id"]
    assert item["quantity"]["value"] == 1
    assert item["servicedDate"] == scenario["date_of_service"]
    assert sorted(m["coding"][0]["code"] for m in item.get("modifier", [])) == sorted(scenario["modifiers"]), scenario[
        "id"
    ]
    if scenario["muscle_count"] is not None:
        summary = next(s["valueString"] for s in claim["supportingInfo"] if "valueString" in s)
        assert summary.startswith(f"{scenario['muscle_count']} muscle(s)"), scenario["id"]
