"""The command line (fhir-contract.md): `run` codes a source into a sink; `sync` runs the worker."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from . import __version__, build_kind
from .settings import ConfigError, Settings, load_settings
from .sinks.files import SinkError
from .sources import SourceError, open_source, source_files
from .tables import MappingError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
DEMO_DATA = Path(__file__).resolve().parent / "demo" / "clinic-day.json"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; its help texts are the reference for every option."""
    parser = argparse.ArgumentParser(
        prog="dn-adapter",
        description="Code documented dry-needling sessions (FHIR R4) into Claims: CPT 20560/20561, "
        "modifiers, and review Tasks for what cannot be coded safely.",
        epilog="Exit status: 0 run completed (holds and per-resource errors are in the output); "
        "1 unexpected failure; 2 bad usage, configuration or unreadable source; "
        "3 server unreachable after retries; 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} ({build_kind()})")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="code everything a source holds into a sink (stateless)",
        description="Code everything SOURCE holds and write the results to SINK.",
    )
    run.add_argument(
        "--source",
        default=None,
        help="a FHIR Bundle JSON file, a directory of Bulk-export NDJSON files, or a FHIR server "
        "base URL (http/https). Default: the bundled demo clinic day.",
    )
    run.add_argument(
        "--sink",
        default=None,
        help="a directory (receives Claim.ndjson, Task.ndjson, Provenance.ndjson, "
        "OperationOutcome.ndjson) or a FHIR server base URL. Default: ./out/",
    )
    _common_options(run)

    sync = commands.add_parser(
        "sync",
        help="incremental, exactly-once sync against a FHIR server",
        description="Find new and changed sessions on a FHIR server and write their Claims back.",
    )
    sync.add_argument("--server", required=True, help="FHIR server base URL, e.g. http://127.0.0.1:8080/fhir")
    mode = sync.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="one incremental pass, then exit")
    mode.add_argument("--watch", action="store_true", help="poll until SIGTERM/SIGINT")
    sync.add_argument("--interval", type=float, default=60.0, help="seconds between polls with --watch (default 60)")
    sync.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".state"),
        help="directory of the durable sync state (SQLite), kept per server base URL (default .state)",
    )
    _common_options(sync)
    return parser


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML settings file (see docs/configuration.md); secrets are never read from it",
    )
    parser.add_argument(
        "--since", default=None, metavar="YYYY-MM-DD", help="only code sessions on or after this date of service"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="level of the JSON-lines log on stderr (default info)",
    )


def main(argv: list[str] | None = None) -> int:
    """Run a command; returns the exit status (see the epilog and docs/configuration.md)."""
    args = build_parser().parse_args(argv)
    from .logs import configure_logging

    configure_logging(args.log_level)
    try:
        settings = load_settings(args.config)
        if args.since:
            settings = _with_since(settings, args.since)
        if args.command == "run":
            return _run(args, settings)
        from .sync.worker import run_sync_command

        return run_sync_command(args, settings)
    except (ConfigError, MappingError, SourceError, SinkError) as error:
        print(f"dn-adapter: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dn-adapter: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _with_since(settings: Settings, since: str) -> Settings:
    try:
        date.fromisoformat(since)
    except ValueError as error:
        raise ConfigError(f"--since must be YYYY-MM-DD, got {since!r}") from error
    return replace(settings, since=since)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from .backfill import run_to_files
    from .sinks.files import FileSink, refuse_overwriting_source

    source_spec = args.source or str(DEMO_DATA)
    sink_spec = args.sink or "out"
    if source_spec.startswith(("http://", "https://")) or sink_spec.startswith(("http://", "https://")):
        from .sync.worker import run_against_server

        return run_against_server(source_spec, sink_spec, settings)
    source = open_source(source_spec)
    refuse_overwriting_source(Path(sink_spec), source_files(source))
    sink = FileSink(Path(sink_spec))
    try:
        summary = run_to_files(source, sink, settings)
    except BaseException:
        sink.discard()
        raise
    print(f"dn-adapter run: {source.description} -> {sink_spec}")
    for line in summary.lines():
        print("  " + line)
    return EXIT_OK
