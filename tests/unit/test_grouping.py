"""Grouping by patient: in memory and through bucket files give the same cases and problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.grouping import Grouped, group_by_patient, group_ndjson_lines
from adapter.sources.ndjson import NdjsonSource
from tests.synthetic import write_ndjson_export


def groups_of(grouped: Grouped) -> dict[str, list[str]]:
    return {
        patient: sorted(f"{r['resourceType']}/{r['id']}" for r in resources) for patient, resources in grouped.groups
    }


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
        # the top-level reference in a shape the byte pattern does not read, a vendor extra that it does
        handle.write(
            json.dumps(
                {
                    "resourceType": "Procedure",
                    "id": "display-first",
                    "status": "completed",
                    "subject": {"display": "x", "reference": "Patient/pat-1"},
                    "note": [{"text": "t", "subject": {"reference": "Patient/pat-2"}}],
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
    assert "Procedure/display-first" in bucket_groups["Patient/pat-1"]
    assert sorted(map(str, bucketed.problems)) == sorted(map(str, in_memory.problems))
    assert any("no-subject" in str(p) for p in bucketed.problems)
    assert any("nested-only" in str(p) for p in bucketed.problems)
    assert any("malformed JSON" in str(p) for p in bucketed.problems)
    assert set(bucketed.shared.resources) == set(in_memory.shared.resources)


def test_parallel_and_sequential_runs_write_the_same(tmp_path: Path, monkeypatch: object) -> None:
    """A big export is coded by several processes; the output is the same as one process's."""
    import adapter.backfill as backfill
    from adapter.settings import Settings
    from adapter.sinks.files import FileSink

    export = tmp_path / "export"
    write_ndjson_export(export, 60, seed=5)
    with (export / "Procedure.ndjson").open("a") as handle:
        # malformed, but with its patient reference: only the second pass can see it is broken
        handle.write('{"resourceType": "Procedure", "id": "late", "subject": {"reference": "Patient/pat-1"}, oops\n')
    monkeypatch.setattr(backfill, "SPILL_ABOVE_BYTES", 0)  # type: ignore[attr-defined]
    monkeypatch.setattr(backfill, "BUCKET_BYTES", 20_000)  # type: ignore[attr-defined]
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"out-{workers}"
        source = NdjsonSource(sorted(export.glob("*.ndjson")), "export")
        summary = backfill.code_everything(source, FileSink(out), Settings(), workers=workers)
        outputs[workers] = {
            rtype: sorted(json.loads(line)["id"] for line in (out / f"{rtype}.ndjson").read_text().splitlines())
            for rtype in ("Claim", "Task", "OperationOutcome")
        }
        assert summary.sessions == 60
        problems = (out / "OperationOutcome.ndjson").read_text()
        assert "Procedure.ndjson line" in problems and "malformed JSON" in problems
        assert problems.count("malformed JSON") == 2  # the generator's broken line and ours
    assert outputs[1] == outputs[2]


def test_coding_leaves_no_reference_cycles_behind(tmp_path: Path) -> None:
    """Coding runs with the cyclic collector paused (pipeline.cyclic_gc_paused), so whatever a
    case leaves in a cycle (a patient's every resource, once) stays in memory until the end of
    the run. Reference counting must free all of it."""
    import gc

    from adapter.pipeline import code_patient, load_run_tables
    from adapter.settings import Settings

    export = tmp_path / "export"
    write_ndjson_export(export, 300, seed=7)  # every kind of case the generator makes
    grouped = group_by_patient(NdjsonSource(sorted(export.glob("*.ndjson")), "export").items())
    settings = Settings()
    tables = load_run_tables(settings)
    groups = list(grouped.groups)
    gc.collect()
    gc.disable()
    try:
        coded = 0
        for patient, resources in groups:
            results, _ = code_patient(patient, resources, grouped.shared, tables, settings, "2026-12-02T00:00:00Z")
            coded += len(results)
        del results, resources, groups
        assert coded >= 300
        assert gc.collect() == 0
    finally:
        gc.enable()


def _procedure(pid: str, code: str, rid: str) -> str:
    return json.dumps(
        {
            "resourceType": "Procedure",
            "id": rid,
            "status": "completed",
            "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]},
        }
    )


def test_session_patients_mark_whoever_may_have_dry_needling(tmp_path: Path) -> None:
    """Every patient with a Procedure that may be dry needling is marked: by its code, by an
    escape that could spell one, by a line cut short, by a type or patient the bytes leave
    open; a patient whose Procedures are all of other codes is not."""
    from adapter.session_patients import find_session_patients

    lines = [_procedure(f"other-{i}", "97110", f"o{i}") for i in range(20)]
    lines += [
        _procedure("coded", "20560", "a"),
        _procedure("local", " DN-LOCAL ", "b"),  # a configured local code, with blanks (codings strips)
        _procedure("escaped", "2056\\u0030", "c"),  # "20560", spelled with an escape
        _procedure("cut", "97110", "d")[:-30],  # damaged: parsed and reported, not skipped
        json.dumps(  # the type is not certain from the bytes (not the first key, and two of them)
            {
                "id": "e",
                "resourceType": "Procedure",
                "subject": {"reference": "Patient/contained"},
                "contained": [{"resourceType": "Procedure", "id": "x"}],
            }
        ),
    ]
    (tmp_path / "Procedure.ndjson").write_text("\n".join(lines) + "\n")
    encounter = json.dumps({"resourceType": "Encounter", "id": "g", "subject": {"reference": "Patient/x"}})
    (tmp_path / "Encounter.ndjson").write_text(encounter + "\n" + _procedure("in-another-file", "20561", "f") + "\n")
    marked = find_session_patients(sorted(tmp_path.glob("*.ndjson")), ["20560", "20561", "DN-LOCAL"])
    assert marked is not None
    for patient in ("coded", "local", "escaped", "cut", "contained"):
        assert marked.may_have_sessions(f"Patient/{patient}"), patient
    assert not any(marked.may_have_sessions(f"Patient/other-{i}") for i in range(20))
    # Grouping reads every line of a file named for another type: so does the search.
    assert marked.may_have_sessions("Patient/in-another-file")


def test_session_patients_are_not_looked_for_when_nearly_all_have_sessions(tmp_path: Path) -> None:
    from adapter.session_patients import find_session_patients

    (tmp_path / "Procedure.ndjson").write_text(
        "\n".join(_procedure(f"p{i}", "20560" if i % 3 else "97110", f"r{i}") for i in range(30)) + "\n"
    )
    assert find_session_patients([tmp_path / "Procedure.ndjson"], ["20560"]) is None
    assert find_session_patients([tmp_path / "Procedure.ndjson"], []) is None


def test_the_procedure_type_is_found_across_block_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import adapter.session_patients as session_patients

    monkeypatch.setattr(session_patients, "_BLOCK", 64)
    for offset in range(0, 160):
        path = tmp_path / f"f{offset}.ndjson"
        path.write_bytes(b"x" * offset + b'"Procedure"' + b"y" * 50)
        assert session_patients._mentions_procedure(path), offset
        path.write_bytes(b"x" * offset + b'"Procedur"' + b"y" * 50)
        assert not session_patients._mentions_procedure(path), offset


def test_a_line_type_is_read_from_the_bytes_only_where_certain() -> None:
    from adapter.raw_lines import line_type

    contained = {"contained": [{"resourceType": "Coverage", "id": "c"}], "id": "e"}
    first = json.dumps({"resourceType": "ExplanationOfBenefit", **contained}).encode()
    assert line_type(first) == "ExplanationOfBenefit"  # the top-level object's first key
    assert line_type(b'  { "resourceType" : "Claim", "id": "x"}') == "Claim"
    later = json.dumps({**contained, "resourceType": "ExplanationOfBenefit"}).encode()
    assert line_type(later) is None  # the first one found is the contained Coverage's: parse it
    assert line_type(json.dumps({"id": "x", "resourceType": "Procedure"}).encode()) == "Procedure"
    assert line_type(b'{"id": "x"}') is None


def test_the_first_pass_keeps_the_lines_read_before_their_patient_is_marked(tmp_path: Path) -> None:
    """A big export is marked as it is split into buckets (grouping.spill_lines_to): a patient
    whose dry-needling Procedure comes after its Encounter, in another file or later in a file
    named for another type, keeps every line; the others' lines are left out, and counted."""
    from adapter.session_patients import code_needles

    def encounter(pid: str, rid: str) -> str:
        return json.dumps({"resourceType": "Encounter", "id": rid, "subject": {"reference": f"Patient/{pid}"}})

    (tmp_path / "A-Encounter.ndjson").write_text(
        "\n".join([encounter("late", "e1"), *(encounter(f"other-{i}", f"eo{i}") for i in range(20))])
        + "\n"
        + _procedure("hidden", "20561", "p-hidden")  # a Procedure in a file named for another type
        + "\n"
    )
    (tmp_path / "B-Procedure.ndjson").write_text(
        "\n".join(
            [*(_procedure(f"other-{i}", "97110", f"po{i}") for i in range(20)), _procedure("late", "20560", "p1")]
        )
        + "\n"
        + encounter("hidden", "e2")
        + "\n"
    )
    source = NdjsonSource(sorted(tmp_path.glob("*.ndjson")), "x")
    grouped = group_ndjson_lines(source.lines(), bucket_count=3, needles=code_needles(["20560", "20561"]))
    groups = groups_of(grouped)
    assert groups == {
        "Patient/late": ["Encounter/e1", "Procedure/p1"],
        "Patient/hidden": ["Encounter/e2", "Procedure/p-hidden"],
    }
    assert grouped.types.unneeded == {"Encounter": 20, "Procedure": 20}
    assert grouped.types.read == {"Encounter": 2, "Procedure": 2}


def test_observation_blocks_the_rules_never_read_are_skipped_as_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export_lines skips whole blocks of an Observation file only where reading it line by
    line would skip every line too: same lines read, same line numbers, same counts, across
    every block boundary."""
    from collections import Counter

    import adapter.grouping as grouping
    from adapter.raw_lines import line_type

    def observation(i: int, **extra: object) -> str:
        return json.dumps({"resourceType": "Observation", "id": f"o{i}", **extra}, separators=(",", ":"))

    lines = [observation(i) for i in range(30)]
    lines[7] = observation(7, partOf=[{"reference": "Procedure/p"}], bodySite={"text": "x"})
    lines[12] = observation(12, partOf=[{"reference": "Procedure/p"}])  # no bodySite: skipped
    lines[15] = ""  # a blank line: counted in the numbering, never read
    lines[18] = _procedure("a", "20560", "in-an-observation-file")
    lines[21] = " " + observation(21)  # not the compact form: read line by line
    path = tmp_path / "Observation.ndjson"
    path.write_text("\n".join(lines))  # the last line without a newline

    def is_skipped(raw: bytes) -> bool:
        return line_type(raw) == "Observation" and grouping._skippable("Observation", raw)

    reference = list(NdjsonSource([path], "x").lines())
    wanted = [(where, raw) for where, raw in reference if not is_skipped(raw)]
    skipped_whole = []
    for block_bytes in (1, 40, 97, 200, 512, 1 << 20):
        monkeypatch.setattr(grouping, "_OBSERVATION_BLOCK_BYTES", block_bytes)
        skipped: Counter[str] = Counter()
        read = list(grouping.export_lines([path], skipped))
        assert [(w, r) for w, r in read if not is_skipped(r)] == wanted, block_bytes
        assert skipped["Observation"] + sum(map(is_skipped, (r for _, r in read))) == len(reference) - len(wanted)
        assert all(line in reference for line in read), block_bytes
        skipped_whole.append(skipped["Observation"])
    assert max(skipped_whole) >= 10  # small blocks of plain Observations are skipped whole
