"""The 837P sink: every file the public scenarios and the demo day produce passes pyx12's
005010X222A1 validation; replacements and voids too; a Claim lacking an element is refused
with an OperationOutcome; a rerun sends nothing new."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from adapter.cli import main
from adapter.cli.parser import DEMO_DATA
from tests.billing import public_scenario_resources, scenario_billing_config, validate_837

DEMO_BILLING = Path(__file__).parents[2] / "docs" / "examples" / "demo-billing.toml"


def write_bundle(path: Path, resources: list[dict[str, Any]]) -> Path:
    entries = [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return path


def segments(path: Path, tag: str) -> list[list[str]]:
    return [s.strip().split("*") for s in path.read_text().split("~") if s.strip().startswith(tag + "*")]


def run_x12(source: Path, target: Path, config: Path, state: Path) -> int:
    return main(
        ["run", "--source", str(source), "--sink", f"x12:{target}", "--config", str(config), "--state-dir", str(state)]
    )


def active_claims(source: Path, out: Path) -> list[dict[str, Any]]:
    assert main(["run", "--source", str(source), "--sink", str(out)]) == 0
    claims = [json.loads(line) for line in (out / "Claim.ndjson").read_text().splitlines()]
    return [c for c in claims if c["status"] == "active"]


def test_every_active_claim_of_the_public_scenarios_is_a_valid_clm(tmp_path: Path) -> None:
    resources = public_scenario_resources()
    source = write_bundle(tmp_path / "scenarios.json", resources)
    config = scenario_billing_config(tmp_path / "billing.toml", resources)
    target = tmp_path / "x12" / "claims.837"
    assert run_x12(source, target, config, tmp_path / "state") == 0
    validate_837(target)
    active = active_claims(source, tmp_path / "fhir")
    clms = segments(target, "CLM")
    assert len(clms) == len(active) > 10
    assert {c[5].split(":")[2] for c in clms} == {"1"}  # all originals
    lines = segments(target, "SV1")
    assert {line[1].split(":")[1] for line in lines} <= {"20560", "20561"}
    assert not target.with_name("claims.837.outcomes.ndjson").read_text().count("not in the 837P")

    # A rerun on the same input sends nothing new: no second file.
    assert run_x12(source, target, config, tmp_path / "state") == 0
    assert sorted(p.name for p in target.parent.glob("*.837")) == ["claims.837"]


def test_a_recoded_claim_is_replaced_and_a_withdrawn_one_voided(tmp_path: Path) -> None:
    resources = [r for r in public_scenario_resources() if str(r.get("id", "")).startswith("dn-001")]
    source = write_bundle(tmp_path / "s.json", resources)
    config = scenario_billing_config(tmp_path / "billing.toml", resources)
    target, state = tmp_path / "x12" / "claims.837", tmp_path / "state"
    assert run_x12(source, target, config, state) == 0
    ((original, *_),) = [[c[1]] for c in segments(target, "CLM")]

    amended = copy.deepcopy(resources)
    procedure = next(r for r in amended if r["resourceType"] == "Procedure")
    procedure["bodySite"].append(
        {"coding": [{"system": "http://snomed.info/sct", "code": "72573008:272741003=24028007"}]}
    )
    procedure["bodySite"].append(
        {"coding": [{"system": "http://snomed.info/sct", "code": "6423006:272741003=24028007"}]}
    )
    assert run_x12(write_bundle(tmp_path / "s.json", amended), target, config, state) == 0
    replacement = target.with_name("claims.2.837")
    validate_837(replacement)
    (clm,) = segments(replacement, "CLM")
    assert clm[1] == original and clm[5].endswith(":7")  # the same claim, frequency 7
    assert ["REF", "F8", original] in segments(replacement, "REF")
    assert segments(replacement, "SV1")[0][1].startswith("HC:20561")

    procedure["status"] = "entered-in-error"
    assert run_x12(write_bundle(tmp_path / "s.json", amended), target, config, state) == 0
    void = target.with_name("claims.3.837")
    validate_837(void)
    (clm,) = segments(void, "CLM")
    assert clm[5].endswith(":8") and ["REF", "F8", original] in segments(void, "REF")


def test_a_claim_without_the_rendering_npi_is_refused_with_an_outcome(tmp_path: Path) -> None:
    resources = [r for r in public_scenario_resources() if str(r.get("id", "")).startswith(("dn-001", "dn-002"))]
    for practitioner in (r for r in resources if r["resourceType"] == "Practitioner" and r["id"].startswith("dn-001")):
        practitioner.pop("identifier", None)
    source = write_bundle(tmp_path / "s.json", resources)
    config = scenario_billing_config(tmp_path / "billing.toml", resources)
    target = tmp_path / "claims.837"
    assert run_x12(source, target, config, tmp_path / "state") == 0
    outcomes = target.with_name("claims.837.outcomes.ndjson").read_text()
    assert "not in the 837P: missing Practitioner/dn-001-practitioner-a.identifier (NPI)" in outcomes
    patients = [s[9] for s in segments(target, "NM1") if s[1] == "IL"]
    assert patients and all(not p.startswith("SUB700000") for p in patients)  # DN-001's member id
    validate_837(target)


def test_the_demo_days_837p_is_valid(tmp_path: Path) -> None:
    target = tmp_path / "claims.837"
    assert run_x12(DEMO_DATA, target, DEMO_BILLING, tmp_path / "state") == 0
    validate_837(target)
    assert len(segments(target, "CLM")) == len(active_claims(DEMO_DATA, tmp_path / "fhir"))


def test_an_837p_needs_its_envelope_settings(tmp_path: Path, capsys: Any) -> None:
    assert main(["run", "--sink", f"x12:{tmp_path / 'c.837'}", "--state-dir", str(tmp_path)]) == 2
    assert "[billing] submitter_id, receiver_id, contact_phone" in capsys.readouterr().err
