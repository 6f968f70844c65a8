"""What the review page shows, read from what the adapter wrote: one ReviewCase per Claim (and
per no-claim Task), the coding warnings grouped by kind, the input problems. No I/O.

Everything comes from our own output (Claims, Tasks, Provenances, OperationOutcomes), never
from the EHR's clinical data, so the page carries no PHI beyond what the Claims already do.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .. import systems
from ..decision_trace import Trace, read_trace
from ..fhirjson import JSON, as_list, objects, reference, text
from ..rules.decision import Finding

_DIAGNOSTICS = re.compile(r"^(?P<where>[A-Za-z]+/[^:\s]+): \[(?P<rule>R\d+a?)\] (?P<message>.*)$", re.S)
_VARIABLE = re.compile(r"\S*\d\S*")  # codes, ids, counts: what differs between two warnings of one kind


@dataclass(frozen=True)
class ReviewCase:
    """One case as written: its Claim (or the Procedure a no-claim Task names), the reasons its
    Task lists, and the decision trace from its Provenance."""

    key: str  # Claim/id, or Procedure/id for a Task on a Procedure
    status: str  # active, draft, cancelled, or procedure-task (a trigger-point injection, R5)
    patient: str
    service_date: str
    created: str
    cpt: str | None
    modifiers: tuple[str, ...]
    clinician: str | None
    reasons: tuple[Finding, ...]
    task: str | None
    trace: Trace | None
    why_cancelled: str | None = None

    @property
    def held_by(self) -> tuple[str, ...]:
        """The rules that hold the case (those of its Task's reasons for a held draft)."""
        if self.status != "draft":
            return ()
        return tuple(sorted({f.rule for f in self.reasons}, key=rule_key))


@dataclass(frozen=True)
class Warning:
    rule: str
    message: str
    where: str


@dataclass
class Review:
    """Everything the page shows."""

    cases: list[ReviewCase] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)
    problems: list[Warning] = field(default_factory=list)
    open_tasks: int = 0

    def with_status(self, status: str) -> list[ReviewCase]:
        return [c for c in self.cases if c.status == status]

    def queue(self) -> list[ReviewCase]:
        """Held drafts, oldest first (date of service, then when written)."""
        return sorted(self.with_status("draft"), key=lambda c: (c.service_date, c.created, c.key))

    def holds_by_rule(self) -> Counter[str]:
        """Hold reasons by rule, counted as the run summary counts them (every reason)."""
        held: Counter[str] = Counter()
        for case in self.with_status("draft"):
            held.update(f.rule for f in case.reasons)
        return held

    def warnings_by_kind(self) -> list[tuple[str, str, list[Warning]]]:
        """(rule, kind, warnings): a kind is the message with its codes, ids and counts elided."""
        kinds: dict[tuple[str, str], list[Warning]] = {}
        for warning in self.warnings:
            kinds.setdefault((warning.rule, warning_kind(warning.message)), []).append(warning)
        ordered = sorted(kinds.items(), key=lambda item: (-len(item[1]), rule_key(item[0][0]), item[0][1]))
        return [(rule, kind, found) for (rule, kind), found in ordered]


def warning_kind(message: str) -> str:
    return _VARIABLE.sub("…", message)


def review_of(claims: list[JSON], tasks: list[JSON], provenances: list[JSON], outcomes: list[JSON]) -> Review:
    """The review from our written resources; later versions of one id replace earlier ones."""
    latest_claims = _latest(claims)
    latest_tasks = [t for t in _latest(tasks).values() if t.get("status") not in ("cancelled", "completed")]
    task_of = {reference(t.get("focus")): t for t in latest_tasks}
    traces = _traces_by_target(provenances)
    review = Review(open_tasks=len(latest_tasks))
    for claim_id, claim in latest_claims.items():
        key = f"Claim/{claim_id}"
        task = task_of.get(key)
        provenance = traces.get(key, [])
        review.cases.append(_claim_case(key, claim, task, provenance))
    for focus, task in task_of.items():
        if focus and focus.startswith("Procedure/"):
            review.cases.append(_procedure_task_case(focus, task))
    review.warnings, review.problems = _outcome_rows(outcomes)
    if not outcomes:  # a server: OperationOutcomes stay in files; the traces carry the warnings
        review.warnings = [
            Warning(f.rule, f.message, case.key) for case in review.cases if case.trace for f in case.trace.warnings
        ]
    return review


def _claim_case(key: str, claim: JSON, task: JSON | None, provenances: list[JSON]) -> ReviewCase:
    item = next(objects(claim.get("item")), {})
    cpt = next((c.get("code") for c in objects((item.get("productOrService") or {}).get("coding"))), None)
    modifiers = tuple(
        str(c.get("code")) for m in objects(item.get("modifier")) for c in objects(m.get("coding")) if c.get("code")
    )
    traced = [p for p in provenances if read_trace(p) is not None]
    trace = read_trace(traced[-1]) if traced else None
    status = str(claim.get("status") or "")
    why = None
    if status == "cancelled" and provenances:
        why = "; ".join(text(r.get("text")) or "" for r in objects(provenances[-1].get("reason"))) or None
    return ReviewCase(
        key=key,
        status=status,
        patient=reference(claim.get("patient")) or "",
        service_date=str(item.get("servicedDate") or _procedure_date(claim)),
        created=str(claim.get("created") or ""),
        cpt=str(cpt) if cpt else None,
        modifiers=modifiers,
        clinician=next((reference(c.get("provider")) for c in objects(claim.get("careTeam"))), None),
        reasons=_task_reasons(task),
        task=f"Task/{task['id']}" if task and task.get("id") else None,
        trace=trace,
        why_cancelled=why,
    )


def _procedure_task_case(focus: str, task: JSON) -> ReviewCase:
    return ReviewCase(
        key=focus,
        status="procedure-task",
        patient=reference(task.get("for")) or "",
        service_date="",
        created=str(task.get("authoredOn") or ""),
        cpt=None,
        modifiers=(),
        clinician=None,
        reasons=_task_reasons(task),
        task=f"Task/{task['id']}" if task.get("id") else None,
        trace=None,
    )


def _task_reasons(task: JSON | None) -> tuple[Finding, ...]:
    """The reasons a Task lists: its inputs (rule code, message); the description for others'."""
    if task is None:
        return ()
    reasons = []
    for entry in objects(task.get("input")):
        rule = next((str(c.get("code")) for c in objects((entry.get("type") or {}).get("coding"))), "")
        message = entry.get("valueString")
        if rule and isinstance(message, str):
            reasons.append(Finding(rule, message))
    if not reasons and isinstance(task.get("description"), str):
        reasons.append(Finding("R11", task["description"]))
    return tuple(reasons)


def _procedure_date(claim: JSON) -> str:
    return next((str(p.get("date")) for p in objects(claim.get("procedure")) if p.get("date")), "")


def _latest(resources: list[JSON]) -> dict[str, JSON]:
    """By id, the last version read (sources list them oldest first)."""
    latest: dict[str, JSON] = {}
    for resource in resources:
        if isinstance(resource.get("id"), str) and _written_by_us(resource):
            latest[resource["id"]] = resource
    return latest


def _traces_by_target(provenances: list[JSON]) -> dict[str, list[JSON]]:
    """Our Provenances by the Claim they target, oldest recorded first."""
    by_target: dict[str, list[JSON]] = {}
    for provenance in sorted(_latest(provenances).values(), key=lambda p: str(p.get("recorded") or "")):
        for target in objects(provenance.get("target")):
            ref = reference(target)
            if ref:
                by_target.setdefault(ref.split("/_history/")[0], []).append(provenance)
    return by_target


def _outcome_rows(outcomes: list[JSON]) -> tuple[list[Warning], list[Warning]]:
    """Coding warnings ('Claim/x: [R7] ...', severity warning) and input problems, from our
    OperationOutcomes."""
    warnings: list[Warning] = []
    problems: list[Warning] = []
    for outcome in _latest(outcomes).values():
        for issue in objects(outcome.get("issue")):
            diagnostics = str(issue.get("diagnostics") or "")
            where = next((str(x) for x in as_list(issue.get("location")) if isinstance(x, str)), "")
            match = _DIAGNOSTICS.match(diagnostics)
            if match and issue.get("severity") == "warning":
                warnings.append(Warning(match["rule"], match["message"], match["where"]))
            else:
                problems.append(Warning(str(issue.get("severity") or ""), diagnostics, where))
    return warnings, problems


def _written_by_us(resource: JSON) -> bool:
    tags = objects((resource.get("meta") or {}).get("tag"))
    return any(t.get("system") == systems.WRITTEN_BY_TAG_SYSTEM for t in tags)


def rule_key(rule: str) -> tuple[int, str]:
    """R2 < R2a < R10: the order of rules.md."""
    digits = "".join(ch for ch in rule if ch.isdigit())
    return (int(digits) if digits else 99, rule)
