"""`report`: the review page from what the adapter wrote (a file sink's directory or a server)."""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from pathlib import Path

from ..build import now_instant
from ..fhir.errors import FhirError
from ..report.cases import Review, review_of
from ..report.page import render_page
from ..report.written import Written, patient_names, read_directory, read_server
from ..settings import Settings
from .endpoints import make_client
from .exit_codes import EXIT_OK, EXIT_USAGE, server_failure


def report_command(args: Namespace, settings: Settings) -> int:
    """Exit 0 with the page written; 2 for a source that is neither a directory nor a URL (or
    names asked for from a directory); 3 server unreachable; 1 other server errors."""
    source: str = args.source
    is_server = source.startswith(("http://", "https://"))
    if not is_server and not Path(source).is_dir():
        print(f"dn-adapter: report --source {source}: not a directory or a FHIR server URL", file=sys.stderr)
        return EXIT_USAGE
    if args.patient_names and not is_server:
        print("dn-adapter: --patient-names reads the names from the server: give a server URL", file=sys.stderr)
        return EXIT_USAGE
    names: dict[str, str] = {}
    try:
        if is_server:
            client = make_client(source, settings)
            written = read_server(client)
        else:
            written = read_directory(Path(source))
        review = review_of(*(written.of(t) for t in ("Claim", "Task", "Provenance", "OperationOutcome")))
        if args.patient_names:
            names = patient_names(client, sorted({c.patient for c in review.cases if c.patient}))
    except FhirError as error:  # AuthError and TransportError too
        return server_failure(error)
    page = render_page(review, source, now_instant(), names)
    _write_atomically(args.out, page)
    _print_report_summary(args.out, review, written)
    return EXIT_OK


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _print_report_summary(path: Path, review: Review, written: Written) -> None:
    print(f"dn-adapter report: {path}")
    print(f"  claims active:    {len(review.with_status('active'))}")
    print(f"  claims held:      {len(review.with_status('draft'))}")
    print(f"  claims cancelled: {len(review.with_status('cancelled'))}")
    print(f"  review tasks:     {review.open_tasks}")
    if written.unreadable:
        print(f"  unreadable lines: {len(written.unreadable)} (first: {written.unreadable[0]})")
