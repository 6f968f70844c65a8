"""R2: which dry-needling Procedures are billable, ignored, or held, by their status."""

from __future__ import annotations

from ..session import ProcedureFacts, Session
from .decision import Finding, Findings

BILLABLE = "completed"
IGNORED = frozenset({"entered-in-error", "not-done"})
HELD = frozenset({"preparation", "in-progress", "on-hold", "stopped", "unknown"})
HELD_ENCOUNTER = frozenset({"cancelled", "entered-in-error"})
# Supporting resources (Observation, MedicationAdministration, other same-day Procedures) with
# these statuses are ignored by every rule (R2).
IGNORED_SUPPORTING = frozenset({"entered-in-error", "not-done", "cancelled"})


class StatusSplit(Findings):
    """The session's dry-needling Procedures sorted by what their status allows."""

    def __init__(self) -> None:
        super().__init__()
        self.billable: list[ProcedureFacts] = []
        self.held: list[ProcedureFacts] = []
        self.ignored: list[ProcedureFacts] = []

    @property
    def nothing_billable(self) -> bool:
        """Every Procedure was ignored: no Claim (R2, R11)."""
        return not self.billable and not self.held


def split_by_status(session: Session) -> StatusSplit:
    """Sort Procedures by R2: completed bills, entered-in-error/not-done are ignored, others hold.

    A completed Procedure whose Encounter is cancelled or entered-in-error holds too.
    """
    split = StatusSplit()
    encounter_status = {e.reference: e.status for e in session.encounters}
    for procedure in session.procedures:
        if procedure.status in IGNORED:
            split.ignored.append(procedure)
        elif procedure.status == BILLABLE:
            status = encounter_status.get(procedure.encounter or "")
            if status in HELD_ENCOUNTER:
                split.held.append(procedure)
                split.holds.append(
                    Finding("R2", f"{procedure.reference} is completed but its {procedure.encounter} is {status}")
                )
            else:
                split.billable.append(procedure)
        else:
            split.held.append(procedure)
            shown = (
                procedure.status
                if procedure.status in HELD
                else f"'{procedure.status or 'missing'}' (not an R4 status)"
            )
            split.holds.append(
                Finding("R2", f"{procedure.reference} has status {shown}; only completed sessions are billed")
            )
    for procedure in split.billable:
        split.decided("R2", f"{procedure.reference} is completed: billable")
    for procedure in split.held:
        split.decided("R2", f"{procedure.reference} ({procedure.status or 'no status'}): held")
    for procedure in split.ignored:
        split.decided("R2", f"{procedure.reference} is {procedure.status}: ignored")
    return split
