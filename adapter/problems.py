"""Problems found in the input: each becomes an OperationOutcome naming the resource."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputProblem:
    """One problem with one input: where it is, how bad, and what is wrong (no PHI)."""

    where: str
    message: str
    severity: str = "error"
    code: str = "invalid"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"
