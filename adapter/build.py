"""Decisions to FHIR R4 resources: Claim, review Task, Provenance, OperationOutcome.

Builds plain JSON (fast, and exactly what goes on the wire); the tests check every shape
these builders can produce against the fhir.resources R4B models and our profiles.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from . import __version__, systems
from .decision_trace import trace_extension
from .fhirjson import JSON
from .problems import InputProblem
from .rules import Decision, Finding
from .rules.modifiers import modifier_system
from .session import Session
from .settings import CodingSettings

ADAPTER_NAME = "dry-needling-adapter"
META_SOURCE = f"{systems.CANONICAL_BASE}/adapter|{__version__}"
ADAPTER_DEVICE = {
    "resourceType": "Device",
    "id": "adapter",
    "identifier": [{"system": f"{systems.CANONICAL_BASE}/sid/software", "value": ADAPTER_NAME}],
    "deviceName": [{"name": ADAPTER_NAME, "type": "manufacturer-name"}],
    "version": [{"value": __version__}],
}


def case_id(session: Session) -> str:
    """A stable id from the case key alone (R3): reruns and amendments address the same Claim.
    Hashed once a case (its Claim, Task, Provenance and warnings each ask for it)."""
    if session.case_id is None:
        session.case_id = f"dn-{hashlib.sha256('|'.join(session.key).encode('utf-8')).hexdigest()[:40]}"
    return session.case_id


def case_identifier(session: Session) -> JSON:
    return {"system": systems.CASE_IDENTIFIER_SYSTEM, "value": case_id(session)}


def written_by_meta(profile: str | None = None) -> JSON:
    """meta.tag and meta.source that let users find and audit what the adapter wrote."""
    meta: JSON = {
        "source": META_SOURCE,
        "tag": [
            {"system": systems.WRITTEN_BY_TAG_SYSTEM, "code": ADAPTER_NAME, "display": f"written by {ADAPTER_NAME}"}
        ],
    }
    if profile:
        meta["profile"] = [profile]
    return meta


def now_instant() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_claim(session: Session, decision: Decision, settings: CodingSettings, created: str) -> JSON:
    """The Claim for a billable or held case (fhir-contract.md 'Output: the Claim')."""
    clinician_ref = session.clinician.reference if session.clinician else None
    diagnoses = [
        {
            "sequence": i,
            "diagnosisCodeableConcept": {"coding": [_coding(systems.ICD10CM, d.code, d.display)]},
        }
        for i, d in enumerate(decision.diagnoses, start=1)
    ]
    procedures = [
        {"sequence": i, "date": session.service_date.isoformat(), "procedureReference": {"reference": ref}}
        for i, ref in enumerate(decision.counted_procedures, start=1)
    ]
    supporting = [
        _information(i, {"valueReference": {"reference": ref}})
        for i, ref in enumerate(decision.counted_procedures + decision.counted_observations, start=1)
    ]
    notes = []
    if decision.muscles:
        notes.append(
            f"{decision.muscle_count} muscle(s) needled: "
            + ", ".join(f"{m.muscle} ({m.side})" if m.side != "none" else m.muscle for m in decision.muscles)
        )
    if decision.patient_liable:
        notes.append(
            "Medicare does not cover dry needling by a therapist: billed as non-covered "
            f"({', '.join(m for m in decision.modifiers if m in ('GY', 'GX'))}); the patient is liable (R8)"
        )
    supporting += [_information(len(supporting) + i, {"valueString": note}) for i, note in enumerate(notes, start=1)]
    coverage = (
        {"reference": decision.coverage.reference}
        if decision.coverage
        else {"display": "no active Coverage found: see the review Task"}
    )
    claim: JSON = {
        "resourceType": "Claim",
        "id": case_id(session),
        "meta": written_by_meta(systems.CLAIM_PROFILE),
        "identifier": [case_identifier(session)],
        "status": "active" if decision.outcome == "claim_line" else "draft",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": session.patient},
        "created": created,
        "provider": {"reference": session.billing_provider or clinician_ref}
        if (session.billing_provider or clinician_ref)
        else {"display": "no billing provider found: see the review Task"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": coverage}],
    }
    if clinician_ref:
        care_team: JSON = {
            "sequence": 1,
            "provider": {"reference": clinician_ref},
            "responsible": True,
            "role": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claimcareteamrole", "code": "primary"}]
            },
        }
        taxonomy = sorted(decision.taxonomies)
        if taxonomy:
            care_team["qualification"] = {"coding": [{"system": systems.NUCC, "code": taxonomy[0]}]}
        claim["careTeam"] = [care_team]
    if supporting:
        claim["supportingInfo"] = supporting
    if diagnoses:
        claim["diagnosis"] = diagnoses
    if procedures:
        claim["procedure"] = procedures
    if decision.cpt:
        claim["item"] = [_item(session, decision, settings, clinician_ref is not None, len(diagnoses), len(supporting))]
    return claim


def _item(
    session: Session,
    decision: Decision,
    settings: CodingSettings,
    has_care_team: bool,
    diagnosis_count: int,
    information_count: int,
) -> JSON:
    item: JSON = {
        "sequence": 1,
        "productOrService": {"coding": [_coding(systems.CPT, str(decision.cpt), None)]},
        "servicedDate": session.service_date.isoformat(),
        "quantity": {"value": 1},
    }
    if has_care_team:
        item["careTeamSequence"] = [1]
    if diagnosis_count:
        item["diagnosisSequence"] = list(range(1, min(diagnosis_count, 4) + 1))
    if information_count:
        item["informationSequence"] = list(range(1, information_count + 1))
    if decision.modifiers:
        item["modifier"] = [{"coding": [_coding(modifier_system(m, settings), m, None)]} for m in decision.modifiers]
    encounters = sorted(
        {p.encounter for p in session.procedures if p.encounter and p.reference in decision.counted_procedures}
    )
    if encounters:
        item["encounter"] = [{"reference": ref} for ref in encounters]
    # R4 orders the elements as sequence, careTeamSequence, ..., productOrService, modifier, ...;
    # JSON order carries no meaning, so it is left as built.
    return item


def build_review_task(session: Session, decision: Decision, focus: str, authored: str) -> JSON:
    """The Task for billing staff: focus on the draft Claim (or the Procedure), every reason listed."""
    reasons = decision.holds + decision.no_claim_tasks
    return {
        "resourceType": "Task",
        "id": case_id(session),
        "meta": written_by_meta(systems.TASK_PROFILE),
        "identifier": [case_identifier(session)],
        "status": "requested",
        "intent": "order",
        "priority": "routine",
        "code": {
            "coding": [
                {
                    "system": systems.REVIEW_REASON_SYSTEM,
                    "code": "dry-needling-review",
                    "display": "Review a dry-needling claim",
                }
            ]
        },
        "description": describe_reasons(reasons),
        "focus": {"reference": focus},
        "for": {"reference": session.patient},
        "authoredOn": authored,
        "input": [
            {
                "type": {"coding": [{"system": systems.REVIEW_REASON_SYSTEM, "code": f.rule}], "text": f.rule},
                "valueString": f.message,
            }
            for f in reasons
        ],
    }


def describe_reasons(reasons: list[Finding]) -> str:
    lines = "; ".join(str(f) for f in reasons)
    return f"Review needed ({len(reasons)} reason(s)): {lines}"


def build_provenance(
    claim: JSON,
    session: Session,
    decision: Decision,
    recorded: str,
    activity: str = "CREATE",
    reason: str | None = None,
) -> JSON:
    """Provenance of a written Claim: the source resources (with versions) and the adapter."""
    versions = {p.reference: p.version for p in session.procedures}
    versions.update({o.reference: o.version for o in session.observations})
    versions.update({e.reference: e.version for e in session.encounters})
    entities = []
    for ref in (
        list(decision.counted_procedures)
        + list(decision.counted_observations)
        + [e.reference for e in session.encounters]
    ):
        version = versions.get(ref)
        entities.append({"role": "source", "what": {"reference": f"{ref}/_history/{version}" if version else ref}})
    for procedure in session.procedures:
        if procedure.reference not in decision.counted_procedures:
            entities.append({"role": "source", "what": {"reference": procedure.reference}})
    written_id = provenance_id(case_id(session), claim_fingerprint(claim), activity)
    provenance = provenance_shell(written_id, f"Claim/{claim['id']}", recorded, activity, reason, entities)
    provenance["extension"] = [trace_extension(decision)]
    return provenance


def provenance_id(cid: str, fingerprint: str, activity: str) -> str:
    """The id of our Provenance for writing this content to the case's Claim: the one rule.

    Derived from the content, so rewriting the same content updates one Provenance, never adds a
    second, and a Claim without the Provenance of its present content was edited by someone else
    (sinks/server.py, `_edited_outside`).
    """
    return f"{cid[:40]}-{hashlib.sha256(f'{fingerprint}|{activity}'.encode()).hexdigest()[:16]}"


def build_cancelled_claim(existing: JSON) -> JSON:
    """An existing Claim of ours, cancelled (no session is billable under its case key any more)."""
    return {**existing, "status": "cancelled", "meta": written_by_meta(systems.CLAIM_PROFILE)}


def build_empty_task(patient: str, claim_id: str, authored: str) -> JSON:
    """A review Task on one of our Claims with no reasons yet (the sink writes its description)."""
    return {
        "resourceType": "Task",
        "meta": written_by_meta(systems.TASK_PROFILE),
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": systems.REVIEW_REASON_SYSTEM, "code": "dry-needling-review"}]},
        "focus": {"reference": f"Claim/{claim_id}"},
        "for": {"reference": patient},
        "authoredOn": authored,
        "description": "",
    }


def provenance_shell(
    provenance_id: str, target: str, recorded: str, activity: str, reason: str | None, entities: list[JSON]
) -> JSON:
    """A Provenance of one write by the adapter (the agent is the adapter, as a contained Device)."""
    provenance: JSON = {
        "resourceType": "Provenance",
        "id": provenance_id,
        "meta": written_by_meta(systems.PROVENANCE_PROFILE),
        "contained": [dict(ADAPTER_DEVICE)],
        "target": [{"reference": target}],
        "recorded": recorded,
        "activity": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": activity}]
        },
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "assembler",
                        }
                    ]
                },
                "who": {"reference": "#adapter", "type": "Device", "display": f"{ADAPTER_NAME} {__version__}"},
            }
        ],
    }
    if entities:
        provenance["entity"] = entities
    if reason:
        provenance["reason"] = [{"text": reason}]
    return provenance


def build_operation_outcome(problem: InputProblem, recorded: str) -> JSON:
    """An OperationOutcome naming the input and the problem (no PHI: ids and rule words only)."""
    digest = hashlib.sha256(f"{problem.where}|{problem.message}".encode()).hexdigest()[:24]
    return {
        "resourceType": "OperationOutcome",
        "id": f"input-{digest}",
        "meta": {"lastUpdated": recorded, **written_by_meta()},
        "issue": [
            {
                "severity": problem.severity,
                "code": problem.code,
                "diagnostics": f"{problem.where}: {problem.message}",
                "location": [problem.where],
            }
        ],
    }


def _information(sequence: int, value: JSON) -> JSON:
    """One Claim.supportingInfo entry of category `info`."""
    return {
        "sequence": sequence,
        "category": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claiminformationcategory", "code": "info"}]
        },
        **value,
    }


def _coding(system: str, code: str, display: str | None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def claim_fingerprint(claim: JSON) -> str:
    """What a Claim says, without what changes on every write (id, meta, created).

    Two Claims with the same fingerprint bill the same thing, so an unchanged re-coding of an
    amended session writes nothing.
    """
    essential = {k: v for k, v in claim.items() if k not in ("id", "meta", "created", "text")}
    return hashlib.sha256(_canonical_json(essential)).hexdigest()


# Where orjson's bytes may differ from json.dumps': DEL (json escapes it), a float under 1e-4
# (json writes 1e-05 and 3.5e-07, orjson 0.00001 and 3.5e-7), NaN (orjson writes null). Any of
# them, anywhere, sends the object the slow way. Substring tests first: a regular expression
# over every Claim cost more than the faster serialisation saved.
_MAY_DIFFER = (b"\x7f", b"0.0000", b"null")
_NEGATIVE_EXPONENT = re.compile(rb"\de-\d")


def _canonical_json(value: JSON) -> bytes:
    """json.dumps(value, sort_keys=True, separators=(",", ":")) as bytes, byte for byte.

    Fingerprints name written Provenances and decide whether a Claim changed, so their input
    must never change between versions; orjson gives the same bytes for ASCII text about ten
    times faster (a twentieth of a backfill), and json.dumps remains the definition.
    """
    try:
        fast = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a non-string key or an int over 64 bits: json.dumps takes both
        return _json_dumps(value)
    if not fast.isascii() or any(marker in fast for marker in _MAY_DIFFER):
        return _json_dumps(value)
    return _json_dumps(value) if b"e-" in fast and _NEGATIVE_EXPONENT.search(fast) else fast


def _json_dumps(value: JSON) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
