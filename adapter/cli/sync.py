"""`sync --once | --watch`: the incremental, exactly-once worker against one FHIR server."""

from __future__ import annotations

import sys
import time
from argparse import Namespace
from pathlib import Path

from ..fhir.errors import AuthError, FhirError, TransportError
from ..pipeline import CaseCoder, load_run_tables
from ..settings import Settings
from ..sinks.server import ServerSink
from ..sync.state import SyncState
from ..sync.worker import StopFlag, sync_once
from .endpoints import Endpoints
from .exit_codes import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from .summary import print_summary


def sync_command(args: Namespace, settings: Settings) -> int:
    """Exit 0 done, 1 cases failed to write (retried on the next pass), 2 bad set-up, 3 server unreachable."""
    stop = StopFlag()
    if args.watch:
        stop.install()
    try:
        tables = load_run_tables(settings)
        client = Endpoints(settings, tables).client(args.server)
        sink = ServerSink(client, since=settings.selection.since)
        coder = CaseCoder(sink, settings, tables)
        state = SyncState(Path(args.state_dir), client.base_url)
    except (AuthError, ValueError) as error:
        print(f"dn-adapter: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        while True:
            started = time.monotonic()
            summary = sync_once(client, sink, coder, state, stop)
            print_summary("dn-adapter summary:", coder.summary, sink.stats, summary, client.requests_sent)
            if not args.watch or stop.requested:
                break
            stop.event.wait(max(0.0, args.interval - (time.monotonic() - started)))
            if stop.requested:
                break
    except TransportError as error:
        print(f"dn-adapter: server unreachable: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except FhirError as error:
        print(f"dn-adapter: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        state.close()
    return EXIT_FAILED if sink.stats.errors else EXIT_OK
