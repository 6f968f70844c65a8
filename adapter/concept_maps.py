"""Local EHR codes through FHIR ConceptMap resources (R1, R4): mappings/conceptmaps/*.json.

A deployment maps its EHR's own procedure codes to CPT (20560/20561, or another code the
procedure list knows) and its site or flowsheet codes to SNOMED CT muscles, with the side
where the local code implies one (a laterality expression as the target code, e.g.
`31764008:272741003=7771000`, or a `product` naming attribute 272741003). Each map is checked
when loaded: a target the adapter cannot use is refused with the file and the element named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import systems
from .fhirjson import objects, text

# Only exact mappings bill: a wider or narrower concept could change the code or the count.
EXACT = frozenset({"equivalent", "equal"})
_SIDES = frozenset({systems.LEFT, systems.RIGHT, systems.BILATERAL})


class ConceptMapError(ValueError):
    """A ConceptMap the adapter cannot use (names the file and the element)."""


@dataclass
class LocalCodes:
    """Local (system, code) pairs to a CPT code, and to a SNOMED CT site expression."""

    procedures: dict[tuple[str, str], str] = field(default_factory=dict)
    sites: dict[tuple[str, str], str] = field(default_factory=dict)


def load_concept_maps(
    directory: Path, procedure_kinds: dict[tuple[str, str], str], known_muscles: set[str]
) -> LocalCodes:
    """Every ConceptMap JSON file of the directory (none when it does not exist)."""
    found = LocalCodes()
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        try:
            resource = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConceptMapError(f"{path.name}: not a readable JSON file ({error})") from error
        if not isinstance(resource, dict) or resource.get("resourceType") != "ConceptMap":
            raise ConceptMapError(f"{path.name}: not a ConceptMap")
        _read_map(path.name, resource, procedure_kinds, known_muscles, found)
    return found


def _read_map(
    name: str,
    resource: dict[str, Any],
    procedure_kinds: dict[tuple[str, str], str],
    known_muscles: set[str],
    found: LocalCodes,
) -> None:
    for g, group in enumerate(objects(resource.get("group"))):
        source, target = text(group.get("source")), text(group.get("target"))
        where = f"{name} group[{g}]"
        if not source or target not in (systems.CPT, systems.SNOMED):
            raise ConceptMapError(f"{where}: needs a source system and a target of CPT or SNOMED CT, got {target!r}")
        for e, element in enumerate(objects(group.get("element"))):
            code = text(element.get("code"))
            if not code:
                raise ConceptMapError(f"{where}.element[{e}]: no code")
            for t, mapped in enumerate(objects(element.get("target"))):
                here = f"{where}.element[{e}].target[{t}]"
                if mapped.get("equivalence") not in EXACT:
                    raise ConceptMapError(f"{here}: equivalence {mapped.get('equivalence')!r}; only equivalent/equal")
                target_code = text(mapped.get("code"))
                if not target_code:
                    raise ConceptMapError(f"{here}: no code")
                if target == systems.CPT:
                    if (systems.CPT, target_code) not in procedure_kinds:
                        raise ConceptMapError(f"{here}: CPT {target_code} is not a procedure the rules know")
                    found.procedures[(source, code)] = target_code
                else:
                    found.sites[(source, code)] = _site_expression(here, target_code, mapped, known_muscles)


def _site_expression(where: str, code: str, mapped: dict[str, Any], known_muscles: set[str]) -> str:
    """The SNOMED CT expression a local site code stands for, its side included (R4)."""
    focus, _, refinement = code.replace(" ", "").partition(":")
    if focus not in known_muscles:
        raise ConceptMapError(f"{where}: SNOMED {focus} is not in the muscle map")
    sides = [p for p in objects(mapped.get("product")) if str(p.get("property", "")).endswith("272741003")]
    if sides:
        value = text(sides[0].get("value"))
        if value not in _SIDES:
            raise ConceptMapError(f"{where}.product: laterality {value!r} is not left, right or bilateral")
        return f"{focus}:{systems.LATERALITY_ATTRIBUTE}={value}"
    return f"{focus}:{refinement}" if refinement else focus
