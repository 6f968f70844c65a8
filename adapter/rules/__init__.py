"""The coding rules R1-R11 (rules.md): pure functions from a Session to a Decision."""

from .decide import decide
from .decision import Decision, Finding

__all__ = ["Decision", "Finding", "decide"]
