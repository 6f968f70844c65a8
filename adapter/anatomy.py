"""Body sites to muscles (R4): every body-site and laterality encoding the adapter reads.

Two steps, both here: reading a documented site out of FHIR JSON (bodySite, the
procedure-targetBodyStructure and bodySite extensions, contained or separate BodyStructures,
R5-shaped ones) into a SiteInput, and resolving a SiteInput against the muscle map
(expressions, sides as qualifiers or second codings, pre-coordinated lateral concepts, local
codes through ConceptMaps, regions, text). A site either yields muscles (with side) or is
'unresolved' with a reason; it is never guessed. No I/O: BodyStructures are looked up through
the caller's `find`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from . import systems
from .fhirjson import JSON, as_list, codes_in, codings, objects, reference, resource_key, text
from .problems import InputProblem
from .session import Muscle, SiteInput
from .tables import CodingTables
from .value import Value

FindResource = Callable[[str | None], JSON | None]

_LEFT = {systems.LEFT, systems.UNILATERAL_LEFT}
_RIGHT = {systems.RIGHT, systems.UNILATERAL_RIGHT}
_SIDE_CODES = _LEFT | _RIGHT | {systems.BILATERAL}
_TERM = re.compile(r"\|[^|]*\|")


class SiteReading(Value):
    """What one documented site contributes: muscles, or an unresolved reason, and warnings."""

    def __init__(
        self,
        origin: str,
        muscles: tuple[Muscle, ...] = (),
        unresolved: str | None = None,
        warnings: tuple[str, ...] = (),
    ) -> None:
        self.origin: Final = origin
        self.muscles: Final = muscles
        self.unresolved: Final = unresolved
        self.warnings: Final = warnings

    def _fields(self) -> tuple[object, ...]:
        return (self.origin, self.muscles, self.unresolved, self.warnings)


def sites_of_procedure(resource: JSON, key: str, find: FindResource, problems: list[InputProblem]) -> list[SiteInput]:
    """Every documented site of a Procedure: bodySite entries and targeted BodyStructures (R4)."""
    sites = []
    for i, site in enumerate(as_list(resource.get("bodySite"))):
        sites.append(site_from_concept(site, f"{key} bodySite[{i}]", resource, find, problems))
    for i, extension in enumerate(objects(resource.get("extension"))):
        if extension.get("url") == systems.TARGET_BODY_STRUCTURE:
            ref = reference(extension.get("valueReference"))
            sites.append(_site_from_body_structure(ref, f"{key} targetBodyStructure[{i}]", resource, find, problems))
    return sites


def site_from_concept(
    concept: object, origin: str, container: JSON, find: FindResource, problems: list[InputProblem]
) -> SiteInput:
    """A bodySite CodeableConcept, or the BodyStructure its R5-style bodySite extension names."""
    if not isinstance(concept, dict):
        return SiteInput(origin, problem="bodySite is not a CodeableConcept")
    for extension in objects(concept.get("extension")):
        if extension.get("url") == systems.BODY_SITE_REFERENCE:
            ref = reference(extension.get("valueReference"))
            return _site_from_body_structure(ref, origin, container, find, problems)
    return SiteInput(origin, codings=tuple(codings(concept)), text=text(concept.get("text")))


def _site_from_body_structure(
    ref: str | None, origin: str, container: JSON, find: FindResource, problems: list[InputProblem]
) -> SiteInput:
    """location and locationQualifier of a contained (`#id`) or separate BodyStructure."""
    structure: JSON | None = None
    if ref and ref.startswith("#"):
        structure = next((c for c in objects(container.get("contained")) if c.get("id") == ref[1:]), None)
    elif ref and ref.startswith("BodyStructure/"):
        structure = find(ref)
    if structure is None:
        where = resource_key(container) or origin
        problems.append(
            InputProblem(where, f"body structure {ref or '(no reference)'} is not in the source", "error", "not-found")
        )
        return SiteInput(origin, problem=f"body structure {ref or '(no reference)'} not found")
    location = structure.get("location")
    qualifiers = structure.get("locationQualifier")
    included = next(objects(structure.get("includedStructure")), None)  # R5-shaped senders
    if location is None and included is not None:
        location = included.get("structure")
        qualifiers = included.get("laterality")
    origin = f"{origin} -> {ref}" if ref and not ref.startswith("#") else f"{origin} -> contained BodyStructure {ref}"
    if not isinstance(location, dict):
        return SiteInput(origin, problem="body structure has no location")
    laterality = tuple(code for q in as_list(qualifiers) for code in codes_in(q, systems.SNOMED))
    return SiteInput(origin, codings=tuple(codings(location)), text=text(location.get("text")), laterality=laterality)


def parse_expression(expression: str) -> tuple[str, list[tuple[str, str]]] | None:
    """Split a SNOMED CT expression 'focus:attr=value,...' into focus and refinements.

    Accepts the compact form in fhir-contract.md ('31764008:272741003=7771000'), terms
    between pipes, spaces and braces. Returns None for anything else (e.g. '+' focus lists).
    """
    compact = _TERM.sub("", expression).replace(" ", "").replace("{", "").replace("}", "")
    if ":" not in compact:
        return (compact, []) if compact.isdigit() else None
    focus, _, refinement = compact.partition(":")
    if not focus.isdigit():
        return None
    pairs = []
    for part in refinement.split(","):
        attribute, equals, value = part.partition("=")
        if not equals or not attribute.isdigit() or not value.isdigit():
            return None
        pairs.append((attribute, value))
    return focus, pairs


def sides_from_codes(codes: tuple[str, ...] | list[str]) -> set[str] | None:
    """Sides named by laterality qualifier codes; None when a code is not a laterality."""
    sides: set[str] = set()
    for code in codes:
        if code in _LEFT:
            sides.add("left")
        elif code in _RIGHT:
            sides.add("right")
        elif code == systems.BILATERAL:
            sides.update(("left", "right"))
        else:
            return None
    return sides


def read_site(site: SiteInput, tables: CodingTables) -> SiteReading:
    """Resolve one documented site to muscles, or say why it cannot be counted (R4).

    Readings depend only on the codes, text presence and laterality, and a clinic needles the
    same few dozen muscles all day, so they are cached per run (in the tables).
    """
    key = (site.codings, site.text is not None, site.laterality, site.problem)
    cached = tables.site_cache.get(key)
    if cached is None:
        cached = _read_uncached(SiteInput("", site.codings, site.text, site.laterality, site.problem), tables)
        tables.site_cache[key] = cached
    return SiteReading(site.origin, cached.muscles, cached.unresolved, cached.warnings)


def _read_uncached(site: SiteInput, tables: CodingTables) -> SiteReading:
    if site.problem:
        return SiteReading(site.origin, unresolved=site.problem)
    snomed = [code for system, code in site.codings if system == systems.SNOMED]
    # Local site or flowsheet codes through the deployment's ConceptMaps (R4).
    snomed += [tables.local_sites[pair] for pair in site.codings if pair in tables.local_sites]
    # Some EHRs put the side as a second SNOMED coding of the same bodySite; read it as a qualifier.
    sides_in_concept = tuple(code for code in snomed if code in _SIDE_CODES)
    if sides_in_concept and len(sides_in_concept) < len(snomed):
        snomed = [code for code in snomed if code not in _SIDE_CODES]
        site = SiteInput(site.origin, site.codings, site.text, site.laterality + sides_in_concept, site.problem)
    if not snomed:
        if site.codings:
            return SiteReading(site.origin, unresolved="coded in a system other than SNOMED CT")
        if site.text:
            return SiteReading(site.origin, unresolved="free text only, not coded")
        return SiteReading(site.origin, unresolved="no code and no text")
    readings = [_read_snomed(site, code, tables) for code in snomed]
    resolved = [r for r in readings if r.muscles]
    if not resolved:
        return readings[0]
    muscle_sets = {r.muscles for r in resolved}
    if len(muscle_sets) > 1:
        return SiteReading(site.origin, unresolved="its SNOMED codings name different muscles")
    return resolved[0]


def _read_snomed(site: SiteInput, code: str, tables: CodingTables) -> SiteReading:
    parsed = parse_expression(code)
    if parsed is None:
        return SiteReading(site.origin, unresolved=f"SNOMED expression not understood: {code[:80]}")
    focus, refinements = parsed
    expression_sides: list[str] = []
    ignored: list[str] = []
    for attribute, value in refinements:
        if attribute != systems.LATERALITY_ATTRIBUTE:
            ignored.append(f"{attribute}={value}")  # R4: only laterality is read; the focus decides
        elif value not in _SIDE_CODES:
            return SiteReading(site.origin, unresolved=f"laterality {value} is not left, right or bilateral")
        else:
            expression_sides.append(value)
    if focus in tables.regions:
        return SiteReading(site.origin, unresolved=f"SNOMED {focus} is a region, not an individual muscle")
    entry = tables.muscles.get(focus)
    if entry is None:
        if focus in tables.disabled_muscles:
            return SiteReading(
                site.origin, unresolved=f"SNOMED {focus} is a low-confidence id not enabled in the muscle map"
            )
        return SiteReading(site.origin, unresolved=f"SNOMED {focus} is not in the muscle map")
    side_codes = expression_sides + list(site.laterality)
    sides = sides_from_codes(side_codes)
    if sides is None:
        # Non-laterality qualifiers (e.g. 'upper') on a BodyStructure do not change the muscle.
        sides = sides_from_codes([c for c in side_codes if c in _SIDE_CODES]) or set()
    if entry.side:
        if sides and sides != {entry.side}:
            return SiteReading(
                site.origin, unresolved=f"SNOMED {focus} is {entry.side}-sided but the qualifier says otherwise"
            )
        sides = {entry.side}
    warnings: list[str] = []
    if ignored:
        warnings.append(f"{entry.muscle}: refinement {', '.join(ignored)} ignored, only laterality is read")
    if not sides:
        if entry.paired:
            warnings.append(f"{entry.muscle}: paired muscle documented without a side, counted once")
        muscles: tuple[Muscle, ...] = (Muscle(entry.muscle, "none"),)
    else:
        muscles = tuple(Muscle(entry.muscle, side) for side in sorted(sides))
    if entry.group:
        warnings.append(f"{entry.muscle}: a group concept, counted as one muscle per side")
    return SiteReading(site.origin, muscles=muscles, warnings=tuple(warnings))


def distinct_muscles(muscles: list[Muscle]) -> list[Muscle]:
    """Collapse duplicates; a side-less mention of a muscle also documented with a side adds nothing.

    We cannot prove a side-less mention is a different muscle from a sided one (R4).
    """
    sided = {m.muscle for m in muscles if m.side != "none"}
    unique = {m for m in muscles if m.side != "none" or m.muscle not in sided}
    return sorted(unique, key=lambda m: (m.muscle, m.side))
