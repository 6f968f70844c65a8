"""One HTTP transport for every request the adapter sends: FHIR calls and token requests alike.

It sends one request and reads its JSON body. Transient failures (connection errors, timeouts,
408, 429, 500, 502, 503, 504, a body cut off) are retried with exponential backoff and full
jitter, honouring Retry-After (seconds or HTTP-date), capped by our own limit. Bodies are read
streamed, up to a size limit. Redirects are never followed: a redirect could carry the
credentials elsewhere. What a status means (an error, a re-authentication) is the caller's.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .errors import ProtocolError, ResponseTooLarge, TransportError
from .retry_after import parse_retry_after

log = logging.getLogger("adapter.fhir")
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
JSON = dict[str, Any]
Params = Mapping[str, str | list[str]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0


@dataclass(frozen=True)
class Answer:
    """A response: its status, its JSON body (None when empty, or not JSON on an error status), headers."""

    status: int
    payload: JSON | None
    headers: requests.structures.CaseInsensitiveDict[str]


class Transport:
    """Sends requests with retries, Retry-After, size limits and no redirects (module docstring)."""

    def __init__(
        self,
        *,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        max_response_bytes: int = 64 * 1024 * 1024,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.verify = verify
        self.max_response_bytes = max_response_bytes
        self.session = session or requests.Session()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.requests_sent = 0
        # Answers by HTTP status ('error' when none came), for the worker's /metrics.
        self.statuses: Counter[str] = Counter()

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Callable[[], dict[str, str]],
        what: str,
        params: Params | None = None,
        data: bytes | None = None,
        save_to: Path | None = None,
    ) -> Answer:
        """Send until an answer that is not transient, or the attempts run out.

        `headers` is asked again before every attempt, so a refreshed token is sent on a retry.
        With `save_to`, a successful body is streamed into that file (no size limit, bounded
        memory; a body cut off is fetched again whole) instead of being read as JSON.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                self.requests_sent += 1
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers(),
                    timeout=self.timeout_s,
                    verify=self.verify,
                    stream=True,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as error:
                self.statuses["error"] += 1
                # A certificate that does not verify will not verify on a retry either.
                raise TransportError(
                    f"{what}: TLS verification failed (configure ca_bundle for a private CA)"
                ) from error
            except (requests.ConnectionError, requests.Timeout) as error:
                self.statuses["error"] += 1
                if attempt >= self.retry.attempts:
                    raise TransportError(f"{what}: {type(error).__name__} after {attempt} attempts") from error
                self._wait(attempt, None, what, type(error).__name__)
                continue
            with response:
                status = response.status_code
                self.statuses[str(status)] += 1
                if status in TRANSIENT_STATUSES and attempt < self.retry.attempts:
                    self._wait(attempt, response.headers.get("Retry-After"), what, str(status))
                    continue
                if 300 <= status < 400:
                    return Answer(status, None, response.headers)
                try:
                    if save_to is not None and status < 300:
                        _save(response, save_to)
                        return Answer(status, None, response.headers)
                    payload = self._read_json(response, what)
                except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                    if attempt >= self.retry.attempts:
                        raise TransportError(f"{what}: body cut off after {attempt} attempts") from error
                    self._wait(attempt, None, what, "truncated body")
                    continue
                return Answer(status, payload, response.headers)

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
            raise ProtocolError(response.status_code, what, "response is not JSON") from None
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


def _save(response: requests.Response, path: Path) -> None:
    with path.open("wb") as handle:
        for chunk in response.iter_content(chunk_size=1024 * 1024):
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
