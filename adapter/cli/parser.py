"""Every option of every command; the help texts are the reference (docs/configuration.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__, build_kind

DEMO_DATA = Path(__file__).resolve().parent.parent / "demo" / "clinic-day.json"


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
        help="a FHIR Bundle JSON file, a directory of Bulk-export NDJSON files, a FHIR server "
        "base URL (http/https), or a Bulk Data kick-off URL (BASE/$export, BASE/Patient/$export, "
        "BASE/Group/ID/$export; _type, _since and _typeFilter allowed). Default: the bundled demo clinic day.",
    )
    run.add_argument(
        "--sink",
        default=None,
        help="a directory (receives Claim.ndjson, Task.ndjson, Provenance.ndjson, "
        "OperationOutcome.ndjson), a FHIR server base URL, x12:PATH (an 837P file of the billable "
        "Claims) or hl7v2:PATH | hl7v2:mllp://HOST:PORT (DFT^P03 charges); see docs/billing-output.md. "
        "Default: ./out/",
    )
    run.add_argument(
        "--validate",
        action="store_true",
        help="check every resource against the FHIR R4 models before a file sink writes it; a case that "
        "fails is not written and gets an OperationOutcome naming the element (a server sink always checks)",
    )
    run.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".state"),
        help="where a Bulk Data export's status URL and downloaded files are kept, so a killed run "
        "resumes the same export (default .state)",
    )
    _common_options(run)

    sync = commands.add_parser(
        "sync",
        help="incremental, exactly-once sync against a FHIR server",
        description="Find new and changed sessions on a FHIR server and write their Claims back.",
    )
    sync.add_argument("--server", required=True, help="FHIR server base URL, e.g. http://127.0.0.1:8080/fhir")
    sync.add_argument(
        "--sink",
        default=None,
        help="where the Claims go: a FHIR server base URL or a directory (a claims store apart from the EHR), "
        "x12:PATH or hl7v2:PATH|mllp://HOST:PORT (each pass's billable changes). Default: the server itself",
    )
    mode = sync.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="one incremental pass, then exit")
    mode.add_argument("--watch", action="store_true", help="poll until SIGTERM/SIGINT")
    sync.add_argument(
        "--backfill",
        default=None,
        metavar="KICK-OFF-URL",
        help="first code a Bulk Data export of the server (SERVER/$export, SERVER/Group/ID/$export), then "
        "read incrementally from the export's transactionTime; resumable like `run` (--state-dir)",
    )
    sync.add_argument(
        "--interval",
        type=float,
        default=None,
        help="seconds between polls with --watch (default 60; with --listen, [push] poll_interval_s, 300)",
    )
    sync.add_argument(
        "--listen",
        default=None,
        metavar="HOST:PORT",
        help="with --watch: receive Subscription notifications on http://HOST:PORT/notify (the worker "
        "creates or reuses its Subscriptions on the server) and serve /healthz and /metrics there; "
        "the polling pass goes on as the safety net (docs/operations.md)",
    )
    sync.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".state"),
        help="directory of the durable sync state (SQLite), kept per server and sink (default .state)",
    )
    _common_options(sync)

    report = commands.add_parser(
        "report",
        help="write the review page (one self-contained HTML file) from what the adapter wrote",
        description="Read the Claims, Tasks, Provenances (and, from a directory, OperationOutcomes) the "
        "adapter wrote and write one HTML page: summary, review queue, active and cancelled Claims with "
        "their decision trace, coding warnings. See docs/review-page.md.",
    )
    report.add_argument(
        "--source",
        required=True,
        metavar="DIR|URL",
        help="a directory a file sink wrote (run --sink DIR, or sync --sink DIR) or a FHIR server base URL "
        "(our tagged Claims, Tasks and Provenances)",
    )
    report.add_argument("--out", required=True, type=Path, metavar="FILE.html", help="the page to write")
    report.add_argument(
        "--patient-names",
        action="store_true",
        help="show patient names beside their ids (read from the server, so a URL source only); "
        "without it the page carries no PHI beyond what the Claims already do",
    )
    report.add_argument(
        "--config", type=Path, default=None, help="TOML settings file (the [http] table for a server source)"
    )
    report.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error"), help="log level on stderr"
    )
    report.set_defaults(since=None)
    return parser


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML settings file (see docs/configuration.md); secrets are never read from it",
    )
    parser.add_argument(
        "--patients",
        default=None,
        metavar="Group/ID|FILE",
        help="the patients to read, for servers that refuse a search without `patient`: a Group on the "
        "server (its active members) or a file of Patient/id lines",
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
