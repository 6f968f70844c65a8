"""A directory as the sync worker's claims store, with a ledger of what it holds.

A server sink asks the server what it holds; a directory cannot answer, so this sink keeps a
ledger (exported.py's, as the billing sinks do; `.ledger.sqlite3` in the directory) of every
case it wrote: patient, date of service, what the Claim said, and the Claim itself. Each pass
writes its changes as NDJSON into a new folder `pass-<time>/` (nothing when nothing changed):
new and changed cases, and a cancelled Claim for a case of a complete patient that no session
produces any more. The ledger is updated only after the pass's files are in place, so a crash
between the two re-delivers the same Claims (same ids) on the next pass rather than losing them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from ..build import build_cancelled_claim, case_id, claim_fingerprint, now_instant, provenance_id, provenance_shell
from ..fhirjson import JSON, objects
from .base import CaseResult, WriteStats
from .exported import ExportLedger, Sent
from .files import FileSink

log = logging.getLogger("adapter.sink")
CANCEL_REASON = (
    "no session has this case key any more (entered in error, deleted, or its date, clinician or patient changed)"
)


class LedgerSink:
    """Writes only what changed since the ledger's last pass (see the module docstring)."""

    needs_parties = False

    def __init__(self, directory: Path, since: str | None = None, validate: bool = False) -> None:
        self.directory = directory
        self.since = since
        self.validate = validate
        self.stats = WriteStats()
        self.problem_count = 0
        directory.mkdir(parents=True, exist_ok=True)
        self.ledger = ExportLedger(directory / ".ledger.sqlite3")
        self._files: FileSink | None = None
        self._pending: dict[str, Sent] = {}
        self._live: set[str] = set()
        self._complete: set[str] = set()

    def _out(self) -> FileSink:
        if self._files is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            self._files = FileSink(self.directory / f"pass-{stamp}", validate=self.validate)
        return self._files

    def _held(self, cid: str) -> Sent | None:
        """What the store holds for a case, this pass's writes included."""
        return self._pending.get(cid) or self.ledger.get(cid)

    def write_case(self, result: CaseResult) -> None:
        cid = case_id(result.session)
        self._live.add(cid)
        claim = result.claim
        patient, service = result.session.patient, result.session.service_date.isoformat()
        held = self._held(cid)
        if claim is None:  # the case no longer bills (entered in error, not done, ...)
            if held is not None and held.status != "cancelled" and cid not in self._pending:
                self._cancel(cid, held)
            return
        fingerprint = _fingerprint(result)
        if held is not None and (held.fingerprint, held.status) == (fingerprint, str(claim.get("status"))):
            self.stats.unchanged += 1
            return
        self._out().write_case(result)
        if held is None:
            self.stats.created += 1
        else:
            self.stats.updated += 1
        if result.task is not None:
            self.stats.tasks += 1
        self._pending[cid] = Sent(fingerprint, str(claim.get("status")), "", claim, {}, patient, service)

    def write_problem(self, outcome: JSON) -> None:
        """Logged (ids and rule words only), as the server sink does: a pass re-codes the whole
        window, so writing them would repeat every problem on every pass."""
        self.problem_count += 1
        issue = next(objects(outcome.get("issue")), {})
        level = logging.WARNING if issue.get("severity") in ("error", "fatal") else logging.INFO
        log.log(level, "outcome", extra={"severity": issue.get("severity"), "detail": issue.get("diagnostics")})

    def patients_complete(self, patients: list[str]) -> None:
        self._complete.update(patients)

    def flush(self) -> None:
        """Cancel the Claims of complete patients that no case of this pass produced."""
        for patient in sorted(self._complete):
            for cid, held in sorted(self.ledger.cases_of(patient).items()):
                if held.status == "cancelled" or cid in self._live or cid in self._pending:
                    continue
                if self.since and held.service_date < self.since:
                    continue
                self._cancel(cid, held)
        self._complete.clear()

    def _cancel(self, cid: str, held: Sent) -> None:
        body = build_cancelled_claim(held.claim)
        fingerprint = claim_fingerprint(body)
        ref = f"Claim/{body['id']}"
        provenance = provenance_shell(
            provenance_id(cid, fingerprint, "orphan"), ref, now_instant(), "UPDATE", CANCEL_REASON, []
        )
        out = self._out()
        out.write_resource(body)
        out.write_resource(provenance)
        self.stats.cancelled += 1
        self._pending[cid] = Sent(fingerprint, "cancelled", "", body, {}, held.patient, held.service_date)

    def close(self) -> None:
        """End the pass: its files in place, then the ledger."""
        self.flush()
        if self._files is not None:
            self._files.close()
            self._files = None
        self.ledger.record(self._pending)
        self._pending.clear()
        self._live.clear()

    def shut(self) -> None:
        self.ledger.close()


def _fingerprint(result: CaseResult) -> str:
    """What the case says: its Claim and, when held, its review reasons."""
    task = result.task or {}
    reasons = json.dumps(task.get("description"), sort_keys=True)
    return hashlib.sha256(f"{claim_fingerprint(result.claim or {})}|{reasons}".encode()).hexdigest()
