"""The decision trace on the wire: a Decision's rule-by-rule reasons as our Provenance extension.

`trace_extension` writes it (profiles/: StructureDefinition decision-trace, declared by the
dry-needling-provenance profile); `read_trace` reads it back from a Provenance, tolerantly, for
the review page and for audits. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import systems
from .fhirjson import JSON, objects
from .rules import Decision
from .rules.decision import CountedMuscle, Finding, Step, UncountedSite
from .session import Muscle


@dataclass(frozen=True)
class Trace:
    """What a Provenance says about the decision behind its Claim."""

    outcome: str
    steps: tuple[Step, ...]
    counted: tuple[CountedMuscle, ...]
    not_counted: tuple[UncountedSite, ...]
    holds: tuple[Finding, ...]
    warnings: tuple[Finding, ...]


def trace_extension(decision: Decision) -> JSON:
    """The decision-trace extension for the Provenance of this decision's Claim."""
    parts: list[JSON] = [{"url": "outcome", "valueCode": decision.outcome}]
    parts += [
        {
            "url": "step",
            "extension": [{"url": "rule", "valueCode": s.rule}, {"url": "decided", "valueString": s.decided}],
        }
        for s in decision.steps
    ]
    for counted in decision.counted:
        sub = [
            {"url": "name", "valueString": counted.muscle.muscle},
            {"url": "side", "valueCode": counted.muscle.side},
        ] + [{"url": "source", "valueString": source} for source in counted.sources]
        parts.append({"url": "muscle", "extension": sub})
    parts += [
        {
            "url": "notCounted",
            "extension": [{"url": "site", "valueString": u.origin}, {"url": "why", "valueString": u.why}],
        }
        for u in decision.not_counted
    ]
    for kind, findings in (("hold", decision.holds), ("warning", decision.warnings)):
        parts += [
            {
                "url": kind,
                "extension": [{"url": "rule", "valueCode": f.rule}, {"url": "message", "valueString": f.message}],
            }
            for f in findings
        ]
    return {"url": systems.DECISION_TRACE, "extension": parts}


def read_trace(provenance: JSON) -> Trace | None:
    """The trace a Provenance carries, or None when it has none (a cancellation, another writer)."""
    trace = next((e for e in objects(provenance.get("extension")) if e.get("url") == systems.DECISION_TRACE), None)
    if trace is None:
        return None
    outcome = ""
    steps: list[Step] = []
    counted: list[CountedMuscle] = []
    not_counted: list[UncountedSite] = []
    findings: dict[str, list[Finding]] = {"hold": [], "warning": []}
    for part in objects(trace.get("extension")):
        url = part.get("url")
        values = _values(part)
        if url == "outcome":
            outcome = str(part.get("valueCode") or "")
        elif url == "step":
            steps.append(Step(_one(values, "rule"), _one(values, "decided")))
        elif url == "muscle":
            muscle = Muscle(_one(values, "name"), _one(values, "side"))
            counted.append(CountedMuscle(muscle, tuple(values.get("source", []))))
        elif url == "notCounted":
            not_counted.append(UncountedSite(_one(values, "site"), _one(values, "why")))
        elif url in findings:
            findings[str(url)].append(Finding(_one(values, "rule"), _one(values, "message")))
    return Trace(outcome, tuple(steps), tuple(counted), tuple(not_counted), *map(tuple, findings.values()))


def _values(part: JSON) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for sub in objects(part.get("extension")):
        value = sub.get("valueString", sub.get("valueCode"))
        if isinstance(sub.get("url"), str) and isinstance(value, str):
            values.setdefault(sub["url"], []).append(value)
    return values


def _one(values: dict[str, list[str]], name: str) -> str:
    return (values.get(name) or [""])[0]
