"""A FHIR server as the sink: each case's Claim, Task and Provenance written exactly once.

It reads what the server holds, asks the pure plan (plan.py) for the writes, checks them against
the R4 models, and sends them. The plan, in short:
- New case: POST Claim with ifNoneExist on its stable identifier, so a retry, a rerun or a
  second worker finds the first Claim instead of creating another.
- Changed case: PUT with If-Match on the version read, while the Claim is draft or active and
  not tagged as picked up for submission; a lost race (412) re-reads and decides again.
- Case no longer billable: the Claim is cancelled, with a Provenance saying why.
- Provenance ids are derived from the Claim content, so rewriting the same content is an update
  of one Provenance, never a second.
Writes go in transaction Bundles of at most `entries_per_transaction` entries; a case's
entries are never split across two.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .. import systems
from ..build import (
    case_id,
    claim_fingerprint,
    provenance_id,
)
from ..fhir.errors import ClientError, ConflictError, ServerError
from ..fhirjson import JSON, objects
from .base import CaseResult, WriteStats
from .plan import (
    CREATE,
    ORPHAN,
    UPDATE,
    ServerState,
    before,
    identifier_value,
    locked,
    plan_case,
    plan_orphan_cancel,
    to_change,
)
from .validation import describe, invalid_reason

if TYPE_CHECKING:  # the client brings requests and PyJWT: imported where one is made
    from ..fhir.client import FhirClient

log = logging.getLogger("adapter.sink")


class ServerSink:
    """Writes coded cases to a FHIR server in transactions, exactly once (see the module docstring)."""

    needs_parties = False

    def __init__(
        self, client: FhirClient, batch_cases: int = 200, entries_per_transaction: int = 50, since: str | None = None
    ) -> None:
        self.client = client
        self.batch_cases = batch_cases
        self.entries_per_transaction = entries_per_transaction
        self.since = since
        self.pending: list[CaseResult] = []
        self.stats = WriteStats()
        self.problem_count = 0
        self._complete: set[str] = set()
        self._live: set[str] = set()
        # Our Claims as read before this flush's writes, by case id, and whose patients they cover.
        self._claims_read: dict[str, list[JSON]] = {}
        self._patients_read: set[str] = set()

    # -- Sink protocol ---------------------------------------------------------------------------

    def write_case(self, result: CaseResult) -> None:
        self.pending.append(result)
        self._live.add(case_id(result.session))
        if len(self.pending) >= self.batch_cases:
            self._flush_cases()

    def patients_complete(self, patients: list[str]) -> None:
        """Every case of these patients was just coded from the server's full data for them.

        Their Claims that no case produced any more (a date, clinician or patient changed, so
        the case key moved) are cancelled at the next flush: otherwise the old key would stay
        billed beside the new one.
        """
        self._complete.update(patients)

    def write_problem(self, outcome: JSON) -> None:
        """Input problems and coding warnings are logged (ids and rule words only), not written to the EHR."""
        self.problem_count += 1
        issue = next(objects(outcome.get("issue")), {})
        level = logging.WARNING if issue.get("severity") in ("error", "fatal") else logging.INFO
        log.log(level, "outcome", extra={"severity": issue.get("severity"), "detail": issue.get("diagnostics")})

    def close(self) -> None:
        self.flush()

    def flush(self) -> None:
        self._flush_cases()
        if self._complete:
            self._cancel_orphans(sorted(self._complete))
        self._complete.clear()
        self._live.clear()
        self._claims_read.clear()
        self._patients_read.clear()

    def _flush_cases(self) -> None:
        cases, self.pending = self.pending, []
        if cases:
            self._write(cases, conflicts_left=2)

    def _cancel_orphans(self, patients: list[str]) -> None:
        claims = dict(self._claims_read)  # claims written since then all belong to live cases
        unread = [p for p in patients if p not in self._patients_read]
        if unread:  # patients none of whose sessions remain were not read by _write
            claims.update(self._ours("Claim", {"patient": ",".join(unread)}))
        complete = set(patients)
        for cid, found in sorted(claims.items()):
            if cid in self._live:
                continue
            for claim in found:
                patient = (claim.get("patient") or {}).get("reference", "?")
                if (
                    patient not in complete
                    or claim.get("status") not in ("draft", "active")
                    or before(claim, self.since)
                ):
                    continue
                if locked(claim):
                    log.warning("orphaned claim already submitted", extra={"claim": claim.get("id")})
                    continue
                if self._edited_outside([claim]):
                    log.warning(
                        "orphaned claim was edited outside the adapter; left as it is", extra={"claim": claim.get("id")}
                    )
                    continue
                bundle = plan_orphan_cancel(cid, claim)
                try:
                    self.stats.transactions += 1
                    self.client.transaction(bundle)
                    self.stats.cancelled += 1
                except ServerError as error:  # a lost race is decided again on the next pass
                    self.stats.errors.append((patient, f"Claim {cid}: {error.message}"))

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, cases: list[CaseResult], conflicts_left: int) -> None:
        patients = ",".join(sorted({c.session.patient for c in cases}))
        claims = self._ours("Claim", {"patient": patients})
        self._claims_read.update(claims)
        self._patients_read.update(c.session.patient for c in cases)
        tasks = self._ours("Task", {"patient": patients, "code": f"{systems.REVIEW_REASON_SYSTEM}|dry-needling-review"})
        edited = self._edited_outside([c for case in cases if (c := to_change(case, claims))])
        state = ServerState(claims, tasks, edited)
        groups = [plan_case(case, state) for case in cases]
        chunk: list[tuple[CaseResult, list[JSON]]] = []
        size = 0
        for case, entries in zip(cases, groups, strict=True):
            if not entries:
                self.stats.unchanged += 1
                continue
            if chunk and size + len(entries) > self.entries_per_transaction:
                self._commit(chunk, conflicts_left)
                chunk, size = [], 0
            chunk.append((case, entries))
            size += len(entries)
        if chunk:
            self._commit(chunk, conflicts_left)

    def _commit(self, chunk: list[tuple[CaseResult, list[JSON]]], conflicts_left: int) -> None:
        chunk = self._valid_only(chunk)
        if not chunk:
            return
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [e for _, entries in chunk for e in entries],
        }
        try:
            self.stats.transactions += 1
            self.client.transaction(bundle)
        except ServerError as error:
            if not _is_conflict(error):
                self._refused(chunk, conflicts_left, error)
                return
            if conflicts_left > 0:
                log.info("version conflict, re-reading", extra={"cases": len(chunk)})
                self._write([case for case, _ in chunk], conflicts_left - 1)
                return
            self._failed(chunk, "write conflict persisted")
            return
        for _, entries in chunk:
            self._count(entries)

    def _valid_only(self, chunk: list[tuple[CaseResult, list[JSON]]]) -> list[tuple[CaseResult, list[JSON]]]:
        """The cases whose every resource is valid R4; the others fail without a request (validation.py)."""
        valid = []
        for case, entries in chunk:
            reasons = [
                f"{describe(e['resource'])} {reason}"
                for e in entries
                if "resource" in e and (reason := invalid_reason(e["resource"]))
            ]
            if reasons:
                self._failed([(case, entries)], "not valid R4, not sent: " + "; ".join(reasons))
            else:
                valid.append((case, entries))
        return valid

    def _refused(self, chunk: list[tuple[CaseResult, list[JSON]]], conflicts_left: int, error: ServerError) -> None:
        if len(chunk) > 1 and isinstance(error, ClientError):
            for one in chunk:  # isolate the case the server refuses; the others still land
                self._commit([one], conflicts_left)
            return
        self._failed(chunk, error.message)

    def _failed(self, chunk: list[tuple[CaseResult, list[JSON]]], message: str) -> None:
        for case, _ in chunk:
            self.stats.errors.append((case.session.patient, f"Claim {case_id(case.session)}: {message}"))
            log.error("write failed", extra={"claim": case_id(case.session), "detail": message[:500]})

    def _count(self, entries: list[JSON]) -> None:
        for entry in entries:
            resource, method = entry.get("resource", {}), entry["request"]["method"]
            if resource.get("resourceType") == "Claim":
                if method == "POST":
                    self.stats.created += 1
                elif resource.get("status") == "cancelled":
                    self.stats.cancelled += 1
                else:
                    self.stats.updated += 1
            elif resource.get("resourceType") == "Task" and method == "POST":
                self.stats.tasks += 1

    def _edited_outside(self, claims: list[JSON]) -> set[str]:
        """Ids of these Claims whose content is not what the adapter last wrote.

        Each write of ours stores a Provenance whose id is derived from the Claim's content, so a
        Claim without the Provenance of its present content was changed by someone else (a
        biller adding a modifier, say): re-coding must not overwrite that, a person decides.
        """
        candidates: dict[str, str] = {}
        for claim in claims:
            cid = (identifier_value(claim) or "").split("~")[0]
            fingerprint = claim_fingerprint(claim)
            for activity in (CREATE, UPDATE, ORPHAN):
                candidates[provenance_id(cid, fingerprint, activity)] = claim["id"]
        if not candidates:
            return set()
        params = {"_id": ",".join(sorted(candidates)), "_elements": "id", "_count": "500"}
        try:
            found = {p.get("id") for p in self.client.search_resources("Provenance", params)}
        except ClientError:
            log.warning("Provenance not readable: edits made outside the adapter are not detected")
            return set()
        return {c["id"] for c in claims} - {candidates[i] for i in found if isinstance(i, str) and i in candidates}

    def _ours(self, resource_type: str, params: dict[str, str]) -> dict[str, list[JSON]]:
        """Our resources of that type for these patients, by case identifier value."""
        found: dict[str, list[JSON]] = {}
        for resource in self.client.search_resources(resource_type, {**params, "_count": "500"}):
            for identifier in objects(resource.get("identifier")):
                if identifier.get("system") == systems.CASE_IDENTIFIER_SYSTEM and isinstance(
                    identifier.get("value"), str
                ):
                    found.setdefault(identifier["value"].split("~")[0], []).append(resource)
        return found


def _is_conflict(error: ServerError) -> bool:
    """A lost race with another writer: re-read and decide again.

    412 is a stale If-Match; 409 a version conflict. HAPI answers two simultaneous conditional
    creates of one identifier with a unique-constraint failure on its HFJ_RES_SEARCH_URL table
    (HAPI-0550, seen on 8.8.0 with H2), which means the same thing: the other writer won.
    """
    if isinstance(error, ConflictError):
        return True
    return "HFJ_RES_SEARCH_URL" in error.message or ("HAPI-0550" in error.message and "Unique" in error.message)
