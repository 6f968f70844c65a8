"""The one place that speaks HTTP to a FHIR server: client, authentication, errors."""

from .client import FhirClient
from .errors import FhirError, ForeignHostError, PreconditionFailed, ServerError, TransportError

__all__ = ["FhirClient", "FhirError", "ForeignHostError", "PreconditionFailed", "ServerError", "TransportError"]
