"""How to read a FHIR server, chosen from its CapabilityStatement (or forced by a setting).

Two questions, answered once at start and logged:
- which patients: all with dry needling, found by one search across the server
  (`Procedure?code=...`, HAPI and other population servers), or those `--patients` lists (Epic,
  Oracle Health and US Core refuse a clinical search without `patient`);
- what changed (the sync worker): `_lastUpdated` watermarks where every core type declares the
  parameter, else a date-of-service window re-coded each pass (Epic declares no `_lastUpdated`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..fhir.capabilities import ServerCapabilities
from .base import SourceError

log = logging.getLogger("adapter.source")

LAST_UPDATED = "last-updated"
WINDOW = "window"
READINGS = ("auto", LAST_UPDATED, WINDOW)
# The types whose changes the watermark crawl must see; without `_lastUpdated` on each, a
# change would go unseen, so the worker reads by window instead.
CORE_TYPES = ("Procedure", "Observation", "Encounter", "Condition", "Coverage")


@dataclass(frozen=True)
class Reading:
    """The way a server is read: its patients, and (for the worker) how changes are found."""

    patients: str  # "server-wide" or "listed"
    changes: str  # LAST_UPDATED or WINDOW
    why: str


def server_wide_search(capabilities: ServerCapabilities) -> bool:
    """Whether the server finds dry-needling Procedures across all patients."""
    return capabilities.searchable("Procedure", {"code"})


def choose_reading(base_url: str, capabilities: ServerCapabilities, patients_listed: bool, forced: str) -> Reading:
    """The way to read this server; a SourceError names the capability missing when there is none."""
    wide = server_wide_search(capabilities)
    per_patient = any(capabilities.required_with("Procedure", {p}) is not None for p in ("patient", "subject"))
    watermarks = wide and all(capabilities.searchable(t, {"_lastUpdated"}) for t in CORE_TYPES)
    if patients_listed and not per_patient:
        raise SourceError(
            f"{base_url}: --patients needs Procedure search by patient, which the server does not declare"
        )
    if not patients_listed and not wide:
        needed = capabilities.required_with("Procedure", {"code"})
        what = f"it requires {', '.join(sorted(needed))}" if needed else "it declares no Procedure search by code"
        raise SourceError(
            f"{base_url}: cannot find the patients with dry needling: {what} (CapabilityStatement); "
            "give --patients Group/ID or --patients FILE"
        )
    patients = "listed" if patients_listed else "server-wide"
    if forced == LAST_UPDATED:
        if patients_listed or not watermarks:
            raise SourceError(
                f"{base_url}: reading = last-updated needs _lastUpdated on {', '.join(CORE_TYPES)} searches across "
                "all patients, which the server does not declare (and --patients reads by window)"
            )
        return Reading(patients, LAST_UPDATED, "forced by the reading setting")
    if forced == WINDOW:
        return Reading(patients, WINDOW, "forced by the reading setting")
    if not patients_listed and watermarks:
        return Reading(patients, LAST_UPDATED, "the server declares _lastUpdated on the core types")
    why = (
        "--patients lists the patients" if patients_listed else "the server declares no _lastUpdated on every core type"
    )
    return Reading(patients, WINDOW, why)
