"""A local proxy in front of the real HAPI server that answers as one EHR's API would.

It rewrites HAPI's CapabilityStatement to declare only what the profile allows (with the
search-parameter-combination extension for required parameters, as US Core servers publish),
and refuses, with a 400/405 OperationOutcome, every request the profile's vendor refuses. It
counts the requests it forwards, for the bench's requests-per-session figures.
"""

from __future__ import annotations

import json
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.reliability.proxy import FaultProxy
from tests.vendors.profiles import VendorProfile

COMBINATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
WRITES = ("create", "update", "patch", "delete")
HISTORY = ("history-instance", "history-type")


class VendorProxy(FaultProxy):
    """HAPI, seen through one vendor profile (no faults injected)."""

    def __init__(self, upstream: str, profile: VendorProfile) -> None:
        super().__init__(upstream, seed=0, budget=0)
        self.profile = profile
        self.requests: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        parts = urlsplit(request.path)
        path = parts.path[len(urlsplit(self.base).path) :].strip("/")
        params = parse_qsl(parts.query, keep_blank_values=True)
        if path.endswith("/_search") and body:
            params += parse_qsl(body.decode(), keep_blank_values=True)
        refusal = self.refusal(request.command, path, params, body)
        with self._lock:
            self.requests[f"{request.command} {path.split('/', 1)[0] or '/'}"] += 1
        if refusal:
            status, message = refusal
            with self._lock:
                self.refused[message] += 1
            self._answer(request, status, _outcome(message))
            return
        status, headers, content = self._forward(request, body)
        if path == "metadata" and status == 200:
            content = json.dumps(self.capability_statement(json.loads(content))).encode()
        self._answer(request, status, content, headers)

    def refusal(
        self, method: str, path: str, params: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, str] | None:
        """(status, why) when the profile's vendor refuses this request."""
        profile = self.profile
        segments = [s for s in path.split("/") if s]
        if "_history" in segments and not profile.history:
            return 405, "_history is not supported"
        if method != "GET" and not (method == "POST" and path.endswith("/_search")):
            written = segments[0] if segments else _bundle_type(body)
            if (
                "*" in profile.refused_writes
                or written in profile.refused_writes
                or written in ("transaction", "batch")
            ):
                return 405, f"{method} {written or '/'} is not supported"
            return None
        if len(segments) == 2 and segments[0] in profile.unreadable:
            return 403, f"{segments[0]} read is not permitted for this client"
        if not segments or segments[0] == "metadata" or (len(segments) == 2 and segments[1] != "_search"):
            return None  # the statement, or a read by id
        resource_type = segments[0]
        names = {name for name, _ in params}
        if "_lastUpdated" in names and not profile.last_updated:
            return 400, "unknown search parameter _lastUpdated"
        if names & {"_include", "_revinclude"} and not profile.includes:
            return 400, "_include and _revinclude are not supported"
        if "part-of" in names and not profile.part_of:
            return 400, "unknown search parameter part-of"
        for name, value in params:
            if "," in value and name not in profile.comma_lists_in and not name.startswith("_elements"):
                return 400, f"{name}: a comma list is not supported"
        allowed = profile.patient_parameters.get(resource_type)
        if allowed is not None and "_id" not in names:
            if not names & set(allowed):
                return 400, f"{resource_type} search requires {' or '.join(allowed)}"
            extra = profile.with_patient.get(resource_type)
            if extra and not names & set(extra):
                return 400, f"{resource_type} search by patient requires {' or '.join(extra)}"
        return None

    def capability_statement(self, statement: dict[str, Any]) -> dict[str, Any]:
        """HAPI's statement, less what the profile refuses, plus its required combinations."""
        profile = self.profile
        statement["software"] = {"name": f"{profile.name}-like proxy (HAPI FHIR underneath)"}
        for rest in statement.get("rest", []):
            refused_system = {"transaction", "batch"} | (set() if profile.history else {"history-system"})
            rest["interaction"] = [i for i in rest.get("interaction", []) if i.get("code") not in refused_system]
            for resource in rest.get("resource", []):
                rtype = resource.get("type")
                dropped = set() if profile.history else set(HISTORY)
                if "*" in profile.refused_writes or rtype in profile.refused_writes:
                    dropped |= set(WRITES)
                resource["interaction"] = [i for i in resource.get("interaction", []) if i.get("code") not in dropped]
                hidden = set() if profile.last_updated else {"_lastUpdated"}
                if not profile.part_of:
                    hidden.add("part-of")
                resource["searchParam"] = [p for p in resource.get("searchParam", []) if p.get("name") not in hidden]
                if not profile.includes:
                    resource.pop("searchInclude", None)
                    resource.pop("searchRevInclude", None)
                allowed = profile.patient_parameters.get(rtype)
                if allowed:
                    extras = profile.with_patient.get(rtype, (None,))
                    combos = [[p, e] if e else [p] for p in allowed for e in extras] + [["_id"]]
                    resource["extension"] = [
                        {"url": COMBINATION, "extension": [{"url": "required", "valueString": n} for n in combo]}
                        for combo in combos
                    ]
        return statement

    def _answer(
        self, request: BaseHTTPRequestHandler, status: int, content: bytes, headers: dict[str, str] | None = None
    ) -> None:
        request.send_response(status)
        for name, value in (headers or {"Content-Type": "application/fhir+json"}).items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)


def _bundle_type(body: bytes | None) -> str | None:
    try:
        return str(json.loads(body or b"{}").get("type"))
    except (ValueError, AttributeError):
        return None


def _outcome(message: str) -> bytes:
    return json.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "not-supported", "diagnostics": message}],
        }
    ).encode()
