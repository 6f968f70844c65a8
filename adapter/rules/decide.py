"""R11: put the rules together into one Decision per case."""

from __future__ import annotations

from ..session import Session
from ..settings import CodingSettings
from ..tables import CodingTables
from .acupuncture import check_same_day_acupuncture
from .case import check_case
from .codes import check_clinician_code, choose_code, describe_dry_needling
from .decision import Decision, Finding, Step
from .diagnosis import choose_diagnoses
from .modifier_extensions import check_modifier_extensions
from .modifiers import check_clinician_role, choose_modifiers, rendering_taxonomies
from .muscles import count_muscles
from .payers import PayerResult, apply_payer_rules, choose_coverage
from .service_date import check_service_date
from .status import split_by_status


def decide(session: Session, tables: CodingTables, settings: CodingSettings) -> Decision:
    """The outcome for one case: an active line, a held draft, or no line (R11).

    Every rule runs, so a held case lists every reason at once, not just the first.
    """
    status = split_by_status(session)
    found = describe_dry_needling(session.procedures)
    found.merge(status)
    if status.nothing_billable:
        found.decided("R11", "no claim: no dry-needling Procedure of the case is billable")
        return Decision("no_claim_line", rules_fired=frozenset({"R2", "R11"}), steps=_in_rule_order(found.steps))
    counted = status.billable or status.held
    found.merge(check_case(session, counted))
    count = count_muscles(session, counted, tables)
    found.merge(count)
    code = choose_code(count)
    if code.no_line and not found.holds:
        found.merge(code)
        found.decided("R11", "no claim: a trigger-point injection, not dry needling; a Task says so")
        return Decision(
            "no_claim_line",
            no_claim_tasks=count.injection_tasks,
            warnings=_unique(found.warnings),
            rules_fired=frozenset({"R4", "R5", "R11"}),
            steps=_in_rule_order(found.steps),
            not_counted=tuple(count.not_counted),
        )
    found.merge(code)
    found.merge(check_clinician_code(counted, code.cpt))
    found.merge(check_modifier_extensions(counted))
    found.merge(check_service_date(counted, session.service_date))
    role = rendering_taxonomies(session)
    found.merge(role)
    diagnoses = choose_diagnoses(session)
    found.merge(diagnoses)
    coverage = choose_coverage(session)
    found.merge(coverage)
    payer = PayerResult()
    if coverage.coverage is not None:
        payer = apply_payer_rules(session, coverage.coverage, diagnoses.diagnoses, tables, settings, role.taxonomies)
        found.merge(payer)
    found.merge(check_same_day_acupuncture(session))
    found.merge(check_clinician_role(session, role.taxonomies))
    modifiers: tuple[str, ...] = ()
    if code.cpt is not None:
        choice = choose_modifiers(session, code.cpt, count.muscles, tables, settings, role.taxonomies, payer.modifiers)
        found.merge(choice)
        modifiers = choice.modifiers

    holds = _unique(found.holds)
    warnings = _unique(found.warnings)
    if holds:
        rules = ", ".join(r for r in _RULE_ORDER if r in {f.rule for f in holds})
        found.decided("R11", f"held for review: {len(holds)} reason(s) ({rules}); a draft Claim and a Task")
    else:
        found.decided("R11", f"claim line: {code.cpt} x1, active Claim")
    fired = {"R1", "R2", "R2a", "R3", "R4", "R6", "R9", "R10"} | {f.rule for f in holds + warnings}
    fired |= {"R7"} if code.cpt else set()
    fired |= {"R8"} if coverage.coverage else set()
    return Decision(
        "hold_for_review" if holds else "claim_line",
        cpt=code.cpt,
        modifiers=modifiers,
        muscles=tuple(count.muscles),
        holds=holds,
        warnings=warnings,
        counted_procedures=tuple(count.counted_procedures),
        counted_observations=tuple(count.counted_observations),
        diagnoses=tuple(diagnoses.diagnoses),
        coverage=coverage.coverage,
        no_claim_tasks=count.injection_tasks,
        taxonomies=role.taxonomies,
        patient_liable=payer.patient_liable,
        rules_fired=frozenset(fired | ({"R11"} if holds else set())),
        steps=_in_rule_order(found.steps),
        counted=tuple(count.counted),
        not_counted=tuple(count.not_counted),
    )


_RULE_ORDER = ("R1", "R2", "R2a", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "R11")
_RULE_RANK = {rule: rank for rank, rule in enumerate(_RULE_ORDER)}


def _in_rule_order(steps: list[Step]) -> tuple[Step, ...]:
    """The trace reads in the order of rules.md; within a rule, in the order it decided."""
    return tuple(sorted(steps, key=lambda s: _RULE_RANK.get(s.rule, len(_RULE_ORDER))))


def _unique(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))
