"""The resources a Claim names, gathered when it is coded, for the billing formats.

A Claim says who (references); an 837P or a DFT^P03 must also say the patient's name, birth
date and address, the subscriber's member id, the payer's name and id, the billing provider's
NPI, EIN and address, and the rendering clinician's NPI. These come from the resources the
Claim references, looked up among the patient's records and the shared ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..fhirjson import JSON, objects, reference, resource_key
from ..indexes import SharedIndex


def claim_references(claim: JSON) -> list[str]:
    """'Type/id' of the patient, coverages, provider and care team a Claim names."""
    refs = [reference(claim.get("patient")), reference(claim.get("provider"))]
    refs += [reference(i.get("coverage")) for i in objects(claim.get("insurance"))]
    refs += [reference(c.get("provider")) for c in objects(claim.get("careTeam"))]
    return [r for r in refs if r]


def collect_parties(claims: Iterable[JSON], patient_resources: list[JSON], shared: SharedIndex) -> dict[str, JSON]:
    """The resources these Claims name, and what those name in turn (a Coverage's payor, a
    PractitionerRole's practitioner and organization), by 'Type/id'."""
    wanted = {ref for claim in claims for ref in claim_references(claim)}
    if not wanted:
        return {}
    own = {
        key: r
        for r in patient_resources
        if r.get("resourceType") in ("Patient", "Coverage") and (key := resource_key(r)) in wanted
    }
    found: dict[str, JSON] = {}
    for ref in sorted(wanted):
        resource = own.get(ref) or shared.get(ref)
        if resource is None:
            continue
        found[ref] = resource
        linked = [reference(p) for p in objects(resource.get("payor"))]
        linked += [reference(resource.get("practitioner")), reference(resource.get("organization"))]
        for other in linked:
            if other and other not in found and (target := shared.get(other)) is not None:
                found[other] = target
    return found
