"""Coding everything a source holds (code_everything), and a big Bulk export on every core.

The first pass splits the export's lines into bucket files by patient, one process per group
of files; each bucket (a case needs only its patient's resources and the shared clinicians)
is then coded by its own process into its own part files, appended in bucket order.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections import Counter
from pathlib import Path

from .fhirjson import JSON
from .grouping import Grouped, TypeCounts, count_lines, export_lines, find_unread_files, read_bucket, spill_lines_to
from .indexes import SharedIndex
from .pipeline import (
    BUCKET_BYTES,
    SPILL_ABOVE_BYTES,
    CaseCoder,
    Progress,
    RunSummary,
    bucket_count,
    cyclic_gc_paused,
    group_source,
    spills,
)
from .problems import InputProblem
from .session_patients import ProcedureScan, SessionPatients, code_needles, combine_scans, dry_needling_codes
from .settings import Settings
from .sinks.base import Sink
from .sinks.files import FileSink
from .sinks.server import ServerSink
from .sources.base import Source
from .sources.bulk import BulkSource
from .sources.ndjson import NdjsonSource
from .sources.server import ServerSource
from .tables import CodingTables

BUCKETS_PER_WORKER = 8
_SpillTask = tuple[list[Path], list[Path], tuple[bytes, ...]]
_SpillResult = tuple[list[JSON], list[InputProblem], TypeCounts, ProcedureScan | None]
_CodeTask = tuple[list[Path], Path]
# What every bucket of one run is coded with, given to each coding process once when it starts
# (a fork inherits it): shipped with every bucket, a real export's shared clinicians and
# organizations were pickled dozens of times, which made two processes slower than one.
_Coding = tuple[SharedIndex, Settings, CodingTables, str, bool, SessionPatients | None]
_coding: _Coding | None = None


def code_everything(
    source: Source,
    sink: Sink,
    settings: Settings,
    workers: int | None = None,
    now: str | None = None,
    spill_above: int | None = None,
    tables: CodingTables | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Code everything a source holds into a sink: the one path of `run`, backfills and the bench.

    A server is read a page of patients at a time; an NDJSON export over `spill_above` bytes
    goes through bucket files (group_source decides), coded by `workers` processes (default:
    cores) when the sink is a directory; anything else is grouped in memory. `now` (an
    instant) stamps what is written; a fixed one makes two runs comparable byte for byte.
    """
    coder = CaseCoder(sink, settings, tables, now=now, progress=progress)
    workers = workers or os.cpu_count() or 1
    spill_above = SPILL_ABOVE_BYTES if spill_above is None else spill_above
    if isinstance(source, BulkSource):
        for problem in source.error_problems():
            coder.report(problem)
    with cyclic_gc_paused():
        if isinstance(source, ServerSource):
            _code_server_pages(source, coder, sink)
        elif (
            isinstance(source, NdjsonSource)
            and isinstance(sink, FileSink)
            and workers > 1
            and spills(source, spill_above)
        ):
            _code_in_parallel(source, coder, sink, workers)
        else:
            coder.code_grouped(group_source(source, spill_above, coder.tables))
    return coder.finish()


def _code_server_pages(source: ServerSource, coder: CaseCoder, sink: Sink) -> None:
    """Each page of patients is coded and written before the next is read. Claims no case
    produces any more are cancelled only when the sink is the server the data came from."""
    same_server = isinstance(sink, ServerSink) and sink.client.base_url == source.client.base_url
    for patients, resources in source.batches():
        coder.code(resources)
        if isinstance(sink, ServerSink):
            if same_server:
                sink.patients_complete(coder.coded(patients))
            sink.flush()


def _code_in_parallel(source: NdjsonSource, coder: CaseCoder, sink: FileSink, workers: int) -> None:
    # fork: the workers start at once and inherit the imported adapter; nothing here uses threads.
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with tempfile.TemporaryDirectory(prefix="dn-adapter-") as work:
        files, unread = find_unread_files(source.files)
        # Buckets for the files that are read (a real export's EOBs and reports are not), and
        # several a worker: the last bucket then runs alone for a short time only.
        buckets = max(bucket_count(NdjsonSource(files, ""), BUCKET_BYTES), BUCKETS_PER_WORKER * workers)
        unread.sort(key=lambda found: found[0].stat().st_size, reverse=True)  # the longest first
        needles = code_needles(dry_needling_codes(coder.tables))
        spill_tasks: list[_SpillTask] = [
            (files, [Path(work) / f"w{j}-bucket-{i}.ndjson" for i in range(buckets)], needles)
            for j, files in enumerate(_balance(files, workers))
        ]
        shared = SharedIndex()
        with context.Pool(processes=workers) as pool:
            # The first pass, each process splitting its files into buckets and marking who
            # may have a session; then the lines of whole unread files are counted (a real
            # export's EOBs alone are 139 MB), by the process whose part of the pass ends first
            # while the other one's goes on: queued ahead of the pass, they delayed it.
            spilling = pool.map_async(_spill_files, spill_tasks, chunksize=1)
            counted = pool.map_async(count_lines, [path for path, _ in unread], chunksize=1)
            spilled = spilling.get()
            for (_, rtype), lines in zip(unread, counted.get(), strict=True):
                coder.summary.types.skipped[rtype] += lines
        for resources, problems, types, _ in spilled:
            for resource in resources:
                shared.add(resource)
            for problem in problems:
                coder.report(problem)
            coder.summary.types.merge(types)
        sessions = combine_scans([scan for *_, scan in spilled])
        code_tasks: list[_CodeTask] = [
            ([paths[i] for _, paths, _ in spill_tasks], Path(work) / f"part-{i}") for i in range(buckets)
        ]
        coding: _Coding = (shared, coder.settings, coder.tables, coder.now, sink.validate, sessions)
        with context.Pool(processes=workers, initializer=_start_coding, initargs=(coding,)) as pool:
            for task, summary in zip(code_tasks, pool.imap(_code_bucket, code_tasks), strict=True):
                coder.summary.merge(summary)
                sink.append_part(task[1])
                coder.tick()


def _balance(files: list[Path], groups: int) -> list[list[Path]]:
    """Files into at most `groups` groups of similar total size (largest first, to the lightest)."""
    loads: list[tuple[int, list[Path]]] = [(0, []) for _ in range(min(groups, len(files)) or 1)]
    for path in sorted(files, key=lambda p: p.stat().st_size, reverse=True):
        loads.sort(key=lambda load: load[0])
        size, members = loads[0]
        members.append(path)
        loads[0] = (size + path.stat().st_size, members)
    return [members for _, members in loads if members]


def _spill_files(task: _SpillTask) -> _SpillResult:
    files, paths, needles = task
    skipped: Counter[str] = Counter()
    with cyclic_gc_paused():
        shared, problems, types, scan = spill_lines_to(export_lines(files, skipped), paths, needles)
    types.skipped.update(skipped)
    return list(shared.resources.values()), problems, types, scan


def _start_coding(coding: _Coding) -> None:
    global _coding
    _coding = coding


def _code_bucket(task: _CodeTask) -> RunSummary:
    paths, part = task
    assert _coding is not None, "a coding process starts with _start_coding"
    shared, settings, tables, now, validate, sessions = _coding
    problems: list[InputProblem] = []
    types = TypeCounts()
    coder = CaseCoder(FileSink(part, validate=validate, durable=False), settings, tables, now)
    with cyclic_gc_paused():
        coder.code_grouped(Grouped(shared, problems, read_bucket(paths, problems, types, sessions), types))
    return coder.finish()
