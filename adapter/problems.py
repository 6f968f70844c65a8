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

    def __reduce__(self) -> tuple[type[InputProblem], tuple[str, str, str, str]]:
        # Pickled to and from parallel workers; a frozen class compiled by mypyc cannot be
        # restored by the default attribute-setting path.
        return (InputProblem, (self.where, self.message, self.severity, self.code))

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"
