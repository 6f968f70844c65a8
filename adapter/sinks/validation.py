"""What a sink writes is checked against the FHIR R4 models (fhir.resources R4B) first.

A builder bug must never reach an EHR or a billing file: a resource the models refuse is not
written, and the refusal names the resource and the element. The server sink checks every
resource it sends; a file sink does when asked (`run --validate`). The models cost about a
millisecond a resource (bench/run.py prints it), which is why file runs do not by default.
"""

from __future__ import annotations

import functools
from typing import Any

from ..fhirjson import JSON


@functools.cache
def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class  # pydantic models: loaded on first use

    return get_fhir_model_class(resource_type)


def invalid_reason(resource: JSON) -> str | None:
    """None when the resource is valid R4, else the first violation with its element path."""
    from pydantic import ValidationError

    try:
        _model(str(resource.get("resourceType"))).model_validate(resource)
    except (ValidationError, KeyError, ValueError) as error:
        errors = error.errors() if isinstance(error, ValidationError) else []
        if errors:
            first = errors[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            return f"{where or 'resource'}: {first.get('msg', 'invalid')}"
        return str(error)[:300]
    return None


def describe(resource: JSON) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id', '(new)')}"
