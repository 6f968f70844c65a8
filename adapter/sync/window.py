"""The sync pass for servers without `_lastUpdated`: re-code a window of dates of service.

Each pass re-codes every session whose date of service lies in the last `window_days` days.
The case identifiers are stable and the server sink writes only what differs, so an unchanged
session writes nothing; a session that no longer codes (entered-in-error, deleted, moved out of
the window) is cancelled, because the patients coded in the window are remembered in the sync
state and coded again while they have a remembered session in it. What the window cannot see:
an amendment to a session older than `window_days` days (docs/ehr-profiles.md).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from ..fhir.client import FhirClient
from ..fhirjson import JSON, obj, text
from ..pipeline import CaseCoder
from ..sinks.base import ClaimStore
from ..sources.patients import PatientReader
from ..sources.server import PAGE_SIZE, code_token, subjects
from .state import SyncState
from .worker import PATIENTS_PER_BATCH, StopFlag, SyncSummary, code_and_write

log = logging.getLogger("adapter.sync")


def window_start(today: date, window_days: int) -> str:
    """The first date of service a pass re-codes."""
    return (today - timedelta(days=window_days)).isoformat()


def sync_window_once(
    reader: PatientReader,
    sink: ClaimStore,
    coder: CaseCoder,
    state: SyncState,
    stop: StopFlag,
    start: str,
    listed: list[str] | None,
    batch_size: int = PATIENTS_PER_BATCH,
) -> SyncSummary:
    """One pass over the window from `start`: the listed patients (or those the server finds
    with dry needling in the window), the remembered ones, and those to retry."""
    summary = SyncSummary()
    coder.settings = coder.settings.with_since(start)
    sink.since = start
    remembered = state.patients_in_window(start)
    retry = state.patients_to_retry()
    summary.retried = len(retry)
    found = listed if listed is not None else sorted(_patients_in_window(reader.client, coder, start))
    candidates = list(dict.fromkeys([*retry, *remembered, *found]))
    keep = set(remembered) | set(retry)
    for first in range(0, len(candidates), batch_size):
        todo: list[str] = []
        resources: list[JSON] = []
        newest: dict[str, str] = {}
        for patient in candidates[first : first + batch_size]:
            procedures = reader.procedures(patient)
            summary.changed_resources += len(procedures)
            dates = [d for p in procedures if reader.is_dry_needling(p) and (d := performed_date(p)) and d >= start]
            if dates or patient in keep:
                todo.append(patient)
                resources.extend(reader.read(patient, procedures))
            if dates:
                newest[patient] = max(dates)
        if todo:
            summary.patients += len(todo)
            code_and_write(coder, sink, state, todo, resources)
            state.remember_in_window(newest)
        if stop.requested:
            break
    return summary


def _patients_in_window(client: FhirClient, coder: CaseCoder, start: str) -> set[str]:
    """Patients with a dry-needling Procedure dated in the window, by one search across the server."""
    params = {"code": code_token(coder.tables.dry_needling_codes()), "date": f"ge{start}", "_count": PAGE_SIZE}
    return subjects(client.search_resources("Procedure", {**params, "_elements": "subject"}))


def performed_date(procedure: JSON) -> str | None:
    """The date (YYYY-MM-DD) a Procedure was performed, as written (its own time zone)."""
    value = text(procedure.get("performedDateTime")) or text(obj(procedure.get("performedPeriod")).get("start"))
    return value[:10] if value and len(value) >= 10 else None
