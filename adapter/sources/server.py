"""Read what the coding needs for a batch of patients from a FHIR server, in few round trips.

One search per resource family for the whole batch (ids joined with commas, sent as POST
_search when long). `_include` is used only where the included set is small and bounded (the
performers' roles, the Coverages' payors): HAPI loads at most 1,000 included resources per page
(JpaStorageSettings.maximumIncludesToLoadPerPage) and drops the rest without a word, which for
Encounters, Conditions or Observations would mean a wrongly coded case. Those are searched on
their own, so their paging is complete.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .. import systems
from ..fhirjson import JSON, logical_target, obj, objects, reference, resource_key

if TYPE_CHECKING:  # the client brings requests and PyJWT: imported where one is made
    from ..fhir.client import FhirClient

log = logging.getLogger("adapter.source")

PAGE_SIZE = "500"
ID_CHUNK = 250  # ids a search names at once (POST _search beyond the GET limit)


class ServerSource:
    """A FHIR server as a source: pages of patients with dry needling, each page with every
    resource the rules read for those patients (fetch_patients)."""

    def __init__(self, client: FhirClient, dry_needling_codes: list[tuple[str, str]]) -> None:
        self.client = client
        self.codes = dry_needling_codes
        self.description = client.base_url

    def size_hint(self) -> int:
        return 0

    def batches(self) -> Iterator[tuple[list[str], list[JSON]]]:
        """(patients, their resources), one search page of patients at a time."""
        for patients in patients_with_dry_needling(self.client, self.codes):
            yield patients, fetch_patients(self.client, patients)

    def items(self) -> Iterator[JSON]:
        for _, resources in self.batches():
            yield from resources


def search_by_ids(client: FhirClient, resource_type: str, param: str, ids: list[str], **params: str) -> Iterator[JSON]:
    """Every resource matching any of these ids in `param`, searched ID_CHUNK ids at a time."""
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ",".join(ids[start : start + ID_CHUNK])
        yield from client.search_resources(resource_type, {param: chunk, "_count": PAGE_SIZE, **params})


def subjects(resources: Iterable[JSON], field: str = "subject") -> set[str]:
    """The 'Patient/id' each resource names in `field`."""
    return {ref for r in resources if (ref := reference(r.get(field))) and ref.startswith("Patient/")}


def fetch_patients(client: FhirClient, patients: list[str]) -> list[JSON]:
    """Every resource the rules need for these patients (deduplicated by 'Type/id')."""
    if not patients:
        return []
    ids = ",".join(patients)
    found: dict[str, JSON] = {}

    def keep(resources: Iterable[JSON]) -> None:
        for resource in resources:
            key = resource_key(resource)
            if key:
                found[key] = resource

    keep(client.search_resources("Procedure", {"subject": ids, "_count": PAGE_SIZE, "_include": "Procedure:performer"}))
    procedures = sorted(key for key, r in found.items() if r.get("resourceType") == "Procedure")
    keep(search_by_ids(client, "Observation", "part-of", procedures))
    keep(client.search_resources("Encounter", {"subject": ids, "_count": PAGE_SIZE}))
    keep(client.search_resources("Condition", {"subject": ids, "_count": PAGE_SIZE}))
    keep(client.search_resources("Coverage", {"beneficiary": ids, "_count": PAGE_SIZE, "_include": "Coverage:payor"}))
    keep(client.search_resources("BodyStructure", {"patient": ids, "_count": PAGE_SIZE}))
    keep(client.search_resources("MedicationAdministration", {"subject": ids, "_count": PAGE_SIZE}))
    keep(client.search_resources("Claim", {"patient": ids, "_count": PAGE_SIZE}))
    # The Patients themselves: their name, birth date and address go on the billing formats.
    keep(search_by_ids(client, "Patient", "_id", [p.split("/", 1)[1] for p in patients]))
    keep(_clinicians(client, found))
    keep(_clinic_places(client, found))
    return list(found.values())


def _clinic_places(client: FhirClient, found: dict[str, JSON]) -> Iterator[JSON]:
    """The Encounters' Locations and billing Organizations: their timezone extension dates a
    session timed in UTC (R2a), and the Organization is the billing provider."""
    wanted: dict[str, set[str]] = {"Location": set(), "Organization": set()}
    for resource in list(found.values()):
        if resource.get("resourceType") != "Encounter":
            continue
        refs = [reference(obj(place).get("location")) for place in objects(resource.get("location"))]
        refs.append(reference(resource.get("serviceProvider")))
        for ref in refs:
            rtype = ref.split("/", 1)[0] if ref else None
            if ref and rtype in wanted and ref not in found:
                wanted[rtype].add(ref.split("/", 1)[1])
    for rtype, ids in wanted.items():
        if ids:
            yield from search_by_ids(client, rtype, "_id", sorted(ids))


def _clinicians(client: FhirClient, found: dict[str, JSON]) -> Iterator[JSON]:
    """Every clinician referenced so far, with their roles and the roles' organizations.

    A Practitioner named only by an Encounter's participant is not in `Procedure:performer`'s
    include, so it is read by id; one named by identifier is searched by that identifier.
    """
    roles, practitioners, identified = set(), set(), set()
    for resource in list(found.values()):
        for value in _clinician_refs(resource):
            ref = reference(value)
            target = logical_target(value) if ref is None else None
            if ref and ref.startswith("PractitionerRole/") and ref not in found:
                roles.add(ref.split("/", 1)[1])
            elif ref and ref.startswith("Practitioner/"):
                practitioners.add(ref)
            elif target and target[0] in (None, "Practitioner", "PractitionerRole"):
                identified.add((target[0] or "Practitioner", f"{target[1]}|{target[2]}"))
    read: set[str] = set()
    for rtype, token in sorted(identified):
        for resource in client.search_resources(rtype, {"identifier": token, "_count": PAGE_SIZE}):
            yield resource
            if rtype == "Practitioner" and (key := resource_key(resource)):
                practitioners.add(key)
                read.add(key)
    if roles:
        yield from client.search_resources("PractitionerRole", {"_id": ",".join(sorted(roles)), "_count": PAGE_SIZE})
    missing = sorted(p.split("/", 1)[1] for p in practitioners - read if p not in found)
    if missing:
        yield from search_by_ids(client, "Practitioner", "_id", missing)
    if practitioners:
        yield from client.search_resources(
            "PractitionerRole", {"practitioner": ",".join(sorted(practitioners)), "_count": PAGE_SIZE}
        )
    organizations = {
        ref
        for r in found.values()
        if r.get("resourceType") == "PractitionerRole"
        for ref in [reference(r.get("organization"))]
        if ref and ref not in found
    }
    if organizations:
        yield from client.search_resources(
            "Organization", {"_id": ",".join(sorted(o.split("/", 1)[1] for o in organizations)), "_count": PAGE_SIZE}
        )


def _clinician_refs(resource: JSON) -> Iterator[object]:
    """The references to clinicians of a Procedure (performer) or an Encounter (participant)."""
    if resource.get("resourceType") == "Procedure":
        for performer in objects(resource.get("performer")):
            yield performer.get("actor")
    elif resource.get("resourceType") == "Encounter":
        for participant in objects(resource.get("participant")):
            yield participant.get("individual")


def patients_with_dry_needling(client: FhirClient, codes: list[tuple[str, str]]) -> Iterator[list[str]]:
    """Batches of patients (one search page each) that have a dry-needling Procedure.

    A patient whose Procedures span several pages is yielded once, with the first page that
    names them (their whole record is fetched then); the set of patients seen grows with the
    backfill, a few dozen bytes a patient.
    """
    seen: set[str] = set()
    params = {"code": code_token(codes), "_count": PAGE_SIZE, "_elements": "subject"}
    for page in client.search("Procedure", params):
        batch = []
        for entry in page.get("entry") or []:
            ref = reference((entry.get("resource") or {}).get("subject"))
            if ref and ref.startswith("Patient/") and ref not in seen:
                seen.add(ref)
                batch.append(ref)
        if batch:
            yield batch


def code_token(codes: list[tuple[str, str]]) -> str:
    """A token search for these codes, under every spelling of their systems (a server matches
    the system as stored: CPT sent under its OID is not found by the CPT URL)."""
    spellings: dict[str, list[str]] = {}
    for alias, canonical in systems.SYSTEM_ALIASES.items():
        spellings.setdefault(canonical, []).append(alias)
    return ",".join(f"{spelling}|{code}" for system, code in codes for spelling in [system, *spellings.get(system, [])])
