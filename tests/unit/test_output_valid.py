"""Every shape the builders can produce is valid FHIR (checked with the fhir.resources R4B models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from adapter.cli import DEMO_DATA, main
from adapter.sinks.plan import empty_task as _empty_task
from tests.factory import Case, site, text_site
from tests.helpers import SCENARIOS, claim_of, run_resources, task_of


def assert_valid(resource: dict[str, Any]) -> None:
    model = get_fhir_model_class(resource["resourceType"])
    model.model_validate(resource)  # raises with the element path on any violation


def odd_cases() -> list[dict[str, Any]]:
    """Cases that exercise every branch of the builders."""
    resources: list[dict[str, Any]] = []
    no_coverage = Case(key="nocov")
    no_coverage.items = [r for r in no_coverage.items if r["resourceType"] != "Coverage"]
    no_coverage.procedure("p1", [site("31764008", "7771000")])
    resources += no_coverage.resources()
    no_clinician = Case(key="noclin")
    proc = no_clinician.procedure("p1", [text_site("neck")], encounter=None)
    proc["performer"] = []
    resources += no_clinician.resources()
    injection = Case(key="inj")
    injection.procedure("p1", [site("31764008", "7771000")])
    injection.injectate("p1")
    resources += injection.resources()
    many = Case(key="many")
    many.procedure(
        "p1", [site(code, side) for code in ("31764008", "72573008", "6423006") for side in ("7771000", "24028007")]
    )
    many.observation("o1", "p1", site("35259002", "7771000"))
    many.procedure("mt", None, code="97140")
    resources += many.resources()
    return resources


def test_every_written_resource_is_valid_r4(tmp_path: Path) -> None:
    sink = run_resources(odd_cases())
    written = [r for case in sink.cases for r in (case.claim, case.task, case.provenance) if r] + sink.problems
    assert {r["resourceType"] for r in written} == {"Claim", "Task", "Provenance", "OperationOutcome"}
    statuses = {r["status"] for r in written if r["resourceType"] == "Claim"}
    assert statuses == {"active", "draft"}
    for resource in written:
        assert_valid(resource)


@pytest.mark.parametrize("source", [DEMO_DATA, *sorted(SCENARIOS.glob("DN-*.json"))], ids=lambda p: Path(p).stem)
def test_demo_and_scenario_outputs_are_valid_r4(source: Path, tmp_path: Path) -> None:
    assert main(["run", "--source", str(source), "--sink", str(tmp_path)]) == 0
    for path in tmp_path.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            assert_valid(json.loads(line))


def test_server_sink_shapes_are_valid_r4() -> None:
    """The cancelled Claim, the superseded Task and the hand-off Task the server sink writes."""
    sink = run_resources(odd_cases())
    case = next(c for c in sink.cases if c.claim and c.task)
    existing = {**claim_of(case), "id": "123", "meta": {"versionId": "2"}}
    assert_valid({**existing, "status": "cancelled"})
    assert_valid({**task_of(case), "status": "cancelled", "statusReason": {"text": "superseded"}})
    assert_valid({**_empty_task(case, existing), "description": "picked up for submission"})
