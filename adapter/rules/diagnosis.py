"""R9: the case needs at least one ICD-10-CM diagnosis."""

from __future__ import annotations

from ..session import Diagnosis, Session
from .decision import Finding


def choose_diagnoses(session: Session) -> tuple[list[Diagnosis], list[Finding]]:
    """Distinct ICD-10-CM diagnoses in documented order (Encounter first), or a hold (R9)."""
    seen: set[str] = set()
    chosen = []
    for diagnosis in session.diagnoses:
        if diagnosis.code not in seen:
            seen.add(diagnosis.code)
            chosen.append(diagnosis)
    if not chosen:
        return [], [
            Finding("R9", "no ICD-10-CM diagnosis on the Encounter or the Procedure (reasonCode/reasonReference)")
        ]
    return chosen, []
