"""Case assembly (R3): a patient's resources in, Sessions out, with what could not be used.

Shared resources (clinicians, roles, organizations) are looked up in a SharedIndex; everything
else arrives grouped by patient (see patient_of), so a source never needs to hold more than
one patient's resources at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from zoneinfo import ZoneInfo

from . import systems
from .anatomy import site_from_concept, sites_of_procedure
from .clinicians import ClinicianFinder
from .fhirjson import (
    JSON,
    as_list,
    codes_in,
    codings,
    logical_target,
    obj,
    objects,
    parse_date,
    reference,
    resource_key,
    text,
    version_of,
)
from .indexes import PatientIndex, SharedIndex
from .problems import InputProblem
from .rules.service_date import clinic_zone, local_service_date
from .rules.status import HELD_ENCOUNTER, IGNORED, IGNORED_SUPPORTING
from .session import (
    Clinician,
    CoverageFacts,
    Diagnosis,
    EncounterFacts,
    ObservationFacts,
    ProcedureFacts,
    Session,
)
from .settings import CodingSettings
from .tables import CodingTables

_IGNORED_CONDITION = frozenset({"entered-in-error", "refuted"})
_VOID_CLAIM = frozenset({"cancelled", "entered-in-error"})


class _Resolver:
    """Resolves References within one patient's source, reporting what cannot be resolved."""

    def __init__(self, index: PatientIndex, shared: SharedIndex, problems: list[InputProblem]) -> None:
        self.index = index
        self.shared = shared
        self.problems = problems

    def __call__(self, value: object, where: str, element: str) -> str | None:
        """A Reference as 'Type/id'. One that names its target by identifier (a conditional
        reference, or `identifier` without `reference`) is resolved within the source, as a
        server does on load; one that cannot be is reported, naming the element."""
        ref = reference(value)
        if ref is not None:
            return ref
        target = logical_target(value)
        if target is None:
            return None
        found = self.shared.identifiers.find(target) or self.index.identifiers.find(target)
        if found is None:
            rtype, system, _ = target
            self.problems.append(
                InputProblem(
                    where,
                    f"{element} names a {rtype or 'resource'} by identifier (system {system}) "
                    "that is not in the source, or not only once",
                    "warning",
                    "not-found",
                )
            )
        return found


class _Assembler:
    def __init__(
        self, patient: str, index: PatientIndex, shared: SharedIndex, tables: CodingTables, coding: CodingSettings
    ) -> None:
        self.patient = patient
        self.index = index
        self.shared = shared
        self.tables = tables
        self.coding = coding
        self.problems: list[InputProblem] = []
        self._injected = self._procedures_with_injectate()
        self._zones: dict[str | None, ZoneInfo | None] = {}
        # Not a bound method: the finder holding one would tie the assembler, and with it every
        # resource of the patient, into a cycle that only the cyclic collector frees.
        self.resolve = _Resolver(index, shared, self.problems)
        self.clinicians = ClinicianFinder(shared, self.resolve, self.problems)
        # The rendering clinician found for each Procedure, which its session bills under.
        self.clinicians_of_procedures: dict[str, Clinician | None] = {}

    # -- facts of single resources ------------------------------------------------------------

    def procedure_facts(self, resource: JSON, codes: tuple[tuple[str, str], ...]) -> ProcedureFacts | None:
        """What the rules need of one Procedure (its `codes` read once, by assemble_sessions);
        None (and a problem) when it has no date of service."""
        key = resource_key(resource) or "Procedure/?"
        kind = self.tables.kind_of(codes)
        encounter = self.resolve(resource.get("encounter"), key, "encounter")
        if encounter and not encounter.startswith("Encounter/"):
            encounter = None
        if encounter and self.index.get(encounter) is None and kind:
            self.problems.append(
                InputProblem(key, f"{encounter} is referenced but not in the source", "warning", "not-found")
            )
        day, in_utc = self._performed_date(resource, encounter)
        if day is None and kind:
            self.problems.append(
                InputProblem(
                    key,
                    "no performedDateTime/performedPeriod and no Encounter period: no date of service",
                    "error",
                    "required",
                )
            )
            return None
        status = text(resource.get("status")) or ""
        clinician = self.clinician_of(resource, encounter)
        self.clinicians_of_procedures[key] = clinician
        return ProcedureFacts(
            reference=key,
            version=version_of(resource),
            status=status,
            kind=kind,
            codes=codes,
            service_date=day,
            encounter=encounter,
            clinician=clinician.key if clinician else None,
            sites=tuple(sites_of_procedure(resource, key, self.index.get, self.problems)),
            has_injectate=key in self._injected,
            modifier_extensions=tuple(
                text(e.get("url")) or "(no url)" for e in objects(resource.get("modifierExtension"))
            ),
            date_in_utc=in_utc,
        )

    def _performed_date(self, resource: JSON, encounter: str | None) -> tuple[date | None, bool]:
        """The date of service in the clinic's time zone (R2a): performedDateTime, else
        performedPeriod's start, else the Encounter's period start."""
        zone = self.clinic_zone(encounter)
        period = obj(resource.get("performedPeriod"))
        enc = self.index.get(encounter)
        for value in (
            resource.get("performedDateTime"),
            period.get("start"),
            period.get("end"),
            obj(enc.get("period")).get("start") if enc else None,
        ):
            day, in_utc = local_service_date(value, zone)
            if day is not None:
                return day, in_utc
        return None, False

    def clinic_zone(self, encounter: str | None) -> ZoneInfo | None:
        """The clinic's time zone (R2a): the timezone extension on the Encounter's Location, else
        on its serviceProvider, else the setting for that Organization, else the one setting."""
        if encounter not in self._zones:
            self._zones[encounter] = self._find_zone(encounter)
        return self._zones[encounter]

    def _find_zone(self, encounter: str | None) -> ZoneInfo | None:
        enc = self.index.get(encounter)
        provider = None
        if enc is not None:
            for location in objects(enc.get("location")):
                zone = _timezone_extension(self._shared_or_own(self.shared.resolve(location.get("location"))))
                if zone:
                    return zone
            provider = self.shared.resolve(enc.get("serviceProvider"))
            zone = _timezone_extension(self._shared_or_own(provider))
            if zone:
                return zone
        named = self.coding.clinic_time_zones.get(provider or "") or self.coding.clinic_time_zone
        return clinic_zone(named)

    def _shared_or_own(self, ref: str | None) -> JSON | None:
        return self.shared.get(ref) or self.index.get(ref)

    def _procedures_with_injectate(self) -> set[str]:
        injected = set()
        for administration in self.index.by_type.get("MedicationAdministration", []):
            if administration.get("status") in IGNORED_SUPPORTING:
                continue
            for part in objects(administration.get("partOf")):
                ref = reference(part)
                if ref and ref.startswith("Procedure/"):
                    injected.add(ref)
        return injected

    def clinician_of(self, resource: JSON, encounter: str | None) -> Clinician | None:
        """The rendering clinician (clinicians.py)."""
        return self.clinicians.clinician_of(resource, self.index.get(encounter), encounter)

    # -- the case ---------------------------------------------------------------------------

    def service_provider(self, encounters: list[str]) -> str | None:
        """The first Encounter's serviceProvider (the billing Organization, R7's role choice)."""
        for ref in encounters:
            encounter = self.index.get(ref)
            provider = self.shared.resolve(encounter.get("serviceProvider")) if encounter else None
            if provider:
                return provider
        return None

    def billing_provider(
        self, encounters: list[str], clinician: Clinician | None, procedures: list[JSON]
    ) -> str | None:
        """Encounter.serviceProvider, else the role's organization, else performer.onBehalfOf."""
        for ref in encounters:
            encounter = self.index.get(ref)
            provider = self.resolve(encounter.get("serviceProvider"), ref, "serviceProvider") if encounter else None
            if provider:
                return provider
        if clinician and clinician.organization:
            return clinician.organization
        for procedure in procedures:
            key = resource_key(procedure) or "Procedure"
            for i, performer in enumerate(objects(procedure.get("performer"))):
                on_behalf = self.resolve(performer.get("onBehalfOf"), key, f"performer[{i}].onBehalfOf")
                if on_behalf:
                    return on_behalf
        return None

    def diagnoses(self, procedures: list[JSON], encounters: list[str]) -> list[Diagnosis]:
        found: list[Diagnosis] = []
        for encounter_ref in encounters:
            encounter = self.index.get(encounter_ref)
            if not encounter:
                continue
            ranked = sorted(
                objects(encounter.get("diagnosis")),
                key=_rank,
            )
            for entry in ranked:
                condition = self.resolve(entry.get("condition"), encounter_ref, "diagnosis.condition")
                found += self._condition_diagnoses(condition, encounter_ref)
        for procedure in procedures:
            key = resource_key(procedure) or "Procedure"
            for concept in as_list(procedure.get("reasonCode")):
                found += [Diagnosis(c, _display(concept, c), key) for c in codes_in(concept, systems.ICD10CM)]
            for i, ref in enumerate(objects(procedure.get("reasonReference"))):
                found += self._condition_diagnoses(self.resolve(ref, key, f"reasonReference[{i}]"), key)
        return found

    def _condition_diagnoses(self, ref: str | None, where: str) -> list[Diagnosis]:
        if not ref or not ref.startswith("Condition/"):
            return []
        condition = self.index.get(ref)
        if condition is None:
            self.problems.append(
                InputProblem(where, f"{ref} is referenced but not in the source", "warning", "not-found")
            )
            return []
        if (
            set(
                codes_in(
                    condition.get("verificationStatus"), "http://terminology.hl7.org/CodeSystem/condition-ver-status"
                )
            )
            & _IGNORED_CONDITION
        ):
            return []
        concept = condition.get("code")
        return [Diagnosis(c, _display(concept, c), ref) for c in codes_in(concept, systems.ICD10CM)]

    def coverages(self) -> list[CoverageFacts]:
        """The patient's Coverages with payer type, names and identifiers (R8)."""
        facts = []
        for coverage in self.index.by_type.get("Coverage", []):
            key = resource_key(coverage) or "Coverage/?"
            payors = [self.resolve(p, key, f"payor[{i}]") for i, p in enumerate(objects(coverage.get("payor")))]
            organizations = [self.shared.get(p) for p in payors if p]
            names = [text(o.get("name")) for o in organizations if o] + [
                text(p.get("display")) for p in objects(coverage.get("payor"))
            ]
            identifiers = [text(i.get("value")) for o in organizations if o for i in objects(o.get("identifier"))]
            period = obj(coverage.get("period"))
            order = coverage.get("order")
            facts.append(
                CoverageFacts(
                    reference=key,
                    status=text(coverage.get("status")) or "",
                    payer_type_codes=tuple(codes_in(coverage.get("type"), systems.SOPT)),
                    payer_names=tuple(n for n in names if n),
                    payer_identifiers=tuple(i for i in identifiers if i),
                    starts=parse_date(period.get("start")),
                    ends=parse_date(period.get("end")),
                    order=order if isinstance(order, int) else None,
                )
            )
        return facts

    def observations(self, procedure_refs: set[str]) -> list[ObservationFacts]:
        """Observations partOf one of these Procedures, with their body sites (R4)."""
        facts = []
        for observation in self.index.by_type.get("Observation", []):
            parts = [reference(p) for p in objects(observation.get("partOf"))]
            part_of = next((p for p in parts if p in procedure_refs), None)
            if part_of is None:
                continue
            key = resource_key(observation) or "Observation/?"
            sites = []
            if observation.get("bodySite") is not None:
                for i, site in enumerate(as_list(observation.get("bodySite"))):
                    sites.append(
                        site_from_concept(
                            site,
                            f"{key} bodySite" + (f"[{i}]" if i else ""),
                            observation,
                            self.index.get,
                            self.problems,
                        )
                    )
            facts.append(
                ObservationFacts(
                    key, version_of(observation), text(observation.get("status")) or "", part_of, tuple(sites)
                )
            )
        return facts

    def prior_dates(self, procedures: list[ProcedureFacts]) -> frozenset[date]:
        """Dates with dry needling or acupuncture for the patient, for the session number (R8).

        Completed Procedures not on a cancelled or entered-in-error Encounter, and earlier Claims
        (others', not ours) of use `claim` (a preauthorization or predetermination bills nothing)
        whose status is not cancelled or entered-in-error, dated by the item's servicedDate or
        servicedPeriod.start, else the Claim's billablePeriod.start (item.serviced[x] is optional;
        Synthea dates its Claims this way).
        """
        dates = {
            p.service_date
            for p in procedures
            if p.kind in ("dry-needling", "acupuncture")
            and p.status == "completed"
            and p.service_date
            and self._encounter_status(p.encounter) not in HELD_ENCOUNTER
        }
        for claim in self.index.by_type.get("Claim", []):
            if claim.get("use") != "claim" or claim.get("status") in _VOID_CLAIM or _written_by_adapter(claim):
                continue
            zone = clinic_zone(self.coding.clinic_time_zone)
            billed_from, _ = local_service_date(obj(claim.get("billablePeriod")).get("start"), zone)
            for item in objects(claim.get("item")):
                if any(
                    code in ("20560", "20561") or code.startswith("9781")
                    for code in codes_in(item.get("productOrService"), systems.CPT)
                ):
                    day = (
                        parse_date(item.get("servicedDate"))
                        or parse_date(obj(item.get("servicedPeriod")).get("start"))
                        or billed_from
                    )
                    if day:
                        dates.add(day)
        return frozenset(dates)

    def _encounter_status(self, ref: str | None) -> str | None:
        encounter = self.index.get(ref)
        return text(encounter.get("status")) if encounter else None


def assemble_sessions(
    patient: str,
    resources: Iterable[JSON],
    shared: SharedIndex,
    tables: CodingTables,
    coding: CodingSettings | None = None,
) -> tuple[list[Session], list[InputProblem]]:
    """Build every dry-needling case of one patient (R3), reporting what could not be used."""
    resources = list(resources)
    coded_procedures = [
        (resource, tuple(codings(resource.get("code"))))
        for resource in resources
        if resource.get("resourceType") == "Procedure"
    ]
    if not any(tables.kind_of(codes) == "dry-needling" for _, codes in coded_procedures):
        # Most patients of a real export have none (R1): nothing to index or assemble, and
        # nothing to report, since every problem assembly reports concerns a session.
        return [], []
    index = PatientIndex(resources)
    assembler = _Assembler(patient, index, shared, tables, coding or CodingSettings())
    facts: list[ProcedureFacts] = []
    raw_by_ref: dict[str, JSON] = {}
    for resource, codes in coded_procedures:
        if resource_key(resource) is None:
            continue  # PatientIndex leaves it out too: nothing can reference it
        procedure = assembler.procedure_facts(resource, codes)
        if procedure is not None:
            facts.append(procedure)
            raw_by_ref[procedure.reference] = resource

    cases: dict[tuple[date, str], list[ProcedureFacts]] = defaultdict(list)
    for procedure in facts:
        if procedure.kind == "dry-needling" and procedure.service_date:
            cases[(procedure.service_date, procedure.clinician or "unknown")].append(procedure)

    coverages = assembler.coverages()
    prior_dates = assembler.prior_dates(facts)
    sessions = []
    for (day, clinician_key), procedures in sorted(cases.items()):
        refs = {p.reference for p in procedures}
        ordered = sorted(refs)
        raw = [raw_by_ref[r] for r in ordered]
        encounters = sorted({p.encounter for p in procedures if p.encounter})
        clinician = assembler.clinicians_of_procedures[ordered[0]]
        others = tuple(
            sorted(
                other_key
                for (other_day, other_key), other in cases.items()
                if other_day == day and other_key != clinician_key and any(p.status not in IGNORED for p in other)
            )
        )
        sessions.append(
            Session(
                patient=patient,
                service_date=day,
                clinician=clinician,
                procedures=procedures,
                observations=assembler.observations(refs),
                encounters=[_encounter_facts(ref, index.get(ref)) for ref in encounters if index.get(ref)],
                same_day_procedures=[p for p in facts if p.service_date == day and p.kind != "dry-needling"],
                other_clinicians_same_day=others,
                coverages=coverages,
                diagnoses=assembler.diagnoses(raw, encounters),
                prior_service_dates=frozenset(d for d in prior_dates if d < day),
                billing_provider=assembler.billing_provider(encounters, clinician, raw),
                service_provider=assembler.service_provider(encounters),
            )
        )
    return sessions, assembler.problems


def _observation_origin(key: str, position: int) -> str:
    return f"{key} bodySite" + (f"[{position}]" if position else "")


def _encounter_facts(ref: str, encounter: JSON | None) -> EncounterFacts:
    encounter = encounter or {}
    return EncounterFacts(ref, version_of(encounter), text(encounter.get("status")) or "")


def _timezone_extension(resource: JSON | None) -> ZoneInfo | None:
    """The standard timezone extension (an IANA name) of a Location or Organization (R2a)."""
    for extension in objects(resource.get("extension")) if resource else ():
        if extension.get("url") == systems.TIMEZONE_EXTENSION:
            zone = clinic_zone(text(extension.get("valueCode")))
            if zone:
                return zone
    return None


def _display(concept: object, code: str) -> str | None:
    if isinstance(concept, dict):
        for coding in objects(concept.get("coding")):
            if coding.get("code") == code:
                return text(coding.get("display"))
    return None


def _rank(diagnosis: JSON) -> int:
    rank = diagnosis.get("rank")
    return rank if isinstance(rank, int) else 1_000


def _written_by_adapter(resource: JSON) -> bool:
    meta = obj(resource.get("meta"))
    return any(t.get("system") == systems.WRITTEN_BY_TAG_SYSTEM for t in objects(meta.get("tag")))
