"""Problems found in the input: each becomes an OperationOutcome naming the resource."""

from __future__ import annotations

from typing import Final

from .value import Value


class InputProblem(Value):
    """One problem with one input: where it is, how bad, and what is wrong (no PHI)."""

    def __init__(self, where: str, message: str, severity: str = "error", code: str = "invalid") -> None:
        self.where: Final = where
        self.message: Final = message
        self.severity: Final = severity
        self.code: Final = code

    def _fields(self) -> tuple[object, ...]:
        return (self.where, self.message, self.severity, self.code)

    def __reduce__(self) -> tuple[type[InputProblem], tuple[str, str, str, str]]:
        # Pickled to and from parallel workers: a class compiled by mypyc has no __dict__ to
        # restore, so it is rebuilt from its fields.
        return (InputProblem, (self.where, self.message, self.severity, self.code))

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"
