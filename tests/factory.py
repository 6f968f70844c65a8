"""Builds small, realistic FHIR R4 case data for tests: one patient, one clinic, one day."""

from __future__ import annotations

import copy
from typing import Any

CPT = "http://www.ama-assn.org/go/cpt"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
TRAPEZIUS, INFRASPINATUS, SUPRASPINATUS, DELTOID = "31764008", "72573008", "6423006", "35259002"
LEFT, RIGHT, BILATERAL = "7771000", "24028007", "51440002"
PT, PTA, PHYSICIAN, CHIRO = "225100000X", "225200000X", "208100000X", "111N00000X"


def site(code: str, side: str | None = None) -> dict[str, Any]:
    """A bodySite in the post-coordinated form (or a bare SNOMED code)."""
    return {"coding": [{"system": SCT, "code": f"{code}:272741003={side}" if side else code}]}


def text_site(text: str) -> dict[str, Any]:
    return {"text": text}


class Case:
    """A mutable case: add resources, then take `resources()` for a source."""

    def __init__(
        self,
        key: str = "t",
        day: str = "2025-03-04",
        taxonomy: str = PT,
        payer_type: str = "512",
        payer_name: str = "Northwind Health Plan",
        diagnosis: str | None = "M79.12",
    ) -> None:
        self.key = key
        self.day = day
        self.patient = f"Patient/{key}-patient"
        self.items: list[dict[str, Any]] = [
            {"resourceType": "Patient", "id": f"{key}-patient", "name": [{"family": "Doe"}]},
            {"resourceType": "Organization", "id": f"{key}-payer", "name": payer_name},
            {"resourceType": "Organization", "id": f"{key}-clinic", "name": "Clinic"},
            {
                "resourceType": "Coverage",
                "id": f"{key}-coverage",
                "status": "active",
                "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": payer_type}]},
                "beneficiary": {"reference": self.patient},
                "payor": [{"reference": f"Organization/{key}-payer"}],
            },
        ]
        self.add_clinician("a", taxonomy)
        self.encounter("enc-1")
        if diagnosis:
            self.items.append(
                {
                    "resourceType": "Condition",
                    "id": f"{key}-cond-1",
                    "subject": {"reference": self.patient},
                    "code": {"coding": [{"system": ICD, "code": diagnosis}]},
                }
            )
            self.find(f"Encounter/{key}-enc-1")["diagnosis"] = [{"condition": {"reference": f"Condition/{key}-cond-1"}}]

    def add_clinician(self, name: str, taxonomy: str) -> None:
        self.items += [
            {"resourceType": "Practitioner", "id": f"{self.key}-pr-{name}"},
            {
                "resourceType": "PractitionerRole",
                "id": f"{self.key}-role-{name}",
                "practitioner": {"reference": f"Practitioner/{self.key}-pr-{name}"},
                "organization": {"reference": f"Organization/{self.key}-clinic"},
                "code": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": taxonomy}]}],
            },
        ]

    def encounter(self, name: str, status: str = "finished", day: str | None = None) -> dict[str, Any]:
        encounter = {
            "resourceType": "Encounter",
            "id": f"{self.key}-{name}",
            "status": status,
            "subject": {"reference": self.patient},
            "period": {"start": f"{day or self.day}T10:00:00-05:00"},
            "serviceProvider": {"reference": f"Organization/{self.key}-clinic"},
        }
        self.items.append(encounter)
        return encounter

    def procedure(
        self,
        name: str,
        sites: list[dict[str, Any]] | None = None,
        code: str = "20560",
        status: str = "completed",
        clinician: str = "a",
        encounter: str | None = "enc-1",
        day: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        procedure: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": f"{self.key}-{name}",
            "status": status,
            "code": {"coding": [{"system": CPT, "code": code}]},
            "subject": {"reference": self.patient},
            "performedDateTime": f"{day or self.day}T10:15:00-05:00",
            "performer": [{"actor": {"reference": f"PractitionerRole/{self.key}-role-{clinician}"}}],
        }
        if encounter:
            procedure["encounter"] = {"reference": f"Encounter/{self.key}-{encounter}"}
        if sites:
            procedure["bodySite"] = sites
        procedure.update(extra)
        self.items.append(procedure)
        return procedure

    def observation(self, name: str, part_of: str, body_site: dict[str, Any]) -> None:
        self.items.append(
            {
                "resourceType": "Observation",
                "id": f"{self.key}-{name}",
                "status": "final",
                "code": {"text": "twitch response"},
                "subject": {"reference": self.patient},
                "partOf": [{"reference": f"Procedure/{self.key}-{part_of}"}],
                "bodySite": body_site,
            }
        )

    def injectate(self, procedure: str) -> None:
        self.items.append(
            {
                "resourceType": "MedicationAdministration",
                "id": f"{self.key}-ma-{procedure}",
                "status": "completed",
                "subject": {"reference": self.patient},
                "partOf": [{"reference": f"Procedure/{self.key}-{procedure}"}],
                "medicationCodeableConcept": {"text": "lidocaine"},
                "effectiveDateTime": f"{self.day}T10:15:00-05:00",
            }
        )

    def find(self, ref: str) -> dict[str, Any]:
        rtype, rid = ref.split("/")
        return next(r for r in self.items if r["resourceType"] == rtype and r["id"] == rid)

    def resources(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.items)
