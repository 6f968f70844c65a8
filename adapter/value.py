"""Value: the base of the small immutable facts that coding makes by the dozen for each case.

They are plain classes, not dataclasses: mypyc compiles a class's own methods to C, but the
`__init__`, `__eq__` and `__hash__` of a dataclass are written by the dataclasses module at
import and run interpreted (mypyc issue 817); in the compiled build that was a quarter of the
rules' time (perf, 2026-12-02, docs/performance.md). Their attributes are Final: mypy refuses
any assignment after `__init__`, as a frozen dataclass refuses it at run time.
"""

from __future__ import annotations


class Value:
    """Equal, and hashed alike, when of one class with equal fields (`_fields`, in order)."""

    def _fields(self) -> tuple[object, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Value) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self._fields()!r}"
