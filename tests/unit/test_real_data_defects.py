"""Defects found by running the adapter on data nobody here wrote (issue 12), one test each.

Each test fails without its fix; the numbers are the issue's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapter.backfill import code_everything
from adapter.cli import main
from adapter.settings import Settings
from adapter.sinks.files import FileSink
from adapter.sources.base import check_resource
from adapter.sources.ndjson import NdjsonSource
from tests.factory import CPT, INFRASPINATUS, LEFT, PHYSICIAN, RIGHT, TRAPEZIUS, Case, site
from tests.helpers import run_resources
from tests.unit.test_rules import decide_one

NPI = "http://hl7.org/fhir/sid/us-npi"


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_export(directory: Path, resources: list[dict[str, Any]], sort_keys: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource, sort_keys=sort_keys))
    for rtype, lines in by_type.items():
        (directory / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")


# 2. A contained resource's resourceType key first in the line ------------------------------


@pytest.mark.parametrize("spill_above", [0, 1 << 30], ids=["bucketed", "in-memory"])
def test_contained_resource_type_first_in_line_does_not_lose_the_session(tmp_path: Path, spill_above: int) -> None:
    case = Case("d2")
    procedure = case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    # Sorted keys put "contained" before the Procedure's own "resourceType".
    procedure["contained"] = [
        {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "note"}},
        {"resourceType": "Patient", "id": "pp"},
    ]
    write_export(tmp_path / "export", case.resources(), sort_keys=True)
    line = (tmp_path / "export" / "Procedure.ndjson").read_text()
    assert line.index('"resourceType": "Observation"') < line.index('"resourceType": "Procedure"')
    sink = FileSink(tmp_path / "out")
    code_everything(
        NdjsonSource(sorted((tmp_path / "export").glob("*.ndjson")), "x"), sink, Settings(), 1, None, spill_above
    )
    claims = read_ndjson(tmp_path / "out" / "Claim.ndjson")
    assert [c["item"][0]["productOrService"]["coding"][0]["code"] for c in claims] == ["20560"]


# 3 and 4. Earlier Claims for the Medicare session number (R8) -------------------------------


def medicare_case_with_earlier_claims(claim_shape: dict[str, Any], count: int = 12, by_item: bool = False) -> Case:
    case = Case("d3", taxonomy=PHYSICIAN, payer_type="121", diagnosis="M54.50")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    for i in range(count):
        claim: dict[str, Any] = {
            "resourceType": "Claim",
            "id": f"d3-prior-{i}",
            "status": "active",
            "use": "claim",
            "patient": {"reference": case.patient},
            "item": [{"sequence": 1, "productOrService": {"coding": [{"system": CPT, "code": "20560"}]}}],
        }
        day = f"2025-02-{i + 1:02d}"
        if by_item:
            claim["item"][0]["servicedDate"] = day
        else:
            claim["billablePeriod"] = {"start": f"{day}T10:00:00-05:00"}
        claim.update(claim_shape)
        case.items.append(claim)
    return case


def test_earlier_claims_dated_only_by_billable_period_count_for_kx() -> None:
    decision = decide_one(medicare_case_with_earlier_claims({}))
    assert decision.outcome == "claim_line"
    assert "KX" in decision.modifiers  # session 13


def test_earlier_preauthorizations_do_not_count() -> None:
    assert "KX" in decide_one(medicare_case_with_earlier_claims({}, by_item=True)).modifiers
    for use in ("preauthorization", "predetermination"):
        decision = decide_one(medicare_case_with_earlier_claims({"use": use}, by_item=True))
        assert decision.outcome == "claim_line"
        assert "KX" not in decision.modifiers


def test_earlier_cancelled_claims_do_not_count_but_drafts_do() -> None:
    assert "KX" not in decide_one(medicare_case_with_earlier_claims({"status": "cancelled"})).modifiers
    assert "KX" in decide_one(medicare_case_with_earlier_claims({"status": "draft"})).modifiers


# 5. Conditional and identifier-only references -----------------------------------------------


def identified_case(shape: str) -> Case:
    """The performer named by NPI instead of by id; the Practitioner and its role carry the NPI."""
    case = Case("d5")
    practitioner = case.find("Practitioner/d5-pr-a")
    practitioner["identifier"] = [{"system": NPI, "value": "1234567893"}]
    role = case.find("PractitionerRole/d5-role-a")
    role["practitioner"] = {"identifier": {"system": NPI, "value": "1234567893"}}
    target: dict[str, Any] = (
        {"reference": f"Practitioner?identifier={NPI}|1234567893"}
        if shape == "conditional"
        else {"type": "Practitioner", "identifier": {"system": NPI, "value": "1234567893"}}
    )
    case.procedure("p1", [site(TRAPEZIUS, LEFT)], performer=[{"actor": target}])
    return case


@pytest.mark.parametrize("shape", ["conditional", "identifier"])
def test_reference_by_identifier_is_resolved_within_the_source(shape: str) -> None:
    sink = run_resources(identified_case(shape).resources())
    (claim,) = sink.resources("Claim")
    assert claim["status"] == "active"
    assert claim["careTeam"][0]["provider"]["reference"] == "Practitioner/d5-pr-a"
    assert claim["provider"]["reference"] == "Organization/d5-clinic"
    assert [m["coding"][0]["code"] for m in claim["item"][0]["modifier"]] == ["GP"]


def test_reference_by_identifier_not_in_the_source_is_reported_naming_the_element() -> None:
    case = identified_case("conditional")
    case.items = [r for r in case.items if r["resourceType"] not in ("Practitioner", "PractitionerRole")]
    sink = run_resources(case.resources())
    diagnostics = [i["diagnostics"] for o in sink.resources("OperationOutcome") for i in o["issue"]]
    assert any("Procedure/d5-p1: performer[0].actor names a Practitioner by identifier" in d for d in diagnostics)
    assert not any("1234567893" in d for d in diagnostics)
    (claim,) = sink.resources("Claim")
    assert claim["status"] == "draft"


def test_encounter_participant_and_service_provider_by_conditional_reference() -> None:
    case = Case("d5e")
    case.find("Practitioner/d5e-pr-a")["identifier"] = [{"system": NPI, "value": "1234567893"}]
    clinic = case.find("Organization/d5e-clinic")
    clinic["identifier"] = [{"system": "urn:clinic", "value": "c-1"}]
    encounter = case.find("Encounter/d5e-enc-1")
    encounter["participant"] = [{"individual": {"reference": f"Practitioner?identifier={NPI}|1234567893"}}]
    encounter["serviceProvider"] = {"reference": "Organization?identifier=urn:clinic|c-1"}
    procedure = case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    del procedure["performer"]
    (claim,) = run_resources(case.resources()).resources("Claim")
    assert claim["status"] == "active"
    assert claim["careTeam"][0]["provider"]["reference"] == "Practitioner/d5e-pr-a"
    assert claim["provider"]["reference"] == "Organization/d5e-clinic"


# 7. A sink that would overwrite its own source ----------------------------------------------


def test_sink_in_the_source_directory_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case("d7")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    export = tmp_path / "export"
    earlier = {"resourceType": "Claim", "id": "old", "status": "active", "use": "claim"}
    write_export(export, [*case.resources(), earlier])
    before = {p.name: p.read_bytes() for p in export.iterdir()}
    assert main(["run", "--source", str(export), "--sink", str(export)]) == 2
    assert "the source's own directory" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in export.iterdir()} == before
    single = export / "Claim.ndjson"
    assert main(["run", "--source", str(single), "--sink", str(export)]) == 2
    assert main(["run", "--source", str(export), "--sink", str(tmp_path / "out")]) == 0


# 8. R4 types that R4B withdrew ---------------------------------------------------------------


@pytest.mark.parametrize(
    "rtype", ["MedicinalProduct", "MedicinalProductAuthorization", "EffectEvidenceSynthesis", "SubstanceSpecification"]
)
def test_r4_resource_types_missing_from_r4b_are_accepted(rtype: str) -> None:
    assert check_resource({"resourceType": rtype, "id": "x"}, "line 1") == {"resourceType": rtype, "id": "x"}


def test_names_that_are_no_fhir_type_are_still_refused() -> None:
    problem = check_resource({"resourceType": "MedicinalWidget", "id": "x"}, "line 1")
    assert "unknown resourceType MedicinalWidget" in str(problem)


# 9. Every reason of a held case at once ------------------------------------------------------


def test_case_without_muscles_lists_the_missing_taxonomy_too() -> None:
    case = Case("d9")
    case.find("PractitionerRole/d9-role-a")["code"] = []
    case.procedure("p1", [])
    decision = decide_one(case)
    rules = sorted(f.rule for f in decision.holds)
    assert rules == ["R6", "R7"], decision.holds
    assert any("no NUCC taxonomy" in f.message for f in decision.holds)


# 10. Types the rules never read -------------------------------------------------------------


@pytest.mark.parametrize("spill_above", [0, 1 << 30], ids=["bucketed", "in-memory"])
def test_unread_types_are_skipped_unparsed_and_counted(tmp_path: Path, spill_above: int) -> None:
    case = Case("d10")
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(INFRASPINATUS, RIGHT)])
    export = tmp_path / "export"
    write_export(export, case.resources())
    # Not JSON at all: a parser would report it, so no problem proves it was never parsed.
    (export / "ExplanationOfBenefit.ndjson").write_text('{"resourceType": "ExplanationOfBenefit", "id": \n' * 3)
    (export / "Immunization.ndjson").write_text(
        json.dumps({"resourceType": "Immunization", "id": "i", "patient": {"reference": case.patient}}) + "\n"
    )
    sink = FileSink(tmp_path / "out")
    summary = code_everything(
        NdjsonSource(sorted(export.glob("*.ndjson")), "x"), sink, Settings(), 1, None, spill_above
    )
    assert summary.input_problems == 0
    assert summary.types.skipped == {"ExplanationOfBenefit": 3, "Immunization": 1}
    # The Patient is read since the billing formats carry its name, birth date and address.
    assert summary.types.read["Procedure"] == 1 and summary.types.read["Patient"] == 1
    assert summary.types.read["PractitionerRole"] == 1
    lines = "\n".join(summary.lines())
    assert "types skipped:    ExplanationOfBenefit=3, Immunization=1" in lines
    assert "Procedure=1" in lines


def test_whole_files_of_unread_types_are_counted_not_read_and_mixed_files_are_read(tmp_path: Path) -> None:
    """Issue 17: a file named for an unused type whose first line is of it is counted unread; a
    file whose name or first line says otherwise is read line by line, so no case is lost."""
    from adapter.grouping import split_unread_files

    case = Case("d17")
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(INFRASPINATUS, RIGHT)])
    export = tmp_path / "export"
    write_export(export, case.resources())
    eob = json.dumps({"resourceType": "ExplanationOfBenefit", "id": "e"})
    (export / "output-00007-ExplanationOfBenefit.ndjson").write_text(f"{eob}\n\n{eob}\n")
    # Misnamed: named for an unused type, but it holds the Procedure (read, so coded).
    procedure = (export / "Procedure.ndjson").read_text()
    (export / "Procedure.ndjson").unlink()
    (export / "Immunization.ndjson").write_text(procedure)
    files, unread = split_unread_files(sorted(export.glob("*.ndjson")))
    assert unread == {"ExplanationOfBenefit": 2}
    assert export / "Immunization.ndjson" in files
    summary = code_everything(
        NdjsonSource(sorted(export.glob("*.ndjson")), "x"), FileSink(tmp_path / "out"), Settings()
    )
    assert summary.types.skipped == {"ExplanationOfBenefit": 2}
    assert summary.claims_active == 1 and summary.types.read["Procedure"] == 1


def test_a_line_with_a_name_that_is_no_type_is_parsed_and_reported(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "Widget.ndjson").write_text('{"resourceType": "Widget", "id": "w"}\n')
    sink = FileSink(tmp_path / "out")
    summary = code_everything(NdjsonSource([export / "Widget.ndjson"], "x"), sink, Settings(), 1)
    assert summary.input_problems == 1


def test_assembly_problems_are_still_reported_for_a_patient_with_dry_needling(tmp_path: Path) -> None:
    """Issue 17 skips assembling patients without dry needling; one with a session still gets
    every problem of its record reported (here a payor named by an unknown identifier)."""
    case = Case("d17b")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    coverage = case.find(f"Coverage/{case.key}-coverage")
    coverage["payor"] = [{"identifier": {"system": "http://insurer.example", "value": "nobody"}}]
    export = tmp_path / "export"
    write_export(export, case.resources())
    out = tmp_path / "out"
    code_everything(NdjsonSource(sorted(export.glob("*.ndjson")), "x"), FileSink(out), Settings())
    problems = (out / "OperationOutcome.ndjson").read_text()
    assert "payor[0] names a resource by identifier (system http://insurer.example)" in problems
