"""The worker's HTTP face (`sync --watch --listen HOST:PORT`), served by waitress:

- `POST|PUT /notify[/Type/id]`: Subscription notifications. The channel header's secret is
  checked first (401 otherwise, nothing read); the body is bounded (413); what it names is
  handed on as a hint and answered 200 at once; the coding happens on the worker's thread.
- `GET /healthz`: 200 when alive and ready (a pass or a push batch succeeded within the bound),
  503 with the reason otherwise.
- `GET /metrics`: the Prometheus text format.
No TLS here: terminate it in front (docs/operations.md).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress.server import create_server

from .metrics import WorkerMetrics
from .notifications import BadNotification, Hint, hint_of

log = logging.getLogger("adapter.listener")
NOTIFY_PATH = "/notify"
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Health:
    """Alive while the worker runs; ready while its last success is recent enough."""

    def __init__(self, ready_within_s: float) -> None:
        self.ready_within_s = ready_within_s
        self.last_success: float | None = None
        self.last_failure: str | None = None

    def succeeded(self) -> None:
        self.last_success = time.monotonic()
        self.last_failure = None

    def failed(self, why: str) -> None:
        self.last_failure = why

    def state(self) -> tuple[bool, str]:
        if self.last_success is None:
            return False, self.last_failure or "no pass has finished yet"
        age = time.monotonic() - self.last_success
        if age > self.ready_within_s:
            return False, f"last success {age:.0f} s ago (bound {self.ready_within_s:.0f} s)"
        return True, "ok"


class NotificationListener:
    """A waitress server on its own thread; `on_hint(hint, received_at)` must not block."""

    def __init__(
        self,
        host: str,
        port: int,
        secret: str,
        on_hint: Callable[[Hint, float], None],
        metrics: WorkerMetrics,
        health: Health,
        max_body_bytes: int,
    ) -> None:
        self.secret = secret.encode()
        self.on_hint = on_hint
        self.metrics = metrics
        self.health = health
        self.max_body_bytes = max_body_bytes
        self._server = create_server(
            self.app,
            host=host,
            port=port,
            threads=4,
            max_request_body_size=max_body_bytes,
            ident="dn-adapter",
            clear_untrusted_proxy_headers=True,
        )
        self._thread = threading.Thread(target=self._server.run, name="notification-listener", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    def start(self) -> None:
        self._thread.start()
        log.info("listening", extra={"port": self.port})

    def stop(self) -> None:
        self._server.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # -- the WSGI application ------------------------------------------------------------------

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", "/"))
        if path == "/healthz" and method in ("GET", "HEAD"):
            ready, why = self.health.state()
            body = json.dumps({"alive": True, "ready": ready, "why": why}).encode()
            return _answer(start_response, "200 OK" if ready else "503 Service Unavailable", body, "application/json")
        if path == "/metrics" and method in ("GET", "HEAD"):
            return _answer(start_response, "200 OK", self.metrics.exposition(), "text/plain; version=0.0.4")
        if path == NOTIFY_PATH or path.startswith(NOTIFY_PATH + "/"):
            if method not in ("POST", "PUT"):
                return _answer(start_response, "405 Method Not Allowed", b"", "text/plain", [("Allow", "POST, PUT")])
            return self._notification(environ, path[len(NOTIFY_PATH) :], start_response)
        return _answer(start_response, "404 Not Found", b"not found\n", "text/plain")

    def _notification(self, environ: dict[str, Any], tail: str, start_response: StartResponse) -> Iterable[bytes]:
        received = time.monotonic()
        if not self._authorized(str(environ.get("HTTP_AUTHORIZATION", ""))):
            self.metrics.notifications.labels("refused").inc()
            log.warning("notification refused: wrong or missing secret")
            headers = [("WWW-Authenticate", 'Bearer realm="dn-adapter"')]
            return _answer(start_response, "401 Unauthorized", b"", "text/plain", headers)
        length = str(environ.get("CONTENT_LENGTH") or "0")
        size = int(length) if length.isdigit() else -1
        if size < 0 or size > self.max_body_bytes:
            self.metrics.notifications.labels("too-large").inc()
            return _answer(start_response, "413 Content Too Large", b"", "text/plain")
        body = environ["wsgi.input"].read(size) if size else b""
        try:
            hint = hint_of(tail, body)
        except BadNotification as error:
            self.metrics.notifications.labels("bad").inc()
            log.warning("notification not understood", extra={"why": str(error)})
            return _answer(start_response, "400 Bad Request", str(error).encode(), "text/plain")
        self.metrics.notifications.labels("accepted").inc()
        self.on_hint(hint, received)
        return _answer(start_response, "200 OK", b"", "text/plain")

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.secret)


def _answer(
    start_response: StartResponse,
    status: str,
    body: bytes,
    content_type: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(status, headers)
    return [body]
