"""R1: a dry-needling Procedure with a modifierExtension the adapter does not understand holds."""

from __future__ import annotations

from ..session import ProcedureFacts
from .decision import Finding, Findings

# The adapter understands no modifier extension yet; one it learns to read goes here, with its source.
UNDERSTOOD_MODIFIER_EXTENSIONS: frozenset[str] = frozenset()


def check_modifier_extensions(procedures: list[ProcedureFacts]) -> Findings:
    """Hold for every modifierExtension not understood (R1).

    FHIR: a modifier extension changes the meaning of the element that carries it, so the
    Procedure must not be read as if it were absent (http://hl7.org/fhir/R4/extensibility.html#modifierExtension).
    """
    return Findings(
        holds=[
            Finding("R1", f"{p.reference} carries modifierExtension {url}, which the adapter does not understand")
            for p in procedures
            for url in p.modifier_extensions
            if url not in UNDERSTOOD_MODIFIER_EXTENSIONS
        ]
    )
