"""The searches only the sync worker needs: who was treated by a changed clinician, insured by a
changed payer, billed from a moved record, and what was deleted.

Reading a batch of patients' data is the server source's (sources/server.py); these find which
patients to read.
"""

from __future__ import annotations

import logging

from .. import systems
from ..fhir.client import FhirClient
from ..fhir.errors import ClientError, ServerError
from ..fhirjson import JSON, obj, objects, reference, resource_key, text
from ..sources.server import PAGE_SIZE, code_token, search_by_ids, subjects

log = logging.getLogger("adapter.sync")


def patients_with_dry_needling_among(client: FhirClient, patients: list[str], codes: list[tuple[str, str]]) -> set[str]:
    """Those of these patients with at least one dry-needling Procedure (any status, any date)."""
    token = code_token(codes)
    return subjects(search_by_ids(client, "Procedure", "subject", patients, code=token, _elements="subject"))


def patients_treated_by(client: FhirClient, clinicians: list[str], codes: list[tuple[str, str]]) -> set[str]:
    """Patients with a dry-needling Procedure that one of these clinicians performed, or whose
    Encounter they took part in (a Procedure without a performer takes the Encounter's)."""
    token = code_token(codes)
    performed = search_by_ids(client, "Procedure", "performer", clinicians, code=token, _elements="subject")
    found = subjects(performed)
    attended = subjects(search_by_ids(client, "Encounter", "participant", clinicians, _elements="subject"))
    return found | patients_with_dry_needling_among(client, sorted(attended - found), codes)


def patients_insured_by(client: FhirClient, payers: list[str], codes: list[tuple[str, str]]) -> set[str]:
    """Patients with a dry-needling Procedure whose Coverage names one of these payers (a
    payer's name and identifiers match payer-policy rows, R8)."""
    insured = subjects(search_by_ids(client, "Coverage", "payor", payers, _elements="beneficiary"), "beneficiary")
    return patients_with_dry_needling_among(client, sorted(insured), codes)


def deleted_since(client: FhirClient, resource_type: str, since: str) -> list[JSON] | None:
    """The last live version of every resource of this type deleted at or after `since`.

    A hard DELETE leaves nothing a _lastUpdated search can find, yet the Claim it fed must
    follow it (re-coded with fewer muscles, or cancelled). The type's history names each
    deleted id; its last live version says whose it was. None when the server keeps no
    history for the type (many EHRs): deletions are then not seen, which is logged.
    """
    live: dict[str, JSON] = {}
    deleted: list[str] = []
    try:
        for page in client.search(f"{resource_type}/_history", {"_since": since, "_count": PAGE_SIZE}):
            for entry in objects(page.get("entry")):
                resource = entry.get("resource")
                if isinstance(resource, dict):
                    key = resource_key(resource)
                    if key and key not in live:  # history runs newest first
                        live[key] = resource
                    continue
                request = obj(entry.get("request"))
                url = text(request.get("url")) or ""
                if request.get("method") == "DELETE" and url.startswith(f"{resource_type}/"):
                    deleted.append("/".join(url.split("/")[:2]))
    except ServerError as error:
        if 400 <= error.status < 500 or error.status == 501:
            log.warning("no history for the type: hard deletions are not seen", extra={"type": resource_type})
            return None
        raise
    found = []
    for key in dict.fromkeys(deleted):
        previous = live.get(key) or _last_live_version(client, key)
        if previous is not None:
            found.append(previous)
    return found


def _last_live_version(client: FhirClient, key: str) -> JSON | None:
    """The newest version of a deleted resource that still has content (one history page)."""
    try:
        for page in client.search(f"{key}/_history", {"_count": "10"}):
            for entry in objects(page.get("entry")):
                if isinstance(entry.get("resource"), dict):
                    return dict(entry["resource"])
            break
    except ServerError as error:
        log.warning("deleted resource's history unreadable", extra={"resource": key, "status": error.status})
    return None


def patients_billed_from(client: FhirClient, sources: list[str]) -> set[str]:
    """Patients of our Claims that were built from any of these resources ('Type/id').

    When an amendment moves a record to another patient (a chart merge, a wrong-patient
    correction), the record names only its new patient, while the Claim it fed sits under the
    old one. The Provenances we wrote remember which Claim each source fed, so the old patient
    can be re-coded too (and that Claim cancelled).
    """
    claims: set[str] = set()
    try:
        for provenance in search_by_ids(client, "Provenance", "entity", sources):
            for target in objects(provenance.get("target")):
                ref = reference(target)
                if ref and ref.startswith("Claim/"):
                    claims.add(ref.split("/", 1)[1])
    except ClientError:
        log.warning("Provenance not readable: records moved between patients are not followed")
        return set()
    ours = f"{systems.CASE_IDENTIFIER_SYSTEM}|"  # Claims of ours only
    return subjects(search_by_ids(client, "Claim", "_id", sorted(claims), identifier=ours), field="patient")
