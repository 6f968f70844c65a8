"""Realistic offline row: a seeded Synthea population (26 resource types, most of them never
read by the rules) with the public scenarios' sessions mixed in, repeated to a stated number.

The floor is what json.loads needs for the lines the rules read (the adapter's own line test
decides which: tests of whole files and of single lines, as in adapter/grouping.py), so the
ratio is what reading the rest and coding cost on top of parsing what matters.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from adapter.grouping import _skippable, split_unread_files
from adapter.raw_lines import line_type
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
    """The lines of the export the adapter parses, into one file for the floor to json.loads."""
    files, _ = split_unread_files(sorted(export.glob("*.ndjson")))
    with (target / "needed.ndjson").open("wb") as out:
        for path in files:
            with path.open("rb") as lines:
                for raw in lines:
                    rtype = line_type(raw)
                    if raw.strip() and not (rtype and _skippable(rtype, raw)):
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
