"""The one place that builds FHIR clients and opens sources and sinks from their specs.

Sources and sinks are chosen by the registries in `adapter.sources` and `adapter.sinks`; this
module gives them what they may need: one client per server base URL (timeouts, retries, TLS
and authentication from the settings and the environment), each server's CapabilityStatement
(read once), the patients `--patients` names, the dry-needling codes, `--since`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..fhir.capabilities import ServerCapabilities, read_capabilities
from ..settings import Settings
from ..sinks import Sink, open_sink
from ..sources import Source, open_source, source_files
from ..sources.bulk import BulkExport, BulkSource, add_shared_resources, patient_level, server_base
from ..sources.patients import GroupUnreadable, PatientReader, read_patient_list
from ..sources.reading import Reading, choose_reading
from ..tables import CodingTables

if TYPE_CHECKING:
    from ..fhir.client import FhirClient

log = logging.getLogger("adapter.cli")


def make_client(base_url: str, settings: Settings) -> FhirClient:
    """A FHIR client: timeouts, retries and TLS verification from the settings."""
    # Imported here, the one place a client is made: a run that reads and writes files only
    # then never imports requests and PyJWT (0.3 s of its start, `python -X importtime`).
    from ..fhir.auth import auth_from_environment
    from ..fhir.client import FhirClient, RetryPolicy

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

    def __init__(
        self,
        settings: Settings,
        tables: CodingTables,
        validate: bool = False,
        patients: str | None = None,
        state_dir: Path = Path(".state"),
    ) -> None:
        self.settings = settings
        self.tables = tables
        self.since = settings.selection.since
        self.validate = validate
        self.patients = patients
        self.state_dir = state_dir
        self._clients: dict[str, FhirClient] = {}
        self._capabilities: dict[str, ServerCapabilities] = {}
        self._readers: dict[str, PatientReader] = {}

    def client(self, base_url: str) -> FhirClient:
        key = base_url.rstrip("/")
        if key not in self._clients:
            self._clients[key] = make_client(base_url, self.settings)
        return self._clients[key]

    def capabilities(self, base_url: str) -> ServerCapabilities:
        """The server's CapabilityStatement, read once."""
        key = base_url.rstrip("/")
        if key not in self._capabilities:
            self._capabilities[key] = read_capabilities(self.client(base_url))
        return self._capabilities[key]

    def reading(self, base_url: str) -> Reading:
        """How to read this server (logged once); a SourceError when it offers no way."""
        forced = self.settings.selection.reading
        reading = choose_reading(base_url, self.capabilities(base_url), self.patients is not None, forced)
        log.info("reading chosen", extra={"patients": reading.patients, "changes": reading.changes, "why": reading.why})
        return reading

    def listed_patients(self, base_url: str) -> list[str] | None:
        """The patients `--patients` names, or None. A Group is read from this server; where the
        Group cannot be read (a client may hold Bulk Data scopes only, as on Epic), its members
        come from a Bulk export of the Group's Patients."""
        if self.patients is None:
            return None
        try:
            return read_patient_list(self.patients, self.client(base_url))
        except GroupUnreadable as unreadable:
            kick_off = f"{base_url.rstrip('/')}/{self.patients}/$export?_type=Patient"
            log.info("group not readable; exporting its patients", extra={"status": unreadable.status})
            export = BulkExport(self.client(base_url), kick_off, self.state_dir, self.settings.bulk)
            source = BulkSource(export, export.run())
            patients = [f"Patient/{r['id']}" for r in source.items() if isinstance(r, dict) and r.get("id")]
            source.finish()
            return list(dict.fromkeys(patients))

    def patient_reader(self, base_url: str) -> PatientReader:
        key = base_url.rstrip("/")
        if key not in self._readers:
            self._readers[key] = PatientReader(
                self.client(base_url),
                self.capabilities(base_url),
                self.dry_needling_codes(),
                self.settings.selection.observation_categories,
            )
        return self._readers[key]

    def bulk_source(self, kick_off: str) -> Source:
        """Kick off (or resume) a Bulk Data export, wait for it, download it: its files as a source."""
        base = server_base(kick_off)
        export = BulkExport(self.client(base), kick_off, self.state_dir, self.settings.bulk)
        downloaded = export.run()
        if patient_level(kick_off):
            downloaded = add_shared_resources(export, downloaded, self.patient_reader(base))
        return BulkSource(export, downloaded)

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
