"""Edges of each clause the second edition of rules.md added (its "Changes in this edition")."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from adapter.settings import CodingSettings, ConfigError, MappingSettings, Settings, load_settings
from adapter.tables import DEFAULT_MAPPINGS, MappingError, load_tables
from tests.factory import (
    BILATERAL,
    CHIRO,
    DELTOID,
    INFRASPINATUS,
    LEFT,
    PHYSICIAN,
    PT,
    PTA,
    RIGHT,
    SCT,
    SUPRASPINATUS,
    TRAPEZIUS,
    Case,
    site,
)
from tests.helpers import run_resources
from tests.unit.test_rules import decide_all, decide_one, medicare_case, medicare_decision, reasons

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
TIMEZONE = "http://hl7.org/fhir/StructureDefinition/timezone"
EPIC_FLOWSHEET = "urn:oid:1.2.840.114350.1.13.999.2.7.2.727688"
EPIC_PROCEDURE = "urn:oid:1.2.840.114350.1.13.999.2.7.2.696580"


def warnings_of(decision: Any) -> str:
    return " | ".join(str(f) for f in decision.warnings)


# R1: code systems by OID, in any coding; modifier extensions --------------------------------


def test_cpt_and_snomed_by_oid_in_second_position() -> None:
    case = Case()
    case.procedure(
        "p1",
        [
            {
                "coding": [
                    {"system": "urn:oid:1.2.840.114350.1.13.999", "code": "LOCAL-TRAP"},
                    {"system": "urn:oid:2.16.840.1.113883.6.96", "code": f"{TRAPEZIUS}:272741003={LEFT}"},
                ]
            }
        ],
        code="ignored",
        status="completed",
    )
    case.items[-1]["code"] = {
        "coding": [
            {"system": "urn:oid:1.2.840.114350.1.13.999.2.7.2.696580", "code": "DN1"},
            {"system": "urn:oid:2.16.840.1.113883.6.12", "code": "20560"},
        ]
    }
    decision = decide_one(case)
    assert (decision.outcome, decision.cpt, decision.muscle_count) == ("claim_line", "20560", 1)


def test_unknown_modifier_extension_holds() -> None:
    case = Case()
    case.procedure(
        "p1",
        [site(TRAPEZIUS, LEFT)],
        modifierExtension=[{"url": "http://ehr.example.org/fhir/StructureDefinition/not-performed-as-planned"}],
    )
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and decision.cpt == "20560"
    assert "[R1] Procedure/t-p1 carries modifierExtension" in reasons(decision)


# R1, R4: local codes through ConceptMaps -----------------------------------------------------


@pytest.fixture()
def mappings_with_concept_maps(tmp_path: Path) -> Path:
    mappings = tmp_path / "mappings"
    shutil.copytree(DEFAULT_MAPPINGS, mappings)
    (mappings / "conceptmaps").mkdir(exist_ok=True)
    for example in EXAMPLES.glob("conceptmap-*.json"):
        shutil.copy(example, mappings / "conceptmaps" / example.name)
    return mappings


def test_epic_style_flowsheet_and_procedure_codes_through_concept_maps(mappings_with_concept_maps: Path) -> None:
    case = Case()
    case.procedure(
        "p1",
        [
            {"coding": [{"system": EPIC_FLOWSHEET, "code": "1011"}]},  # left upper trapezius
            {"coding": [{"system": EPIC_FLOWSHEET, "code": "1012"}]},  # right upper trapezius
            {"coding": [{"system": EPIC_FLOWSHEET, "code": "1020"}, {"system": SCT, "code": INFRASPINATUS}]},
        ],
    )
    case.items[-1]["code"] = {"coding": [{"system": EPIC_PROCEDURE, "code": "PT-DRYNEEDLE"}], "text": "Dry needling"}
    settings = Settings(mappings=MappingSettings(dir=mappings_with_concept_maps))
    (decision,) = decide_all(case.resources(), settings)
    assert (decision.outcome, decision.cpt, decision.muscle_count) == ("claim_line", "20561", 3)


def test_concept_map_to_a_muscle_the_map_does_not_know_is_refused(
    mappings_with_concept_maps: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mappings_with_concept_maps / "conceptmaps" / "conceptmap-epic-flowsheet-sites.json"
    concept_map = json.loads(path.read_text())
    concept_map["group"][0]["element"][1]["target"][0]["code"] = "999999999"
    path.write_text(json.dumps(concept_map))
    with pytest.raises(MappingError, match=r"conceptmap-epic-flowsheet-sites.json group\[0\].element\[1\].target\[0\]"):
        load_tables(mappings_with_concept_maps)
    config = mappings_with_concept_maps.parent / "settings.toml"
    config.write_text(f'[mappings]\ndir = "{mappings_with_concept_maps}"\n')
    assert main(["run", "--config", str(config), "--sink", str(mappings_with_concept_maps.parent / "out")]) == 2
    assert "999999999 is not in the muscle map" in capsys.readouterr().err


def test_concept_map_with_a_wider_equivalence_is_refused(mappings_with_concept_maps: Path) -> None:
    path = mappings_with_concept_maps / "conceptmaps" / "conceptmap-epic-procedures.json"
    concept_map = json.loads(path.read_text())
    concept_map["group"][0]["element"][0]["target"][0]["equivalence"] = "wider"
    path.write_text(json.dumps(concept_map))
    with pytest.raises(MappingError, match="only equivalent/equal"):
        load_tables(mappings_with_concept_maps)


# R2: supporting resources with ignored statuses ----------------------------------------------


def test_cancelled_injectate_does_not_make_an_injection() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.injectate("p1")
    case.items[-1]["status"] = "not-done"
    assert decide_one(case).outcome == "claim_line"


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_observation_of_the_session_with_an_ignored_status_adds_no_muscle(status: str) -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(TRAPEZIUS, RIGHT)])
    case.observation("o1", "p1", site(DELTOID, LEFT))
    case.items[-1]["status"] = status
    decision = decide_one(case)
    assert (decision.cpt, decision.muscle_count) == ("20560", 2)


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_condition_is_no_diagnosis(verification: str) -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.find("Condition/t-cond-1")["verificationStatus"] = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]
    }
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and "[R9]" in reasons(decision)


def test_acupuncture_entered_in_error_does_not_hold() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("acu", [], code="97810", status="entered-in-error")
    assert decide_one(case).outcome == "claim_line"


# R2a: the date of service in the clinic's time zone -------------------------------------------


def utc_case(performed: str, zone_on: str | None) -> Case:
    case = Case(day="2026-03-10")
    procedure = case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    procedure["performedDateTime"] = performed
    encounter = case.find("Encounter/t-enc-1")
    encounter["period"] = {"start": performed}
    extension = [{"url": TIMEZONE, "valueCode": "America/Chicago"}]
    if zone_on == "location":
        case.items.append({"resourceType": "Location", "id": "t-loc", "extension": extension})
        encounter["location"] = [{"location": {"reference": "Location/t-loc"}}]
    elif zone_on == "organization":
        case.find("Organization/t-clinic")["extension"] = extension
    return case


@pytest.mark.parametrize(
    ("performed", "zone_on", "local_date"),
    [
        ("2026-03-11T04:30:00Z", "location", "2026-03-10"),  # 23:30 CDT (UTC-5 since 8 March)
        ("2026-03-11T05:30:00Z", "location", "2026-03-11"),  # 00:30 CDT: the next local day
        ("2026-03-11T04:30:00+00:00", "organization", "2026-03-10"),
        ("2026-03-10T23:30:00-06:00", None, "2026-03-10"),  # a local offset: its own date
        ("2026-03-11", "location", "2026-03-11"),  # a date alone is taken as written
    ],
)
def test_utc_time_is_dated_in_the_clinic_time_zone(performed: str, zone_on: str | None, local_date: str) -> None:
    (result,) = run_resources(utc_case(performed, zone_on).resources()).cases
    assert result.session.service_date.isoformat() == local_date
    assert not any(f.rule == "R2a" for f in result.decision.warnings)


def test_utc_time_without_a_zone_is_taken_as_utc_with_a_warning() -> None:
    (result,) = run_resources(utc_case("2026-03-11T04:30:00Z", None).resources()).cases
    assert result.session.service_date.isoformat() == "2026-03-11"
    assert "[R2a] Procedure/t-p1 is timed in UTC" in warnings_of(result.decision)


def test_clinic_time_zone_settings_one_and_per_organization() -> None:
    case = utc_case("2026-03-11T04:30:00Z", None)
    one = Settings(coding=CodingSettings(clinic_time_zone="America/Chicago"))
    per_org = Settings(
        coding=CodingSettings(clinic_time_zone="UTC", clinic_time_zones={"Organization/t-clinic": "America/Denver"}),
    )
    for settings in (one, per_org):
        (result,) = run_resources(case.resources(), settings).cases
        assert result.session.service_date.isoformat() == "2026-03-10"


@pytest.mark.parametrize(
    ("table", "line", "named"),
    [
        ("coding", 'clinic_time_zone = "Mars/Olympus"', "clinic_time_zone"),
        ("coding.clinic_time_zones", '"Organization/x" = "Nowhere"', "clinic_time_zones.Organization/x"),
        ("coding", 'medicare_therapist_path = "bill-anyway"', "medicare_therapist_path"),
        ("coding", 'voluntary_abn = "yes"', "voluntary_abn"),
    ],
)
def test_invalid_new_settings_are_refused_with_the_key(tmp_path: Path, table: str, line: str, named: str) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(f"[{table}]\n{line}\n")
    with pytest.raises(ConfigError, match=named):
        load_settings(config)


# R3: a role and the practitioner it names are one clinician ---------------------------------


def test_role_and_practitioner_are_one_clinician() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("p2", [site(TRAPEZIUS, RIGHT)], performer=[{"actor": {"reference": "Practitioner/t-pr-a"}}])
    decision = decide_one(case)
    assert (decision.outcome, decision.muscle_count) == ("claim_line", 2)


def test_two_clinicians_in_one_encounter_hold_both_cases() -> None:
    case = Case()
    case.add_clinician("b", PT)
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("p2", [site(INFRASPINATUS, RIGHT)], clinician="b")
    decisions = decide_all(case.resources())
    assert [d.outcome for d in decisions] == ["hold_for_review", "hold_for_review"]
    assert all("other clinician" in reasons(d) for d in decisions)


# R4: groups per side, side-less duplicates, expressions with terms, other refinements ---------


def test_bilateral_group_counts_two_with_a_warning() -> None:
    case = Case()
    case.procedure("p1", [site("53451005", BILATERAL)])  # triceps surae, a group
    decision = decide_one(case)
    assert (decision.muscle_count, decision.cpt) == (2, "20560")
    assert "group concept" in warnings_of(decision)


def test_side_less_mention_of_a_sided_muscle_adds_nothing() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(TRAPEZIUS), site(DELTOID, RIGHT)])
    assert decide_one(case).muscle_count == 2


def test_expression_with_terms_and_spaces() -> None:
    case = Case()
    case.procedure(
        "p1",
        [
            site(f"{TRAPEZIUS} |Trapezius muscle structure| : 272741003 |Laterality| = {LEFT} |Left|"),
            site(f"{TRAPEZIUS} |Trapezius| : 272741003 = {RIGHT}"),
            site(f"{DELTOID}:272741003={LEFT}"),
        ],
    )
    assert (decide_one(case).muscle_count, decide_one(case).cpt) == (3, "20561")


def test_other_refinements_are_ignored_with_a_warning() -> None:
    case = Case()
    case.procedure("p1", [site(f"{TRAPEZIUS}:272741003={LEFT},363698007=123037004"), site(DELTOID, LEFT)])
    decision = decide_one(case)
    assert (decision.outcome, decision.muscle_count) == ("claim_line", 2)
    assert "refinement 363698007=123037004 ignored" in warnings_of(decision)


# R5: an injectate on one of several Procedures ------------------------------------------------


def test_injectate_on_one_of_two_procedures_leaves_an_active_claim_and_a_task_on_that_procedure() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(INFRASPINATUS, LEFT)])
    case.procedure("p2", [site(SUPRASPINATUS, LEFT), site(INFRASPINATUS, LEFT)])
    case.injectate("p2")
    (result,) = run_resources(case.resources()).cases
    assert result.decision.outcome == "claim_line"
    assert result.decision.muscle_count == 1  # infraspinatus was injected too
    assert result.claim is not None and result.claim["status"] == "active"
    assert result.task is not None and result.task["focus"] == {"reference": "Procedure/t-p2"}
    assert "20552/20553" in result.task["description"]


# R7: PT specialisations, several roles ------------------------------------------------------


@pytest.mark.parametrize("taxonomy", ["2251X0800X", "2251S0007X", "2251P0200X"])
def test_pt_specialisation_taxonomies_get_gp(taxonomy: str) -> None:
    case = Case(taxonomy=taxonomy)
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    decision = decide_one(case)
    assert (decision.outcome, decision.modifiers) == ("claim_line", ("GP",))


def test_nucc_coding_in_second_position_of_the_role() -> None:
    case = Case()
    case.find("PractitionerRole/t-role-a")["code"] = [
        {
            "coding": [
                {"system": "http://ehr.example.org/roles", "code": "PT"},
                {"system": "urn:oid:2.16.840.1.113883.6.101", "code": PT},
            ]
        }
    ]
    case.procedure("p1", [site(TRAPEZIUS, LEFT)], performer=[{"actor": {"reference": "Practitioner/t-pr-a"}}])
    assert decide_one(case).modifiers == ("GP",)


def pt_and_pta_practitioner(pta_org: str) -> Case:
    """One Practitioner, a PT role at the clinic and a PTA role at `pta_org`."""
    case = Case()
    case.items.append({"resourceType": "Organization", "id": "t-other", "name": "Other clinic"})
    case.items.append(
        {
            "resourceType": "PractitionerRole",
            "id": "t-role-a-pta",
            "practitioner": {"reference": "Practitioner/t-pr-a"},
            "organization": {"reference": f"Organization/{pta_org}"},
            "code": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": PTA}]}],
        }
    )
    case.procedure("p1", [site(TRAPEZIUS, LEFT)], performer=[{"actor": {"reference": "Practitioner/t-pr-a"}}])
    return case


def test_pt_and_pta_roles_the_one_at_the_billing_organization_decides() -> None:
    decision = decide_one(pt_and_pta_practitioner("t-other"))
    assert (decision.outcome, decision.modifiers) == ("claim_line", ("GP",))


def test_pt_and_pta_roles_at_the_same_organization_hold_as_ambiguous() -> None:
    decision = decide_one(pt_and_pta_practitioner("t-clinic"))
    assert decision.outcome == "hold_for_review"
    assert "clinician role ambiguous" in reasons(decision)


def test_careteam_qualification_is_the_chosen_role() -> None:
    (claim,) = run_resources(pt_and_pta_practitioner("t-other").resources()).resources("Claim")
    assert claim["careTeam"][0]["qualification"]["coding"][0]["code"] == PT


# R8: the primary Coverage, Medicare secondary, the non-covered path, who is eligible ----------


def add_coverage(case: Case, name: str, payer_type: str, order: int | None, status: str = "active") -> None:
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": f"t-{name}",
        "status": status,
        "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": payer_type}]},
        "beneficiary": {"reference": case.patient},
        "payor": [{"reference": "Organization/t-payer"}],
    }
    if order is not None:
        coverage["order"] = order
    case.items.append(coverage)


def test_cancelled_first_coverage_bills_the_active_one() -> None:
    case = Case()
    case.items = [r for r in case.items if r["resourceType"] != "Coverage"]
    add_coverage(case, "old", "121", 1, status="cancelled")
    add_coverage(case, "new", "512", 2)
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    decision = decide_one(case)
    assert decision.coverage is not None and decision.coverage.reference == "Coverage/t-new"
    assert decision.outcome == "claim_line"


def test_medicare_second_warns_and_the_primary_decides() -> None:
    case = Case()
    case.items = [r for r in case.items if r["resourceType"] != "Coverage"]
    add_coverage(case, "medicare", "121", 2)
    add_coverage(case, "employer", "512", 1)
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    decision = decide_one(case)
    assert decision.coverage is not None and decision.coverage.reference == "Coverage/t-employer"
    assert (decision.outcome, decision.modifiers) == ("claim_line", ("GP",))
    assert "Medicare secondary" in warnings_of(decision)


def test_coverage_without_order_comes_after_those_with_one() -> None:
    case = Case()
    case.items = [r for r in case.items if r["resourceType"] != "Coverage"]
    add_coverage(case, "a-no-order", "121", None)
    add_coverage(case, "z-ordered", "512", 3)
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    decision = decide_one(case)
    assert decision.coverage is not None and decision.coverage.reference == "Coverage/t-z-ordered"


@pytest.mark.parametrize(("abn", "modifiers"), [(False, ("GP", "GY")), (True, ("GP", "GX", "GY"))])
def test_medicare_therapist_non_covered_path(abn: bool, modifiers: tuple[str, ...]) -> None:
    coding = CodingSettings(medicare_therapist_path="non-covered", voluntary_abn=abn)
    case = medicare_case(0, taxonomy=PT)
    (result,) = [
        r for r in run_resources(case.resources(), Settings(coding=coding)).cases if r.decision.muscle_count == 3
    ]
    assert result.decision.outcome == "claim_line"
    assert result.decision.modifiers == modifiers
    assert result.claim is not None and result.claim["status"] == "active"
    assert any("the patient is liable" in s.get("valueString", "") for s in result.claim["supportingInfo"])


def test_medicare_therapist_holds_by_default() -> None:
    decision = medicare_decision(medicare_case(0, taxonomy="2251X0800X"))
    assert decision.outcome == "hold_for_review" and "ABN" in reasons(decision)


@pytest.mark.parametrize(
    ("taxonomy", "outcome"),
    [
        ("363LF0000X", "claim_line"),
        ("363A00000X", "claim_line"),
        (CHIRO, "hold_for_review"),
        ("207L00000X", "claim_line"),
    ],
)
def test_who_is_eligible_under_medicare(taxonomy: str, outcome: str) -> None:
    assert medicare_decision(medicare_case(0, taxonomy=taxonomy)).outcome == outcome


def test_other_diagnoses_beside_low_back_pain_only_warn() -> None:
    case = medicare_case(0, taxonomy=PHYSICIAN)
    case.procedure(
        "p1", [], reasonCode=[{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M79.12"}]}]
    )
    decision = medicare_decision(case)
    assert decision.outcome == "claim_line"
    assert "beside low back pain (M79.12)" in warnings_of(decision)


@pytest.mark.parametrize(("days_before", "counted"), [(365, True), (366, False)])
def test_day_365_counts_and_day_366_does_not(days_before: int, counted: bool) -> None:
    case = medicare_case(11, taxonomy=PHYSICIAN)  # sessions 2-12 in the last weeks
    day = date.fromisoformat(case.day) - timedelta(days=days_before)
    case.encounter("enc-edge", day=day.isoformat())
    case.procedure("edge", [site(TRAPEZIUS, LEFT)], encounter="enc-edge", day=day.isoformat())
    assert ("KX" in medicare_decision(case).modifiers) is counted  # session 13 only with the edge one


def test_sessions_on_a_cancelled_encounter_do_not_count() -> None:
    case = medicare_case(12, taxonomy=PHYSICIAN)
    assert "KX" in medicare_decision(case).modifiers
    case.find("Encounter/t-enc-prior-0")["status"] = "cancelled"
    assert "KX" not in medicare_decision(case).modifiers


def test_earlier_acupuncture_by_anyone_counts() -> None:
    case = medicare_case(11, taxonomy=PHYSICIAN)
    case.add_clinician("b", "171100000X")
    prior = (date.fromisoformat(case.day) - timedelta(days=200)).isoformat()
    case.encounter("enc-acu", day=prior)
    case.procedure("acu", [], code="97810", encounter="enc-acu", day=prior, clinician="b")
    assert "KX" in medicare_decision(case).modifiers


# R9: undotted ICD-10-CM, written dotted --------------------------------------------------------


@pytest.mark.parametrize("written", ["M7912", "m79.12", "M79.12"])
def test_undotted_and_lower_case_icd10cm_is_one_diagnosis_written_dotted(written: str) -> None:
    case = Case(diagnosis=written)
    case.procedure(
        "p1",
        [site(TRAPEZIUS, LEFT)],
        reasonCode=[{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M79.12"}]}],
    )
    (claim,) = run_resources(case.resources()).resources("Claim")
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["diagnosis"]] == ["M79.12"]


def test_undotted_low_back_pain_is_covered_for_medicare() -> None:
    assert medicare_decision(medicare_case(0, taxonomy=PHYSICIAN, diagnosis="M5450")).outcome == "claim_line"


# R10: acupuncture by another clinician --------------------------------------------------------


def test_same_day_acupuncture_by_another_clinician_holds() -> None:
    case = Case()
    case.add_clinician("b", "171100000X")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("acu", [], code="97813", clinician="b")
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and "[R10]" in reasons(decision)
