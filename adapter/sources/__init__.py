"""Sources: where FHIR resources come from. A new source is one module plus one line in SOURCES.

Each row: what the spec looks like (for messages), whether a spec is one, and how to open it.
The first row whose test accepts the spec opens it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .base import Source, SourceContext, SourceError, SourceItem, check_resource
from .bulk import BulkSource, is_kick_off
from .bundle import BundleFileSource
from .ndjson import NdjsonSource
from .patients import PatientScopedSource
from .server import ServerSource

SourceOpener = Callable[[str, SourceContext | None], Source]


def _open_server(spec: str, context: SourceContext | None) -> Source:
    """All patients with dry needling by one search where the server allows it, else the listed ones."""
    if context is None:
        raise SourceError(f"{spec}: a server source needs a FHIR client (open it through the command line)")
    context.reading(spec)  # refuses a server that offers no way to find the sessions
    listed = context.listed_patients(spec)
    if listed is not None:
        return PatientScopedSource(context.patient_reader(spec), listed, f"{spec} ({len(listed)} listed patients)")
    return ServerSource(context.client(spec), context.dry_needling_codes())


def _open_bulk(spec: str, context: SourceContext | None) -> Source:
    if context is None:
        raise SourceError(f"{spec}: a Bulk Data export needs a FHIR client (open it through the command line)")
    return context.bulk_source(spec)


SOURCES: list[tuple[str, Callable[[str], bool], SourceOpener]] = [
    ("a Bulk Data kick-off URL (BASE/$export, BASE/Patient/$export, BASE/Group/ID/$export)", is_kick_off, _open_bulk),
    ("a FHIR server base URL", lambda spec: spec.startswith(("http://", "https://")), _open_server),
    (
        "a directory of Bulk-export NDJSON files",
        lambda spec: Path(spec).is_dir(),
        lambda spec, _: NdjsonSource(sorted(Path(spec).glob("*.ndjson")), spec),
    ),
    (
        "an .ndjson file",
        lambda spec: Path(spec).is_file() and spec.endswith(".ndjson"),
        lambda spec, _: NdjsonSource([Path(spec)], spec),
    ),
    ("a FHIR Bundle JSON file", lambda spec: Path(spec).is_file(), lambda spec, _: BundleFileSource(Path(spec))),
]


def open_source(spec: str, context: SourceContext | None = None) -> Source:
    """The source a spec names (see SOURCES)."""
    for _, accepts, opener in SOURCES:
        if accepts(spec):
            return opener(spec, context)
    raise SourceError(f"source not found: {spec} (expected {', or '.join(kind for kind, _, _ in SOURCES)})")


def source_files(source: Source) -> list[Path]:
    """The files a file source reads (none for other sources)."""
    if isinstance(source, NdjsonSource):
        return list(source.files)
    if isinstance(source, BundleFileSource):
        return [source.path]
    return []


__all__ = [
    "SOURCES",
    "BulkSource",
    "BundleFileSource",
    "NdjsonSource",
    "ServerSource",
    "Source",
    "SourceContext",
    "SourceError",
    "SourceItem",
    "check_resource",
    "open_source",
    "source_files",
]
