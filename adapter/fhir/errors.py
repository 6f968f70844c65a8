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


class ClientError(ServerError):
    """4xx: the server refused this request as made (not transient; a retry changes nothing)."""


class ConflictError(ClientError):
    """409 or 412: a write lost a race with another writer; re-read and decide again."""


class PreconditionFailed(ConflictError):
    """412: a version-aware (If-Match) write lost a race; re-read and decide again."""


class ProtocolError(ServerError):
    """The server answered outside the protocol: a redirect, a body that is not JSON or not the
    Bundle a search returns, an empty transaction response."""


def error_for_status(status: int, what: str, message: str) -> ServerError:
    """The error type of an HTTP error status."""
    if status == 412:
        return PreconditionFailed(status, what, message)
    if status == 409:
        return ConflictError(status, what, message)
    if 400 <= status < 500:
        return ClientError(status, what, message)
    return ServerError(status, what, message)
