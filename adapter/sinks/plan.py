"""The server sink's plan: given what the server holds for a case and what coding gave, the
writes that carry it out. Pure: no I/O; sinks/server.py reads the state and sends the writes.

- New case: POST Claim with ifNoneExist on its stable identifier, with its Provenance.
- Changed case: PUT with If-Match on the version read, while the Claim is draft, active or
  cancelled and no person has taken it over (hands off: tagged as submitted, or edited outside
  the adapter); then a Task says what re-coding gives instead.
- Case no longer billable: the Claim is cancelled, with a Provenance saying why.
- Task upkeep: the wanted review Task is created once (identifier from its text); open Tasks
  of the case with another text are cancelled as superseded.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from .. import systems
from ..build import (
    build_cancelled_claim,
    build_empty_task,
    build_provenance,
    case_id,
    claim_fingerprint,
    describe_reasons,
    now_instant,
    provenance_id,
    provenance_shell,
)
from ..fhirjson import JSON, objects
from .base import CaseResult

CLAIM_WORKFLOW_SYSTEM = f"{systems.CANONICAL_BASE}/CodeSystem/claim-workflow"
SUBMITTED = "submitted"
OPEN_TASK = frozenset({"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"})
EDITABLE_CLAIM = frozenset({"draft", "active", "cancelled"})
CREATE, UPDATE, ORPHAN = "CREATE", "UPDATE", "orphan"  # the writes a Provenance id is derived for


@dataclass
class ServerState:
    """What the server holds for a batch of cases: our Claims and Tasks by case id, and the ids of
    those Claims a person edited outside the adapter."""

    claims: dict[str, list[JSON]] = field(default_factory=dict)
    tasks: dict[str, list[JSON]] = field(default_factory=dict)
    edited_elsewhere: set[str] = field(default_factory=set)

    def hands_off(self, existing: JSON) -> bool:
        """A person decides about this Claim: it was picked up for submission, or edited by someone."""
        return locked(existing) or existing["id"] in self.edited_elsewhere


def plan_case(case: CaseResult, state: ServerState) -> list[JSON]:
    """The entries that bring the server to what coding gave for this case (none when it is so already)."""
    cid = case_id(case.session)
    existing = state.claims.get(cid, [None])[0]
    entries: list[JSON] = []
    claim_ref: str | None = f"Claim/{existing['id']}" if existing else None
    if case.claim is not None:
        claim_ref, entries = _claim_entries(case, case.claim, existing, state)
    elif existing is not None and existing.get("status") in ("draft", "active"):
        entries = _cancel_entries(case, existing, state)
    wanted = _wanted_task(case, claim_ref, existing, state)
    entries += _task_entries(cid, wanted, state.tasks.get(cid, []))
    return entries


def _claim_entries(case: CaseResult, claim: JSON, existing: JSON | None, state: ServerState) -> tuple[str, list[JSON]]:
    identifier = f"{systems.CASE_IDENTIFIER_SYSTEM}|{claim['id']}"
    if existing is None:
        urn = f"urn:uuid:{uuid.uuid4()}"
        body = {k: v for k, v in claim.items() if k != "id"}
        provenance = _provenance(case, claim, urn, CREATE, None)
        return urn, [
            {
                "fullUrl": urn,
                "resource": body,
                "request": {"method": "POST", "url": "Claim", "ifNoneExist": f"identifier={identifier}"},
            },
            provenance,
        ]
    ref = f"Claim/{existing['id']}"
    if claim_fingerprint(existing) == claim_fingerprint(claim):
        return ref, []
    if state.hands_off(existing) or existing.get("status") not in EDITABLE_CLAIM:
        return ref, []  # a person decides: see _wanted_task
    body = {**claim, "id": existing["id"], "created": existing.get("created", claim["created"])}
    return ref, [
        {"resource": body, "request": {"method": "PUT", "url": ref, "ifMatch": etag(existing)}},
        _provenance(case, body, ref, UPDATE, "source data amended; re-coded"),
    ]


def _cancel_entries(case: CaseResult, existing: JSON, state: ServerState) -> list[JSON]:
    if state.hands_off(existing):
        return []  # a person decides: see _wanted_task
    ref = f"Claim/{existing['id']}"
    body = build_cancelled_claim(existing)
    reason = (
        "session no longer billable ("
        + (describe_reasons(case.decision.no_claim_tasks) if case.decision.no_claim_tasks else "R2/R5/R6: no line")
        + ")"
    )
    return [
        {"resource": body, "request": {"method": "PUT", "url": ref, "ifMatch": etag(existing)}},
        _provenance(case, body, ref, UPDATE, reason),
    ]


def _provenance(case: CaseResult, claim: JSON, target: str, activity: str, reason: str | None) -> JSON:
    provenance = build_provenance(claim, case.session, case.decision, now_instant(), activity, reason)
    provenance["target"] = [{"reference": target}]
    return {"resource": provenance, "request": {"method": "PUT", "url": f"Provenance/{provenance['id']}"}}


def _wanted_task(case: CaseResult, claim_ref: str | None, existing: JSON | None, state: ServerState) -> JSON | None:
    """The review Task this case needs now (None when it needs none)."""
    task = case.task
    if (
        case.claim is not None
        and existing is not None
        and claim_fingerprint(existing) != claim_fingerprint(case.claim)
        and (state.hands_off(existing) or existing.get("status") not in EDITABLE_CLAIM)
    ):
        why = (
            "was changed outside the adapter, so it is left as it is"
            if existing["id"] in state.edited_elsewhere and not locked(existing)
            else "was picked up for submission"
        )
        task = {
            **(task or empty_task(case, existing)),
            "description": f"The session changed after its Claim {why}; re-coding gives: "
            f"{case.decision.cpt or 'no code'} {' '.join(case.decision.modifiers)}. "
            + (task or {}).get("description", ""),
        }
    if case.claim is None and existing is not None and state.hands_off(existing):
        task = {
            **(task or empty_task(case, existing)),
            "description": "The session is no longer billable but its Claim was already picked up for submission"
            " or changed outside the adapter; cancel it if that is right.",
        }
    if task is None:
        return None
    if claim_ref and task.get("focus", {}).get("reference", "").startswith("Claim/"):
        task = {**task, "focus": {"reference": claim_ref}}
    return task


def _task_entries(cid: str, wanted: JSON | None, existing: list[JSON]) -> list[JSON]:
    entries: list[JSON] = []
    wanted_value = None
    if wanted is not None:
        digest = hashlib.sha256(str(wanted.get("description")).encode()).hexdigest()[:12]
        wanted_value = f"{cid}~{digest}"
        body = {k: v for k, v in wanted.items() if k != "id"}
        body["identifier"] = [{"system": systems.CASE_IDENTIFIER_SYSTEM, "value": wanted_value}]
        if not any(identifier_value(t) == wanted_value for t in existing):
            entries.append(
                {
                    "resource": body,
                    "request": {
                        "method": "POST",
                        "url": "Task",
                        "ifNoneExist": f"identifier={systems.CASE_IDENTIFIER_SYSTEM}|{wanted_value}",
                    },
                }
            )
    for task in existing:
        if task.get("status") in OPEN_TASK and identifier_value(task) != wanted_value:
            closed = {
                **task,
                "status": "cancelled",
                "statusReason": {"text": "superseded: the hold reasons changed or were resolved"},
            }
            entries.append(
                {
                    "resource": closed,
                    "request": {"method": "PUT", "url": f"Task/{task['id']}", "ifMatch": etag(task)},
                }
            )
    return entries


def plan_orphan_cancel(cid: str, claim: JSON) -> JSON:
    """The transaction that cancels a Claim no case produces any more, with its Provenance."""
    ref = f"Claim/{claim['id']}"
    body = build_cancelled_claim(claim)
    reason = "no session has this case key any more (its date, clinician or patient was amended)"
    written_id = provenance_id(cid, claim_fingerprint(body), ORPHAN)
    provenance = provenance_shell(written_id, ref, now_instant(), UPDATE, reason, [])
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": body, "request": {"method": "PUT", "url": ref, "ifMatch": etag(claim)}},
            {"resource": provenance, "request": {"method": "PUT", "url": f"Provenance/{provenance['id']}"}},
        ],
    }


def to_change(case: CaseResult, claims: dict[str, list[JSON]]) -> JSON | None:
    """The existing Claim this case would update or cancel (None when it writes no change)."""
    existing = claims.get(case_id(case.session), [None])[0]
    if existing is None or locked(existing):
        return None
    if case.claim is not None:
        return existing if claim_fingerprint(existing) != claim_fingerprint(case.claim) else None
    return existing if existing.get("status") in ("draft", "active") else None


def empty_task(case: CaseResult, existing: JSON) -> JSON:
    return build_empty_task(case.session.patient, existing["id"], now_instant())


def identifier_value(resource: JSON) -> str | None:
    for identifier in objects(resource.get("identifier")):
        if identifier.get("system") == systems.CASE_IDENTIFIER_SYSTEM:
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    return None


def locked(claim: JSON) -> bool:
    """Picked up for submission: a biller or clearinghouse tagged it claim-workflow#submitted."""
    meta: Any = claim.get("meta") or {}
    return any(
        t.get("system") == CLAIM_WORKFLOW_SYSTEM and t.get("code") == SUBMITTED for t in objects(meta.get("tag"))
    )


def before(claim: JSON, since: str | None) -> bool:
    """Whether a Claim's date of service is before `since` (outside what this run coded)."""
    if since is None:
        return False
    days = [i.get("servicedDate") for i in objects(claim.get("item"))] + [
        p.get("date") for p in objects(claim.get("procedure"))
    ]
    known = [d for d in days if isinstance(d, str)]
    return not known or min(known) < since


def etag(resource: JSON) -> str:
    version = (resource.get("meta") or {}).get("versionId")
    return f'W/"{version}"' if version else "*"
