"""`run`: code everything a source holds into a sink (stateless)."""

from __future__ import annotations

from argparse import Namespace

from ..backfill import code_everything
from ..fhir.errors import FhirError
from ..pipeline import load_run_tables
from ..settings import Settings
from ..sinks import BillingSink, FileSink, ServerSink, Sink
from ..sources import BulkSource
from .endpoints import Endpoints
from .exit_codes import EXIT_FAILED, EXIT_OK, server_failure
from .parser import DEMO_DATA
from .progress import terminal_progress
from .summary import print_summary


def run_command(args: Namespace, settings: Settings) -> int:
    """Exit 0 when the run completed (holds and per-resource problems are in the output), 1 when
    cases could not be written to a server, 3 when a server was unreachable."""
    tables = load_run_tables(settings)
    endpoints = Endpoints(settings, tables, validate=args.validate, patients=args.patients, state_dir=args.state_dir)
    source_spec = args.source or str(DEMO_DATA)
    sink_spec = args.sink or "out"
    sink: Sink | None = None
    try:
        source = endpoints.source(source_spec)  # a Bulk export is kicked off and downloaded here
        sink = endpoints.sink(sink_spec, source)
        with terminal_progress("coding") as progress:
            summary = code_everything(source, sink, settings, tables=tables, progress=progress)
    except FhirError as error:  # AuthError and TransportError too
        return server_failure(error)
    except BaseException:
        if isinstance(sink, FileSink):
            sink.discard()
        raise
    if isinstance(source, BulkSource):
        source.finish()  # coded and written: the downloaded export is no longer needed
    stats = sink.stats if isinstance(sink, ServerSink | BillingSink) else None
    written = f" ({sink.written})" if isinstance(sink, BillingSink) and sink.written else ""
    print_summary(f"dn-adapter run: {source.description} -> {sink_spec}{written}", summary, stats)
    return EXIT_FAILED if stats and stats.errors else EXIT_OK
