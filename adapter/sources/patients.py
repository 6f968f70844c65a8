"""Patient-scoped reading, for servers that refuse a clinical search without `patient` (Epic,
Oracle Health, US Core): the patients come from a Group or a file, and each patient's
resources are read with the parameters the server's CapabilityStatement requires.

Such servers also refuse comma lists and most `_include`s, so nothing here sends either: each
search names one patient, and the clinicians, organizations and locations the records name
are read by id, once a run (they are shared by many patients). What the server cannot filter
is filtered here: the dry-needling codes among a patient's Procedures, and the Observations
`partOf` one of them (R4).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..fhir.capabilities import ServerCapabilities
from ..fhir.errors import ClientError
from ..fhirjson import JSON, codings, logical_target, obj, objects, reference, resource_key
from .base import SourceError

if TYPE_CHECKING:  # the client brings requests and PyJWT: imported where one is made
    from ..fhir.client import FhirClient

log = logging.getLogger("adapter.source")

PAGE_SIZE = "200"
_PATIENT_REF = re.compile(r"^Patient/[A-Za-z0-9\-.]{1,64}$")
# Each type's patient parameters, the usual first (Oracle Health also takes `subject`).
PATIENT_PARAMETERS = {
    "Procedure": ("patient", "subject"),
    "Observation": ("patient", "subject"),
    "Encounter": ("patient", "subject"),
    "Condition": ("patient", "subject"),
    "Coverage": ("patient", "beneficiary"),
    "BodyStructure": ("patient",),
    "MedicationAdministration": ("patient", "subject"),
    "Claim": ("patient",),
}
# Read by id when a record names them; shared by many patients, so kept for the run.
SHARED_BY_ID = ("Practitioner", "PractitionerRole", "Organization", "Location")


class GroupUnreadable(SourceError):
    """A `--patients Group/ID` the server does not let us read (its members may still be exported)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def read_patient_list(spec: str, client: FhirClient | None) -> list[str]:
    """The patients `--patients` names: `Group/ID` (its active members, read from the server) or
    a file of `Patient/id` lines (blank lines and `#` comments skipped)."""
    if spec.startswith("Group/"):
        if client is None:
            raise SourceError(f"--patients {spec}: a Group is read from a FHIR server; give --source URL")
        try:
            group, _ = client.request("GET", spec, what=f"read {spec}")
        except ClientError as error:
            raise GroupUnreadable(f"--patients {spec}: the Group cannot be read ({error})", error.status) from error
        members = [
            ref
            for member in objects(obj(group).get("member"))
            if member.get("inactive") is not True and (ref := reference(member.get("entity")))
        ]
        patients = [m for m in members if m.startswith("Patient/")]
        if len(patients) < len(members):
            log.warning("group members that are not patients skipped", extra={"skipped": len(members) - len(patients)})
        return list(dict.fromkeys(patients))
    path = Path(spec)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SourceError(f"--patients {spec}: not a Group/ID and not a readable file ({error})") from error
    patients = []
    for number, line in enumerate(lines, 1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        if not _PATIENT_REF.match(value):
            raise SourceError(f"--patients {spec} line {number}: expected Patient/id, got {value[:80]!r}")
        patients.append(value)
    return list(dict.fromkeys(patients))


class PatientReader:
    """Reads one patient's resources at a time, with the parameters this server requires."""

    def __init__(
        self,
        client: FhirClient,
        capabilities: ServerCapabilities,
        dry_needling_codes: list[tuple[str, str]],
        observation_categories: tuple[str, ...],
    ) -> None:
        self.client = client
        self.capabilities = capabilities
        self.codes = set(dry_needling_codes)
        self.categories = observation_categories
        self._shared: dict[str, JSON | None] = {}
        self._searched: dict[str, list[JSON]] = {}
        self._skipped_logged: set[str] = set()
        self.searches = {t: self._search_plan(t) for t in PATIENT_PARAMETERS}

    def _search_plan(self, resource_type: str) -> tuple[str, str | None] | None:
        """(patient parameter, the extra parameter the server requires with it, if any)."""
        for parameter in PATIENT_PARAMETERS[resource_type]:
            needed = self.capabilities.required_with(resource_type, {parameter})
            if needed is None:
                continue
            if not needed:
                return parameter, None
            if needed == {"category"} and resource_type == "Observation":
                return parameter, "category"
        return None

    def procedures(self, patient: str) -> list[JSON]:
        """Every Procedure of the patient (all dates: earlier sessions count for R8)."""
        return list(self._search("Procedure", patient))

    def is_dry_needling(self, procedure: JSON) -> bool:
        return any(pair in self.codes for pair in codings(procedure.get("code")))

    def read(self, patient: str, procedures: list[JSON] | None = None) -> list[JSON]:
        """Every resource the rules read for this patient, deduplicated by 'Type/id'."""
        found: dict[str, JSON] = {}

        def keep(resources: Iterable[JSON]) -> None:
            for resource in resources:
                if key := resource_key(resource):
                    found[key] = resource

        keep(procedures if procedures is not None else self.procedures(patient))
        keep(self._patient(patient))
        procedure_keys = {key for key, r in found.items() if r.get("resourceType") == "Procedure"}
        # Observation?part-of is not offered (Epic, US Core): the patient's Observations are
        # read and those partOf one of their Procedures kept, as the part-of search would.
        keep(
            o
            for o in self._search("Observation", patient)
            if any(reference(p) in procedure_keys for p in objects(o.get("partOf")))
        )
        for resource_type in (
            "Encounter",
            "Condition",
            "Coverage",
            "BodyStructure",
            "MedicationAdministration",
            "Claim",
        ):
            keep(self._search(resource_type, patient))
        keep(self.referenced(found.values()))
        return list(found.values())

    def _patient(self, patient: str) -> list[JSON]:
        """The Patient itself: its name, birth date and address go on the billing formats."""
        if not self.capabilities.can("Patient", "read"):
            return []
        try:
            resource, _ = self.client.request("GET", patient, what="read Patient")
        except ClientError:
            return []
        return [resource] if isinstance(resource, dict) else []

    def _search(self, resource_type: str, patient: str) -> Iterator[JSON]:
        plan = self.searches.get(resource_type)
        if plan is None:
            if resource_type not in self._skipped_logged:
                self._skipped_logged.add(resource_type)
                log.warning("type not searchable by patient on this server: not read", extra={"type": resource_type})
            return
        parameter, extra = plan
        values = self.categories if extra == "category" else (None,)
        for value in values:
            params = {parameter: patient, "_count": PAGE_SIZE}
            if extra and value:
                params[extra] = value
            for resource in self.client.search_resources(resource_type, params):
                if resource.get("resourceType") == resource_type:
                    yield resource

    def referenced(self, resources: Iterable[JSON]) -> Iterator[JSON]:
        """The clinicians (with their roles), organizations and locations these records name,
        each read once a run."""
        wanted: list[str] = []
        identified: list[tuple[str, str]] = []
        for resource in resources:
            for value in _shared_references(resource):
                ref = reference(value)
                if ref and ref.split("/", 1)[0] in SHARED_BY_ID:
                    wanted.append(ref)
                elif ref is None and (target := logical_target(value)) and target[0] in (None, "Practitioner"):
                    identified.append(("Practitioner", f"{target[1]}|{target[2]}"))
        practitioners: list[str] = []
        for rtype, token in dict.fromkeys(identified):
            for identified_one in self._cached_search(rtype, "identifier", token):
                yield identified_one
                if key := resource_key(identified_one):
                    practitioners.append(key)
        for ref in dict.fromkeys(wanted):
            shared = self._read(ref)
            if shared is None:
                continue
            yield shared
            if shared.get("resourceType") == "PractitionerRole":
                for linked in (reference(shared.get("practitioner")), reference(shared.get("organization"))):
                    if linked and (other := self._read(linked)) is not None:
                        yield other
            elif shared.get("resourceType") == "Practitioner":
                practitioners.append(ref)
        for practitioner_ref in dict.fromkeys(practitioners):
            for role in self._cached_search("PractitionerRole", "practitioner", practitioner_ref):
                yield role
                organization = reference(role.get("organization"))
                if organization and (other := self._read(organization)) is not None:
                    yield other

    def _read(self, ref: str) -> JSON | None:
        if ref not in self._shared:
            rtype = ref.split("/", 1)[0]
            if not self.capabilities.can(rtype, "read"):
                self._shared[ref] = None
            else:
                try:
                    resource, _ = self.client.request("GET", ref, what=f"read {rtype}")
                except ClientError:  # gone or not ours to read: assembly reports the missing reference
                    resource = None
                self._shared[ref] = resource if isinstance(resource, dict) else None
        return self._shared[ref]

    def _cached_search(self, resource_type: str, parameter: str, value: str) -> list[JSON]:
        key = f"{resource_type}?{parameter}={value}"
        if key not in self._searched:
            if self.capabilities.searchable(resource_type, {parameter}):
                self._searched[key] = list(self.client.search_resources(resource_type, {parameter: value}))
            else:
                self._searched[key] = []
        return self._searched[key]


def _shared_references(resource: JSON) -> Iterator[object]:
    """References from a patient's record to shared resources the rules read."""
    rtype = resource.get("resourceType")
    if rtype == "Procedure":
        for performer in objects(resource.get("performer")):
            yield performer.get("actor")
            yield performer.get("onBehalfOf")
        yield resource.get("location")
    elif rtype == "Encounter":
        for participant in objects(resource.get("participant")):
            yield participant.get("individual")
        for place in objects(resource.get("location")):
            yield place.get("location")
        yield resource.get("serviceProvider")
    elif rtype == "Coverage":
        yield from objects(resource.get("payor"))


class PatientScopedSource:
    """A server read one listed patient at a time: only patients with dry needling are read whole."""

    def __init__(self, reader: PatientReader, patients: list[str], description: str) -> None:
        self.reader = reader
        self.patients = patients
        self.description = description

    def size_hint(self) -> int:
        return 0

    def batches(self, size: int = 50) -> Iterator[tuple[list[str], list[JSON]]]:
        """(patients, their resources), `size` listed patients at a time."""
        for start in range(0, len(self.patients), size):
            batch: list[str] = []
            resources: list[JSON] = []
            for patient in self.patients[start : start + size]:
                procedures = self.reader.procedures(patient)
                if any(self.reader.is_dry_needling(p) for p in procedures):
                    batch.append(patient)
                    resources.extend(self.reader.read(patient, procedures))
            if batch:
                yield batch, resources

    def items(self) -> Iterator[JSON]:
        for _, resources in self.batches():
            yield from resources
