"""R9: the case needs at least one ICD-10-CM diagnosis."""

from __future__ import annotations

from ..session import Diagnosis, Session
from .decision import Finding, Findings


def dotted_icd10cm(code: str) -> str:
    """An ICD-10-CM code upper-cased, in the dotted form written on the Claim (R9).

    Senders write M54.50, m54.50 and M5450 for the same code; the dot always follows the
    third character (the category), so the undotted form is not ambiguous.
    """
    compact = code.strip().upper().replace(".", "")
    return f"{compact[:3]}.{compact[3:]}" if len(compact) > 3 else compact


class DiagnosisChoice(Findings):
    """The diagnoses the Claim names, in order (R9)."""

    def __init__(self, holds: list[Finding] | None = None, diagnoses: list[Diagnosis] | None = None) -> None:
        super().__init__(holds)
        self.diagnoses: list[Diagnosis] = [] if diagnoses is None else diagnoses


def choose_diagnoses(session: Session) -> DiagnosisChoice:
    """Distinct ICD-10-CM diagnoses in documented order (Encounter first), or a hold (R9).

    Codes are compared upper-cased without the dot (M5450 = M54.50). Refuted and
    entered-in-error Conditions never reach here: assembly does not read them as diagnoses.
    """
    seen: set[str] = set()
    chosen = []
    for diagnosis in session.diagnoses:
        code = dotted_icd10cm(diagnosis.code)
        if code not in seen:
            seen.add(code)
            chosen.append(Diagnosis(code, diagnosis.display, diagnosis.source))
    if not chosen:
        held = DiagnosisChoice(
            holds=[
                Finding("R9", "no ICD-10-CM diagnosis on the Encounter or the Procedure (reasonCode/reasonReference)")
            ]
        )
        held.decided("R9", "no ICD-10-CM diagnosis documented: held")
        return held
    choice = DiagnosisChoice(diagnoses=chosen)
    choice.decided("R9", "diagnoses in order: " + ", ".join(f"{d.code} (from {d.source})" for d in chosen))
    return choice
