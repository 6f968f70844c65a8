"""Realistic offline row: a seeded Synthea population (26 resource types, most of them never
read by the rules) with the public scenarios' sessions mixed in, repeated to a stated number.

The floor is what json.loads needs for the lines of the types the rules read (issue 17's
definition), classified by parsing each line once when the export is prepared; the ratio is
what the adapter's whole run costs against parsing just those.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from adapter.grouping import _rules_read
from adapter.indexes import SHARED_TYPES
from bench.installed import ensure_installed
from bench.run import DATA, ROOT, measure
from tests.realdata.data import synthea_bulk_population

SCENARIOS = ROOT / "tests" / "scenarios"


def realistic_export(patients: int, copies: int) -> tuple[Path, int]:
    """Synthea's files plus `copies` renamed copies of every scenario bundle; the directory and
    how many dry-needling sessions (scenario cases) it holds."""
    expected = json.loads((SCENARIOS / "expected.json").read_text())
    directory = DATA / f"realistic-p{patients}-c{copies}"
    marker = directory / ".complete"
    if not marker.exists():
        directory.mkdir(parents=True, exist_ok=True)
        for path in synthea_bulk_population(patients).glob("*.ndjson"):
            (directory / path.name).write_bytes(path.read_bytes())
        by_type: dict[str, list[str]] = {}
        for scenario in expected:
            bundle = json.loads((SCENARIOS / scenario["bundle"]).read_text())
            for entry in bundle["entry"]:
                by_type.setdefault(entry["resource"]["resourceType"], []).append(json.dumps(entry["resource"]))
        for rtype, lines in by_type.items():
            with (directory / f"{rtype}.scenarios.ndjson").open("w") as out:
                for k in range(copies):
                    for line in lines:
                        out.write(line.replace('"dn-', f'"r{k}-dn-').replace("/dn-", f"/r{k}-dn-") + "\n")
        marker.touch()
    return directory, copies * len(expected)


def needed_lines(export: Path, target: Path) -> None:
    """The lines of the export of a type the rules read, into one file for the floor to
    json.loads: the per-patient and shared types of case assembly, and of the Observations
    those partOf a Procedure with a body site (grouping._rules_read). Each line is classified
    by parsing it here, untimed, never by the adapter's own byte tests: the floor must not
    move when those get better."""
    with (target / "needed.ndjson").open("wb") as out:
        for path in sorted(export.glob("*.ndjson")):
            with path.open("rb") as lines:
                for raw in lines:
                    if raw.isspace():
                        continue
                    resource = json.loads(raw)
                    rtype = resource.get("resourceType")
                    if rtype in SHARED_TYPES or _rules_read(rtype, resource):
                        out.write(raw)


def realistic(patients: int, copies: int, repeat: int) -> dict[str, float]:
    export, sessions = realistic_export(patients, copies)
    size_mb = sum(f.stat().st_size for f in export.glob("*.ndjson")) / 1e6
    with tempfile.TemporaryDirectory() as needed:
        needed_lines(export, Path(needed))
        floor = adapter = float("inf")
        for _ in range(repeat):
            floor = min(floor, measure(["bench/floor.py", needed])[0])
            with tempfile.TemporaryDirectory() as out:
                run = ["-m", "adapter", "run", "--source", str(export), "--sink", out, "--log-level", "error"]
                adapter = min(adapter, measure(run, ensure_installed())[0])
    print(
        f"realistic export: {size_mb:.0f} MB, {sessions} dry-needling sessions among {patients} Synthea patients; "
        f"{size_mb / adapter:.0f} MB/s, {sessions / adapter:.0f} sessions/s (the installed release)"
    )
    return {"mb": size_mb, "adapter_s": adapter, "needed_floor_s": floor, "sessions": sessions}
