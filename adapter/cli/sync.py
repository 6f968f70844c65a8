"""`sync --once | --watch`: the incremental, exactly-once worker against one FHIR server."""

from __future__ import annotations

import os
import secrets
import sys
import time
from argparse import Namespace
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from ..backfill import code_everything
from ..fhir.auth import read_secret
from ..fhir.errors import AuthError, FhirError, TransportError
from ..fhirjson import JSON
from ..pipeline import CaseCoder, load_run_tables
from ..settings import Settings
from ..sinks import ClaimStore, SinkError, open_claim_store
from ..sinks.ledger import LedgerSink
from ..sinks.server import ServerSink
from ..sources import BulkSource, SourceError
from ..sources.bulk import server_base
from ..sources.reading import LAST_UPDATED, server_wide_search
from ..sources.server import fetch_patients
from ..sync.listener import NOTIFY_PATH, Health, NotificationListener
from ..sync.metrics import WorkerMetrics
from ..sync.push import HintQueue, PushWorker
from ..sync.state import SyncState
from ..sync.subscriptions import ensure_subscriptions, wanted_criteria
from ..sync.window import sync_window_once, window_start
from ..sync.worker import WATCHED_TYPES, StopFlag, SyncSummary, normalize_instant, sync_once
from .endpoints import Endpoints
from .exit_codes import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, server_failure
from .progress import terminal_progress
from .summary import print_summary

CRAWLABLE = (*WATCHED_TYPES, "PractitionerRole", "Practitioner", "Organization")
DEFAULT_INTERVAL_S = 60.0


def sync_command(args: Namespace, settings: Settings) -> int:
    """Exit 0 done, 1 cases failed to write (retried on the next pass), 2 bad set-up, 3 server unreachable."""
    if args.listen and not args.watch:
        print("dn-adapter: --listen needs --watch (notifications are received while the worker runs)", file=sys.stderr)
        return EXIT_USAGE
    stop = StopFlag()
    if args.watch:
        stop.install()
    endpoints: Endpoints | None = None
    try:
        tables = load_run_tables(settings)
        endpoints = Endpoints(settings, tables, patients=args.patients, state_dir=Path(args.state_dir))
        client = endpoints.client(args.server)
        reading = endpoints.reading(args.server)
        sink_spec = args.sink or args.server
        sink = open_claim_store(sink_spec, endpoints)
        coder = CaseCoder(sink, settings, tables)
        if isinstance(sink, ServerSink):
            where = sink.client.base_url
        else:
            where = sink_spec if sink_spec.startswith(("x12:", "hl7v2:")) else str(Path(sink_spec).resolve())
        state = SyncState(Path(args.state_dir), client.base_url, where)
    except TransportError as error:
        print(f"dn-adapter: server unreachable: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (AuthError, FhirError, ValueError, SourceError, SinkError) as error:
        print(f"dn-adapter: {error}", file=sys.stderr)
        return EXIT_USAGE
    capabilities = endpoints.capabilities(args.server)
    crawled = frozenset(t for t in CRAWLABLE if capabilities.searchable(t, {"_lastUpdated"}))

    def run_pass() -> None:
        summary: SyncSummary
        if reading.changes == LAST_UPDATED:
            summary = sync_once(client, sink, coder, state, stop, crawled=crawled)
        else:
            today = _server_day(client.server_time())
            start = window_start(today, settings.selection.window_days)
            listed = endpoints.listed_patients(args.server)
            if listed is None and not server_wide_search(capabilities):
                raise SourceError(f"{args.server}: no way to find patients in the window; give --patients")
            reader = endpoints.patient_reader(args.server)
            summary = sync_window_once(reader, sink, coder, state, stop, start, listed)
        sink.close()  # the pass's end: a directory store puts its files and ledger in place
        print_summary("dn-adapter summary:", coder.summary, sink.stats, summary, endpoints.requests_sent)

    listener: NotificationListener | None = None
    try:
        if args.backfill:
            backfill_from_bulk(args.backfill, args.server, endpoints, sink, state, settings, crawled)
        if args.listen:
            push = start_push(args, settings, endpoints, sink, coder, state, reading.changes == LAST_UPDATED)
            listener = push.listener
            push.worker.serve(run_pass, push.interval_s, stop)
        else:
            interval = args.interval if args.interval is not None else DEFAULT_INTERVAL_S
            while True:
                started = time.monotonic()
                run_pass()
                if not args.watch or stop.requested:
                    break
                stop.event.wait(max(0.0, interval - (time.monotonic() - started)))
                if stop.requested:
                    break
    except SourceError as error:
        print(f"dn-adapter: {error}", file=sys.stderr)
        return EXIT_USAGE
    except FhirError as error:
        return server_failure(error)
    finally:
        if listener is not None:
            listener.stop()
        state.close()
        if isinstance(sink, LedgerSink):
            sink.shut()
    return EXIT_FAILED if sink.stats.errors else EXIT_OK


@dataclass
class Push:
    listener: NotificationListener
    worker: PushWorker
    interval_s: float


def start_push(
    args: Namespace,
    settings: Settings,
    endpoints: Endpoints,
    sink: ClaimStore,
    coder: CaseCoder,
    state: SyncState,
    server_wide: bool,
) -> Push:
    """The listener on --listen, our Subscriptions on the server, and the push worker."""
    host, port = parse_listen(args.listen)
    push = settings.push
    secret = subscription_secret()
    metrics = WorkerMetrics()
    interval = args.interval if args.interval is not None else push.poll_interval_s
    health = Health(push.ready_within_s or 2 * interval + 60)
    queue = HintQueue(push.debounce_s, push.max_wait_s)
    try:
        listener = NotificationListener(host, port, secret, queue.add, metrics, health, push.max_body_bytes)
    except OSError as error:
        raise SourceError(f"--listen {args.listen}: cannot listen there ({error.strerror or error})") from error
    listener.start()
    client = endpoints.client(args.server)
    endpoint = push.endpoint_url or f"http://{host}:{listener.port}{NOTIFY_PATH}"
    if push.subscribe:
        criteria = wanted_criteria(endpoints.dry_needling_codes(), settings.selection.observation_categories)
        ensure_subscriptions(client, endpoint, secret, criteria, push.topic)
    if server_wide:

        def fetch(patients: list[str]) -> list[JSON]:
            return fetch_patients(client, patients)
    else:
        reader = endpoints.patient_reader(args.server)

        def fetch(patients: list[str]) -> list[JSON]:
            return [r for patient in patients for r in reader.read(patient)]

    worker = PushWorker(client, sink, coder, state, fetch, queue, metrics, health)
    return Push(listener, worker, interval)


def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT' (PORT 0: any free port) for --listen."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise SourceError(f"--listen {value}: give HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]"), int(port)


def subscription_secret() -> str:
    """DN_ADAPTER_SUBSCRIPTION_SECRET (or the file ..._FILE names), else a new random one; our
    Subscriptions are re-armed with it at start, so a new one per run is safe."""
    if os.environ.get("DN_ADAPTER_SUBSCRIPTION_SECRET") or os.environ.get("DN_ADAPTER_SUBSCRIPTION_SECRET_FILE"):
        return read_secret("DN_ADAPTER_SUBSCRIPTION_SECRET", os.environ.get("DN_ADAPTER_SUBSCRIPTION_SECRET_FILE"))
    return secrets.token_urlsafe(32)


def backfill_from_bulk(
    kick_off: str,
    server: str,
    endpoints: Endpoints,
    sink: ClaimStore,
    state: SyncState,
    settings: Settings,
    crawled: frozenset[str],
) -> None:
    """Code a Bulk Data export of the server into the claims store, then start the watermarks
    at the export's transactionTime: the passes that follow read only what changed since."""
    if server_base(kick_off).rstrip("/") != server.rstrip("/"):
        raise SourceError(f"--backfill {kick_off}: not an export of --server {server}")
    source = endpoints.source(kick_off)
    if not isinstance(source, BulkSource):
        raise SourceError(f"--backfill {kick_off}: not a Bulk Data kick-off URL")
    with terminal_progress("backfill") as progress:
        summary = code_everything(source, sink, settings, tables=endpoints.tables, progress=progress)
    print_summary(f"dn-adapter backfill: {kick_off}", summary, sink.stats)
    since = source.downloaded.transaction_time
    if since:
        state.start_at(normalize_instant(since), sorted(crawled), [t for t in WATCHED_TYPES if t in crawled])
    source.finish()


def _server_day(instant: str | None) -> date:
    """Today by the server's clock (UTC), else by ours."""
    if instant:
        return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(UTC).date()
    return datetime.now(UTC).date()
