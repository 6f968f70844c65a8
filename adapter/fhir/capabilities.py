"""What a FHIR server says it can do: its CapabilityStatement, read once at start.

The adapter picks how to read (and whether it may write) from what each resource type declares:
its interactions, its search parameters, its `searchInclude`, and the combinations of
parameters a search must carry (the extension
http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination,
which US Core servers use to say, for example, that an Observation search needs `patient` and
`category`). What the statement does not declare is taken as not supported: a server that
answers more than it declares costs a few requests more, never a wrong search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..fhirjson import JSON, objects, text

if TYPE_CHECKING:  # the client brings requests and PyJWT: imported where one is made
    from .client import FhirClient

COMBINATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
# Parameters that shape a result rather than select it; a server need not declare them.
RESULT_PARAMETERS = frozenset({"_count", "_sort", "_elements", "_summary", "_total", "_format"})


@dataclass(frozen=True)
class TypeCapability:
    """One resource type: its interactions, search parameters, includes and required combinations."""

    interactions: frozenset[str] = frozenset()
    search_params: frozenset[str] = frozenset()
    includes: frozenset[str] = frozenset()
    # Each entry: the parameters one allowed search combination requires (any one will do).
    combinations: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class ServerCapabilities:
    """A server's CapabilityStatement, reduced to what choosing a way of reading needs."""

    software: str = "?"
    types: dict[str, TypeCapability] = field(default_factory=dict)
    system_interactions: frozenset[str] = frozenset()

    def searchable(self, resource_type: str, params: set[str] | frozenset[str]) -> bool:
        """Whether a search of this type with exactly these parameters is declared and allowed."""
        capability = self.types.get(resource_type)
        if capability is None or "search-type" not in capability.interactions:
            return False
        selecting = set(params) - RESULT_PARAMETERS
        if not selecting <= capability.search_params:
            return False
        return not capability.combinations or any(c <= selecting for c in capability.combinations)

    def required_with(self, resource_type: str, params: set[str]) -> frozenset[str] | None:
        """The fewest parameters to add to `params` so the search is allowed (None: never)."""
        capability = self.types.get(resource_type)
        if capability is None or "search-type" not in capability.interactions:
            return None
        if not set(params) - RESULT_PARAMETERS <= capability.search_params:
            return None
        if not capability.combinations:
            return frozenset()
        # A search by `_id` finds nothing new: it is never the way to add a required parameter.
        options = [c - params for c in capability.combinations if "_id" not in c and c <= capability.search_params]
        return min(options, key=len) if options else None

    def includes(self, resource_type: str, include: str) -> bool:
        capability = self.types.get(resource_type)
        return capability is not None and (include in capability.includes or "*" in capability.includes)

    def can(self, resource_type: str, interaction: str) -> bool:
        capability = self.types.get(resource_type)
        return capability is not None and interaction in capability.interactions

    def takes_claims(self) -> bool:
        """Whether the server sink may write here: transactions of Claim, Task and Provenance."""
        return "transaction" in self.system_interactions and all(
            self.can(t, "create") and self.can(t, "update") for t in ("Claim", "Task", "Provenance")
        )


def parse_capabilities(statement: JSON) -> ServerCapabilities:
    """The capabilities a CapabilityStatement declares (its first server `rest` entry)."""
    rest = next((r for r in objects(statement.get("rest")) if r.get("mode") in ("server", None)), {})
    types: dict[str, TypeCapability] = {}
    for resource in objects(rest.get("resource")):
        name = text(resource.get("type"))
        if not name:
            continue
        types[name] = TypeCapability(
            interactions=frozenset(c for i in objects(resource.get("interaction")) if (c := text(i.get("code")))),
            search_params=frozenset(n for p in objects(resource.get("searchParam")) if (n := text(p.get("name")))),
            includes=frozenset(i for i in resource.get("searchInclude") or [] if isinstance(i, str)),
            combinations=tuple(_combinations(resource)),
        )
    software = (
        text((statement.get("software") or {}).get("name")) if isinstance(statement.get("software"), dict) else None
    )
    return ServerCapabilities(
        software=software or "?",
        types=types,
        system_interactions=frozenset(c for i in objects(rest.get("interaction")) if (c := text(i.get("code")))),
    )


def _combinations(resource: JSON) -> list[frozenset[str]]:
    """Required parameter sets from the search-parameter-combination extensions; a combination
    with only optional parameters needs one of them (the extension's shorthand)."""
    found: list[frozenset[str]] = []
    for extension in objects(resource.get("extension")):
        if extension.get("url") != COMBINATION:
            continue
        parts = objects(extension.get("extension"))
        required = frozenset(v for p in parts if p.get("url") == "required" and (v := text(p.get("valueString"))))
        optional = [v for p in parts if p.get("url") == "optional" and (v := text(p.get("valueString")))]
        if required:
            found.append(required)
        else:
            found.extend(frozenset({o}) for o in optional)
    return found


def read_capabilities(client: FhirClient) -> ServerCapabilities:
    """The server's CapabilityStatement (GET metadata)."""
    statement, _ = client.request("GET", "metadata", what="metadata")
    if not isinstance(statement, dict) or statement.get("resourceType") != "CapabilityStatement":
        return ServerCapabilities()
    return parse_capabilities(statement)
