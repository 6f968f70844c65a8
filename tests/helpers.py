"""Shared test helpers: run the offline pipeline on resources and read what it wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from adapter.backfill import code_everything
from adapter.settings import Settings
from adapter.sinks.base import CaseResult
from adapter.sources.base import SourceItem, check_resource

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


class ListSource:
    """A source over resources already in memory."""

    description = "test resources"

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources

    def size_hint(self) -> int:
        return 0

    def items(self) -> Iterator[SourceItem]:
        for i, resource in enumerate(self.resources):
            item: SourceItem = check_resource(resource, f"item[{i}]")
            yield item


class MemorySink:
    """Collects what a run writes."""

    needs_parties = False

    def __init__(self) -> None:
        self.cases: list[CaseResult] = []
        self.problems: list[dict[str, Any]] = []

    def write_case(self, result: CaseResult) -> None:
        self.cases.append(result)

    def write_problem(self, outcome: dict[str, Any]) -> None:
        self.problems.append(outcome)

    def close(self) -> None:
        pass

    def resources(self, rtype: str) -> list[dict[str, Any]]:
        found = []
        for case in self.cases:
            for resource in (case.claim, case.task, case.provenance):
                if resource is not None and resource["resourceType"] == rtype:
                    found.append(resource)
        return found + [p for p in self.problems if p["resourceType"] == rtype]


def run_resources(resources: list[dict[str, Any]], settings: Settings | None = None) -> MemorySink:
    sink = MemorySink()
    code_everything(ListSource(resources), sink, settings or Settings(), workers=1)
    return sink


def bundle_resources(path: Path) -> list[dict[str, Any]]:
    bundle = json.loads(path.read_text())
    return [entry["resource"] for entry in bundle["entry"]]


def claim_of(result: CaseResult) -> dict[str, Any]:
    """The result's Claim (the test expects one)."""
    assert result.claim is not None
    return result.claim


def task_of(result: CaseResult) -> dict[str, Any]:
    """The result's Task (the test expects one)."""
    assert result.task is not None
    return result.task


def sent_body(request: Any) -> bytes:
    """The body a mocked request carried, as bytes."""
    body = request.body
    assert body is not None
    return body if isinstance(body, bytes) else str(body).encode()


def put_transaction(base: str, resources: list[dict[str, Any]]) -> None:
    """PUT these resources on a FHIR server in one transaction."""
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
        ],
    }
    response = requests.post(base, json=bundle, headers={"Content-Type": "application/fhir+json"}, timeout=120)
    assert response.status_code == 200, response.text[:500]


def scenario_resources(name: str) -> list[dict[str, Any]]:
    """The resources of one public scenario bundle."""
    return [e["resource"] for e in json.loads((SCENARIOS / name).read_text())["entry"]]
