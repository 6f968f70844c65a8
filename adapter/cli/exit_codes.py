"""The exit statuses of every command (docs/configuration.md, "Exit codes")."""

import sys

from ..fhir.errors import FhirError, TransportError

EXIT_OK = 0  # the run completed; holds and per-resource problems are in the output
EXIT_FAILED = 1  # some cases could not be written, or an unexpected server answer
EXIT_USAGE = 2  # bad usage, configuration, mappings, source or sink
EXIT_UNREACHABLE = 3  # the server could not be reached after every retry
EXIT_INTERRUPTED = 130


def server_failure(error: FhirError) -> int:
    """Say on stderr what the server did; the status: 3 unreachable after every retry, else 1."""
    if isinstance(error, TransportError):
        print(f"dn-adapter: server unreachable: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(f"dn-adapter: {error}", file=sys.stderr)
    return EXIT_FAILED
