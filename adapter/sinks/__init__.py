"""Sinks: where coded cases go. A new sink is one module plus one line in SINKS.

Each row: what the spec looks like (for messages), whether a spec is one, and how to open it.
The first row whose test accepts the spec opens it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..billing.fees import load_fee_schedule
from .base import CaseResult, ClaimStore, Sink, SinkContext, SinkError, WriteStats
from .billing import BillingSink
from .files import FileSink, refuse_overwriting_source
from .ledger import LedgerSink
from .server import ServerSink

SinkOpener = Callable[[str, SinkContext, list[Path]], Sink]


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def _open_files(spec: str, context: SinkContext, source_files: list[Path]) -> Sink:
    refuse_overwriting_source(Path(spec), source_files)
    return FileSink(Path(spec), validate=context.validate)


def _open_server(spec: str, context: SinkContext, _: list[Path]) -> Sink:
    """A server that declares Claim, Task and Provenance writes in transactions (Epic, Oracle
    Health and US Core servers take none: their claims go to another sink)."""
    if not context.capabilities(spec).takes_claims():
        raise SinkError(
            f"{spec} does not take Claim writes (its CapabilityStatement declares no transaction with Claim, "
            "Task and Provenance create and update): give --sink another server or a directory"
        )
    return ServerSink(context.client(spec), since=context.since)


# The billing formats' modules (and their HL7 v2 library) are imported by the run that writes
# one: a run into a directory starts without them.


def _open_x12(spec: str, context: SinkContext, source_files: list[Path]) -> Sink:
    from .x12 import X12Sink

    path = Path(spec.removeprefix("x12:"))
    if path in source_files or path.is_dir():
        raise SinkError(f"{spec}: an 837P is written to a file of its own")
    billing = context.settings.billing
    fees = load_fee_schedule(billing.fee_schedule or context.settings.mappings.dir / "fee-schedule.csv")
    return X12Sink(path, context.state_dir, billing, fees)


def _open_hl7v2(spec: str, context: SinkContext, source_files: list[Path]) -> Sink:
    from .hl7v2 import Hl7v2Sink

    target = spec.removeprefix("hl7v2:")
    if not target.startswith("mllp://") and (Path(target) in source_files or Path(target).is_dir()):
        raise SinkError(f"{spec}: DFT^P03 messages are written to a file of their own")
    settings = context.settings
    fees = load_fee_schedule(settings.billing.fee_schedule or settings.mappings.dir / "fee-schedule.csv")
    return Hl7v2Sink(target, context.state_dir, settings.billing, fees, attempts=settings.http.retry_attempts)


SINKS: list[tuple[str, Callable[[str], bool], SinkOpener]] = [
    (
        "HL7 v2 DFT^P03 charges (hl7v2:PATH or hl7v2:mllp://HOST:PORT)",
        lambda spec: spec.startswith("hl7v2:"),
        _open_hl7v2,
    ),
    ("an X12 837P file (x12:PATH)", lambda spec: spec.startswith("x12:"), _open_x12),
    ("a FHIR server base URL", _is_url, _open_server),
    ("a directory", lambda spec: True, _open_files),
]


def open_claim_store(spec: str, context: SinkContext) -> ClaimStore:
    """Where the sync worker keeps Claims: a FHIR server, a directory with its ledger, or a
    billing sink (each pass's changes as one 837P file or as DFT^P03 messages)."""
    if spec.startswith(("x12:", "hl7v2:")):
        billing = open_sink(spec, context)
        assert isinstance(billing, BillingSink)
        billing.since = context.since
        return billing
    if _is_url(spec):
        sink = _open_server(spec, context, [])
        assert isinstance(sink, ServerSink)
        return sink
    return LedgerSink(Path(spec), since=context.since, validate=context.validate)


def open_sink(spec: str, context: SinkContext, source_files: list[Path] | None = None) -> Sink:
    """The sink a spec names; `source_files` are the run's inputs, which a sink must not overwrite."""
    for _, accepts, opener in SINKS:
        if accepts(spec):
            return opener(spec, context, source_files or [])
    raise SinkError(f"not a sink: {spec} (expected {', or '.join(kind for kind, _, _ in SINKS)})")


__all__ = [
    "SINKS",
    "BillingSink",
    "CaseResult",
    "ClaimStore",
    "FileSink",
    "LedgerSink",
    "ServerSink",
    "Sink",
    "SinkContext",
    "SinkError",
    "WriteStats",
    "open_claim_store",
    "open_sink",
]
