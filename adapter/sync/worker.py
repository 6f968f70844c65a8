"""The sync loop: watermark search (and history, for deletions) -> changed patients -> fetch ->
code -> write -> watermark.

It only orchestrates: reading is sources/server.py, coding is pipeline.py, writing is
sinks/server.py, HTTP is fhir/client.py, state is sync/state.py; the command, its prints and
exit statuses are adapter/cli/sync.py.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from ..fhir.client import FhirClient
from ..fhirjson import JSON, reference, resource_key
from ..indexes import patient_of
from ..pipeline import CaseCoder
from ..sinks.base import ClaimStore
from ..sources.server import code_token, fetch_patients
from .searches import (
    deleted_since,
    patients_billed_from,
    patients_insured_by,
    patients_treated_by,
    patients_with_dry_needling_among,
)
from .state import SyncState

log = logging.getLogger("adapter.sync")
WATCHED_TYPES = (
    "Procedure",
    "Observation",
    "Encounter",
    # Each of these changes a case too: a corrected diagnosis (R8, R9), a new payer (R8), a
    # corrected laterality (R4), an injectate recorded after the session (R5).
    "Condition",
    "Coverage",
    "BodyStructure",
    "MedicationAdministration",
)
# Shared by many patients: a changed role (PT to physician, say) re-codes every patient with
# dry needling the clinician performed; a renamed payer (R8 payer-policy rows match names and
# identifiers) every patient with dry needling it insures.
CLINICIAN_TYPES = ("PractitionerRole", "Practitioner")
PAYER_TYPES = ("Organization",)
# Our Provenances name these as the sources of a Claim (build.build_provenance).
PROVENANCE_SOURCES = frozenset({"Procedure", "Observation", "Encounter"})
PATIENTS_PER_BATCH = 200


class StopFlag:
    """Set by SIGTERM/SIGINT; the loop finishes the page in hand, then stops."""

    def __init__(self) -> None:
        self.event = threading.Event()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def install(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("stop requested, finishing the page in hand", extra={"signal": signum})
            self.event.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


@dataclass
class SyncSummary:
    """What one pass saw."""

    changed_resources: int = 0
    deleted_resources: int = 0
    patients: int = 0
    retried: int = 0


def normalize_instant(value: str) -> str:
    """An instant as UTC with milliseconds ('2025-01-01T00:00:00.000Z'), so strings compare."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sync_once(
    client: FhirClient,
    sink: ClaimStore,
    coder: CaseCoder,
    state: SyncState,
    stop: StopFlag,
    page_size: int = PATIENTS_PER_BATCH,
    crawled: frozenset[str] | None = None,
) -> SyncSummary:
    """One incremental pass over every watched type; the watermark moves only past written work.

    `crawled`: the types the server can search by `_lastUpdated` (default all); a type it
    cannot is not crawled, so its changes are seen only through the other types.
    """
    crawl_start = normalize_instant(client.server_time() or datetime.now(UTC).isoformat())
    one_pass = _Pass(client, sink, coder, state, crawl_start, page_size)
    retry = state.patients_to_retry()
    one_pass.summary.retried = len(retry)
    one_pass.code(retry)
    for resource_type in WATCHED_TYPES + CLINICIAN_TYPES + PAYER_TYPES:
        if crawled is not None and resource_type not in crawled:
            continue
        one_pass.crawl(resource_type, stop)
        if stop.requested:
            return one_pass.summary
    for resource_type in WATCHED_TYPES:
        one_pass.code_deletions(resource_type)
        if stop.requested:
            break
    return one_pass.summary


class _Pass:
    """One sync pass: what it has coded already (each patient once) and what it saw."""

    def __init__(
        self,
        client: FhirClient,
        sink: ClaimStore,
        coder: CaseCoder,
        state: SyncState,
        crawl_start: str,
        page_size: int,
    ) -> None:
        self.client, self.sink, self.coder, self.state = client, sink, coder, state
        self.crawl_start = crawl_start
        self.page_size = page_size
        self.summary = SyncSummary()
        self.coded: set[str] = set()
        self.codes = coder.tables.dry_needling_codes()
        self.procedure_mark = state.watermark("Procedure")  # as it was when the pass began

    def crawl(self, resource_type: str, stop: StopFlag) -> None:
        """Code the patients of every resource of this type changed since its watermark."""
        params: dict[str, str | list[str]] = {"_sort": "_lastUpdated", "_count": str(self.page_size)}
        mark = self.state.watermark(resource_type)
        first_scan = mark is None and resource_type == "Procedure"
        if first_scan:
            # The first pass reads every dry-needling Procedure once, not every record on the
            # server; each of their patients is then coded from all of its current data.
            params["code"] = code_token(self.codes)
        elif mark is None:
            # Nothing older can change a case the first pass did not code from current data; a
            # type watched since an upgrade starts where the Procedure crawl stands.
            mark = self.procedure_mark or self.crawl_start
            self.state.set_watermark(resource_type, mark)
        if mark:
            params["_lastUpdated"] = f"gt{mark}"
        newest: str | None = None
        for page in self.client.search(resource_type, params):
            resources = [e["resource"] for e in page.get("entry") or [] if isinstance(e.get("resource"), dict)]
            resources = [r for r in resources if r.get("resourceType") == resource_type]
            self.summary.changed_resources += len(resources)
            self.code(patients_of_changes(self.client, resource_type, resources, self.codes, first_scan))
            stamps = [stamp for r in resources if (stamp := _last_updated(r))]
            if stamps:
                newest = max(stamps + ([newest] if newest else []))
                # One transaction stamps everything it writes alike, so resources sharing this
                # page's newest stamp may go on over the next page: until the crawl ends, the
                # mark stays just below that stamp (a stop or crash then re-reads, never skips).
                below = max((stamp for stamp in stamps if stamp < max(stamps)), default=None)
                if below:
                    self.state.set_watermark(resource_type, min(below, self.crawl_start))
            if stop.requested:
                return
        if first_scan:
            self.state.set_watermark(resource_type, self.crawl_start)  # the scan covered every one
        elif newest:
            self.state.set_watermark(resource_type, min(newest, self.crawl_start))

    def code_deletions(self, resource_type: str) -> None:
        """Re-code the patients whose resources of this type were deleted since the last pass.

        The first pass only sets the mark: what was deleted before the adapter ever ran fed no
        Claim of ours. Failed writes go to the retry table, so the mark may move on.
        """
        key = f"{resource_type}/deleted"
        mark = self.state.watermark(key)
        if mark:
            gone = deleted_since(self.client, resource_type, mark)
            if gone:
                self.summary.deleted_resources += len(gone)
                self.code(_patients_touched(self.client, gone, self.codes))
        self.state.set_watermark(key, self.crawl_start)

    def code(self, patients: set[str] | list[str]) -> None:
        """Fetch, code and write these patients (each once a pass); failed writes go to the retry table."""
        todo = sorted(set(patients) - self.coded)
        if not todo:
            return
        self.summary.patients += len(todo)
        self.coded.update(todo)
        code_and_write(self.coder, self.sink, self.state, todo, fetch_patients(self.client, todo))


def code_and_write(
    coder: CaseCoder, sink: ClaimStore, state: SyncState, patients: list[str], resources: list[JSON]
) -> None:
    """Code these patients from all of their resources and write them; those whose coding or
    write failed go to the retry table (their Claims stay as they are), the others leave it."""
    coder.code(resources)
    complete = coder.coded(patients)
    not_coded = set(patients) - set(complete)
    sink.patients_complete(complete)
    errors_before = len(sink.stats.errors)
    sink.flush()
    failed = {patient for patient, _ in sink.stats.errors[errors_before:]}
    state.mark_for_retry(sorted(not_coded), "coding failed")
    state.mark_for_retry(sorted(failed - not_coded), "write failed")
    state.clear_retry([p for p in complete if p not in failed])


def patients_of_changes(
    client: FhirClient,
    resource_type: str,
    resources: list[JSON],
    codes: list[tuple[str, str]],
    known_dry_needling: bool = False,
) -> set[str]:
    """The patients to re-code because these resources of one type changed (or were deleted:
    then they are `{"resourceType", "id"}` stubs, found through our Provenances)."""
    if resource_type in CLINICIAN_TYPES:
        return _patients_of_clinicians(client, resources, codes)
    if resource_type in PAYER_TYPES:
        return patients_insured_by(client, sorted({k for r in resources if (k := resource_key(r))}), codes)
    if resource_type == "Patient":
        return patients_with_dry_needling_among(client, sorted({k for r in resources if (k := resource_key(r))}), codes)
    return _patients_touched(client, resources, codes, known_dry_needling)


def _patients_touched(
    client: FhirClient, resources: list[JSON], codes: list[tuple[str, str]], known_dry_needling: bool = False
) -> set[str]:
    """The patients to re-code for these changed resources.

    Those whose Claims the resources fed before (a record moved to another chart leaves its
    Claim under the old patient), and those the resources name now, if they have any
    dry-needling Procedure at all: on a hospital-wide server most changed Encounters and
    Conditions belong to patients the adapter has nothing to do with.
    """
    keys = sorted({k for r in resources if r.get("resourceType") in PROVENANCE_SOURCES and (k := resource_key(r))})
    billed = patients_billed_from(client, keys) if keys else set()
    named = sorted({p for r in resources if (p := patient_of(r))} - billed)
    if known_dry_needling or not named:
        return billed | set(named)
    return billed | patients_with_dry_needling_among(client, named, codes)


def _patients_of_clinicians(client: FhirClient, resources: list[JSON], codes: list[tuple[str, str]]) -> set[str]:
    """The patients with dry needling by these changed clinicians (a role names its practitioner too)."""
    refs = {k for r in resources if (k := resource_key(r))}
    roles = [r for r in resources if r.get("resourceType") == "PractitionerRole"]
    refs |= {p for r in roles if (p := reference(r.get("practitioner")))}
    return patients_treated_by(client, sorted(refs), codes) if refs else set()


def _last_updated(resource: JSON) -> str | None:
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else None
    value = meta.get("lastUpdated") if meta else None
    try:
        return normalize_instant(value) if isinstance(value, str) else None
    except ValueError:
        return None
