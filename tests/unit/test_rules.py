"""Edges of each coding rule, through case assembly and the rules (no I/O)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from adapter.grouping import group_by_patient
from adapter.pipeline import code_patient, load_run_tables
from adapter.rules import Decision
from adapter.settings import LocalCode, MappingSettings, Settings
from tests.factory import (
    BILATERAL,
    CHIRO,
    DELTOID,
    INFRASPINATUS,
    LEFT,
    PHYSICIAN,
    PTA,
    RIGHT,
    SCT,
    SUPRASPINATUS,
    TRAPEZIUS,
    Case,
    site,
    text_site,
)
from tests.helpers import ListSource

TABLES = load_run_tables(Settings())


def decide_all(resources: list[dict[str, Any]], settings: Settings | None = None) -> list[Decision]:
    """Decisions for every case in the resources (tables from the settings when given)."""
    tables = load_run_tables(settings) if settings else TABLES
    settings = settings or Settings()
    grouped = group_by_patient(ListSource(resources).items())
    decisions = []
    for patient, group in grouped.groups:
        results, _ = code_patient(patient, group, grouped.shared, tables, settings, "2026-01-01T00:00:00Z")
        decisions += [r.decision for r in results]
    return decisions


def decide_one(case: Case) -> Decision:
    decisions = decide_all(case.resources())
    assert len(decisions) == 1
    return decisions[0]


def reasons(decision: Decision) -> str:
    return " | ".join(str(f) for f in decision.holds)


# R4 / R6: counting and the code -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sites", "count", "cpt"),
    [
        ([site(TRAPEZIUS, LEFT)], 1, "20560"),
        ([site(TRAPEZIUS, LEFT), site(INFRASPINATUS, LEFT)], 2, "20560"),
        ([site(TRAPEZIUS, LEFT), site(INFRASPINATUS, LEFT), site(SUPRASPINATUS, LEFT)], 3, "20561"),
        ([site(TRAPEZIUS, LEFT), site(TRAPEZIUS, RIGHT)], 2, "20560"),
        ([site(TRAPEZIUS, BILATERAL)], 2, "20560"),
        ([site(TRAPEZIUS, BILATERAL), site(DELTOID, LEFT)], 3, "20561"),
        ([site(TRAPEZIUS, LEFT)] * 5, 1, "20560"),
        ([site("181740005", LEFT), site(TRAPEZIUS, LEFT)], 1, "20560"),  # 'entire' and 'structure' ids: one muscle
    ],
)
def test_muscle_count_picks_the_code(sites: list[dict[str, Any]], count: int, cpt: str) -> None:
    case = Case()
    case.procedure("p1", sites)
    decision = decide_one(case)
    assert (decision.outcome, decision.muscle_count, decision.cpt) == ("claim_line", count, cpt)


def test_zero_muscles_holds() -> None:
    case = Case()
    case.procedure("p1", None)
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and decision.cpt is None
    assert "no countable muscle" in reasons(decision)


def test_paired_muscle_without_side_counts_once_with_warning() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS)])
    decision = decide_one(case)
    assert (decision.outcome, decision.muscle_count) == ("claim_line", 1)
    assert any("without a side" in w.message for w in decision.warnings)


def test_side_less_mention_adds_nothing_to_a_sided_one() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS), site(TRAPEZIUS, LEFT)])
    assert decide_one(case).muscle_count == 1


def test_group_concept_counts_once_with_warning_and_does_not_hold() -> None:
    case = Case()
    case.procedure("p1", [site("53451005", LEFT), site(TRAPEZIUS, LEFT)])  # triceps surae (group)
    decision = decide_one(case)
    assert (decision.outcome, decision.muscle_count, decision.cpt) == ("claim_line", 2, "20560")
    assert any("group concept" in w.message for w in decision.warnings)


@pytest.mark.parametrize(
    "unresolved",
    [
        text_site("upper traps both sides"),
        site("81727001"),  # muscle of neck: a region
        site("999999999"),  # unknown id
        {"coding": [{"system": "http://ehr.example.org/local-sites", "code": "UT"}]},
        site("47560002", LEFT),  # quadratus lumborum: LOW confidence, disabled by default
        site(f"{TRAPEZIUS}:272741003=123037004"),  # a laterality that is not left, right or bilateral
    ],
)
def test_one_or_two_muscles_with_an_unresolved_site_hold(unresolved: dict[str, Any]) -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT), unresolved])
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and decision.cpt is None and decision.muscle_count == 1
    assert "may be 3 or more" in reasons(decision)


def test_three_muscles_with_an_unresolved_site_still_bill_20561_with_warning() -> None:
    case = Case()
    case.procedure(
        "p1",
        [
            site(TRAPEZIUS, LEFT),
            site(INFRASPINATUS, LEFT),
            site(SUPRASPINATUS, LEFT),
            text_site("and some paraspinals"),
        ],
    )
    decision = decide_one(case)
    assert (decision.outcome, decision.cpt, decision.muscle_count) == ("claim_line", "20561", 3)
    assert any(w.rule == "R6" for w in decision.warnings)


def test_only_unresolved_sites_hold_with_no_code() -> None:
    case = Case()
    case.procedure("p1", [text_site("R upper trap")])
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and decision.muscle_count == 0 and decision.cpt is None


def test_low_confidence_ids_count_when_enabled() -> None:
    case = Case()
    case.procedure("p1", [site("47560002", LEFT)])
    (decision,) = decide_all(case.resources(), Settings(mappings=MappingSettings(include_low_confidence_muscles=True)))
    assert decision.cpt == "20560"


def test_side_as_a_second_coding_of_the_same_body_site() -> None:
    case = Case()
    both = {"coding": [{"system": SCT, "code": TRAPEZIUS}, {"system": SCT, "code": LEFT}]}
    other = {"coding": [{"system": SCT, "code": TRAPEZIUS}, {"system": SCT, "code": RIGHT}]}
    case.procedure("p1", [both, other])
    decision = decide_one(case)
    assert (decision.muscle_count, decision.warnings) == (2, [])


def test_precoordinated_lateral_concept_gives_its_side() -> None:
    case = Case()
    case.procedure("p1", [site("16217701000119102"), site("16217661000119109")])  # left and right deltoid
    assert decide_one(case).muscle_count == 2


def test_contained_and_separate_body_structures_count_with_laterality() -> None:
    case = Case()
    case.procedure(
        "p1",
        None,
        contained=[
            {
                "resourceType": "BodyStructure",
                "id": "bs1",
                "location": {"coding": [{"system": SCT, "code": TRAPEZIUS}]},
                "locationQualifier": [{"coding": [{"system": SCT, "code": BILATERAL}]}],
            }
        ],
        extension=[
            {
                "url": "http://hl7.org/fhir/StructureDefinition/procedure-targetBodyStructure",
                "valueReference": {"reference": "#bs1"},
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/procedure-targetBodyStructure",
                "valueReference": {"reference": "BodyStructure/t-bs2"},
            },
        ],
    )
    case.items.append(
        {
            "resourceType": "BodyStructure",
            "id": "t-bs2",
            "patient": {"reference": case.patient},
            "location": {"coding": [{"system": SCT, "code": DELTOID}]},
            "locationQualifier": [{"coding": [{"system": SCT, "code": RIGHT}]}],
        }
    )
    decision = decide_one(case)
    assert (decision.muscle_count, decision.cpt) == (3, "20561")


def test_missing_body_structure_is_unresolved_and_reported() -> None:
    case = Case()
    case.procedure(
        "p1",
        [site(TRAPEZIUS, LEFT)],
        extension=[
            {
                "url": "http://hl7.org/fhir/StructureDefinition/procedure-targetBodyStructure",
                "valueReference": {"reference": "BodyStructure/missing"},
            }
        ],
    )
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review"


def test_observations_part_of_the_procedure_add_muscles_others_do_not() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(INFRASPINATUS, LEFT)])
    case.observation("o1", "p1", site(SUPRASPINATUS, LEFT))
    case.items.append(
        {
            "resourceType": "Observation",
            "id": "t-assess",
            "status": "final",
            "code": {"text": "ROM"},
            "subject": {"reference": case.patient},
            "bodySite": site(DELTOID, LEFT),
        }
    )
    decision = decide_one(case)
    assert (decision.muscle_count, decision.cpt) == (3, "20561")
    assert decision.counted_observations == ("Observation/t-o1",)


def test_clinician_code_hint_disagreement_is_a_warning() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)], code="20561")
    decision = decide_one(case)
    assert decision.cpt == "20560" and any(w.rule == "R1" for w in decision.warnings)


def test_acupuncture_alone_is_never_dry_needling() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)], code="97810")
    assert decide_all(case.resources()) == []


def test_local_dry_needling_code_from_settings() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.items[-1]["code"] = {"coding": [{"system": "http://ehr.example.org/proc", "code": "DN"}]}
    settings = Settings(
        mappings=MappingSettings(local_dry_needling_codes=(LocalCode(system="http://ehr.example.org/proc", code="DN"),))
    )
    (decision,) = decide_all(case.resources(), settings)
    assert decision.cpt == "20560"


# R2: status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["entered-in-error", "not-done"])
def test_ignored_statuses_give_no_claim(status: str) -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)], status=status)
    assert decide_one(case).outcome == "no_claim_line"


@pytest.mark.parametrize("status", ["preparation", "in-progress", "on-hold", "stopped", "unknown", "bogus"])
def test_other_statuses_hold(status: str) -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)], status=status)
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and any(f.rule == "R2" for f in decision.holds)
    assert decision.cpt == "20560"  # the draft still shows the code that could be chosen


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error"])
def test_completed_procedure_in_a_cancelled_encounter_holds(status: str) -> None:
    case = Case()
    case.find("Encounter/t-enc-1")["status"] = status
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    assert decide_one(case).outcome == "hold_for_review"


def test_ignored_procedure_does_not_count_beside_a_completed_one() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("p2", [site(INFRASPINATUS, LEFT), site(SUPRASPINATUS, LEFT)], status="entered-in-error")
    decision = decide_one(case)
    assert (decision.outcome, decision.muscle_count) == ("claim_line", 1)


# R3: the case -------------------------------------------------------------------------------------


def test_two_encounters_same_clinician_same_day_merge_with_warning() -> None:
    case = Case()
    case.encounter("enc-2")
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(INFRASPINATUS, LEFT)])
    case.procedure("p2", [site(SUPRASPINATUS, LEFT)], encounter="enc-2")
    decision = decide_one(case)
    assert (decision.outcome, decision.cpt) == ("claim_line", "20561")
    assert any("merged" in w.message for w in decision.warnings)


def test_two_clinicians_same_day_both_hold() -> None:
    case = Case()
    case.add_clinician("b", "225100000X")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("p2", [site(DELTOID, LEFT)], clinician="b")
    decisions = decide_all(case.resources())
    assert [d.outcome for d in decisions] == ["hold_for_review", "hold_for_review"]
    assert all(any(f.rule == "R3" for f in d.holds) for d in decisions)


def test_procedure_without_encounter_joins_its_case_with_warning() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("p2", [site(DELTOID, LEFT), site(INFRASPINATUS, LEFT)], encounter=None)
    decision = decide_one(case)
    assert decision.cpt == "20561" and any("no Encounter" in w.message for w in decision.warnings)


def test_performer_as_practitioner_uses_its_role_taxonomy() -> None:
    case = Case()
    proc = case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    proc["performer"] = [{"actor": {"reference": "Practitioner/t-pr-a"}}]
    decision = decide_one(case)
    assert decision.modifiers == ("GP",)


# R5: injections -----------------------------------------------------------------------------------


def test_injectate_makes_it_an_injection_with_a_task_and_no_claim() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.injectate("p1")
    decision = decide_one(case)
    assert decision.outcome == "no_claim_line" and decision.no_claim_tasks
    assert "20552/20553" in decision.no_claim_tasks[0].message


def test_same_day_injection_removes_that_muscle() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(INFRASPINATUS, LEFT), site(SUPRASPINATUS, LEFT)])
    case.procedure("tpi", [site(SUPRASPINATUS, LEFT)], code="20552")
    decision = decide_one(case)
    assert (decision.outcome, decision.muscle_count, decision.cpt) == ("claim_line", 2, "20560")
    assert any(w.rule == "R5" for w in decision.warnings)


def test_every_muscle_injected_gives_no_line() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("tpi", [site(TRAPEZIUS, LEFT)], code="20552")
    assert decide_one(case).outcome == "no_claim_line"


def test_injection_without_documented_muscles_holds() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("tpi", [text_site("neck")], code="20553")
    assert decide_one(case).outcome == "hold_for_review"


# R7: modifiers ------------------------------------------------------------------------------------


def test_pta_gets_gp_and_cq_and_holds() -> None:
    case = Case(taxonomy=PTA)
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and decision.modifiers == ("GP", "CQ")


def test_physician_gets_no_gp() -> None:
    case = Case(taxonomy=PHYSICIAN)
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    decision = decide_one(case)
    assert decision.outcome == "claim_line" and decision.modifiers == ()


def test_unknown_taxonomy_holds() -> None:
    case = Case()
    case.find("PractitionerRole/t-role-a")["code"] = []
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    assert decide_one(case).outcome == "hold_for_review"


@pytest.mark.parametrize(
    "sites",
    [
        [site(TRAPEZIUS, LEFT), site(TRAPEZIUS, RIGHT)],
        [site(TRAPEZIUS, BILATERAL), site(DELTOID, BILATERAL)],
        [site(TRAPEZIUS, LEFT)],
    ],
)
def test_never_side_bilateral_or_em_modifiers(sites: list[dict[str, Any]]) -> None:
    case = Case()
    case.procedure("p1", sites)
    case.procedure("em", None, code="99213")
    decision = decide_one(case)
    assert not {"RT", "LT", "50", "25", "76", "77"} & set(decision.modifiers)
    assert any("E/M" in w.message for w in decision.warnings)


def test_risky_same_day_code_warns_without_59() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("mt", None, code="97140")
    decision = decide_one(case)
    assert decision.modifiers == ("GP",) and any("97140" in w.message for w in decision.warnings)


def _with_ptp(tmp_path: Any, indicator: str) -> Settings:
    import shutil

    from adapter.tables import DEFAULT_MAPPINGS

    mappings = tmp_path / "mappings"
    shutil.copytree(DEFAULT_MAPPINGS, mappings)
    (mappings / "ncci-ptp.csv").write_text(
        f"column1,column2,effective,deletion,modifier_indicator,source\n97140,20560,2020-01-01,,{indicator},test row\n"
    )
    return Settings(mappings=MappingSettings(dir=mappings))


def test_ptp_pair_with_indicator_1_and_another_structure_adds_xs(tmp_path: Any) -> None:
    settings = _with_ptp(tmp_path, "1")
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("mt", [site(DELTOID, RIGHT)], code="97140")
    (decision,) = decide_all(case.resources(), settings)
    assert decision.modifiers == ("XS", "GP")


def test_ptp_pair_on_the_same_muscle_holds(tmp_path: Any) -> None:
    settings = _with_ptp(tmp_path, "1")
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("mt", [site(TRAPEZIUS, LEFT)], code="97140")
    (decision,) = decide_all(case.resources(), settings)
    assert decision.outcome == "hold_for_review" and "XS" not in decision.modifiers and "59" not in decision.modifiers


def test_ptp_pair_with_indicator_0_holds(tmp_path: Any) -> None:
    settings = _with_ptp(tmp_path, "0")
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("mt", [site(DELTOID, RIGHT)], code="97140")
    (decision,) = decide_all(case.resources(), settings)
    assert decision.outcome == "hold_for_review"


# R8: payers ---------------------------------------------------------------------------------------


def medicare_case(prior_sessions: int, diagnosis: str = "M54.50", taxonomy: str = PHYSICIAN) -> Case:
    case = Case(payer_type="121", payer_name="Medicare", diagnosis=diagnosis, taxonomy=taxonomy)
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(TRAPEZIUS, RIGHT), site(DELTOID, LEFT)])
    day = date.fromisoformat(case.day)
    for i in range(prior_sessions):
        prior = (day - timedelta(days=7 * (i + 1))).isoformat()
        case.encounter(f"enc-prior-{i}", day=prior)
        case.procedure(f"prior-{i}", [site(TRAPEZIUS, LEFT)], encounter=f"enc-prior-{i}", day=prior)
    return case


def medicare_decision(case: Case) -> Decision:
    return next(d for d in decide_all(case.resources()) if d.muscle_count == 3)


@pytest.mark.parametrize(
    ("number", "outcome", "modifiers"),
    [
        (1, "claim_line", ()),
        (12, "claim_line", ()),
        (13, "claim_line", ("KX",)),
        (20, "claim_line", ("KX",)),
        (21, "hold_for_review", ("KX",)),
    ],
)
def test_medicare_session_numbers(number: int, outcome: str, modifiers: tuple[str, ...]) -> None:
    decision = medicare_decision(medicare_case(number - 1))
    assert decision.outcome == outcome
    assert decision.modifiers == (modifiers if outcome == "claim_line" else ())


def test_medicare_count_ignores_sessions_older_than_365_days() -> None:
    case = medicare_case(0)
    for i in range(25):
        old = (date(2024, 3, 3) - timedelta(days=i)).isoformat()
        case.encounter(f"enc-old-{i}", day=old)
        case.procedure(f"old-{i}", [site(TRAPEZIUS, LEFT)], encounter=f"enc-old-{i}", day=old)
    assert medicare_decision(case).outcome == "claim_line"


def test_medicare_with_therapist_holds() -> None:
    decision = medicare_decision(medicare_case(0, taxonomy="225100000X"))
    assert decision.outcome == "hold_for_review" and "ABN" in reasons(decision)


def test_medicare_without_low_back_pain_holds() -> None:
    decision = medicare_decision(medicare_case(0, diagnosis="M79.12"))
    assert decision.outcome == "hold_for_review" and "low back pain" in reasons(decision)


def test_medicare_with_a_chiropractor_holds() -> None:
    decision = medicare_decision(medicare_case(0, taxonomy=CHIRO))
    assert decision.outcome == "hold_for_review" and "eligible" in reasons(decision)


def test_medicare_advantage_counts_as_medicare() -> None:
    case = Case(payer_type="111", taxonomy="225100000X")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    assert decide_one(case).outcome == "hold_for_review"


def test_payer_policy_table_warns_but_keeps_the_line() -> None:
    case = Case(payer_name="Aetna Choice POS II")
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    decision = decide_one(case)
    assert decision.outcome == "claim_line" and any("Aetna" in w.message for w in decision.warnings)


def test_no_coverage_holds() -> None:
    case = Case()
    case.items = [r for r in case.items if r["resourceType"] != "Coverage"]
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and "Coverage" in reasons(decision)


def test_expired_coverage_holds() -> None:
    case = Case()
    case.find("Coverage/t-coverage")["period"] = {"end": "2024-12-31"}
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    assert decide_one(case).outcome == "hold_for_review"


# R9 / R10 ---------------------------------------------------------------------------------------


def test_no_icd10_diagnosis_holds() -> None:
    case = Case(diagnosis=None)
    case.procedure(
        "p1", [site(TRAPEZIUS, LEFT)], reasonCode=[{"coding": [{"system": SCT, "code": "95417003"}]}]
    )  # SNOMED only: not ICD-10-CM
    assert "R9" in {f.rule for f in decide_one(case).holds}


def test_diagnosis_from_procedure_reason_code() -> None:
    case = Case(diagnosis=None)
    case.procedure(
        "p1",
        [site(TRAPEZIUS, LEFT)],
        reasonCode=[{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M79.18"}]}],
    )
    decision = decide_one(case)
    assert decision.outcome == "claim_line" and [d.code for d in decision.diagnoses] == ["M79.18"]


def test_same_day_acupuncture_holds() -> None:
    case = Case()
    case.procedure("p1", [site(TRAPEZIUS, LEFT)])
    case.procedure("acu", None, code="97813", clinician="a")
    decision = decide_one(case)
    assert decision.outcome == "hold_for_review" and "R10" in {f.rule for f in decision.holds}


def test_a_held_case_lists_every_reason() -> None:
    case = Case(taxonomy=PTA, diagnosis=None)
    case.procedure("p1", [site(TRAPEZIUS, LEFT)], status="stopped")
    rules = {f.rule for f in decide_one(case).holds}
    assert {"R2", "R7", "R9"} <= rules


def test_code_systems_sent_as_oids_are_read() -> None:
    case = Case(payer_type="121", taxonomy=PHYSICIAN, diagnosis=None)
    case.find("Coverage/t-coverage")["type"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.3.221.5"
    procedure = case.procedure(
        "p1",
        [site(TRAPEZIUS, LEFT)],
        reasonCode=[{"coding": [{"system": "urn:oid:2.16.840.1.113883.6.90", "code": "M54.50"}]}],
    )
    procedure["code"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.12"
    procedure["bodySite"][0]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.96"
    decision = decide_one(case)
    assert (decision.outcome, decision.cpt) == ("claim_line", "20560")
    assert any("chronicity" in w.message for w in decision.warnings), "read as Medicare with low back pain"
