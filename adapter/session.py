"""The lean, typed view of one billing case that the coding rules read (R3).

Case assembly fills these from FHIR JSON; the rules never see raw resources, so they stay
pure and fast, and every fact they use is named here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from .value import Value


class SiteInput(Value):
    """One documented body site, before mapping: codings, text and laterality qualifiers.

    `origin` names where it came from (e.g. 'Procedure/p1 bodySite[0]'), for messages.
    """

    def __init__(
        self,
        origin: str,
        codings: tuple[tuple[str, str], ...] = (),
        text: str | None = None,
        laterality: tuple[str, ...] = (),
        problem: str | None = None,
    ) -> None:
        self.origin: Final = origin
        self.codings: Final = codings
        self.text: Final = text
        self.laterality: Final = laterality
        self.problem: Final = problem

    def _fields(self) -> tuple[object, ...]:
        return (self.origin, self.codings, self.text, self.laterality, self.problem)


class Muscle(Value):
    """A countable muscle: the muscle concept and its side (left, right or none) (R4)."""

    def __init__(self, muscle: str, side: str) -> None:
        self.muscle: Final = muscle
        self.side: Final = side

    def _fields(self) -> tuple[object, ...]:
        return (self.muscle, self.side)


class ProcedureFacts(Value):
    """A Procedure as the rules see it. `date_in_utc`: the date came from a UTC time with no
    clinic time zone known, so it may be off by one (R2a)."""

    def __init__(
        self,
        reference: str,
        version: str | None,
        status: str,
        kind: str | None,
        codes: tuple[tuple[str, str], ...],
        service_date: date | None,
        encounter: str | None,
        clinician: str | None,
        sites: tuple[SiteInput, ...] = (),
        has_injectate: bool = False,
        modifier_extensions: tuple[str, ...] = (),
        date_in_utc: bool = False,
    ) -> None:
        self.reference: Final = reference
        self.version: Final = version
        self.status: Final = status
        self.kind: Final = kind
        self.codes: Final = codes
        self.service_date: Final = service_date
        self.encounter: Final = encounter
        self.clinician: Final = clinician
        self.sites: Final = sites
        self.has_injectate: Final = has_injectate
        self.modifier_extensions: Final = modifier_extensions
        self.date_in_utc: Final = date_in_utc

    def _fields(self) -> tuple[object, ...]:
        return (
            self.reference,
            self.version,
            self.status,
            self.kind,
            self.codes,
            self.service_date,
            self.encounter,
            self.clinician,
            self.sites,
            self.has_injectate,
            self.modifier_extensions,
            self.date_in_utc,
        )


class ObservationFacts(Value):
    """An Observation partOf a dry-needling Procedure, with the site it documents (R4)."""

    def __init__(
        self, reference: str, version: str | None, status: str, part_of: str, sites: tuple[SiteInput, ...] = ()
    ) -> None:
        self.reference: Final = reference
        self.version: Final = version
        self.status: Final = status
        self.part_of: Final = part_of
        self.sites: Final = sites

    def _fields(self) -> tuple[object, ...]:
        return (self.reference, self.version, self.status, self.part_of, self.sites)


class EncounterFacts(Value):
    """An Encounter of the case: its status holds or voids the case (R2)."""

    def __init__(self, reference: str, version: str | None, status: str) -> None:
        self.reference: Final = reference
        self.version: Final = version
        self.status: Final = status

    def _fields(self) -> tuple[object, ...]:
        return (self.reference, self.version, self.status)


@dataclass(frozen=True)
class RoleFacts:
    """One PractitionerRole of a clinician: where it works and its NUCC taxonomies (R7)."""

    reference: str
    organization: str | None
    taxonomies: frozenset[str]


@dataclass(frozen=True)
class Clinician:
    """The rendering clinician: the reference to bill under, their roles and NUCC taxonomies.

    `key` is the Practitioner a PractitionerRole names, so a role and its practitioner are one
    clinician (R3); `taxonomies` is the union over `roles`, R7 chooses among the roles.
    """

    key: str
    reference: str
    taxonomies: frozenset[str]
    organization: str | None = None
    roles: tuple[RoleFacts, ...] = ()


class CoverageFacts(Value):
    """A Coverage of the patient: payer type, names and ids, period and order (R8)."""

    def __init__(
        self,
        reference: str,
        status: str,
        payer_type_codes: tuple[str, ...],
        payer_names: tuple[str, ...],
        payer_identifiers: tuple[str, ...],
        starts: date | None,
        ends: date | None,
        order: int | None,
    ) -> None:
        self.reference: Final = reference
        self.status: Final = status
        self.payer_type_codes: Final = payer_type_codes
        self.payer_names: Final = payer_names
        self.payer_identifiers: Final = payer_identifiers
        self.starts: Final = starts
        self.ends: Final = ends
        self.order: Final = order

    def _fields(self) -> tuple[object, ...]:
        return (
            self.reference,
            self.status,
            self.payer_type_codes,
            self.payer_names,
            self.payer_identifiers,
            self.starts,
            self.ends,
            self.order,
        )


class Diagnosis(Value):
    """An ICD-10-CM diagnosis and where it was documented (R9)."""

    def __init__(self, code: str, display: str | None, source: str) -> None:
        self.code: Final = code
        self.display: Final = display
        self.source: Final = source

    def _fields(self) -> tuple[object, ...]:
        return (self.code, self.display, self.source)


class Session:
    """One case: patient, date of service, rendering clinician, and what the rules need.
    A plain class for mypyc (value.py says why)."""

    def __init__(
        self,
        patient: str,
        service_date: date,
        clinician: Clinician | None,
        procedures: list[ProcedureFacts],
        observations: list[ObservationFacts] | None = None,
        encounters: list[EncounterFacts] | None = None,
        same_day_procedures: list[ProcedureFacts] | None = None,
        other_clinicians_same_day: tuple[str, ...] = (),
        coverages: list[CoverageFacts] | None = None,
        diagnoses: list[Diagnosis] | None = None,
        prior_service_dates: frozenset[date] = frozenset(),
        billing_provider: str | None = None,
        service_provider: str | None = None,
    ) -> None:
        self.patient = patient
        self.service_date = service_date
        self.clinician = clinician
        self.procedures = procedures
        self.observations: list[ObservationFacts] = observations or []
        self.encounters: list[EncounterFacts] = encounters or []
        self.same_day_procedures: list[ProcedureFacts] = same_day_procedures or []
        self.other_clinicians_same_day = other_clinicians_same_day
        self.coverages: list[CoverageFacts] = coverages or []
        self.diagnoses: list[Diagnosis] = diagnoses or []
        self.prior_service_dates = prior_service_dates
        self.billing_provider = billing_provider
        self.service_provider = service_provider
        # Set by build.case_id, the one place that derives it from the key.
        self.case_id: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The case key that the Claim identifier is derived from (R3)."""
        return (self.patient, self.service_date.isoformat(), self.clinician.key if self.clinician else "unknown")
