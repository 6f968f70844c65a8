"""Where a resource belongs, and the indexes case assembly looks resources up in.

Per-patient resources are filed under their patient (patient_of); shared ones (clinicians,
roles, organizations, locations) are kept once for every patient. Both indexes find a
resource by 'Type/id' and by identifier, so references that name their target by identifier
(conditional, or identifier-only) resolve as a server would resolve them on load.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from .fhirjson import JSON, LogicalTarget, identifier_keys, logical_target, reference, resource_key
from .session import Clinician

SHARED_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location", "Device", "Medication"})
PATIENT_FIELDS = {
    "Patient": None,
    "Coverage": "beneficiary",
    "Encounter": "subject",
    "Procedure": "subject",
    "Observation": "subject",
    "Condition": "subject",
    "MedicationAdministration": "subject",
    "BodyStructure": "patient",
    "Claim": "patient",
}


def patient_of(resource: JSON) -> str | None:
    """The patient a per-patient resource belongs to, as 'Patient/id'."""
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        return resource_key(resource)
    field_name = PATIENT_FIELDS.get(rtype) if isinstance(rtype, str) else None
    ref = reference(resource.get(field_name)) if field_name else None
    return ref if ref and ref.startswith("Patient/") else None


class IdentifierIndex:
    """Resources by their identifiers, to resolve references that name a target by identifier."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], list[str]] = defaultdict(list)

    def add(self, resource: JSON, key: str) -> None:
        for pair in identifier_keys(resource):
            if key not in self.keys[pair]:
                self.keys[pair].append(key)

    def find(self, target: LogicalTarget) -> str | None:
        """The one resource with that identifier (and type, when given); None if none or several."""
        rtype, system, value = target
        keys = [k for k in self.keys.get((system, value), ()) if rtype is None or k.startswith(f"{rtype}/")]
        return keys[0] if len(keys) == 1 else None


@dataclass
class SharedIndex:
    """Clinicians, roles and organizations, shared by every patient's cases."""

    resources: dict[str, JSON] = field(default_factory=dict)
    roles_of_practitioner: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    clinicians: dict[str, Clinician] = field(default_factory=dict)
    identifiers: IdentifierIndex = field(default_factory=IdentifierIndex)
    # Roles whose practitioner is named by identifier, resolved once every shared resource is in.
    pending_roles: list[tuple[str, LogicalTarget]] = field(default_factory=list)

    def add(self, resource: JSON) -> None:
        key = resource_key(resource)
        if key is None:
            return
        self.resources[key] = resource
        self.identifiers.add(resource, key)
        if resource.get("resourceType") == "PractitionerRole":
            practitioner = reference(resource.get("practitioner"))
            target = logical_target(resource.get("practitioner"))
            if practitioner:
                self._add_role(practitioner, key)
            elif target:
                self.pending_roles.append((key, target))

    def _add_role(self, practitioner: str, role: str) -> None:
        if role not in self.roles_of_practitioner[practitioner]:
            self.roles_of_practitioner[practitioner].append(role)

    def roles_of(self, practitioner: str) -> list[str]:
        """The PractitionerRoles naming this Practitioner, by reference or by identifier."""
        if self.pending_roles:
            pending, self.pending_roles = self.pending_roles, []
            for role, target in pending:
                found = self.identifiers.find(target)
                if found:
                    self._add_role(found, role)
                else:
                    self.pending_roles.append((role, target))
        return self.roles_of_practitioner.get(practitioner, [])

    def resolve(self, value: object) -> str | None:
        """A Reference as 'Type/id': literal, or by identifier among the shared resources."""
        ref = reference(value)
        if ref is not None:
            return ref
        target = logical_target(value)
        return self.identifiers.find(target) if target else None

    def get(self, ref: str | None) -> JSON | None:
        return self.resources.get(ref) if ref else None


class PatientIndex:
    """One patient's resources by 'Type/id' and by identifier."""

    def __init__(self, resources: Iterable[JSON]) -> None:
        self.by_key: dict[str, JSON] = {}
        self.by_type: dict[str, list[JSON]] = defaultdict(list)
        self.identifiers = IdentifierIndex()
        for resource in resources:
            key = resource_key(resource)
            if key:
                self.by_key[key] = resource
                self.by_type[str(resource["resourceType"])].append(resource)
                if "identifier" in resource:
                    self.identifiers.add(resource, key)

    def get(self, ref: str | None) -> JSON | None:
        return self.by_key.get(ref) if ref else None
