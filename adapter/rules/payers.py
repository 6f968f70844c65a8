"""R8: the payer. Coverage on the date, Medicare's NCD 30.3.3 limits, payer-policy warnings."""

from __future__ import annotations

import re
from datetime import timedelta

from ..session import CoverageFacts, Diagnosis, Session
from ..settings import CodingSettings
from ..tables import CodingTables
from .decision import Finding, Findings
from .modifiers import therapist_role

# NCD 30.3.3 covers chronic low back pain; the M54.5x family is what every source quotes
# (research-notes.md 6.1 [S12][S30]); the CR 11755 code list itself was not read.
LOW_BACK_PAIN = re.compile(r"^M54\.?5\d?$")
FIRST_KX_SESSION = 13
LAST_COVERED_SESSION = 20
LOOKBACK = timedelta(days=365)


class PayerResult(Findings):
    """What the payer's rules add to the line: modifiers, and whether the patient is liable (R8)."""

    def __init__(self, coverage: CoverageFacts | None = None) -> None:
        super().__init__()
        self.coverage = coverage
        self.modifiers: tuple[str, ...] = ()
        self.patient_liable = False


class CoverageChoice(Findings):
    """The Coverage the Claim bills (R8)."""

    def __init__(
        self,
        holds: list[Finding] | None = None,
        warnings: list[Finding] | None = None,
        coverage: CoverageFacts | None = None,
    ) -> None:
        super().__init__(holds, warnings)
        self.coverage = coverage


def choose_coverage(session: Session) -> CoverageChoice:
    """The primary Coverage on the date of service, or a hold (R8).

    Primary: status active, beneficiary the patient (assembly groups Coverages by beneficiary),
    a period that contains the date (or none), lowest `order`; one without `order` comes after
    those with one. A Medicare Coverage that is not primary warns; the Medicare rules follow the
    primary payer only.
    """
    day = session.service_date
    active = [
        c
        for c in session.coverages
        if c.status == "active" and (c.starts is None or c.starts <= day) and (c.ends is None or day <= c.ends)
    ]
    if not active:
        held = CoverageChoice(holds=[Finding("R8", "no active Coverage for the patient on the date of service")])
        held.decided("R8", "no active Coverage on the date of service: held")
        return held
    active.sort(key=lambda c: (c.order is None, c.order or 0, c.reference))
    primary = active[0]
    warnings: list[Finding] = []
    if len(active) > 1:
        warnings.append(Finding("R8", f"{len(active)} active Coverages; billed to {primary.reference} (lowest order)"))
    for other in active[1:]:
        if is_medicare(other) and not is_medicare(primary):
            warnings.append(
                Finding(
                    "R8",
                    f"Medicare secondary ({other.reference}): the primary payer is billed; "
                    "Medicare's rules for dry needling apply to its crossover",
                )
            )
    choice = CoverageChoice(warnings=warnings, coverage=primary)
    payer = ", ".join(primary.payer_names) or "payer not named"
    kind = "Medicare" if is_medicare(primary) else "not Medicare"
    choice.decided("R8", f"billed to {primary.reference} ({payer}): {kind}")
    return choice


def is_medicare(coverage: CoverageFacts) -> bool:
    """Source of Payment Typology codes starting with 1: Medicare FFS or Medicare Advantage."""
    return any(code.startswith("1") for code in coverage.payer_type_codes)


def medicare_session_number(session: Session) -> int:
    """1 + distinct earlier dates with completed dry needling or acupuncture in the last 365 days (R8)."""
    start = session.service_date - LOOKBACK
    return 1 + sum(1 for d in session.prior_service_dates if start <= d < session.service_date)


def apply_payer_rules(
    session: Session,
    coverage: CoverageFacts,
    diagnoses: list[Diagnosis],
    tables: CodingTables,
    settings: CodingSettings,
    taxonomies: frozenset[str],
) -> PayerResult:
    """Medicare: therapists never covered; others only for cLBP, sessions 13-20 KX, 21+ hold.

    Other payers: the payer-policy table adds warnings (or holds, if a deployment says so),
    and never drops a line.
    """
    result = PayerResult(coverage=coverage)
    if is_medicare(coverage):
        _medicare(session, diagnoses, settings, taxonomies, result)
    for policy in tables.payer_policies:
        if _matches(policy.match, policy.value, coverage):
            finding = Finding("R8", f"{policy.message} (source: {policy.source})")
            (result.holds if policy.action == "hold" else result.warnings).append(finding)
    return result


def _medicare(
    session: Session,
    diagnoses: list[Diagnosis],
    settings: CodingSettings,
    taxonomies: frozenset[str],
    result: PayerResult,
) -> None:
    if therapist_role(taxonomies) is not None:
        _medicare_therapist(settings, result)
        return
    if any(t.startswith(settings.medicare_physician_prefixes) for t in taxonomies):
        pass
    elif any(t.startswith(settings.medicare_conditional_prefixes) for t in taxonomies):
        result.warnings.append(
            Finding(
                "R8",
                "PA/NP/CNS: Medicare covers needling only with ACAOM training and an acupuncture licence (NCD 30.3.3)",
            )
        )
    else:
        result.holds.append(Finding("R8", "the clinician is not an eligible Medicare practitioner for NCD 30.3.3"))
        return
    low_back = [d for d in diagnoses if LOW_BACK_PAIN.match(d.code)]
    if not low_back:
        result.holds.append(Finding("R8", "Medicare covers dry needling only for chronic low back pain (NCD 30.3.3)"))
        return
    result.warnings.append(Finding("R8", "document chronicity: low back pain for 12 weeks or more (NCD 30.3.3)"))
    others = [d.code for d in diagnoses if d not in low_back]
    if others:
        result.warnings.append(
            Finding("R8", f"diagnoses beside low back pain ({', '.join(others)}): NCD 30.3.3 covers cLBP only")
        )
    number = medicare_session_number(session)
    result.decided("R8", f"Medicare: chronic low back pain, session {number} in 12 months")
    if number > LAST_COVERED_SESSION:
        result.holds.append(
            Finding("R8", f"session {number} in 12 months: Medicare covers at most {LAST_COVERED_SESSION}")
        )
    elif number >= FIRST_KX_SESSION:
        result.modifiers = ("KX",)
        result.warnings.append(Finding("R8", f"session {number} in 12 months: KX; improvement must be documented"))


def _medicare_therapist(settings: CodingSettings, result: PayerResult) -> None:
    """Medicare never covers dry needling by a PT or PTA: hold, or (a deployment's choice) the
    non-covered claim, GY (statutorily excluded) and GX with a voluntary ABN (R8)."""
    if settings.medicare_therapist_path != "non-covered":
        result.decided("R8", "Medicare never covers dry needling by a therapist: held")
        result.holds.append(
            Finding("R8", "Medicare does not cover dry needling by therapists; ABN / patient liability path")
        )
        return
    result.modifiers = ("GY", "GX") if settings.voluntary_abn else ("GY",)
    result.patient_liable = True
    result.decided("R8", f"Medicare, therapist: billed as non-covered with {'/'.join(result.modifiers)}")
    result.warnings.append(
        Finding(
            "R8",
            "Medicare does not cover dry needling by therapists: billed as non-covered "
            f"({'/'.join(result.modifiers)}); the patient is liable",
        )
    )


def _matches(kind: str, value: str, coverage: CoverageFacts) -> bool:
    if kind == "payer-name":
        return any(value in name.lower() for name in coverage.payer_names)
    if kind == "payer-identifier":
        return value in (i.lower() for i in coverage.payer_identifiers)
    return any(code.startswith(value) for code in coverage.payer_type_codes)
