"""Choosing how to read a server from its CapabilityStatement, and the patient lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.capabilities import COMBINATION, parse_capabilities
from adapter.sources.base import SourceError
from adapter.sources.patients import read_patient_list
from adapter.sources.reading import LAST_UPDATED, WINDOW, choose_reading

CORE = ("Procedure", "Observation", "Encounter", "Condition", "Coverage")


def statement(params: list[str], required: dict[str, list[list[str]]] | None = None) -> dict[str, Any]:
    resources = []
    for rtype in CORE:
        resource: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": p} for p in params],
        }
        combos = (required or {}).get(rtype)
        if combos:
            resource["extension"] = [
                {"url": COMBINATION, "extension": [{"url": "required", "valueString": n} for n in combo]}
                for combo in combos
            ]
        resources.append(resource)
    return {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "resource": resources}]}


def test_hapi_like_servers_are_read_by_watermark() -> None:
    capabilities = parse_capabilities(statement(["code", "patient", "_lastUpdated", "date"]))
    reading = choose_reading("http://h", capabilities, patients_listed=False, forced="auto")
    assert (reading.patients, reading.changes) == ("server-wide", LAST_UPDATED)


def test_without_last_updated_the_worker_reads_by_window() -> None:
    capabilities = parse_capabilities(statement(["code", "patient", "date"]))
    assert choose_reading("http://h", capabilities, False, "auto").changes == WINDOW
    with pytest.raises(SourceError, match="_lastUpdated"):
        choose_reading("http://h", capabilities, False, LAST_UPDATED)


def test_a_server_that_requires_patient_needs_a_patient_list() -> None:
    capabilities = parse_capabilities(statement(["code", "patient"], {t: [["patient"]] for t in CORE}))
    with pytest.raises(SourceError, match=r"requires patient .*--patients Group/ID"):
        choose_reading("http://h", capabilities, False, "auto")
    reading = choose_reading("http://h", capabilities, True, "auto")
    assert (reading.patients, reading.changes) == ("listed", WINDOW)


def test_required_combinations_are_read_from_the_extension() -> None:
    capabilities = parse_capabilities(
        statement(["patient", "category", "code"], {"Observation": [["patient", "category"], ["patient", "code"]]})
    )
    assert not capabilities.searchable("Observation", {"patient"})
    assert capabilities.searchable("Observation", {"patient", "category", "_count"})
    assert capabilities.required_with("Observation", {"patient"}) in (frozenset({"category"}), frozenset({"code"}))
    assert capabilities.required_with("Observation", {"subject"}) is None  # not declared at all
    assert not capabilities.takes_claims()


def test_patient_list_files(tmp_path: Path) -> None:
    listed = tmp_path / "patients.txt"
    listed.write_text("Patient/a  # first\n\nPatient/b\nPatient/a\n")
    assert read_patient_list(str(listed), None) == ["Patient/a", "Patient/b"]
    listed.write_text("Patient/a\nPractitioner/x\n")
    with pytest.raises(SourceError, match="line 2: expected Patient/id"):
        read_patient_list(str(listed), None)
    with pytest.raises(SourceError, match="not a Group/ID and not a readable file"):
        read_patient_list(str(tmp_path / "missing.txt"), None)
    with pytest.raises(SourceError, match="a Group is read from a FHIR server"):
        read_patient_list("Group/g", None)
