"""The compiled build (scripts/build_compiled.py) writes exactly what the interpreted package writes.

mypyc checks the type annotations at run time, so a compiled module can raise where the
interpreted one went on; it also changes how classes pickle between worker processes. Both
builds therefore code the same inputs (every scenario, the demo day, odd records, and a
synthetic export on both the in-memory and the bucketed parallel path) with the same clock,
and their output files must be equal byte for byte.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.build_compiled import ensure_compiled
from tests.factory import Case, site
from tests.helpers import SCENARIOS
from tests.synthetic import write_ndjson_export
from tests.unit.test_fuzz import FIELDS, mutate

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_FILES = ("Claim.ndjson", "Task.ndjson", "Provenance.ndjson", "OperationOutcome.ndjson")

# Runs in a fresh interpreter whose only `adapter` is the build under test.
DRIVER = """
import json, sys
from pathlib import Path
from adapter import build_kind
from adapter.backfill import code_everything
from adapter.settings import Settings
from adapter.sinks.files import FileSink
from adapter.sources import open_source
kind, out, runs = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
assert build_kind() == kind, build_kind()
for name, source, spill_above in runs:
    code_everything(open_source(source), FileSink(out / name), Settings(), workers=2,
                 now="2026-01-02T03:04:05Z", spill_above=spill_above)
"""

ODD_VALUES: list[Any] = [None, 7, "", "x", [], {}, [1, "a"], {"reference": 5}, "2025-02-30", {"coding": "x"}]


def odd_records_bundle(path: Path) -> Path:
    """One patient per (field, value) mutation of a dry-needling case, as one Bundle file."""
    resources: list[dict[str, Any]] = []
    for number, (field, value) in enumerate(itertools.product(FIELDS, ODD_VALUES)):
        case = Case(key=f"odd{number}")
        case.procedure("p1", [site("31764008", "7771000"), site("72573008", "24028007")])
        case.observation("o1", "p1", site("6423006", "7771000"))
        items = case.resources()
        target = number % len(items)
        items[target] = mutate(items[target], [field] if number % 2 else ["code", field], value)
        resources += items
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    path.write_text(json.dumps(bundle))
    return path


def run_build(kind: str, tree: Path, out: Path, runs: list[tuple[str, str, int]]) -> None:
    env = {**os.environ, "PYTHONSAFEPATH": "1", "PYTHONPATH": str(tree)}
    subprocess.run(
        [sys.executable, "-c", DRIVER, kind, str(out), json.dumps(runs)],
        cwd=out.parent,
        env=env,
        check=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def compiled_tree() -> Path:
    return ensure_compiled()


def test_compiled_build_writes_byte_for_byte_what_the_interpreted_one_writes(
    compiled_tree: Path, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    write_ndjson_export(export, 80, seed=7)
    big = 1 << 62
    runs = [(p.stem, str(p), big) for p in sorted(SCENARIOS.glob("*.json")) if p.name != "expected.json"]
    runs += [
        ("demo", str(ROOT / "adapter" / "demo" / "clinic-day.json"), big),
        ("odd-records", str(odd_records_bundle(tmp_path / "odd.json")), big),
        ("export-in-memory", str(export), big),
        ("export-bucketed-parallel", str(export), 0),
    ]
    run_build("interpreted", ROOT, tmp_path / "interpreted", runs)
    run_build("compiled", compiled_tree, tmp_path / "compiled", runs)

    compared = 0
    for name, _, _ in runs:
        for file in OUTPUT_FILES:
            expected = (tmp_path / "interpreted" / name / file).read_bytes()
            assert (tmp_path / "compiled" / name / file).read_bytes() == expected, f"{name}/{file}"
            compared += len(expected)
    claims = (tmp_path / "compiled" / "export-bucketed-parallel" / "Claim.ndjson").read_bytes()
    assert claims.count(b"\n") > 60 and compared > 500_000
