"""Sinks: where coded cases go. A new sink is one module plus one line in SINKS.

Each row: what the spec looks like (for messages), whether a spec is one, and how to open it.
The first row whose test accepts the spec opens it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .base import CaseResult, Sink, SinkContext, SinkError
from .files import FileSink, refuse_overwriting_source
from .server import ServerSink

SinkOpener = Callable[[str, SinkContext, list[Path]], Sink]


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def _open_files(spec: str, context: SinkContext, source_files: list[Path]) -> Sink:
    refuse_overwriting_source(Path(spec), source_files)
    return FileSink(Path(spec), validate=context.validate)


SINKS: list[tuple[str, Callable[[str], bool], SinkOpener]] = [
    ("a FHIR server base URL", _is_url, lambda spec, context, _: ServerSink(context.client(spec), since=context.since)),
    ("a directory", lambda spec: True, _open_files),
]


def open_sink(spec: str, context: SinkContext, source_files: list[Path] | None = None) -> Sink:
    """The sink a spec names; `source_files` are the run's inputs, which a sink must not overwrite."""
    for _, accepts, opener in SINKS:
        if accepts(spec):
            return opener(spec, context, source_files or [])
    raise SinkError(f"not a sink: {spec} (expected {', or '.join(kind for kind, _, _ in SINKS)})")


__all__ = ["SINKS", "CaseResult", "FileSink", "ServerSink", "Sink", "SinkContext", "SinkError", "open_sink"]
