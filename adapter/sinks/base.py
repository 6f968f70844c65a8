"""What every sink receives: the coded case, and the Sink protocol (files, a FHIR server, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..build import build_operation_outcome, case_id, now_instant
from ..fhirjson import JSON
from ..problems import InputProblem
from ..rules import Decision
from ..session import Session

if TYPE_CHECKING:
    from pathlib import Path

    from ..fhir.capabilities import ServerCapabilities
    from ..fhir.client import FhirClient
    from ..settings import Settings


class SinkError(Exception):
    """The sink cannot be used as given (exit status 2); nothing has been written."""


@dataclass
class CaseResult:
    """One case, its decision, and the resources written for it."""

    session: Session
    decision: Decision
    claim: JSON | None = None
    task: JSON | None = None
    provenance: JSON | None = None
    # The resources the Claim names, by 'Type/id' (patient, coverage, payor, billing provider,
    # rendering clinician): what the billing formats need beyond the Claim (billing/parties.py).
    parties: dict[str, JSON] = field(default_factory=dict)


class Sink(Protocol):
    """Where coded cases and input problems go (files or a FHIR server)."""

    # Whether write_case reads CaseResult.parties: the billing formats do, and coding gathers
    # them only for a sink that does (a tenth of the coding time, bench/run.py).
    needs_parties: bool

    def write_case(self, result: CaseResult) -> None: ...

    def write_problem(self, outcome: JSON) -> None: ...

    def close(self) -> None: ...


@dataclass
class WriteStats:
    """What a claims store (a server, or a directory with its ledger) wrote, for the run summary."""

    created: int = 0
    updated: int = 0
    cancelled: int = 0
    unchanged: int = 0
    tasks: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    transactions: int = 0


class ClaimStore(Sink, Protocol):
    """A sink the sync worker keeps Claims in: it writes only what changed, and cancels the
    Claims of complete patients that no case produces any more (on or after `since`)."""

    since: str | None
    stats: WriteStats

    def patients_complete(self, patients: list[str]) -> None: ...

    def flush(self) -> None: ...


class SinkContext(Protocol):
    """What opening a sink from its spec may need (adapter/cli/endpoints.py provides it)."""

    since: str | None
    validate: bool
    settings: Settings
    state_dir: Path

    def client(self, base_url: str) -> FhirClient: ...

    def capabilities(self, base_url: str) -> ServerCapabilities: ...


def refusal_outcome(result: CaseResult, reasons: str) -> JSON:
    """The OperationOutcome for a case a sink refused to write (its resources are not valid R4)."""
    problem = InputProblem(
        f"case {case_id(result.session)}", f"not written, not valid R4: {reasons}", "error", "invalid"
    )
    return build_operation_outcome(problem, now_instant())
