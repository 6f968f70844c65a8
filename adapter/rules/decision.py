"""What the rules decide for one case."""

from __future__ import annotations

from typing import Final, Literal

from ..session import CoverageFacts, Diagnosis, Muscle
from ..value import Value

Outcome = Literal["claim_line", "hold_for_review", "no_claim_line"]


class Finding(Value):
    """A hold reason or a warning, with the rule that raised it."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule: Final = rule
        self.message: Final = message

    def _fields(self) -> tuple[object, ...]:
        return (self.rule, self.message)

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


class Step(Value):
    """One line of the decision trace: a rule and what it decided for this case, in words."""

    def __init__(self, rule: str, decided: str) -> None:
        self.rule: Final = rule
        self.decided: Final = decided

    def _fields(self) -> tuple[object, ...]:
        return (self.rule, self.decided)


class CountedMuscle(Value):
    """A muscle the count includes, and every documented site it was read from (R4)."""

    def __init__(self, muscle: Muscle, sources: tuple[str, ...]) -> None:
        self.muscle: Final = muscle
        self.sources: Final = sources

    def _fields(self) -> tuple[object, ...]:
        return (self.muscle, self.sources)


class UncountedSite(Value):
    """A documented site the count leaves out, and why (region, unknown code, text, injected)."""

    def __init__(self, origin: str, why: str) -> None:
        self.origin: Final = origin
        self.why: Final = why

    def _fields(self) -> tuple[object, ...]:
        return (self.origin, self.why)


class Findings:
    """What a rule found: reasons to hold the case, warnings, and what it decided (the trace).
    Every rule returns this shape (or a result that extends it with what it chose), and decide
    merges them in order. A plain class, as its subclasses are, for mypyc (value.py says why)."""

    def __init__(self, holds: list[Finding] | None = None, warnings: list[Finding] | None = None) -> None:
        self.holds: list[Finding] = [] if holds is None else holds
        self.warnings: list[Finding] = [] if warnings is None else warnings
        self.steps: list[Step] = []

    def merge(self, other: Findings) -> None:
        self.holds += other.holds
        self.warnings += other.warnings
        self.steps += other.steps

    def decided(self, rule: str, text: str) -> None:
        """Record what the rule decided, for the trace that travels with the Claim."""
        self.steps.append(Step(rule, text))


class Decision:
    """The outcome for one case: the line (if any), the holds and the warnings (R11).

    `no_claim_tasks`: Task reasons that are not holds, an injectate recorded on a Procedure (R5).
    With no line the case has no Claim; with one, the Task is focused on that Procedure and the
    Claim stays active. `taxonomies`: of the role the clinician rendered under (R7);
    `patient_liable`: Medicare's non-covered path (R8); `steps`: the decision trace, rule by rule.
    A plain class for mypyc (value.py says why).
    """

    def __init__(
        self,
        outcome: Outcome,
        cpt: str | None = None,
        modifiers: tuple[str, ...] = (),
        muscles: tuple[Muscle, ...] = (),
        holds: list[Finding] | None = None,
        warnings: list[Finding] | None = None,
        no_claim_tasks: list[Finding] | None = None,
        counted_procedures: tuple[str, ...] = (),
        counted_observations: tuple[str, ...] = (),
        diagnoses: tuple[Diagnosis, ...] = (),
        coverage: CoverageFacts | None = None,
        rules_fired: frozenset[str] = frozenset(),
        taxonomies: frozenset[str] = frozenset(),
        patient_liable: bool = False,
        steps: tuple[Step, ...] = (),
        counted: tuple[CountedMuscle, ...] = (),
        not_counted: tuple[UncountedSite, ...] = (),
    ) -> None:
        self.outcome = outcome
        self.cpt = cpt
        self.modifiers = modifiers
        self.muscles = muscles
        self.holds: list[Finding] = [] if holds is None else holds
        self.warnings: list[Finding] = [] if warnings is None else warnings
        self.no_claim_tasks: list[Finding] = [] if no_claim_tasks is None else no_claim_tasks
        self.counted_procedures = counted_procedures
        self.counted_observations = counted_observations
        self.diagnoses = diagnoses
        self.coverage = coverage
        self.rules_fired = rules_fired
        self.taxonomies = taxonomies
        self.patient_liable = patient_liable
        self.steps = steps
        self.counted = counted
        self.not_counted = not_counted

    @property
    def muscle_count(self) -> int:
        return len(self.muscles)
