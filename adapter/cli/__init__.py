"""The command line (fhir-contract.md): the only place that prints or chooses an exit status.

`parser.py` holds every option, `main.py` dispatches to one module per command (`run.py`,
`sync.py`), and `endpoints.py` is the one place that builds FHIR clients and opens sources and
sinks from their specs (through the registries in `adapter.sources` and `adapter.sinks`).
"""

from .exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from .main import main
from .parser import DEMO_DATA, build_parser

__all__ = [
    "DEMO_DATA",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]
