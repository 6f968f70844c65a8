"""What published EHR APIs refuse, as data the vendor proxy enforces; each constraint cites its source.

These are models of the vendors' documented behaviour, not the vendors: only what their
documentation says (or what the issue that asked for them lists) is enforced. docs/ehr-profiles.md
explains each for users.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLINICAL = ("Procedure", "Observation", "Encounter", "Condition", "Coverage")
CLAIM_WRITES = frozenset({"Claim", "Task", "Provenance"})


@dataclass(frozen=True)
class Constraint:
    """One refusal, and where it is documented."""

    rule: str
    source: str


@dataclass(frozen=True)
class VendorProfile:
    """What one EHR API lets a backend client do."""

    name: str
    # Searches of these types must name a patient through one of these parameters (or `_id`).
    patient_parameters: dict[str, tuple[str, ...]]
    # ... and, with it, one of these (US Core: Observation by patient needs category or code).
    with_patient: dict[str, tuple[str, ...]] = field(default_factory=dict)
    last_updated: bool = False
    comma_lists_in: frozenset[str] = frozenset()  # parameters that may carry a comma list
    includes: bool = False
    part_of: bool = False
    history: bool = False
    refused_writes: frozenset[str] = CLAIM_WRITES  # "*" refuses every write
    unreadable: frozenset[str] = frozenset()  # types a read by id is refused for (403)
    constraints: tuple[Constraint, ...] = ()


EPIC = VendorProfile(
    name="epic",
    patient_parameters={t: ("patient",) for t in CLINICAL},
    constraints=(
        Constraint(
            "no _lastUpdated search parameter",
            "smart-on-fhir/smart-fetch docs/since.md (Epic declares no _lastUpdated; --since-mode created)",
        ),
        Constraint(
            "patient required on Procedure, Observation, Encounter, Condition and Coverage searches (or _id)",
            "open.epic.com/Clinical/FHIR?whereTo=procedure ('query for all of a patient's ... procedures by "
            "providing the patient's FHIR ID', or _id)",
        ),
        Constraint("no comma lists, no _include, no part-of search", "issue 15 (Epic-like profile), fhir.epic.com"),
        Constraint(
            "no Claim, Task or Provenance writes; no transactions; no _history",
            "shared/research/ehr-and-billing.md (no public Claim create found for Epic)",
        ),
    ),
)

ORACLE = VendorProfile(
    name="oracle",
    patient_parameters={
        "Procedure": ("patient", "subject"),
        "Observation": ("patient", "subject"),
        "Encounter": ("patient", "subject"),
        "Condition": ("patient", "subject"),
        "Coverage": ("patient",),
    },
    comma_lists_in=frozenset({"_id"}),
    constraints=(
        Constraint(
            "patient or subject required on clinical searches ('a required field if the subject field is not given')",
            "docs.oracle.com/en/industries/health/millennium-platform-apis/mfrap/r4_overview.html "
            "(Condition searchParam documentation in the CapabilityStatement)",
        ),
        Constraint("comma lists only for _id; no _include; no part-of search; no _history", "fhir.cerner.com R4"),
        Constraint(
            "no Claim writes (charges go to ChargeItem $create); no transactions",
            "docs.oracle.com millennium-platform-apis op-chargeitem-create-post; shared/research/ehr-and-billing.md",
        ),
    ),
)

US_CORE = VendorProfile(
    name="us-core",
    patient_parameters={t: ("patient",) for t in CLINICAL},
    with_patient={"Observation": ("category", "code")},
    refused_writes=frozenset({"*"}),
    constraints=(
        Constraint(
            "searches by patient (SHALL), Observation by patient+category or patient+code",
            "hl7.org/fhir/us/core CapabilityStatement-us-core-server (search-parameter-combination)",
        ),
        Constraint(
            "no _lastUpdated, comma lists (multipleOr MAY), _include or part-of beyond what US Core names",
            "hl7.org/fhir/us/core SearchParameter-us-core-* (conformance expectations)",
        ),
        Constraint(
            "read and search only: every write refused", "hl7.org/fhir/us/core CapabilityStatement-us-core-server"
        ),
    ),
)

PROFILES = {p.name: p for p in (EPIC, ORACLE, US_CORE)}
