"""Progress: the coder reports sessions coded as it goes, on every coding path; the command
line draws it only on a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.backfill import code_everything
from adapter.cli.progress import terminal_progress
from adapter.settings import Settings
from adapter.sinks.files import FileSink
from adapter.sources.ndjson import NdjsonSource
from tests.synthetic import ClinicGenerator


def write_export(directory: Path, sessions: int) -> list[Path]:
    import json

    directory.mkdir()
    files: dict[str, list[str]] = {}
    for resource in ClinicGenerator(3).resources(sessions):
        files.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for rtype, lines in files.items():
        (directory / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")
    return sorted(directory.glob("*.ndjson"))


@pytest.mark.parametrize(("workers", "spill_above"), [(1, 1 << 30), (2, 0)], ids=["in-memory", "parallel"])
def test_progress_counts_up_to_the_sessions_coded(tmp_path: Path, workers: int, spill_above: int) -> None:
    seen: list[int] = []
    source = NdjsonSource(write_export(tmp_path / "export", 40), "x")
    summary = code_everything(
        source, FileSink(tmp_path / "out"), Settings(), workers, None, spill_above, progress=seen.append
    )
    assert seen and seen == sorted(seen) and seen[-1] == summary.sessions >= 40


def test_no_progress_off_a_terminal() -> None:
    with terminal_progress("coding") as progress:  # pytest's stderr is not a terminal
        assert progress is None
