"""A fault-injecting HTTP proxy for tests, on 127.0.0.1, between the worker and a FHIR server.

On a seeded schedule it answers 500/502/503, 429 with Retry-After, resets the connection
before or after forwarding a write (the write may have landed), delays past the client's
timeout, truncates bodies, and returns non-FHIR HTML error pages. With `latency_s` it also holds
every request that long, as a network between client and server would (bench/online.py). The
server's own base URL is rewritten to the proxy's in bodies and headers, so next links lead back
through the proxy.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

import requests

FAULTS = ("500", "502", "503", "429", "reset-before", "reset-after", "delay", "truncate", "html")


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        seed: int,
        budget: int,
        rate: float = 0.4,
        delay_s: float = 6.0,
        latency_s: float = 0.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.latency_s = latency_s
        self.random = random.Random(seed)
        self.budget = budget
        self.rate = rate
        self.delay_s = delay_s
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self._lock = threading.Lock()
        self._http = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes; with Nagle's algorithm the second waits for
            # the client's delayed ACK, about 40 ms a response on Linux (measured: 57 ms a
            # request through a proxy meant to add 10 ms).
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                proxy.handle(self)

            do_POST = do_PUT = do_DELETE = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients killed mid-response (the crash campaign) are expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_port}{urlsplit(self.upstream).path}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())

    def _choose(self) -> str | None:
        with self._lock:
            if self.total_injected >= self.budget or self.random.random() >= self.rate:
                return None
            fault = self.random.choice(FAULTS)
            self.injected[fault] += 1
            return fault

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        fault = self._choose()
        if fault in ("500", "502", "503", "429", "html"):
            status = 429 if fault == "429" else 502 if fault == "html" else int(fault)
            payload = b"<html><body><h1>Bad Gateway</h1></body></html>" if fault == "html" else b""
            request.send_response(status)
            if fault == "429":
                request.send_header("Retry-After", "1")
            request.send_header("Content-Type", "text/html" if fault == "html" else "text/plain")
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
            return
        if fault == "reset-before":
            self._reset(request)
            return
        if fault == "delay":
            time.sleep(self.delay_s)
        if self.latency_s:
            time.sleep(self.latency_s)
        status, headers, content = self._forward(request, body)
        if fault == "reset-after":
            self._reset(request)  # the request reached the server: a write may have landed
            return
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        if fault == "truncate":
            request.wfile.write(content[: len(content) // 2])
            request.wfile.flush()
            self._reset(request)
            return
        request.wfile.write(content)

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        path = (
            request.path[len(urlsplit(self.base).path) :]
            if request.path.startswith(urlsplit(self.base).path)
            else request.path
        )
        url = self.upstream + path
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length", "connection")
        }
        response = self._http.request(request.command, url, data=body, headers=headers, timeout=600)
        with self._lock:
            self.forwarded += 1
        content = response.content.replace(self.upstream.encode(), self.base.encode())
        keep = {
            k: v.replace(self.upstream, self.base)
            for k, v in response.headers.items()
            if k.lower()
            in (
                "content-type",
                "location",
                "content-location",
                "etag",
                "last-modified",
                "date",
                "retry-after",
                "x-progress",
            )
        }
        return response.status_code, keep, content

    @staticmethod
    def _reset(request: BaseHTTPRequestHandler) -> None:
        request.close_connection = True
        try:
            request.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            request.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
