"""Authentication: none, bearer token, HTTP basic, SMART Backend Services (client credentials).

Secrets are read from files or environment variables, never from the command line, and are
never logged or put in exception messages.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import jwt
import requests

from .errors import AuthError, FhirError
from .transport import Transport

TOKEN_REFRESH_MARGIN_S = 60.0
ASSERTION_LIFETIME_S = 300  # SMART Backend Services: the client assertion's exp is at most 5 minutes


class Auth(Protocol):
    """Supplies the Authorization header of each request."""

    def headers(self) -> dict[str, str]: ...

    def invalidate(self) -> None:
        """Forget a cached credential after a 401, so the next request fetches a fresh one."""
        ...


class NoAuth:
    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        pass


def read_secret(env: str | None = None, file: str | Path | None = None) -> str:
    """A secret from an environment variable or a file (first line, stripped)."""
    if env and os.environ.get(env):
        return os.environ[env].strip()
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise AuthError(f"cannot read secret file {file}: {error.strerror}") from error
    raise AuthError(f"secret not configured (environment variable {env or '-'} or a file)")


@dataclass
class BearerAuth:
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def invalidate(self) -> None:
        pass  # a static token cannot be refreshed; the client reports the second 401

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


@dataclass
class BasicAuth:
    username: str
    password: str

    def headers(self) -> dict[str, str]:
        raw = f"{self.username}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def invalidate(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=***)"


class SmartBackendAuth:
    """SMART Backend Services: a signed JWT client assertion (RS384 or ES384) for an access token.

    The token endpoint comes from {base}/.well-known/smart-configuration unless given. The
    token is cached until TOKEN_REFRESH_MARGIN_S before it expires.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        private_key_pem: str,
        key_id: str,
        scopes: str,
        algorithm: str = "RS384",
        token_endpoint: str | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        verify: bool | str = True,
        transport: Transport | None = None,
    ) -> None:
        if algorithm not in ("RS384", "ES384"):
            raise AuthError("SMART Backend Services needs RS384 or ES384")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._key = private_key_pem
        self.key_id = key_id
        self.scopes = scopes
        self.algorithm = algorithm
        self.token_endpoint = token_endpoint
        # Token requests go through the same transport as FHIR calls: retries and size limits.
        self.transport = transport or Transport(timeout_s=30, verify=verify, session=session)
        self.clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SmartBackendAuth(client_id={self.client_id!r}, key=***)"

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - TOKEN_REFRESH_MARGIN_S:
                self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def discover_token_endpoint(self) -> str:
        if self.token_endpoint:
            return self.token_endpoint
        url = f"{self.base_url}/.well-known/smart-configuration"
        try:
            answer = self.transport.send(
                "GET", url, headers=lambda: {"Accept": "application/json"}, what="smart-configuration"
            )
        except FhirError as error:
            raise AuthError(f"cannot read {url}: {type(error).__name__}") from error
        if answer.status != 200 or answer.payload is None:
            raise AuthError(f"cannot read {url}: HTTP {answer.status}")
        endpoint = answer.payload.get("token_endpoint")
        same_origin = isinstance(endpoint, str) and urlsplit(endpoint)[:2] == urlsplit(self.base_url)[:2]
        if not isinstance(endpoint, str) or not (endpoint.startswith("https://") or same_origin):
            # The assertion is a credential: only over TLS, or to the server we were configured with.
            raise AuthError(f"{url} gives no usable token_endpoint (https, or the FHIR server's own origin)")
        self.token_endpoint = endpoint
        return endpoint

    def client_assertion(self) -> str:
        endpoint = self.discover_token_endpoint()
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": endpoint,
            "exp": now + ASSERTION_LIFETIME_S,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers={"kid": self.key_id, "typ": "JWT"})

    def _fetch_token(self) -> None:
        assertion = self.client_assertion()
        data = {
            "grant_type": "client_credentials",
            "scope": self.scopes,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }
        try:
            answer = self.transport.send(
                "POST",
                str(self.token_endpoint),
                headers=lambda: {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
                what="token request",
                data=urlencode(data).encode(),
            )
        except FhirError as error:
            raise AuthError(f"token endpoint unreachable: {type(error).__name__}") from error
        if answer.status != 200:
            raise AuthError(f"token endpoint refused the client assertion: HTTP {answer.status}")
        body = answer.payload or {}
        token = body.get("access_token")
        if not isinstance(token, str):
            raise AuthError("token endpoint answered without an access_token")
        self._token = token
        self._expires_at = self.clock() + float(body.get("expires_in", 300))


def auth_from_environment(base_url: str, verify: bool | str = True) -> Auth:
    """Choose the authentication from DN_ADAPTER_AUTH and its companion variables.

    none | bearer (DN_ADAPTER_TOKEN or DN_ADAPTER_TOKEN_FILE) | basic (DN_ADAPTER_USER,
    DN_ADAPTER_PASSWORD or DN_ADAPTER_PASSWORD_FILE) | smart (DN_ADAPTER_CLIENT_ID,
    DN_ADAPTER_PRIVATE_KEY_FILE, DN_ADAPTER_KEY_ID, DN_ADAPTER_SCOPES, DN_ADAPTER_JWT_ALG,
    DN_ADAPTER_TOKEN_ENDPOINT).
    """
    kind = os.environ.get("DN_ADAPTER_AUTH", "none")
    if kind == "none":
        return NoAuth()
    if kind == "bearer":
        return BearerAuth(read_secret("DN_ADAPTER_TOKEN", os.environ.get("DN_ADAPTER_TOKEN_FILE")))
    if kind == "basic":
        user = os.environ.get("DN_ADAPTER_USER")
        if not user:
            raise AuthError("DN_ADAPTER_USER is not set")
        return BasicAuth(user, read_secret("DN_ADAPTER_PASSWORD", os.environ.get("DN_ADAPTER_PASSWORD_FILE")))
    if kind == "smart":
        client_id = os.environ.get("DN_ADAPTER_CLIENT_ID")
        if not client_id:
            raise AuthError("DN_ADAPTER_CLIENT_ID is not set")
        return SmartBackendAuth(
            base_url,
            client_id,
            read_secret(None, os.environ.get("DN_ADAPTER_PRIVATE_KEY_FILE")),
            os.environ.get("DN_ADAPTER_KEY_ID", "dn-adapter"),
            os.environ.get(
                "DN_ADAPTER_SCOPES",
                "system/Procedure.read system/Observation.read system/Encounter.read system/Patient.read "
                "system/Coverage.read system/Condition.read system/Practitioner.read system/PractitionerRole.read "
                "system/Organization.read system/BodyStructure.read system/MedicationAdministration.read "
                "system/Claim.read system/Claim.write system/Task.read system/Task.write system/Provenance.read "
                "system/Provenance.write",
            ),
            os.environ.get("DN_ADAPTER_JWT_ALG", "RS384"),
            os.environ.get("DN_ADAPTER_TOKEN_ENDPOINT"),
            verify=verify,
        )
    raise AuthError(f"DN_ADAPTER_AUTH must be none, bearer, basic or smart, not {kind!r}")
