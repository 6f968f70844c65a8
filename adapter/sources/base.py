"""What every source yields, and how a source is chosen from its command-line spelling."""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..fhirjson import JSON
from ..problems import InputProblem
from ..resource_types import R4_RESOURCE_TYPES

if TYPE_CHECKING:
    from ..fhir.client import FhirClient
    from .patients import PatientReader
    from .reading import Reading

SourceItem = JSON | InputProblem
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{1,60}$")


class SourceError(Exception):
    """The source as a whole cannot be read (exit status 2)."""


class SourceContext(Protocol):
    """What opening a source from its spec may need (adapter/cli/endpoints.py provides it)."""

    def client(self, base_url: str) -> FhirClient: ...

    def dry_needling_codes(self) -> list[tuple[str, str]]: ...

    def reading(self, base_url: str) -> Reading: ...

    def listed_patients(self, base_url: str) -> list[str] | None: ...

    def patient_reader(self, base_url: str) -> PatientReader: ...

    def bulk_source(self, kick_off: str) -> Source: ...


class Source(Protocol):
    """A stream of resources (and problems with inputs that are not usable resources)."""

    description: str

    def items(self) -> Iterator[SourceItem]: ...

    def size_hint(self) -> int:
        """Roughly how many bytes the source holds (0 when unknown)."""
        ...


@functools.lru_cache(maxsize=512)
def is_fhir_resource_type(name: str) -> bool:
    """Whether a resourceType names a FHIR resource: an R4 type, or one the R4B models know.

    The R4B modules are looked up as files, not imported: importing the model package loads
    pydantic, a tenth of a second at every start for a check that needs only the names.
    """
    if name in R4_RESOURCE_TYPES:
        return True
    if not _TYPE_NAME.match(name):
        return False
    return (_model_directory() / f"{name.lower()}.py").is_file()


@functools.lru_cache(maxsize=1)
def _model_directory() -> Path:
    spec = importlib.util.find_spec("fhir.resources")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise SourceError("the fhir.resources package is not installed")
    return Path(locations[0]) / "R4B"


def check_resource(resource: object, where: str) -> SourceItem:
    """The resource itself, or a problem saying why it is not one."""
    if not isinstance(resource, dict):
        return InputProblem(where, "not a JSON object", "error", "structure")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not is_fhir_resource_type(rtype):
        shown = rtype if isinstance(rtype, str) and len(rtype) < 64 else "(missing or invalid)"
        return InputProblem(where, f"unknown resourceType {shown}", "error", "structure")
    rid = resource.get("id")
    if not isinstance(rid, str) or not rid or len(rid) > 64:
        return InputProblem(where, f"{rtype} without a usable id", "error", "required")
    return resource
