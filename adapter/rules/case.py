"""R3: the case (patient, date of service, rendering clinician) and what merging it implies."""

from __future__ import annotations

from ..session import ProcedureFacts, Session
from .decision import Finding, Findings


def check_case(session: Session, procedures: list[ProcedureFacts]) -> Findings:
    """Holds and warnings about how the case was put together (R3).

    Two Encounters of one clinician on one date merge into one line (policy, warned); another
    clinician needling the same patient that day holds (76/77 and unit limits need a person);
    a Procedure without an Encounter joins its case with a warning.
    """
    holds: list[Finding] = []
    warnings: list[Finding] = []
    if session.clinician is None:
        holds.append(Finding("R3", "no rendering clinician documented (Procedure.performer or Encounter.participant)"))
    if session.other_clinicians_same_day:
        holds.append(
            Finding(
                "R3",
                f"dry needling by {len(session.other_clinicians_same_day)} other clinician(s) on the same date; "
                "76/77 and the daily unit limit need review",
            )
        )
    encounters = sorted({p.encounter for p in procedures if p.encounter})
    if len(encounters) > 1:
        warnings.append(
            Finding("R3", f"{len(encounters)} Encounters on one date by one clinician merged into one line")
        )
    for procedure in procedures:
        if procedure.encounter is None:
            warnings.append(
                Finding("R3", f"{procedure.reference} has no Encounter; joined the case for its date and clinician")
            )
    found = Findings(holds, warnings)
    clinician = session.clinician.reference if session.clinician else "no clinician"
    found.decided(
        "R3",
        f"one line for {session.patient} on {session.service_date.isoformat()} by {clinician}: "
        f"{len(procedures)} Procedure(s), {len(encounters)} Encounter(s)",
    )
    if session.other_clinicians_same_day:
        found.decided("R3", "other clinicians needled the patient that day: held")
    return found
