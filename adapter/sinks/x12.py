"""An X12 837P file as the sink (`--sink x12:PATH`): one interchange a run (or a worker's pass).

The shared rules (each version once, replacements, withdrawals, refusals) are billing.py's:
here a new case is an original claim (CLM05-3 = 1), a re-coded one a replacement (7, REF*F8 =
the CLM01 sent), a withdrawn one a void (8). The file is written under a temporary name and
renamed; an existing file is never overwritten (the next free `NAME.2.837`, ...). Nothing new:
no file. Problems go to `<file>.outcomes.ndjson`.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path

from ..billing.fees import FeeSchedule
from ..billing.x12 import ORIGINAL, REPLACEMENT, VOID, ClaimToSend, interchange
from ..fhirjson import JSON
from ..settings import BillingSettings
from .base import SinkError
from .billing import BillingSink, Change, billing_fingerprint, write_new
from .exported import ExportLedger, Sent

log = logging.getLogger("adapter.sink")


class X12Sink(BillingSink):
    """The run's billable changes as one 837P interchange."""

    format_name = "837P"

    def __init__(self, path: Path, state_dir: Path, settings: BillingSettings, fees: FeeSchedule) -> None:
        missing = [k for k in ("submitter_id", "receiver_id", "contact_phone") if not getattr(settings, k)]
        if missing:
            raise SinkError(f"an 837P needs [billing] {', '.join(missing)} (docs/billing-output.md)")
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        super().__init__(path, ExportLedger(state_dir / f"x12-{digest}.sqlite3"), settings, fees)

    def send(self, changes: list[Change], refusals: list[JSON], sent: dict[str, Sent]) -> None:
        claims: list[ClaimToSend] = []
        for change in changes:
            facts = self.facts(change, refusals, sent)
            if facts is None:
                continue
            original = change.previous.reference if change.previous else None
            frequency = (REPLACEMENT if change.previous else ORIGINAL) if change.bills else VOID
            claims.append(ClaimToSend(facts, frequency, original))
            status = "active" if change.bills else "void"
            fingerprint = billing_fingerprint(change.claim, change.parties)
            sent[change.case_id] = self.record(change, fingerprint, status, facts.patient_control_number)
            self.count(change)
        if claims and self.target is not None:
            control = self.ledger.next_number("interchange")
            text = interchange(claims, self.settings, control, datetime.now().astimezone())
            self.written = write_new(self.target, text.encode("ascii", "replace"))
            log.info("837P written", extra={"file": str(self.written), "claims": len(claims)})
