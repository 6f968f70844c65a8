"""Our profiles on the real server: every Claim the scenarios produce validates; broken ones fail."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from adapter import systems
from adapter.cli import main
from tests.helpers import SCENARIOS

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
EXPECTED: list[dict[str, Any]] = json.loads((SCENARIOS / "expected.json").read_text())
HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def uploaded(fhir_base: str) -> str:
    for path in sorted(PROFILES.glob("*.json")):
        resource = json.loads(path.read_text())
        url = f"{fhir_base}/{resource['resourceType']}/{resource['id']}"
        response = requests.put(url, json=resource, headers=HEADERS, timeout=120)
        assert response.status_code in (200, 201), response.text[:500]
    return fhir_base


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Claims, Tasks, Provenances and OperationOutcomes of every public scenario, offline."""
    out: dict[str, list[dict[str, Any]]] = {"Claim": [], "Task": [], "Provenance": [], "OperationOutcome": []}
    for scenario in EXPECTED:
        sink = tmp_path_factory.mktemp(scenario["id"])
        assert main(["run", "--source", str(SCENARIOS / scenario["bundle"]), "--sink", str(sink)]) == 0
        for rtype in out:
            out[rtype] += [json.loads(line) for line in (sink / f"{rtype}.ndjson").read_text().splitlines()]
    return out


def validate(base: str, resource: dict[str, Any]) -> list[dict[str, Any]]:
    response = requests.post(
        f"{base}/{resource['resourceType']}/$validate", json=resource, headers=HEADERS, timeout=300
    )
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", response.text[:500]
    return [i for i in outcome.get("issue", []) if i["severity"] in ("error", "fatal")]


def test_every_scenario_claim_and_task_validates(uploaded: str, written: dict[str, list[dict[str, Any]]]) -> None:
    assert written["Claim"] and written["Task"]
    for resource in written["Claim"] + written["Task"]:
        assert resource["meta"]["profile"] in ([systems.CLAIM_PROFILE], [systems.TASK_PROFILE])
        errors = validate(uploaded, resource)
        assert errors == [], f"{resource['resourceType']} {resource['id']}: {errors}"


def test_provenances_with_their_trace_and_outcomes_validate(
    uploaded: str, written: dict[str, list[dict[str, Any]]]
) -> None:
    """Provenances (with the decision trace, issue 20) against our profile; OperationOutcomes
    against R4 itself."""
    assert written["Provenance"] and written["OperationOutcome"]
    for provenance in written["Provenance"]:
        assert provenance["meta"]["profile"] == [systems.PROVENANCE_PROFILE]
        assert [e["url"] for e in provenance["extension"]] == [systems.DECISION_TRACE]
    for resource in written["Provenance"] + written["OperationOutcome"]:
        errors = validate(uploaded, resource)
        assert errors == [], f"{resource['resourceType']} {resource['id']}: {errors}"


def test_a_trace_step_without_its_decision_is_rejected(uploaded: str, written: dict[str, list[dict[str, Any]]]) -> None:
    provenance = copy.deepcopy(written["Provenance"][0])
    trace = provenance["extension"][0]["extension"]
    step = next(part for part in trace if part["url"] == "step")
    step["extension"] = [sub for sub in step["extension"] if sub["url"] != "decided"]
    found = messages(validate(uploaded, provenance))
    assert "decided" in found or "decision-trace" in found, found


def active_claim(written: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return copy.deepcopy(next(c for c in written["Claim"] if c["status"] == "active" and c["item"][0].get("modifier")))


def messages(errors: list[dict[str, Any]]) -> str:
    return " | ".join(f"{e.get('expression', e.get('location'))}: {e.get('diagnostics')}" for e in errors)


def test_rt_modifier_is_rejected_naming_the_element(uploaded: str, written: dict[str, list[dict[str, Any]]]) -> None:
    claim = active_claim(written)
    claim["item"][0]["modifier"].append({"coding": [{"system": systems.HCPCS, "code": "RT"}]})
    found = messages(validate(uploaded, claim))
    assert "dn-claim-2" in found and "Claim.item" in found


def test_quantity_two_is_rejected(uploaded: str, written: dict[str, list[dict[str, Any]]]) -> None:
    claim = active_claim(written)
    claim["item"][0]["quantity"]["value"] = 2
    assert "Claim.item[0].quantity.value" in messages(validate(uploaded, claim))


def test_three_codes_are_rejected(uploaded: str, written: dict[str, list[dict[str, Any]]]) -> None:
    claim = active_claim(written)
    line = claim["item"][0]
    claim["item"] = [line, {**line, "sequence": 2}, {**line, "sequence": 3}]
    claim["item"][1]["productOrService"] = {"coding": [{"system": systems.CPT, "code": "20561"}]}
    claim["item"][2]["productOrService"] = {"coding": [{"system": systems.CPT, "code": "97140"}]}
    found = messages(validate(uploaded, claim))
    assert "Claim.item" in found
    assert "dn-claim-3" in found or "max allowed = 1" in found or "maximum" in found.lower()


def test_missing_insurance_is_rejected(uploaded: str, written: dict[str, list[dict[str, Any]]]) -> None:
    claim = active_claim(written)
    del claim["insurance"]
    assert "Claim.insurance" in messages(validate(uploaded, claim))


def test_unknown_line_code_is_rejected(uploaded: str, written: dict[str, list[dict[str, Any]]]) -> None:
    claim = active_claim(written)
    claim["item"][0]["productOrService"] = {"coding": [{"system": systems.CPT, "code": "97140"}]}
    assert "Claim.item[0].productOrService" in messages(validate(uploaded, claim))


def test_draft_without_a_clinician_validates(uploaded: str, tmp_path: Path) -> None:
    """Issue 12 defect 1: no rendering clinician found, so no careTeam; the draft still conforms."""
    from tests.factory import Case, site

    case = Case("d1")
    procedure = case.procedure("p1", [site("31764008", "7771000")])
    del procedure["performer"]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in case.resources()]}
    (tmp_path / "d1.json").write_text(json.dumps(bundle))
    assert main(["run", "--source", str(tmp_path / "d1.json"), "--sink", str(tmp_path / "out")]) == 0
    (claim,) = [json.loads(line) for line in (tmp_path / "out" / "Claim.ndjson").read_text().splitlines()]
    assert claim["status"] == "draft" and "careTeam" not in claim
    assert validate(uploaded, claim) == []
    claim["status"] = "active"
    assert "dn-claim-5" in messages(validate(uploaded, claim))


def test_non_covered_medicare_claim_with_gy_and_gx_validates(uploaded: str) -> None:
    """Second edition R8: the non-covered path's active Claim (GP, GX, GY, patient liable) conforms."""

    from adapter.settings import CodingSettings, Settings
    from tests.helpers import run_resources
    from tests.unit.test_rules import medicare_case

    settings = Settings(coding=CodingSettings(medicare_therapist_path="non-covered", voluntary_abn=True))
    claims = run_resources(medicare_case(0, taxonomy="2251X0800X").resources(), settings).resources("Claim")
    (claim,) = [c for c in claims if c["item"][0]["servicedDate"] == "2025-03-04"]
    assert claim["status"] == "active"
    assert [m["coding"][0]["code"] for m in claim["item"][0]["modifier"]] == ["GP", "GX", "GY"]
    assert validate(uploaded, claim) == []
