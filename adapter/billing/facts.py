"""What a billing format says about one Claim, read from the Claim, the resources it names and
the [billing] settings; a required element that none of them gives is a `MissingElement`.

Pure: no I/O. Both the 837P (x12.py) and the DFT^P03 (hl7v2.py) are built from `ClaimFacts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .. import systems
from ..fhirjson import JSON, codes_in, obj, objects, reference, text
from ..settings import BillingProvider, BillingSettings
from .fees import FeeSchedule

NPI = "http://hl7.org/fhir/sid/us-npi"
EIN = "urn:oid:2.16.840.1.113883.4.4"
# Coverage.relationship (subscriber-relationship) to X12 individual relationship codes (SBR02/PAT01).
RELATIONSHIPS = {"self": "18", "spouse": "01", "child": "19", "other": "G8"}


class MissingElement(Exception):
    """A required element that neither the data nor the settings give (names the element)."""


@dataclass(frozen=True)
class Address:
    line: str
    city: str
    state: str
    postal_code: str


@dataclass(frozen=True)
class Person:
    family: str
    given: str


@dataclass(frozen=True)
class ClaimFacts:
    """Everything both billing formats carry for one Claim."""

    claim_id: str
    patient_control_number: str
    service_date: str  # YYYYMMDD
    cpt: str
    modifiers: tuple[str, ...]
    diagnoses: tuple[str, ...]  # ICD-10-CM without the dot, in sequence
    pointers: tuple[int, ...]  # the line's diagnosis sequence numbers
    charge: Decimal
    billing_name: str
    billing_npi: str
    billing_ein: str
    billing_address: Address
    rendering: Person
    rendering_npi: str
    rendering_taxonomy: str | None
    patient: Person
    patient_id: str
    birth_date: str  # YYYYMMDD
    gender: str  # F, M or U
    patient_address: Address | None
    member_id: str
    relationship: str  # X12 code, 18 = self
    payer_name: str
    payer_id: str
    filing_indicator: str  # SBR09


def patient_control_number(claim: JSON) -> str:
    """CLM01: stable, from our case identifier alone, at most 38 characters (5010)."""
    value = next(
        (
            text(i.get("value"))
            for i in objects(claim.get("identifier"))
            if i.get("system") == systems.CASE_IDENTIFIER_SYSTEM
        ),
        None,
    ) or str(claim.get("id", ""))
    return value.replace("-", "").upper()[:38]


def claim_facts(claim: JSON, parties: dict[str, JSON], settings: BillingSettings, fees: FeeSchedule) -> ClaimFacts:
    """The facts of one Claim; MissingElement names what is missing (the Claim is then not billed)."""
    item = next(objects(claim.get("item")), {})
    cpt = _first(codes_in(item.get("productOrService"), systems.CPT), "Claim.item.productOrService (CPT)")
    modifiers = tuple(m for c in objects(item.get("modifier")) for m in [_any_code(c)] if m)[:4]
    diagnoses = tuple(
        code.replace(".", "")
        for d in sorted(objects(claim.get("diagnosis")), key=lambda d: d.get("sequence") or 0)
        for code in codes_in(d.get("diagnosisCodeableConcept"), systems.ICD10CM)[:1]
    )
    if not diagnoses:
        raise MissingElement("Claim.diagnosis (ICD-10-CM)")
    pointers = tuple(p for p in item.get("diagnosisSequence") or [] if isinstance(p, int))[:4] or (1,)
    served = _required(text(item.get("servicedDate")), "Claim.item.servicedDate")

    billing_ref = _required(reference(claim.get("provider")), "Claim.provider")
    billing = _party(parties, billing_ref, "billing provider")
    fallback = settings.providers.get(billing_ref)
    billing_address = _address(billing) or _fallback_address(fallback)
    if billing_address is None:
        raise MissingElement(f'{billing_ref} address (or [billing.providers."{billing_ref}"])')
    if len(billing_address.postal_code) != 9:
        raise MissingElement(f"{billing_ref} address: a 9-digit ZIP (2010AA N403)")

    role_ref = _required(reference(next(objects(claim.get("careTeam")), {}).get("provider")), "Claim.careTeam.provider")
    clinician_ref = role_ref
    if role_ref.startswith("PractitionerRole/"):
        clinician_ref = _required(
            reference(_party(parties, role_ref, "rendering role").get("practitioner")), f"{role_ref}.practitioner"
        )
    clinician = _party(parties, clinician_ref, "rendering clinician")
    taxonomy = next(
        (c for t in objects(claim.get("careTeam")) for c in codes_in(t.get("qualification"), systems.NUCC)), None
    )

    coverage_ref = _required(
        reference(next(objects(claim.get("insurance")), {}).get("coverage")), "Claim.insurance.coverage"
    )
    coverage = _party(parties, coverage_ref, "coverage")
    payer_ref = _required(reference(next(objects(coverage.get("payor")), {})), f"{coverage_ref}.payor")
    payer = _party(parties, payer_ref, "payer")
    payer_id = _identifier(payer, settings.payer_id_system) if settings.payer_id_system else None
    payer_id = payer_id or settings.payer_ids.get(payer_ref)
    relationship = next((c for c in _codes(coverage.get("relationship"))), "self")
    if relationship != "self":
        # The subscriber is then another person (a RelatedPerson), whom the adapter does not read.
        raise MissingElement(
            f"{coverage_ref}.relationship {relationship}: only patients who are the subscriber are billed"
        )

    patient_ref = _required(reference(claim.get("patient")), "Claim.patient")
    patient = _party(parties, patient_ref, "patient")
    charge = fees.charge(cpt, payer_id)
    if charge is None:
        raise MissingElement(f"a charge for {cpt} in the fee schedule")
    return ClaimFacts(
        claim_id=str(claim.get("id")),
        patient_control_number=patient_control_number(claim),
        service_date=served.replace("-", "")[:8],
        cpt=cpt,
        modifiers=modifiers,
        diagnoses=diagnoses[:12],
        pointers=pointers,
        charge=charge,
        billing_name=_required(text(billing.get("name")), f"{billing_ref}.name"),
        billing_npi=_required(_identifier(billing, NPI), f"{billing_ref}.identifier (NPI)"),
        billing_ein=_required(_identifier(billing, EIN) or (fallback.ein if fallback else None), f"{billing_ref} EIN"),
        billing_address=billing_address,
        rendering=_person(clinician, clinician_ref),
        rendering_npi=_required(_identifier(clinician, NPI), f"{clinician_ref}.identifier (NPI)"),
        rendering_taxonomy=taxonomy,
        patient=_person(patient, patient_ref),
        patient_id=patient_ref.split("/", 1)[1],
        birth_date=_required(text(patient.get("birthDate")), f"{patient_ref}.birthDate").replace("-", "")[:8],
        gender={"female": "F", "male": "M"}.get(str(patient.get("gender")), "U"),
        patient_address=_address(patient),
        member_id=_required(text(coverage.get("subscriberId")), f"{coverage_ref}.subscriberId"),
        relationship=RELATIONSHIPS.get(relationship, "G8"),
        payer_name=_required(text(payer.get("name")), f"{payer_ref}.name"),
        payer_id=_required(payer_id, f"{payer_ref} payer id ([billing] payer_id_system or payer_ids)"),
        filing_indicator=_filing_indicator(coverage),
    )


def _filing_indicator(coverage: JSON) -> str:
    """SBR09 from the Source of Payment Typology code: 1 Medicare, 2 Medicaid, 5 commercial."""
    code = next(iter(codes_in(coverage.get("type"), systems.SOPT)), "")
    if code.startswith("11"):
        return "16"  # Medicare managed care (HMO Medicare risk)
    return {"1": "MB", "2": "MC", "3": "CH", "5": "CI", "6": "BL"}.get(code[:1], "ZZ")


def _party(parties: dict[str, JSON], ref: str, what: str) -> JSON:
    found = parties.get(ref)
    if found is None:
        raise MissingElement(f"{ref} ({what}) is not in the source data")
    return found


def _required(value: str | None, element: str) -> str:
    if not value:
        raise MissingElement(element)
    return value


def _first(values: list[str], element: str) -> str:
    return _required(values[0] if values else None, element)


def _any_code(concept: JSON) -> str | None:
    return next((text(c.get("code")) for c in objects(concept.get("coding")) if text(c.get("code"))), None)


def _codes(concept: object) -> list[str]:
    return [c for coding in objects(obj(concept).get("coding")) if (c := text(coding.get("code")))]


def _identifier(resource: JSON, system: str | None) -> str | None:
    return next((text(i.get("value")) for i in objects(resource.get("identifier")) if i.get("system") == system), None)


def _person(resource: JSON, ref: str) -> Person:
    name = next(objects(resource.get("name")), {})
    family = _required(text(name.get("family")), f"{ref}.name.family")
    given = next((g for g in name.get("given") or [] if isinstance(g, str) and g), "")
    return Person(family, given)


def _address(resource: JSON) -> Address | None:
    for address in objects(resource.get("address")):
        line = next((x for x in address.get("line") or [] if isinstance(x, str) and x), None)
        city, state = text(address.get("city")), text(address.get("state"))
        postal = (text(address.get("postalCode")) or "").replace("-", "")
        if line and city and state and postal:
            return Address(line, city, state, postal)
    return None


def _fallback_address(provider: object) -> Address | None:
    if (
        isinstance(provider, BillingProvider)
        and provider.line
        and provider.city
        and provider.state
        and provider.postal_code
    ):
        return Address(provider.line, provider.city, provider.state, provider.postal_code)
    return None
