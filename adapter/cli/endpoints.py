"""The one place that builds FHIR clients and opens sources and sinks from their specs.

Sources and sinks are chosen by the registries in `adapter.sources` and `adapter.sinks`; this
module gives them what they may need: one client per server base URL (timeouts, retries, TLS
and authentication from the settings and the environment), the dry-needling codes, `--since`.
"""

from __future__ import annotations

from ..fhir.auth import auth_from_environment
from ..fhir.client import FhirClient, RetryPolicy
from ..settings import Settings
from ..sinks import Sink, open_sink
from ..sources import Source, open_source, source_files
from ..tables import CodingTables


def make_client(base_url: str, settings: Settings) -> FhirClient:
    """A FHIR client: timeouts, retries and TLS verification from the settings."""
    verify: bool | str = settings.http.ca_bundle or True
    return FhirClient(
        base_url,
        auth_from_environment(base_url, verify),
        timeout_s=settings.http.timeout_s,
        retry=RetryPolicy(attempts=settings.http.retry_attempts, max_delay_s=settings.http.retry_max_delay_s),
        verify=verify,
    )


class Endpoints:
    """Opens a run's source and sink; a server named twice gets one client."""

    def __init__(self, settings: Settings, tables: CodingTables, validate: bool = False) -> None:
        self.settings = settings
        self.tables = tables
        self.since = settings.selection.since
        self.validate = validate
        self._clients: dict[str, FhirClient] = {}

    def client(self, base_url: str) -> FhirClient:
        key = base_url.rstrip("/")
        if key not in self._clients:
            self._clients[key] = make_client(base_url, self.settings)
        return self._clients[key]

    def dry_needling_codes(self) -> list[tuple[str, str]]:
        return self.tables.dry_needling_codes()

    def source(self, spec: str) -> Source:
        return open_source(spec, self)

    def sink(self, spec: str, source: Source | None = None) -> Sink:
        """The sink; a directory that holds the source's own files is refused before anything is written."""
        return open_sink(spec, self, source_files(source) if source is not None else [])

    @property
    def requests_sent(self) -> int:
        return sum(client.requests_sent for client in self._clients.values())
