"""An X12 837P file as the sink (`--sink x12:PATH`): the run's billable Claims, each version once.

Held drafts never go out. A case sent before and unchanged (the Claim and the resources it names)
is not sent again; re-coded, it goes
as a replacement of the claim sent (frequency 7); no longer billable (entered in error, now
held), as a void of it (frequency 8). The file is written under a temporary name and renamed;
an existing file is never overwritten (the next free `NAME.2.837`, ...), since it may not have
been submitted yet. Nothing new: no file. A Claim that lacks a required element is not sent:
an OperationOutcome in `<file>.outcomes.ndjson` names the Claim and the element, once (it is
tried again when the Claim or the resources it names change).
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime
from pathlib import Path

import orjson

from ..billing.facts import MissingElement, claim_facts
from ..billing.fees import FeeSchedule
from ..billing.x12 import ORIGINAL, REPLACEMENT, VOID, ClaimToSend, interchange
from ..build import build_operation_outcome, case_id, claim_fingerprint, now_instant
from ..fhirjson import JSON
from ..problems import InputProblem
from ..settings import BillingSettings
from .base import CaseResult, SinkError, WriteStats
from .exported import ExportLedger, Sent

log = logging.getLogger("adapter.sink")


def billing_fingerprint(claim: JSON, parties: dict[str, JSON]) -> str:
    """What a Claim and the resources it names say (their meta aside): a change in either is a
    change on the billing side (a corrected address, an NPI added)."""
    named = {ref: {k: v for k, v in r.items() if k != "meta"} for ref, r in sorted(parties.items())}
    digest = hashlib.sha256(orjson.dumps(named, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{claim_fingerprint(claim)}:{digest}"


def free_path(path: Path) -> Path:
    """PATH, or the first NAME.n.SUFFIX that does not exist yet."""
    if not path.exists():
        return path
    number = 2
    while (candidate := path.with_name(f"{path.stem}.{number}{path.suffix}")).exists():
        number += 1
    return candidate


class X12Sink:
    """Collects the run's billable changes; `close` writes them as one 837P interchange."""

    def __init__(self, path: Path, state_dir: Path, settings: BillingSettings, fees: FeeSchedule) -> None:
        missing = [k for k in ("submitter_id", "receiver_id", "contact_phone") if not getattr(settings, k)]
        if missing:
            raise SinkError(f"an 837P needs [billing] {', '.join(missing)} (docs/billing-output.md)")
        self.path = path
        self.settings = settings
        self.fees = fees
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        self.ledger = ExportLedger(state_dir / f"x12-{digest}.sqlite3")
        self.stats = WriteStats()
        self.written: Path | None = None
        self._pending: list[tuple[str, JSON, dict[str, JSON], str, str | None]] = []
        self._problems: list[JSON] = []

    def write_case(self, result: CaseResult) -> None:
        cid = case_id(result.session)
        sent = self.ledger.get(cid)
        claim = result.claim
        if claim is not None and claim.get("status") == "active":
            fingerprint = billing_fingerprint(claim, result.parties)
            if sent is not None and sent.status in ("active", "refused") and sent.fingerprint == fingerprint:
                self.stats.unchanged += 1  # sent as it is, or refused as it is (its outcome was written then)
                return
            replaces = sent is not None and sent.status == "active"
            original = sent.reference if replaces and sent else None
            self._pending.append((cid, claim, result.parties, REPLACEMENT if replaces else ORIGINAL, original))
        elif sent is not None and sent.status == "active":
            self._pending.append((cid, sent.claim, sent.parties, VOID, sent.reference))

    def write_problem(self, outcome: JSON) -> None:
        self._problems.append(outcome)

    def close(self) -> None:
        now = now_instant()
        claims: list[ClaimToSend] = []
        refusals: list[JSON] = []
        sent: dict[str, Sent] = {}
        for cid, claim, parties, frequency, original in self._pending:
            try:
                facts = claim_facts(claim, parties, self.settings, self.fees)
            except MissingElement as missing:
                problem = InputProblem(
                    f"Claim/{claim.get('id')}", f"not in the 837P: missing {missing}", "error", "required"
                )
                refusals.append(build_operation_outcome(problem, now))
                if frequency != VOID:  # refused as it is: not tried again until the Claim or its data change
                    sent[cid] = Sent(billing_fingerprint(claim, parties), "refused", "", claim, parties)
                continue
            claims.append(ClaimToSend(facts, frequency, original))
            status = "void" if frequency == VOID else "active"
            fingerprint = billing_fingerprint(claim, parties)
            sent[cid] = Sent(fingerprint, status, facts.patient_control_number, claim, parties)
            counter = {ORIGINAL: "created", REPLACEMENT: "updated", VOID: "cancelled"}[frequency]
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        self._pending.clear()
        if claims:
            control = self.ledger.next_number("interchange")
            text = interchange(claims, self.settings, control, datetime.now().astimezone())
            self.written = _write_new(self.path, text.encode("ascii", "replace"))
            log.info("837P written", extra={"file": str(self.written), "claims": len(claims)})
        # The run's problems go beside its file; a run that sends and refuses nothing new writes nothing.
        if claims or refusals:
            beside = self.written or self.path
            outcomes = beside.with_name(beside.name + ".outcomes.ndjson")
            lines = (orjson.dumps(o, option=orjson.OPT_APPEND_NEWLINE) for o in [*refusals, *self._problems])
            _write_new(outcomes, b"".join(lines))
        self.ledger.record(sent)
        self.ledger.close()


def _write_new(path: Path, content: bytes) -> Path:
    """Write a new file (never over an existing one) under a temporary name, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = free_path(path)
    partial = target.with_name(f".{target.name}.partial")
    with partial.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, target)
    return target
