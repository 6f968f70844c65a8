"""FhirClient: one request choke point with timeouts, retries, re-authentication and paging.

Retries only transient failures (connection errors, timeouts, 408, 429, 500, 502, 503, 504)
with exponential backoff and full jitter, honouring Retry-After (seconds or HTTP-date), capped.
Our writes are all conditional or version-aware, so retrying one whose first attempt may have
landed is safe: the retry matches the existing resource instead of creating a second.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import orjson
import requests

from .auth import Auth, NoAuth
from .errors import ForeignHostError, PreconditionFailed, ResponseTooLarge, ServerError, TransportError

log = logging.getLogger("adapter.fhir")
FHIR_JSON = "application/fhir+json"
MAX_GET_QUERY = 1500
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
JSON = dict[str, Any]
Params = Mapping[str, str | list[str]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0


class FhirClient:
    """A small FHIR REST client over requests; every request goes through `request`."""

    def __init__(
        self,
        base_url: str,
        auth: Auth | None = None,
        *,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        max_response_bytes: int = 64 * 1024 * 1024,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) base URL: {base_url}")
        self.origin = (parts.scheme, parts.netloc.lower())
        self.auth = auth or NoAuth()
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.verify = verify
        self.max_response_bytes = max_response_bytes
        self.session = session or requests.Session()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.requests_sent = 0

    # -- the choke point ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        body: JSON | None = None,
        headers: dict[str, str] | None = None,
        what: str | None = None,
        form: Params | None = None,
    ) -> tuple[JSON | None, requests.structures.CaseInsensitiveDict[str]]:
        """Send one FHIR request (retrying transient failures); the parsed body and headers."""
        target = self._absolute(url)
        what = what or f"{method} {urlsplit(target).path}"
        data: bytes | None = orjson.dumps(body) if body is not None else None
        content_type = FHIR_JSON
        if form is not None:
            data = urlencode(form, doseq=True).encode()
            content_type = "application/x-www-form-urlencoded"
        reauthenticated = False
        attempt = 0
        while True:
            attempt += 1
            send_headers = {"Accept": FHIR_JSON, **(headers or {}), **self.auth.headers()}
            if data is not None:
                send_headers["Content-Type"] = content_type
            try:
                self.requests_sent += 1
                response = self.session.request(
                    method,
                    target,
                    params=params,
                    data=data,
                    headers=send_headers,
                    timeout=self.timeout_s,
                    verify=self.verify,
                    stream=True,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as error:
                # A certificate that does not verify will not verify on a retry either.
                raise TransportError(
                    f"{what}: TLS verification failed (configure ca_bundle for a private CA)"
                ) from error
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt >= self.retry.attempts:
                    raise TransportError(f"{what}: {type(error).__name__} after {attempt} attempts") from error
                self._wait(attempt, None, what, type(error).__name__)
                continue
            with response:
                status = response.status_code
                if status == 401 and not reauthenticated:
                    reauthenticated = True
                    self.auth.invalidate()
                    attempt -= 1
                    continue
                if status in TRANSIENT_STATUSES and attempt < self.retry.attempts:
                    self._wait(attempt, response.headers.get("Retry-After"), what, str(status))
                    continue
                if 300 <= status < 400:
                    # Redirects are not followed: a redirect could carry the credentials elsewhere.
                    raise ServerError(status, what, f"redirect to {response.headers.get('Location', '?')} not followed")
                try:
                    payload = self._read_json(response, what)
                except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                    if attempt >= self.retry.attempts:
                        raise TransportError(f"{what}: body cut off after {attempt} attempts") from error
                    self._wait(attempt, None, what, "truncated body")
                    continue
                if status >= 400:
                    error_type = PreconditionFailed if status == 412 else ServerError
                    raise error_type(status, what, outcome_message(payload))
                return payload, response.headers

    def _read_json(self, response: requests.Response, what: str) -> JSON | None:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise ResponseTooLarge(f"{what}: response of {declared} bytes exceeds {self.max_response_bytes}")
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > self.max_response_bytes:
                raise ResponseTooLarge(f"{what}: response exceeds {self.max_response_bytes} bytes")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            return None
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            if response.status_code >= 400:
                return None  # an HTML error page: the status says enough
            raise ServerError(response.status_code, what, "response is not JSON") from None
        return parsed if isinstance(parsed, dict) else None

    def _wait(self, attempt: int, retry_after: str | None, what: str, reason: str) -> None:
        delay = min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** (attempt - 1))
        delay = self.rng.uniform(0, delay)
        asked = parse_retry_after(retry_after)
        if asked is not None:
            delay = min(self.retry.max_delay_s, max(delay, asked))
        log.warning(
            "retrying", extra={"request": what, "reason": reason, "attempt": attempt, "delay_s": round(delay, 2)}
        )
        self.sleep(delay)

    def _absolute(self, url: str) -> str:
        """Resolve a path or link against the base; refuse anything outside its origin."""
        if url.startswith(("http://", "https://")):
            target = url
        elif url.startswith("/"):
            target = urljoin(self.base_url + "/", url)
        else:
            target = f"{self.base_url}/{url}" if url else self.base_url
        parts = urlsplit(target)
        if (parts.scheme, parts.netloc.lower()) != self.origin:
            raise ForeignHostError(
                f"refusing to follow a link to {parts.scheme}://{parts.netloc}: not the configured server"
            )
        return target

    # -- conveniences --------------------------------------------------------------------------

    def search(self, resource_type: str, params: Params, *, no_cache: bool = True) -> Iterator[JSON]:
        """Pages of a search, following next links exactly as given (same origin only)."""
        headers = {"Cache-Control": "no-cache"} if no_cache else {}
        url: str | None = resource_type
        query: Params | None = params
        pages = 0
        while url:
            if query is not None and len(urlencode(query, doseq=True)) > MAX_GET_QUERY:
                # Long id lists go in a POST _search body: servers cap the request line (Jetty: 8 KiB).
                page, _ = self.request_form(f"{resource_type}/_search", query, headers, f"search {resource_type}")
            else:
                page, _ = self.request("GET", url, params=query, headers=headers, what=f"search {resource_type}")
            if page is None or page.get("resourceType") != "Bundle":
                raise ServerError(200, f"search {resource_type}", "a search page that is not a Bundle")
            pages += 1
            yield page
            url = next_link(page)
            query = None
            if pages > 100_000:
                raise ServerError(200, f"search {resource_type}", "too many pages (a next-link loop?)")

    def request_form(
        self, url: str, form: Params, headers: dict[str, str], what: str
    ) -> tuple[JSON | None, requests.structures.CaseInsensitiveDict[str]]:
        return self.request("POST", url, form=form, headers=headers, what=what)

    def search_resources(self, resource_type: str, params: Params) -> Iterator[JSON]:
        for page in self.search(resource_type, params):
            for entry in page.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and resource.get("resourceType") != "OperationOutcome":
                    yield resource

    def transaction(self, bundle: JSON) -> JSON:
        response, _ = self.request("POST", "", body=bundle, what=f"{bundle.get('type', 'transaction')} Bundle")
        if response is None:
            raise ServerError(200, "transaction", "empty response")
        return response

    def server_time(self) -> str | None:
        """The server's clock (Date header of a metadata read), as an instant."""
        _, headers = self.request("GET", "metadata", params={"_summary": "true"}, what="metadata")
        date_header = headers.get("Date")
        if not date_header:
            return None
        parsed = email.utils.parsedate_to_datetime(date_header)
        return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def next_link(page: JSON) -> str | None:
    for link in page.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP-date, as seconds from now (never negative)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def outcome_message(payload: JSON | None) -> str:
    """The diagnostics of an OperationOutcome, shortened; or a generic note."""
    if not payload or payload.get("resourceType") != "OperationOutcome":
        return "no OperationOutcome in the response"
    texts = []
    for issue in payload.get("issue") or []:
        if isinstance(issue, dict):
            detail = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code")
            texts.append(f"{issue.get('severity', '?')}: {detail}")
    return "; ".join(texts)[:2000] or "empty OperationOutcome"
