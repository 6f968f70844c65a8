"""R6 (and the R1 hint check): choose 20560 or 20561 from the muscle count."""

from __future__ import annotations

from .. import systems
from ..session import ProcedureFacts
from .decision import Finding, Findings
from .muscles import MuscleCount

ONE_OR_TWO_MUSCLES = "20560"
THREE_OR_MORE_MUSCLES = "20561"


class CodeChoice(Findings):
    """The chosen CPT code (or none), and whether the case has no line at all."""

    def __init__(
        self,
        holds: list[Finding] | None = None,
        warnings: list[Finding] | None = None,
        cpt: str | None = None,
        no_line: bool = False,
    ) -> None:
        super().__init__(holds, warnings)
        self.cpt = cpt
        self.no_line = no_line


def choose_code(count: MuscleCount) -> CodeChoice:
    """n >= 3: 20561; n in 1..2 with every site resolved: 20560; otherwise hold or no line (R6).

    One unit of one code per case, always: the code already encodes the count.
    """
    choice = _choose_code(count)
    n = len(count.muscles)
    if choice.cpt == THREE_OR_MORE_MUSCLES:
        choice.decided("R6", f"{THREE_OR_MORE_MUSCLES}: {n} muscles, 3 or more")
    elif choice.cpt == ONE_OR_TWO_MUSCLES:
        choice.decided("R6", f"{ONE_OR_TWO_MUSCLES}: {n} muscle(s), 1 or 2, every site mapped")
    elif choice.no_line:
        choice.decided("R6", "no line: every needled muscle was injected (not dry needling)")
    else:
        choice.decided("R6", "no code: " + "; ".join(f.message for f in choice.holds))
    return choice


def _choose_code(count: MuscleCount) -> CodeChoice:
    n = len(count.muscles)
    unresolved = len(count.unresolved)
    if n >= 3:
        warnings = []
        if unresolved:
            warnings.append(
                Finding(
                    "R6",
                    f"{unresolved} site(s) could not be mapped; 20561 holds at 3 or more anyway: "
                    + "; ".join(count.unresolved),
                )
            )
        return CodeChoice(cpt=THREE_OR_MORE_MUSCLES, warnings=warnings)
    if n in (1, 2):
        if unresolved:
            return CodeChoice(
                holds=[
                    Finding(
                        "R6",
                        f"{n} muscle(s) counted but {unresolved} site(s) could not be mapped; "
                        "the true count may be 3 or more: " + "; ".join(count.unresolved),
                    )
                ],
            )
        return CodeChoice(cpt=ONE_OR_TWO_MUSCLES)
    if count.everything_was_injection:
        return CodeChoice(no_line=True)
    reason = "no countable muscle documented"
    if count.unresolved:
        reason += ": " + "; ".join(count.unresolved)
    return CodeChoice(holds=[Finding("R6", reason)])


def describe_dry_needling(procedures: list[ProcedureFacts]) -> Findings:
    """R1 in the trace: which code made each Procedure a dry-needling session."""
    found = Findings()
    for procedure in procedures:
        shown = ", ".join(
            f"CPT {code}" if system == systems.CPT else f"{code} ({system})" for system, code in procedure.codes[:3]
        )
        found.decided("R1", f"{procedure.reference} is dry needling: {shown or 'a configured local code'}")
    return found


def check_clinician_code(procedures: list[ProcedureFacts], chosen: str | None) -> Findings:
    """R1: the clinician's CPT on the Procedure is a hint; a disagreement is a warning."""
    if chosen is None:
        return Findings()
    hinted = sorted(
        {
            code
            for p in procedures
            for system, code in p.codes
            if system == systems.CPT and code in (ONE_OR_TWO_MUSCLES, THREE_OR_MORE_MUSCLES)
        }
    )
    if hinted and hinted != [chosen]:
        message = f"the Procedure says {'/'.join(hinted)} but the documented muscles give {chosen}"
        return Findings(warnings=[Finding("R1", message)])
    return Findings()
