"""Dry-needling claim adapter: FHIR R4 sessions in, coded Claims out.

The public API a deployment may import (everything else is internal and may change):

    from adapter import Settings, load_settings, open_source, open_sink, code_everything
    summary = code_everything(open_source("export/"), open_sink("out/", context), load_settings(None))

Names are imported on first use, so `import adapter` (and the command line's `--help`) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "code_everything": "adapter.backfill",
    "RunSummary": "adapter.pipeline",
    "load_run_tables": "adapter.pipeline",
    "Settings": "adapter.settings",
    "CodingSettings": "adapter.settings",
    "MappingSettings": "adapter.settings",
    "SelectionSettings": "adapter.settings",
    "HttpSettings": "adapter.settings",
    "LocalCode": "adapter.settings",
    "ConfigError": "adapter.settings",
    "load_settings": "adapter.settings",
    "Source": "adapter.sources",
    "SourceError": "adapter.sources",
    "open_source": "adapter.sources",
    "NdjsonSource": "adapter.sources",
    "BundleFileSource": "adapter.sources",
    "ServerSource": "adapter.sources",
    "Sink": "adapter.sinks",
    "SinkError": "adapter.sinks",
    "open_sink": "adapter.sinks",
    "FileSink": "adapter.sinks",
    "ServerSink": "adapter.sinks",
    "CaseResult": "adapter.sinks",
    "FhirClient": "adapter.fhir.client",
}
__all__ = [
    "BundleFileSource",
    "CaseResult",
    "CodingSettings",
    "ConfigError",
    "FhirClient",
    "FileSink",
    "HttpSettings",
    "LocalCode",
    "MappingSettings",
    "NdjsonSource",
    "RunSummary",
    "SelectionSettings",
    "ServerSink",
    "ServerSource",
    "Settings",
    "Sink",
    "SinkError",
    "Source",
    "SourceError",
    "__version__",
    "build_kind",
    "code_everything",
    "load_run_tables",
    "load_settings",
    "open_sink",
    "open_source",
]

if TYPE_CHECKING:
    from .backfill import code_everything
    from .fhir.client import FhirClient
    from .pipeline import RunSummary, load_run_tables
    from .settings import (
        CodingSettings,
        ConfigError,
        HttpSettings,
        LocalCode,
        MappingSettings,
        SelectionSettings,
        Settings,
        load_settings,
    )
    from .sinks import CaseResult, FileSink, ServerSink, Sink, SinkError, open_sink
    from .sources import BundleFileSource, NdjsonSource, ServerSource, Source, SourceError, open_source


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'adapter' has no attribute {name!r}")
    return getattr(import_module(module), name)


def build_kind() -> str:
    """'compiled' when the coding core is the mypyc build (scripts/build_compiled.py), else 'interpreted'."""
    spec = find_spec("adapter.assemble")
    return "interpreted" if spec is None or str(spec.origin).endswith(".py") else "compiled"
