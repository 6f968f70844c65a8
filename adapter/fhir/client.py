"""FhirClient: one request choke point with re-authentication, same-origin links, paging and
FHIR error statuses; sending, retries and size limits are the Transport's (transport.py).

Our writes are all conditional or version-aware, so retrying one whose first attempt may have
landed is safe: the retry matches the existing resource instead of creating a second.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import urlencode, urljoin, urlsplit

import orjson
import requests

from .auth import Auth, NoAuth
from .errors import ForeignHostError, ProtocolError, error_for_status
from .retry_after import parse_retry_after as parse_retry_after
from .transport import JSON, Answer, Params, RetryPolicy, Transport

__all__ = ["FhirClient", "RetryPolicy", "next_link", "outcome_message", "parse_retry_after"]
FHIR_JSON = "application/fhir+json"
MAX_GET_QUERY = 1500


class FhirClient:
    """A small FHIR REST client; every request goes through `request`, and every byte through
    the one Transport (retries, Retry-After, size limits, no redirects)."""

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
        transport: Transport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) base URL: {base_url}")
        self.origin = (parts.scheme, parts.netloc.lower())
        self.auth = auth or NoAuth()
        self.transport = transport or Transport(
            timeout_s=timeout_s,
            retry=retry,
            verify=verify,
            max_response_bytes=max_response_bytes,
            session=session,
            sleep=sleep,
            rng=rng,
        )

    @property
    def requests_sent(self) -> int:
        return self.transport.requests_sent

    @property
    def statuses(self) -> Counter[str]:
        """Answers by HTTP status so far ('error' for none)."""
        return self.transport.statuses

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
        """Send one FHIR request (the transport retries transient failures); the parsed body and headers.

        A 401 re-authenticates once; a redirect is not followed; an error status raises its type.
        """
        answer = self.exchange(method, url, params=params, body=body, headers=headers, what=what, form=form)
        return answer.payload, answer.headers

    def exchange(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        body: JSON | None = None,
        headers: dict[str, str] | None = None,
        what: str | None = None,
        form: Params | None = None,
    ) -> Answer:
        """`request`, with the status (a Bulk Data status poll tells 202 from 200)."""
        target = self._absolute(url)
        what = what or f"{method} {urlsplit(target).path}"
        data: bytes | None = orjson.dumps(body) if body is not None else None
        content_type = FHIR_JSON
        if form is not None:
            data = urlencode(form, doseq=True).encode()
            content_type = "application/x-www-form-urlencoded"

        def send_headers() -> dict[str, str]:
            sent = {"Accept": FHIR_JSON, **(headers or {}), **self.auth.headers()}
            if data is not None:
                sent["Content-Type"] = content_type
            return sent

        reauthenticated = False
        while True:
            answer = self.transport.send(method, target, headers=send_headers, what=what, params=params, data=data)
            if answer.status == 401 and not reauthenticated:
                reauthenticated = True
                self.auth.invalidate()
                continue
            if 300 <= answer.status < 400:
                # Redirects are not followed: a redirect could carry the credentials elsewhere.
                location = answer.headers.get("Location", "?")
                raise ProtocolError(answer.status, what, f"redirect to {location} not followed")
            if answer.status >= 400:
                raise error_for_status(answer.status, what, outcome_message(answer.payload))
            return answer

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
                raise ProtocolError(200, f"search {resource_type}", "a search page that is not a Bundle")
            pages += 1
            yield page
            url = next_link(page)
            query = None
            if pages > 100_000:
                raise ProtocolError(200, f"search {resource_type}", "too many pages (a next-link loop?)")

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
            raise ProtocolError(200, "transaction", "empty response")
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
