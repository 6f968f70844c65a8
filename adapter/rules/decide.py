"""R11: put the rules together into one Decision per case."""

from __future__ import annotations

from ..session import Session
from ..settings import CodingSettings
from ..tables import CodingTables
from .acupuncture import check_same_day_acupuncture
from .case import check_case
from .codes import check_clinician_code, choose_code
from .decision import Decision, Finding
from .diagnosis import choose_diagnoses
from .modifier_extensions import check_modifier_extensions
from .modifiers import check_clinician_role, choose_modifiers, rendering_taxonomies
from .muscles import count_muscles
from .payers import apply_payer_rules, choose_coverage
from .service_date import check_service_date
from .status import split_by_status


def decide(session: Session, tables: CodingTables, settings: CodingSettings) -> Decision:
    """The outcome for one case: an active line, a held draft, or no line (R11).

    Every rule runs, so a held case lists every reason at once, not just the first.
    """
    status = split_by_status(session)
    if status.nothing_billable:
        return Decision("no_claim_line", rules_fired=frozenset({"R2", "R11"}))
    counted = status.billable or status.held
    holds: list[Finding] = list(status.holds)
    warnings: list[Finding] = []

    case_holds, case_warnings = check_case(session, counted)
    holds += case_holds
    warnings += case_warnings

    count = count_muscles(session, counted, tables)
    holds += count.holds
    warnings += count.warnings
    code = choose_code(count)
    if code.no_line and not holds:
        return Decision(
            "no_claim_line",
            no_claim_tasks=count.injection_tasks,
            warnings=_unique(warnings),
            rules_fired=frozenset({"R4", "R5", "R11"}),
        )
    holds += code.holds
    warnings += code.warnings + check_clinician_code(counted, code.cpt)
    holds += check_modifier_extensions(counted)
    warnings += check_service_date(counted)
    taxonomies, role_holds = rendering_taxonomies(session)
    holds += role_holds

    diagnoses, diagnosis_holds = choose_diagnoses(session)
    holds += diagnosis_holds
    coverage, coverage_holds, coverage_warnings = choose_coverage(session)
    holds += coverage_holds
    warnings += coverage_warnings
    payer_modifiers: tuple[str, ...] = ()
    patient_liable = False
    if coverage is not None:
        payer = apply_payer_rules(session, coverage, diagnoses, tables, settings, taxonomies)
        holds += payer.holds
        warnings += payer.warnings
        payer_modifiers, patient_liable = payer.modifiers, payer.patient_liable
    holds += check_same_day_acupuncture(session)
    holds += check_clinician_role(session, taxonomies)

    modifiers: tuple[str, ...] = ()
    if code.cpt is not None:
        choice = choose_modifiers(session, code.cpt, count.muscles, tables, settings, taxonomies, payer_modifiers)
        holds += choice.holds
        warnings += choice.warnings
        modifiers = choice.modifiers

    holds = _unique(holds)
    warnings = _unique(warnings)
    fired = {"R1", "R2", "R2a", "R3", "R4", "R6", "R9", "R10"} | {f.rule for f in holds + warnings}
    fired |= {"R7"} if code.cpt else set()
    fired |= {"R8"} if coverage else set()
    return Decision(
        "hold_for_review" if holds else "claim_line",
        cpt=code.cpt,
        modifiers=modifiers,
        muscles=tuple(count.muscles),
        holds=holds,
        warnings=warnings,
        counted_procedures=tuple(count.counted_procedures),
        counted_observations=tuple(count.counted_observations),
        diagnoses=tuple(diagnoses),
        coverage=coverage,
        no_claim_tasks=count.injection_tasks,
        taxonomies=taxonomies,
        patient_liable=patient_liable,
        rules_fired=frozenset(fired | ({"R11"} if holds else set())),
    )


def _unique(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))
