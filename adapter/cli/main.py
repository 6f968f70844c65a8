"""`main`: parse, load the settings, run one command, and turn errors into exit statuses."""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Callable
from datetime import date

from ..settings import ConfigError, Settings, load_settings
from ..sinks import SinkError
from ..sources import SourceError
from ..tables import MappingError
from .exit_codes import EXIT_INTERRUPTED, EXIT_USAGE
from .parser import build_parser


def _command(name: str) -> Callable[[Namespace, Settings], int]:
    """One module per command, imported only when chosen: `--help` stays fast, and `run` does
    not load the sync worker's listener and metrics (a tenth of a second at every start)."""
    if name == "sync":
        from .sync import sync_command

        return sync_command
    if name == "report":
        from .report import report_command

        return report_command
    from .run import run_command

    return run_command


def main(argv: list[str] | None = None) -> int:
    """Run a command; returns the exit status (see the epilog and docs/configuration.md)."""
    args = build_parser().parse_args(argv)
    from ..logs import configure_logging

    configure_logging(args.log_level)
    try:
        settings = load_settings(args.config)
        if args.since:
            settings = _with_since(settings, args.since)
        return _command(args.command)(args, settings)
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
    return settings.with_since(since)
