"""A directory as the sync worker's claims store, with a ledger of what it holds.

A server sink asks the server what it holds; a directory cannot answer, so this sink keeps a
ledger (SQLite, `.ledger.sqlite3` in the directory) of every case it wrote: patient, date of
service, what the Claim said, and the Claim itself. Each pass writes its changes as NDJSON
into a new folder `pass-<time>/` (nothing when nothing changed): new and changed cases, and a
cancelled Claim for a case of a complete patient that no session produces any more. The ledger
is updated only after the pass's files are in place, so a crash between the two re-delivers
the same Claims (same ids) on the next pass rather than losing them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from ..build import build_cancelled_claim, case_id, claim_fingerprint, now_instant, provenance_id, provenance_shell
from ..fhirjson import JSON, objects
from .base import CaseResult, WriteStats
from .files import FileSink

log = logging.getLogger("adapter.sink")
CANCEL_REASON = (
    "no session has this case key any more (entered in error, deleted, or its date, clinician or patient changed)"
)


class LedgerSink:
    """Writes only what changed since the ledger's last pass (see the module docstring)."""

    def __init__(self, directory: Path, since: str | None = None, validate: bool = False) -> None:
        self.directory = directory
        self.since = since
        self.validate = validate
        self.stats = WriteStats()
        self.problem_count = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(directory / ".ledger.sqlite3", isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS written_case (case_id TEXT PRIMARY KEY, patient TEXT NOT NULL, "
            "service_date TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL, claim TEXT NOT NULL)"
        )
        self._files: FileSink | None = None
        self._pending: dict[str, tuple[str, str, str, str, str]] = {}
        self._live: set[str] = set()
        self._complete: set[str] = set()

    def _out(self) -> FileSink:
        if self._files is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            self._files = FileSink(self.directory / f"pass-{stamp}", validate=self.validate)
        return self._files

    def _written(self, cid: str) -> tuple[str, str] | None:
        row = self._db.execute("SELECT fingerprint, status FROM written_case WHERE case_id = ?", (cid,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def write_case(self, result: CaseResult) -> None:
        cid = case_id(result.session)
        self._live.add(cid)
        claim = result.claim
        if claim is None:  # the case no longer bills (entered in error, not done, ...)
            row = self._db.execute(
                "SELECT claim FROM written_case WHERE case_id = ? AND status != 'cancelled'", (cid,)
            ).fetchone()
            if row is not None and cid not in self._pending:
                self._cancel(cid, result.session.patient, result.session.service_date.isoformat(), json.loads(row[0]))
            return
        fingerprint = _fingerprint(result)
        before = self._pending[cid][2:4] if cid in self._pending else self._written(cid)
        if before == (fingerprint, str(claim.get("status"))):
            self.stats.unchanged += 1
            return
        self._out().write_case(result)
        if before is None:
            self.stats.created += 1
        else:
            self.stats.updated += 1
        if result.task is not None:
            self.stats.tasks += 1
        service = result.session.service_date.isoformat()
        self._pending[cid] = (result.session.patient, service, fingerprint, str(claim.get("status")), json.dumps(claim))

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
            rows = self._db.execute(
                "SELECT case_id, service_date, claim FROM written_case WHERE patient = ? AND status != 'cancelled'",
                (patient,),
            ).fetchall()
            for cid, service, claim_json in rows:
                if cid in self._live or cid in self._pending or (self.since and str(service) < self.since):
                    continue
                self._cancel(str(cid), patient, str(service), json.loads(claim_json))
        self._complete.clear()

    def _cancel(self, cid: str, patient: str, service: str, claim: JSON) -> None:
        body = build_cancelled_claim(claim)
        fingerprint = claim_fingerprint(body)
        ref = f"Claim/{body['id']}"
        provenance = provenance_shell(
            provenance_id(cid, fingerprint, "orphan"), ref, now_instant(), "UPDATE", CANCEL_REASON, []
        )
        out = self._out()
        out.write_resource(body)
        out.write_resource(provenance)
        self.stats.cancelled += 1
        self._pending[cid] = (patient, service, fingerprint, "cancelled", json.dumps(body))

    def close(self) -> None:
        """End the pass: its files in place, then the ledger."""
        self.flush()
        if self._files is not None:
            self._files.close()
            self._files = None
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO written_case VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET "
                "patient = excluded.patient, service_date = excluded.service_date, "
                "fingerprint = excluded.fingerprint, status = excluded.status, claim = excluded.claim",
                [(cid, *row) for cid, row in sorted(self._pending.items())],
            )
        self._pending.clear()
        self._live.clear()

    def shut(self) -> None:
        self._db.close()


def _fingerprint(result: CaseResult) -> str:
    """What the case says: its Claim and, when held, its review reasons."""
    task = result.task or {}
    reasons = json.dumps(task.get("description"), sort_keys=True)
    return hashlib.sha256(f"{claim_fingerprint(result.claim or {})}|{reasons}".encode()).hexdigest()
