"""What the billing sinks share (x12.py, hl7v2.py): each Claim version sent once.

A case sent before and unchanged (the Claim and the resources it names) is not sent again; a
re-coded one replaces what was sent; one that no longer bills (entered in error, now held, or,
for a complete patient in the worker, no longer produced) withdraws it. Held drafts never go
out. A Claim that lacks a required element is not sent: an OperationOutcome names the Claim
and the element, once; it is tried again when the Claim or the resources it names change.
What was sent is recorded (exported.py) only after the file or message that carries it.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..billing.facts import ClaimFacts, MissingElement, claim_facts
from ..billing.fees import FeeSchedule
from ..build import build_operation_outcome, case_id, claim_fingerprint, now_instant
from ..fhirjson import JSON
from ..problems import InputProblem
from ..settings import BillingSettings
from .base import CaseResult, WriteStats
from .exported import ExportLedger, Sent


def billing_fingerprint(claim: JSON, parties: dict[str, JSON]) -> str:
    """What a Claim and the resources it names say (their meta aside): a change in either is a
    change on the billing side (a corrected address, an NPI added)."""
    named = {ref: {k: v for k, v in r.items() if k != "meta"} for ref, r in sorted(parties.items())}
    digest = hashlib.sha256(orjson.dumps(named, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{claim_fingerprint(claim)}:{digest}"


@dataclass(frozen=True)
class Change:
    """One case to send: what it bills now (or withdraws) and what was sent for it before."""

    case_id: str
    claim: JSON
    parties: dict[str, JSON]
    previous: Sent | None
    bills: bool  # False: withdraw what was sent
    patient: str
    service_date: str


class BillingSink(ABC):
    """The shared half of a billing sink; `send` (the format's own half) carries the changes."""

    needs_parties = True

    format_name = "billing"

    def __init__(self, target: Path | None, ledger: ExportLedger, settings: BillingSettings, fees: FeeSchedule) -> None:
        self.target = target
        self.ledger = ledger
        self.settings = settings
        self.fees = fees
        self.since: str | None = None
        self.stats = WriteStats()
        self.written: Path | None = None
        self._changes: list[Change] = []
        self._problems: list[JSON] = []
        self._live: set[str] = set()
        self._complete: set[str] = set()

    def write_case(self, result: CaseResult) -> None:
        cid = case_id(result.session)
        self._live.add(cid)
        sent = self.ledger.get(cid)
        claim = result.claim
        patient, served = result.session.patient, result.session.service_date.isoformat()
        if claim is not None and claim.get("status") == "active":
            fingerprint = billing_fingerprint(claim, result.parties)
            if sent is not None and sent.status in ("active", "refused") and sent.fingerprint == fingerprint:
                self.stats.unchanged += 1  # sent as it is, or refused as it is (its outcome said so then)
                return
            previous = sent if sent is not None and sent.status == "active" else None
            self._changes.append(Change(cid, claim, result.parties, previous, True, patient, served))
        elif sent is not None and sent.status == "active":
            self._changes.append(Change(cid, sent.claim, sent.parties, sent, False, patient, served))

    def write_problem(self, outcome: JSON) -> None:
        self._problems.append(outcome)

    def patients_complete(self, patients: list[str]) -> None:
        """Every case of these patients was just coded (the worker): what was sent for a case
        that no session produces any more is withdrawn at the next flush."""
        self._complete.update(patients)

    def flush(self) -> None:
        pending = {c.case_id for c in self._changes}
        for patient in sorted(self._complete):
            for cid, sent in sorted(self.ledger.cases_of(patient).items()):
                if sent.status != "active" or cid in self._live or cid in pending:
                    continue
                if self.since and sent.service_date < self.since:
                    continue
                self._changes.append(Change(cid, sent.claim, sent.parties, sent, False, patient, sent.service_date))
        self._complete.clear()

    def facts(self, change: Change, refusals: list[JSON], sent: dict[str, Sent]) -> ClaimFacts | None:
        """The facts of a change, or None with its refusal noted (and remembered, when it bills).
        A replacement needs the facts of what it replaces too (the DFT's credit), so a setting
        removed since then refuses it as well."""
        try:
            if change.previous is not None:
                claim_facts(change.previous.claim, change.previous.parties, self.settings, self.fees)
            return claim_facts(change.claim, change.parties, self.settings, self.fees)
        except MissingElement as missing:
            where = f"Claim/{change.claim.get('id')}"
            problem = InputProblem(where, f"not in the {self.format_name}: missing {missing}", "error", "required")
            refusals.append(build_operation_outcome(problem, now_instant()))
            if change.bills:
                fingerprint = billing_fingerprint(change.claim, change.parties)
                sent[change.case_id] = self.record(change, fingerprint, "refused", "")
            return None

    @staticmethod
    def record(change: Change, fingerprint: str, status: str, reference: str) -> Sent:
        return Sent(fingerprint, status, reference, change.claim, change.parties, change.patient, change.service_date)

    def count(self, change: Change) -> None:
        counter = "created" if change.bills and change.previous is None else "updated" if change.bills else "cancelled"
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    @abstractmethod
    def send(self, changes: list[Change], refusals: list[JSON], sent: dict[str, Sent]) -> None:
        """Carry these changes (the format's own half); fills `sent` with what went out."""

    def close(self) -> None:
        """The end of a run (or of a worker's pass): send, write the outcomes, then record."""
        self.flush()
        changes, self._changes = self._changes, []
        refusals: list[JSON] = []
        sent: dict[str, Sent] = {}
        if changes:
            self.send(changes, refusals, sent)
        if sent or refusals:
            # A file sink's outcomes go beside its file; an MLLP connection's, beside its ledger
            # in the state directory (never the working directory).
            beside = self.written or self.target or self.ledger.path.with_name(self.format_name)
            lines = (orjson.dumps(o, option=orjson.OPT_APPEND_NEWLINE) for o in [*refusals, *self._problems])
            write_new(beside.with_name(beside.name + ".outcomes.ndjson"), b"".join(lines))
        self.ledger.record(sent)
        self._problems.clear()
        self._live.clear()


def free_path(path: Path) -> Path:
    """PATH, or the first NAME.n.SUFFIX that does not exist yet."""
    if not path.exists():
        return path
    number = 2
    while (candidate := path.with_name(f"{path.stem}.{number}{path.suffix}")).exists():
        number += 1
    return candidate


def write_new(path: Path, content: bytes) -> Path:
    """Write a new file (never over an existing one, which may not have been submitted yet)
    under a temporary name, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = free_path(path)
    partial = target.with_name(f".{target.name}.partial")
    with partial.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, target)
    return target
