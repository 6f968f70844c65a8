"""HL7 v2 DFT^P03 charges as the sink: `hl7v2:PATH` (a file) or `hl7v2:mllp://HOST:PORT`.

The shared rules (each version once, refusals, withdrawals) are billing.py's: here a new case is
a charge (FT1-6 CG); a re-coded one, the credit of the charge sent (CD) and the new charge; a
withdrawn one, the credit. Over MLLP each message waits
for its ACK: AA (or CA) is sent; AE, AR, no answer or a broken connection is tried again
(`[http] retry_attempts` times, backing off), then reported (an OperationOutcome naming the
Claim, a write error, exit status 1) and tried again on the next run. A file gets one message
a line group (segments end with CR, each message with CR LF), written under a temporary name
and renamed; an existing file is never overwritten.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from ..billing.facts import ClaimFacts, claim_facts
from ..billing.fees import FeeSchedule
from ..billing.hl7v2 import CHARGE, CREDIT, acknowledgement_code, dft_p03
from ..build import build_operation_outcome, now_instant
from ..fhirjson import JSON
from ..problems import InputProblem
from ..settings import BillingSettings
from .base import SinkError
from .billing import BillingSink, Change, billing_fingerprint, write_new
from .exported import ExportLedger, Sent

log = logging.getLogger("adapter.sink")
START, END = b"\x0b", b"\x1c\x0d"
ACCEPTED = ("AA", "CA")


def transaction_id(facts: ClaimFacts, fingerprint: str) -> str:
    """FT1-2: the case's control number and its version, stable for the same Claim content."""
    return f"{facts.patient_control_number[:20]}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:8]}"


class MllpChannel:
    """One MLLP connection (opened on first use); `send` returns the ACK's text or None."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._socket: socket.socket | None = None

    def send(self, message: str) -> str | None:
        try:
            if self._socket is None:
                self._socket = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            self._socket.sendall(START + message.encode("utf-8") + END)
            received = b""
            while END not in received:
                chunk = self._socket.recv(65536)
                if not chunk:
                    raise ConnectionError("closed before the ACK")
                received += chunk
                if len(received) > 1 << 20:
                    raise ConnectionError("ACK too large")
            return received.split(START, 1)[-1].split(END, 1)[0].decode("utf-8", "replace")
        except OSError:
            self.close()
            return None

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class Hl7v2Sink(BillingSink):
    """Charges as DFT^P03 messages, each Claim version once (see the module docstring)."""

    format_name = "DFT^P03"

    def __init__(
        self,
        target: str,
        state_dir: Path,
        settings: BillingSettings,
        fees: FeeSchedule,
        attempts: int = 3,
        timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.attempts, self.sleep = attempts, sleep
        self.channel: MllpChannel | None = None
        path: Path | None = None
        if target.startswith("mllp://"):
            parts = urlsplit(target)
            if not parts.hostname or not parts.port:
                raise SinkError(f"hl7v2:{target}: expected mllp://HOST:PORT")
            self.channel = MllpChannel(parts.hostname, parts.port, timeout_s)
        else:
            path = Path(target)
        digest = hashlib.sha256((target if self.channel else str(Path(target).resolve())).encode()).hexdigest()[:16]
        super().__init__(path, ExportLedger(state_dir / f"hl7v2-{digest}.sqlite3"), settings, fees)

    def send(self, changes: list[Change], refusals: list[JSON], sent: dict[str, Sent]) -> None:
        messages: list[str] = []
        for change in changes:
            facts = self.facts(change, refusals, sent)
            if facts is None:
                continue
            previous = change.previous  # its facts were checked by `facts`
            credit = claim_facts(previous.claim, previous.parties, self.settings, self.fees) if previous else None
            fingerprint = billing_fingerprint(change.claim, change.parties)
            batch = []
            if credit is not None and previous is not None:
                batch.append(self._message(credit, f"{previous.reference}-R", CREDIT))
            if change.bills:
                batch.append(self._message(facts, transaction_id(facts, fingerprint), CHARGE))
            if self.channel is not None and not all(self._deliver(m) for m in batch):
                self.stats.errors.append((change.patient, "no ACK"))
                problem = InputProblem(
                    f"Claim/{change.claim.get('id')}", "DFT^P03 not acknowledged after retries; sent again next run",
                    "error", "transient",
                )  # fmt: skip
                refusals.append(build_operation_outcome(problem, now_instant()))
                continue
            messages += batch
            reference = transaction_id(facts, fingerprint) if change.bills else previous.reference if previous else ""
            sent[change.case_id] = self.record(change, fingerprint, "active" if change.bills else "void", reference)
            self.count(change)
        if self.target is not None and messages:
            self.written = write_new(self.target, "".join(m + "\r\n" for m in messages).encode("utf-8"))
        if self.channel is not None:
            self.channel.close()

    def _message(self, facts: ClaimFacts, transaction: str, kind: str) -> str:
        control = f"DN{self.ledger.next_number('message'):010d}"
        return dft_p03(facts, transaction, kind, control, self.settings, datetime.now().astimezone())

    def _deliver(self, message: str) -> bool:
        """Send over MLLP until acknowledged (AA/CA), at most `attempts` times."""
        assert self.channel is not None
        control = message.split("\r", 1)[0].split("|")[9]
        for attempt in range(1, self.attempts + 1):
            code = acknowledgement_code(self.channel.send(message) or "", control)
            if code in ACCEPTED:
                return True
            log.warning("DFT^P03 not accepted", extra={"ack": code or "none", "attempt": attempt})
            if attempt < self.attempts:
                self.sleep(min(30.0, 0.5 * 2 ** (attempt - 1)))
        return False
