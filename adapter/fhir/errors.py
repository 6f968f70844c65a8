"""Errors of the FHIR client. Messages name the request and the server's words, never secrets."""

from __future__ import annotations


class FhirError(Exception):
    """Any failure talking to the FHIR server."""


class TransportError(FhirError):
    """The server could not be reached, or kept failing, after every retry."""


class ForeignHostError(FhirError):
    """A link pointed outside the configured server; it was not followed (credentials stay home)."""


class ResponseTooLarge(FhirError):
    """A response body exceeded the configured limit and was not read into memory."""


class AuthError(FhirError):
    """Authentication failed (bad credentials, token endpoint refused)."""


class ServerError(FhirError):
    """The server answered with an error status; `message` holds its OperationOutcome text."""

    def __init__(self, status: int, what: str, message: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {message}")
        self.status = status
        self.what = what
        self.message = message


class PreconditionFailed(ServerError):
    """412: a version-aware (If-Match) write lost a race; re-read and decide again."""
