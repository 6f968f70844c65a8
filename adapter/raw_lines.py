"""What the bytes of one NDJSON line tell without parsing it: its type and its patient.

Each answer is given only when the bytes make it certain; otherwise None, and the caller
parses the line. A wrong guess could file a resource under another patient.
"""

from __future__ import annotations

import re
from pathlib import Path

from .fhirjson import reference
from .indexes import PATIENT_FIELDS
from .resource_types import R4_RESOURCE_TYPES
from .sources.base import is_fhir_resource_type

# Each per-patient type's patient key, quoted as in a line; and the plain reference it holds.
_PATIENT_KEY_OF = {rtype: f'"{field}"'.encode() for rtype, field in PATIENT_FIELDS.items() if field}
_PATIENT_FIELD = re.compile(rb'"(?:subject|beneficiary|patient)"\s*:\s*\{\s*"reference"\s*:\s*"([^"\\]{1,512})"')
_TYPE_FIELD = re.compile(rb'"resourceType"\s*:\s*"([A-Za-z]{1,64})"')
_LEADING_TYPE = re.compile(rb'\s*\{\s*"resourceType"\s*:\s*"([A-Za-z]{1,64})"')
# The compact form serializers write (HAPI, Synthea, Epic's Bulk files): the type is read by
# a slice and a lookup, not the expression; anything else goes to the expression.
_COMPACT_PREFIX = b'{"resourceType":"'
_TYPE_NAMES = {name.encode(): name for name in R4_RESOURCE_TYPES}


def line_type(raw: bytes) -> str | None:
    """The resourceType of a raw line when the bytes make it certain, else None (parse it).

    Certain means the top-level object's first key (what HAPI, Synthea and most serializers
    write first), or the only resourceType key in the whole line. Elsewhere in a line with a
    contained resource (or a vendor extra) the first key found may be a nested one. A second
    top-level resourceType would be a duplicate key, which FHIR JSON does not allow.
    """
    if raw.startswith(_COMPACT_PREFIX):
        name = _TYPE_NAMES.get(raw[len(_COMPACT_PREFIX) : raw.find(b'"', len(_COMPACT_PREFIX))])
        if name is not None:
            return name
    leading = _LEADING_TYPE.match(raw)
    if leading is not None:
        return leading.group(1).decode()
    if raw.count(b'"resourceType"') != 1:  # a substring count: far cheaper than a second search
        return None
    found = _TYPE_FIELD.search(raw)
    return found.group(1).decode() if found is not None else None


def patient_hint(rtype: str | None, raw: bytes) -> str | None:
    """The patient of a raw line when the bytes alone make it certain, else None (parse it).

    Certain means the type's own patient key (Encounter.subject, Coverage.beneficiary, ...: the
    one the parser reads, indexes.PATIENT_FIELDS) once in the whole line, holding a plain
    reference. A second one (a contained resource's, a vendor extra's) or the key written in a
    shape the expression does not read (display first) sends the line to the parser. A nested
    key alone (no top-level one) gives a patient the parsed line does not have: grouping checks
    every hinted line once parsed, and reports it.
    """
    key = _PATIENT_KEY_OF.get(rtype) if rtype is not None else None
    if key is None:
        return None
    # Substring searches, not a regular expression: this runs on every line of an export. The
    # second search goes on from the first, so a line is read once to find its key only once.
    first = raw.find(key)
    if first < 0 or raw.find(key, first + len(key)) >= 0:
        return None
    found = _PATIENT_FIELD.match(raw, first)
    if found is None:
        return None
    ref = reference({"reference": found.group(1).decode("utf-8", "replace")})
    return ref if ref and ref.startswith("Patient/") else None


def looks_whole(raw: bytes) -> bool:
    """Whether a line ends as a JSON object does: a line cut short (the usual damage to an
    export) does not, and is parsed, so its problem is reported."""
    return raw.endswith((b"}\n", b"}", b"}\r\n"))  # trailing blanks too: parsed, to be safe


_NAME_TOKEN = re.compile(r"[A-Z][A-Za-z]+")


def named_type(path: Path) -> str | None:
    """The one FHIR resource type a file's name names, if it names exactly one.

    A Bulk Data file holds one resource type (Bulk Data IG, "Response - Complete Status") and
    is named for it (`ExplanationOfBenefit.ndjson`, `output-00003-Immunization.ndjson`).
    """
    named = {t for t in _NAME_TOKEN.findall(path.stem) if is_fhir_resource_type(t)}
    return named.pop() if len(named) == 1 else None


def first_line_type(path: Path) -> str | None:
    """The certain resourceType of a file's first non-empty line (see line_type)."""
    with path.open("rb") as handle:
        first = next((line for line in handle if not line.isspace()), None)
    return line_type(first) if first is not None else None
