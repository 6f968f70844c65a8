"""Sources: where FHIR resources come from (a Bundle file, Bulk-export NDJSON, a server)."""

from .base import SourceError, SourceItem, open_source, source_files

__all__ = ["SourceError", "SourceItem", "open_source", "source_files"]
