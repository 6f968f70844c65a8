"""Tolerant accessors for FHIR resources held as plain JSON objects.

Real EHR data carries vendor extras and small violations, so the reading side never assumes a
shape: every accessor returns an empty value instead of raising on an unexpected type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import unquote

from .systems import SYSTEM_ALIASES

JSON = dict[str, Any]

_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_RELATIVE_REF = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def as_list(value: Any) -> list[Any]:
    """A FHIR repeating element as a list (a lone object becomes a one-item list)."""
    if isinstance(value, list):
        return value
    if value is None:
        return []
    return [value]


def obj(value: Any) -> JSON:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def objects(value: Any) -> Iterator[JSON]:
    """The JSON objects of a repeating element, skipping anything that is not an object."""
    for item in as_list(value):
        if isinstance(item, dict):
            yield item


def text(value: Any) -> str | None:
    """A string value, or None for anything else."""
    return value if isinstance(value, str) and value else None


def codings(concept: Any) -> list[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept, skipping malformed codings."""
    if not isinstance(concept, dict):
        return []
    pairs = []
    for coding in objects(concept.get("coding")):
        system, code = coding.get("system"), coding.get("code")
        if isinstance(system, str) and isinstance(code, str) and code.strip():
            system = system.strip()
            pairs.append((SYSTEM_ALIASES.get(system, system), code.strip()))
    return pairs


def codes_in(concept: Any, system: str) -> list[str]:
    """Codes of one system in a CodeableConcept."""
    return [code for sys, code in codings(concept) if sys == system]


def reference(value: Any) -> str | None:
    """A Reference as 'Type/id' (absolute and versioned forms normalised), '#id' or 'urn:...'.

    Absolute references are cut to their last two segments: EHRs send both
    'Patient/1' and 'https://ehr/fhir/Patient/1' for the same resource.
    """
    if not isinstance(value, dict):
        return None
    ref = value.get("reference")
    if not isinstance(ref, str):
        return None
    if ref in _PLAIN_REFERENCES:
        return ref
    if not ref.strip():
        return None
    if ref.count("/") == 1 and _RELATIVE_REF.match(ref):
        if len(_PLAIN_REFERENCES) >= _PLAIN_REFERENCES_KEPT:
            _PLAIN_REFERENCES.clear()
        _PLAIN_REFERENCES.add(ref)
        return ref  # the common case: already 'Type/id'
    ref = ref.strip()
    if ref.startswith(("#", "urn:")):
        return ref
    if "?" in ref:
        return None  # conditional references are not resolvable offline
    ref = re.sub(r"/_history/[^/]+$", "", ref)
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 2:
        candidate = f"{parts[-2]}/{parts[-1]}"
        if _RELATIVE_REF.match(candidate):
            return candidate
    return None


# 'Type/id' strings already seen to be plain references. A case reads the same few references
# dozens of times (grouping, indexes, assembly, parties); a set lookup is a fraction of the
# expression's cost. Bounded, so memory does not follow the export.
_PLAIN_REFERENCES: set[str] = set()
_PLAIN_REFERENCES_KEPT = 1 << 16


LogicalTarget = tuple[str | None, str, str]


def logical_target(value: Any) -> LogicalTarget | None:
    """(type or None, identifier system, identifier value) of a reference that names its target
    by identifier: a conditional 'Practitioner?identifier=system|value', or a Reference with
    `identifier` and no `reference` (Synthea and US Core senders write both). None otherwise.
    """
    if not isinstance(value, dict):
        return None
    ref = value.get("reference")
    if isinstance(ref, str) and "?" in ref:
        rtype, _, query = ref.strip().partition("?")
        rtype = rtype.rsplit("/", 1)[-1]
        for param in query.split("&"):
            name, _, token = param.partition("=")
            system, bar, code = unquote(token).partition("|")
            if name == "identifier" and bar and system and code:
                return (rtype or None, system, code)
        return None
    identifier = value.get("identifier")
    if ref is None and isinstance(identifier, dict):
        id_system, id_value = text(identifier.get("system")), text(identifier.get("value"))
        if id_system and id_value:
            return (text(value.get("type")), id_system, id_value)
    return None


def identifier_keys(resource: JSON) -> Iterator[tuple[str, str]]:
    """(system, value) of each identifier of a resource."""
    for identifier in objects(resource.get("identifier")):
        system, value = text(identifier.get("system")), text(identifier.get("value"))
        if system and value:
            yield system, value


def reference_type(ref: str | None) -> str | None:
    """The resource type of a 'Type/id' reference."""
    if ref and "/" in ref and not ref.startswith("urn:"):
        return ref.split("/", 1)[0]
    return None


def resource_key(resource: JSON) -> str | None:
    """'Type/id' of a resource, or None when it has no usable type or id."""
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if isinstance(rtype, str) and isinstance(rid, str) and rid:
        return f"{rtype}/{rid}"
    return None


def parse_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime as written (the clinic's local date).

    The date part is taken as recorded, without converting the offset: a session at
    23:30-05:00 happened on that local date, which is the date of service.
    """
    if not isinstance(value, str):
        return None
    match = _DATE_PREFIX.match(value.strip())
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def version_of(resource: JSON) -> str | None:
    """meta.versionId, if any."""
    meta = resource.get("meta")
    return text(meta.get("versionId")) if isinstance(meta, dict) else None
