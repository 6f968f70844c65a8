"""Seeded synthetic clinic data: the bundled demo day and benchmark exports of any size.

Sessions have 1-6 muscles in all three laterality encodings, Observations, other same-day
procedures, several payers and clinician roles, and a few percent of odd or bad records.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from adapter import systems

JSON = dict[str, Any]
MUSCLES = [
    ("31764008", "Trapezius muscle"),
    ("72573008", "Infraspinatus muscle"),
    ("6423006", "Supraspinatus muscle"),
    ("22823000", "Sternocleidomastoid muscle"),
    ("78333006", "Gluteus medius muscle"),
    ("206007", "Structure of gluteus maximus muscle"),
    ("35259002", "Deltoid muscle"),
    ("11327007", "Structure of levator scapulae muscle"),
    ("44947003", "Erector spinae muscle"),
    ("15665001", "Latissimus dorsi muscle"),
    ("60005003", "Pectoralis major muscle"),
    ("75699001", "Structure of piriformis muscle"),
]
SIDES = [(systems.LEFT, "Left"), (systems.RIGHT, "Right")]
PAYERS = [
    ("512", "Northwind Health Plan"),
    ("512", "Contoso Mutual"),
    ("521", "Aetna Choice POS II"),
    ("121", "Medicare Part B"),
    ("111", "Medicare Advantage Plan"),
    ("2", "State Medicaid"),
]
PAYER_WEIGHTS = [40, 20, 10, 12, 8, 10]
ROLES = [
    ("225100000X", "Physical Therapist"),
    ("225200000X", "Physical Therapy Assistant"),
    ("208100000X", "Physical Medicine & Rehabilitation Physician"),
]
DIAGNOSES = [
    ("M79.12", "Myalgia of auxiliary muscles, head and neck"),
    ("M54.50", "Low back pain, unspecified"),
    ("M79.18", "Myalgia, other site"),
    ("M54.2", "Cervicalgia"),
    ("M62.830", "Muscle spasm of back"),
]


class ClinicGenerator:
    """Generates sessions for one clinic; the same seed gives the same data."""

    def __init__(
        self, seed: int, first_day: date = date(2025, 3, 4), clinicians: int = 6, featured: bool = False
    ) -> None:
        self.random = random.Random(seed)
        self.featured = featured
        self.first_day = first_day
        pattern = [0, 0, 1, 2, 0, 2]  # PT, PT, PTA, physician, PT, physician
        self.clinicians = [(f"clin-{i}", ROLES[pattern[i % len(pattern)]]) for i in range(clinicians)]

    def shared(self) -> list[JSON]:
        """The clinic, its payers and its clinicians with their roles."""
        resources: list[JSON] = [
            {
                "resourceType": "Organization",
                "id": "clinic",
                "name": "Riverside Physical Therapy",
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1194908947"}],
            }
        ]
        for i, (_, name) in enumerate(PAYERS):
            resources.append({"resourceType": "Organization", "id": f"payer-{i}", "name": name})
        for cid, (code, display) in self.clinicians:
            resources.append({"resourceType": "Practitioner", "id": cid, "name": [{"family": f"Clinician {cid}"}]})
            resources.append(
                {
                    "resourceType": "PractitionerRole",
                    "id": f"{cid}-role",
                    "practitioner": {"reference": f"Practitioner/{cid}"},
                    "organization": {"reference": "Organization/clinic"},
                    "code": [{"coding": [{"system": systems.NUCC, "code": code, "display": display}]}],
                }
            )
        return resources

    def session(self, n: int) -> list[JSON]:
        """One patient with one dry-needling session (and what comes with it)."""
        r = self.random
        pid = f"pat-{n}"
        patient = f"Patient/{pid}"
        day = self.first_day + timedelta(days=n % 5)
        payer_index = r.choices(range(len(PAYERS)), PAYER_WEIGHTS)[0]
        sopt, _ = PAYERS[payer_index]
        cid = r.choice(self.clinicians)[0]
        if sopt.startswith("1") and r.random() < 0.5:
            cid = next(c for c in self.clinicians if c[1][0] == "208100000X")[0]
        diagnosis = DIAGNOSES[1] if sopt.startswith("1") and r.random() < 0.7 else r.choice(DIAGNOSES)
        start = f"{day.isoformat()}T{9 + n % 8:02d}:00:00-05:00"
        resources: list[JSON] = [
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": f"Synthetic{n}", "given": ["Pat"]}],
                "gender": r.choice(["female", "male"]),
                "birthDate": f"19{50 + n % 50}-01-01",
            },
            {
                "resourceType": "Coverage",
                "id": f"{pid}-cov",
                "status": "active",
                "type": {"coding": [{"system": systems.SOPT, "code": sopt}]},
                "beneficiary": {"reference": patient},
                "payor": [{"reference": f"Organization/payer-{payer_index}"}],
                "period": {"start": "2024-01-01"},
            },
            {
                "resourceType": "Condition",
                "id": f"{pid}-dx",
                "subject": {"reference": patient},
                "code": {"coding": [{"system": systems.ICD10CM, "code": diagnosis[0], "display": diagnosis[1]}]},
            },
            {
                "resourceType": "Encounter",
                "id": f"{pid}-enc",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": patient},
                "period": {"start": start},
                "participant": [{"individual": {"reference": f"PractitionerRole/{cid}-role"}}],
                "diagnosis": [{"condition": {"reference": f"Condition/{pid}-dx"}, "rank": 1}],
                "serviceProvider": {"reference": "Organization/clinic"},
            },
        ]
        procedure: JSON = {
            "resourceType": "Procedure",
            "id": f"{pid}-dn",
            "status": "completed",
            "code": {"coding": [{"system": systems.CPT, "code": "20560"}]},
            "subject": {"reference": patient},
            "encounter": {"reference": f"Encounter/{pid}-enc"},
            "performedDateTime": start,
            "performer": [{"actor": {"reference": f"PractitionerRole/{cid}-role"}}],
        }
        muscles = r.sample(MUSCLES, r.randint(1, 4))
        sites = [(code, display, r.choice(SIDES)) for code, display in muscles]
        if r.random() < 0.3:
            sites.append((sites[0][0], sites[0][1], SIDES[1] if sites[0][2] == SIDES[0] else SIDES[0]))
        encoding = r.choice(["expression", "contained", "separate"])
        self._encode_sites(procedure, sites, encoding, resources, pid)
        if len(sites) >= 3:
            procedure["code"]["coding"][0]["code"] = "20561"
        if self.featured and n < len(FEATURED):
            FEATURED[n](procedure, resources, pid)
        else:
            self._oddities(procedure, resources, r, pid)
        resources.append(procedure)
        documented = any(procedure.get(k) for k in ("bodySite", "extension"))
        for i, (code, _, (side, _)) in enumerate(sites[:2] if documented else []):
            resources.append(
                {
                    "resourceType": "Observation",
                    "id": f"{pid}-tp-{i}",
                    "status": "final",
                    "code": {"text": "Trigger points needled"},
                    "subject": {"reference": patient},
                    "partOf": [{"reference": f"Procedure/{pid}-dn"}],
                    "valueInteger": r.randint(1, 4),
                    "bodySite": {"coding": [{"system": systems.SNOMED, "code": f"{code}:272741003={side}"}]},
                }
            )
        for when, value in (("before", r.randint(5, 9)), ("after", r.randint(1, 5))):
            resources.append(
                {
                    "resourceType": "Observation",
                    "id": f"{pid}-pain-{when}",
                    "status": "final",
                    "code": {"coding": [{"system": systems.LOINC, "code": "72514-3"}]},
                    "subject": {"reference": patient},
                    "encounter": {"reference": f"Encounter/{pid}-enc"},
                    "valueInteger": value,
                }
            )
        if r.random() < 0.4:
            resources.append(
                {
                    "resourceType": "Procedure",
                    "id": f"{pid}-other",
                    "status": "completed",
                    "code": {"coding": [{"system": systems.CPT, "code": r.choice(["97140", "97110", "97112"])}]},
                    "subject": {"reference": patient},
                    "encounter": {"reference": f"Encounter/{pid}-enc"},
                    "performedDateTime": start,
                }
            )
        return resources

    def _encode_sites(self, procedure: JSON, sites: list[Any], encoding: str, resources: list[JSON], pid: str) -> None:
        if encoding == "expression":
            procedure["bodySite"] = [
                {"coding": [{"system": systems.SNOMED, "code": f"{code}:272741003={side}"}]}
                for code, _, (side, _) in sites
            ]
            return
        structures = [
            {
                "resourceType": "BodyStructure",
                "id": f"{pid}-bs-{i}",
                "location": {"coding": [{"system": systems.SNOMED, "code": code, "display": display}]},
                "locationQualifier": [{"coding": [{"system": systems.SNOMED, "code": side, "display": side_name}]}],
                "patient": {"reference": f"Patient/{pid}"},
            }
            for i, (code, display, (side, side_name)) in enumerate(sites)
        ]
        if encoding == "contained":
            procedure["contained"] = [{**s, "id": f"bs{i}"} for i, s in enumerate(structures)]
            refs = [f"#bs{i}" for i in range(len(structures))]
        else:
            resources.extend(structures)
            refs = [f"BodyStructure/{s['id']}" for s in structures]
        procedure["extension"] = [
            {"url": systems.TARGET_BODY_STRUCTURE, "valueReference": {"reference": ref}} for ref in refs
        ]

    @staticmethod
    def _oddities(procedure: JSON, resources: list[JSON], r: random.Random, pid: str) -> None:
        """A few percent of the odd records real EHRs send."""
        roll = r.random()
        if roll < 0.03:
            procedure.setdefault("bodySite", []).append({"text": "paraspinals"})
        elif roll < 0.05:
            procedure["status"] = "entered-in-error"
        elif roll < 0.07:
            procedure.pop("encounter")
        elif roll < 0.08:
            procedure["status"] = "stopped"
        elif roll < 0.09:
            procedure["vendorExtra"] = {"x-ehr": "tolerated"}
            procedure["meta"] = {"tag": [{"system": "http://vendor.example/tags", "code": "imported"}]}

    def resources(self, sessions: int) -> Iterator[JSON]:
        """Shared resources first, then every session's."""
        yield from self.shared()
        for n in range(sessions):
            yield from self.session(n)


def _text_site(procedure: JSON, resources: list[JSON], pid: str) -> None:
    procedure["bodySite"] = [{"text": "upper traps both sides"}]
    procedure.pop("extension", None)
    procedure.pop("contained", None)


def _no_site(procedure: JSON, resources: list[JSON], pid: str) -> None:
    for key in ("bodySite", "extension", "contained"):
        procedure.pop(key, None)


def _status(value: str) -> Any:
    def apply(procedure: JSON, resources: list[JSON], pid: str) -> None:
        procedure["status"] = value

    return apply


def _injectate(procedure: JSON, resources: list[JSON], pid: str) -> None:
    resources.append(
        {
            "resourceType": "MedicationAdministration",
            "id": f"{pid}-lidocaine",
            "status": "completed",
            "subject": {"reference": f"Patient/{pid}"},
            "partOf": [{"reference": f"Procedure/{pid}-dn"}],
            "medicationCodeableConcept": {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6387", "display": "lidocaine"}
                ]
            },
            "effectiveDateTime": procedure["performedDateTime"],
        }
    )


def _acupuncture(procedure: JSON, resources: list[JSON], pid: str) -> None:
    resources.append(
        {
            **procedure,
            "id": f"{pid}-acu",
            "code": {"coding": [{"system": systems.CPT, "code": "97810"}]},
            "bodySite": [],
            "extension": [],
            "contained": [],
        }
    )


def _no_diagnosis(procedure: JSON, resources: list[JSON], pid: str) -> None:
    for resource in resources:
        if resource["resourceType"] == "Encounter":
            resource.pop("diagnosis", None)


def _no_coverage(procedure: JSON, resources: list[JSON], pid: str) -> None:
    resources[:] = [r for r in resources if r["resourceType"] != "Coverage"]


def _dangling_structure(procedure: JSON, resources: list[JSON], pid: str) -> None:
    procedure.setdefault("extension", []).append(
        {"url": systems.TARGET_BODY_STRUCTURE, "valueReference": {"reference": f"BodyStructure/{pid}-missing"}}
    )


def _no_encounter(procedure: JSON, resources: list[JSON], pid: str) -> None:
    procedure.pop("encounter", None)


# The demo's first sessions each show one rule at work; the rest are ordinary days.
FEATURED = [
    _text_site,
    _no_site,
    _status("entered-in-error"),
    _status("stopped"),
    _injectate,
    _acupuncture,
    _no_diagnosis,
    _no_coverage,
    _dangling_structure,
    _no_encounter,
]


def write_bundle(path: Path, sessions: int, seed: int) -> None:
    """A collection Bundle (the demo data)."""
    generator = ClinicGenerator(seed, featured=True)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"http://ehr.example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in generator.resources(sessions)
        ],
    }
    path.write_text(json.dumps(bundle, indent=1) + "\n")


def write_ndjson_export(directory: Path, sessions: int, seed: int, bad_lines: bool = True) -> int:
    """A Bulk-export style directory (one file per type); returns the number of lines written."""
    directory.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    lines = 0
    try:
        for resource in ClinicGenerator(seed).resources(sessions):
            rtype = resource["resourceType"]
            if rtype not in handles:
                handles[rtype] = (directory / f"{rtype}.ndjson").open("w", encoding="utf-8")
            handles[rtype].write(json.dumps(resource, separators=(",", ":")) + "\n")
            lines += 1
        if bad_lines:
            handles["Procedure"].write('{"resourceType": "Procedure", "id": "broken", \n')
            handles["Procedure"].write('{"resourceType": "NotAType", "id": "x"}\n')
            lines += 2
    finally:
        for handle in handles.values():
            handle.close()
    return lines


if __name__ == "__main__":
    import sys

    write_bundle(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 36, 20250304)
