"""Grouping by patient: in memory and through bucket files give the same cases and problems."""

from __future__ import annotations

import json
from pathlib import Path

from adapter.grouping import group_by_patient, group_ndjson_lines
from adapter.sources.ndjson import NdjsonSource
from adapter.synthetic import write_ndjson_export


def groups_of(grouped: object) -> dict[str, list[str]]:
    return {
        patient: sorted(f"{r['resourceType']}/{r['id']}" for r in resources) for patient, resources in grouped.groups
    }  # type: ignore[attr-defined]


def test_bucket_files_group_exactly_like_memory(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_ndjson_export(export, 40, seed=3)
    with (export / "Procedure.ndjson").open("a") as handle:
        # contained resources with their own patient reference: the cheap first pass must not guess
        handle.write(
            json.dumps(
                {
                    "resourceType": "Procedure",
                    "id": "tricky",
                    "status": "completed",
                    "contained": [
                        {"resourceType": "BodyStructure", "id": "b", "patient": {"reference": "Patient/pat-2"}}
                    ],
                    "subject": {"reference": "Patient/pat-1"},
                }
            )
            + "\n"
        )
        handle.write('{"resourceType": "Procedure", "id": "no-subject", "status": "completed"}\n')
        handle.write(
            json.dumps(
                {
                    "resourceType": "Procedure",
                    "id": "nested-only",
                    "status": "completed",
                    "contained": [
                        {"resourceType": "BodyStructure", "id": "b", "patient": {"reference": "Patient/pat-2"}}
                    ],
                }
            )
            + "\n"
        )
    source = NdjsonSource(sorted(export.glob("*.ndjson")), "export")
    in_memory = group_by_patient(source.items())
    memory_groups = groups_of(in_memory)
    bucketed = group_ndjson_lines(source.lines(), bucket_count=3)
    bucket_groups = groups_of(bucketed)
    assert bucket_groups == memory_groups
    assert "Procedure/tricky" in bucket_groups["Patient/pat-1"]
    assert sorted(map(str, bucketed.problems)) == sorted(map(str, in_memory.problems))
    assert any("no-subject" in str(p) for p in bucketed.problems)
    assert any("nested-only" in str(p) for p in bucketed.problems)
    assert any("malformed JSON" in str(p) for p in bucketed.problems)
    assert set(bucketed.shared.resources) == set(in_memory.shared.resources)
