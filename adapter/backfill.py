"""Coding a big Bulk-export into files on every core: the buckets of a spilled export are
independent (a case needs only its patient's resources and the shared clinicians), so each
is coded by its own process into its own part files, which are appended in bucket order.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from pathlib import Path

from .assemble import SharedIndex
from .grouping import Grouped, Spill, read_bucket, spill_ndjson_lines
from .pipeline import BUCKET_BYTES, SPILL_ABOVE_BYTES, CaseCoder, RunSummary, cyclic_gc_paused, group_source
from .problems import InputProblem
from .settings import Settings
from .sinks.files import FileSink
from .sources.base import Source
from .sources.ndjson import NdjsonSource
from .tables import CodingTables

_Task = tuple[Path, Path, SharedIndex, Settings, CodingTables, str]


def run_to_files(source: Source, sink: FileSink, settings: Settings, workers: int | None = None) -> RunSummary:
    """Like pipeline.run, but a big NDJSON export is coded by `workers` processes (default: cores)."""
    coder = CaseCoder(sink, settings)
    workers = workers or os.cpu_count() or 1
    size = source.size_hint()
    with cyclic_gc_paused():
        if isinstance(source, NdjsonSource) and size > SPILL_ABOVE_BYTES:
            spill = spill_ndjson_lines(source.lines(), max(2, size // BUCKET_BYTES + 1))
            if workers > 1:
                _code_in_parallel(spill, coder, sink, workers)
            else:
                coder.code_grouped(spill.grouped())
        else:
            coder.code_grouped(group_source(source))
    return coder.finish()


def _code_in_parallel(spill: Spill, coder: CaseCoder, sink: FileSink, workers: int) -> None:
    for problem in spill.problems:
        coder.report(problem)
    with tempfile.TemporaryDirectory(prefix="dn-adapter-parts-") as parts:
        tasks: list[_Task] = [
            (path, Path(parts) / f"part-{i}", spill.shared, coder.settings, coder.tables, coder.now)
            for i, path in enumerate(spill.paths)
        ]
        # fork: the workers start at once and inherit the imported adapter; nothing here uses threads.
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        try:
            with context.Pool(processes=min(workers, len(tasks))) as pool:
                for part, summary in zip((t[1] for t in tasks), pool.imap(_code_bucket, tasks), strict=True):
                    coder.summary.merge(summary)
                    sink.append_part(part)
        finally:
            spill.directory.cleanup()


def _code_bucket(task: _Task) -> RunSummary:
    path, part, shared, settings, tables, now = task
    problems: list[InputProblem] = []
    coder = CaseCoder(FileSink(part), settings, tables, now)
    with cyclic_gc_paused():
        coder.code_grouped(Grouped(shared, problems, read_bucket(path, problems)))
    return coder.finish()
