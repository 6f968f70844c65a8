"""The offline pipeline: source -> grouping -> assembly -> rules -> building -> sink.

Only the source and the sink do I/O; everything between is pure and runs patient by patient.
"""

from __future__ import annotations

import gc
import logging
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .assemble import assemble_sessions
from .billing.parties import collect_parties
from .build import build_claim, build_operation_outcome, build_provenance, build_review_task, case_id, now_instant
from .fhirjson import JSON
from .grouping import (
    Grouped,
    TypeCounts,
    export_lines,
    group_by_patient,
    group_lines_in_memory,
    group_ndjson_lines,
    split_unread_files,
)
from .indexes import SharedIndex
from .problems import InputProblem
from .rules import decide
from .session import Session
from .session_patients import code_needles, dry_needling_codes, find_session_patients
from .settings import Settings
from .sinks.base import CaseResult, Sink
from .sources.base import Source, SourceItem
from .sources.ndjson import NdjsonSource
from .tables import CodingTables, load_tables

log = logging.getLogger("adapter.pipeline")
SPILL_ABOVE_BYTES = 32 * 1024 * 1024
BUCKET_BYTES = 8 * 1024 * 1024


_SUMMARY_COUNTS = (
    "sessions",
    "claims_active",
    "claims_draft",
    "no_claim",
    "tasks",
    "input_problems",
    "warnings",
    "patients_failed",
)


@dataclass
class RunSummary:
    """What a run saw and did; printed at the end of every run."""

    sessions: int = 0
    claims_active: int = 0
    claims_draft: int = 0
    no_claim: int = 0
    tasks: int = 0
    input_problems: int = 0
    warnings: int = 0
    patients_failed: int = 0
    held_by_rule: Counter[str] = field(default_factory=Counter)
    types: TypeCounts = field(default_factory=TypeCounts)

    def merge(self, other: RunSummary) -> None:
        """Add another summary (a parallel worker's) to this one."""
        for name in _SUMMARY_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.held_by_rule.update(other.held_by_rule)
        self.types.merge(other.types)

    def record(self, result: CaseResult) -> None:
        self.sessions += 1
        if result.claim is None:
            self.no_claim += 1
        elif result.claim["status"] == "active":
            self.claims_active += 1
        else:
            self.claims_draft += 1
        if result.task is not None:
            self.tasks += 1
        for finding in result.decision.holds:
            self.held_by_rule[finding.rule] += 1

    def lines(self) -> list[str]:
        held = ", ".join(f"{rule}={n}" for rule, n in sorted(self.held_by_rule.items())) or "none"
        lines = [
            f"sessions seen:    {self.sessions}",
            f"claims active:    {self.claims_active}",
            f"claims held:      {self.claims_draft} (draft, with a review Task)",
            f"no claim:         {self.no_claim}",
            f"review tasks:     {self.tasks}",
            f"holds by rule:    {held}",
            f"input problems:   {self.input_problems} (see OperationOutcome output)",
            f"coding warnings:  {self.warnings} (OperationOutcome, severity warning)",
            f"types read:       {_type_list(self.types.read)}",
            f"types skipped:    {_type_list(self.types.skipped)} (not read by the rules)",
        ]
        if self.types.unneeded:
            lines.append(
                f"not needed:       {_type_list(self.types.unneeded)} "
                "(patients with no dry-needling Procedure, left unparsed)"
            )
        if self.patients_failed:
            lines.append(f"NOT CODED:        {self.patients_failed} patient(s): internal error, see the logs")
        return lines


def _type_list(counts: Counter[str]) -> str:
    return ", ".join(f"{rtype}={n}" for rtype, n in sorted(counts.items())) or "none"


def code_session(session: Session, tables: CodingTables, settings: Settings, now: str) -> CaseResult:
    """Decide one case and build what it needs written (R11).

    A held case's Task is focused on its draft Claim; an injectate recorded on a Procedure
    (R5) otherwise gets a Task focused on that Procedure, whether or not a line remains.
    """
    decision = decide(session, tables, settings.coding)
    result = CaseResult(session, decision)
    if decision.outcome != "no_claim_line":
        result.claim = build_claim(session, decision, settings.coding, now)
        result.provenance = build_provenance(result.claim, session, decision, now)
    if result.claim is not None and decision.outcome == "hold_for_review":
        result.task = build_review_task(session, decision, f"Claim/{result.claim['id']}", now)
    elif decision.no_claim_tasks:
        injected = [p.reference for p in session.procedures if p.has_injectate]
        focus = injected[0] if injected else session.procedures[0].reference
        result.task = build_review_task(session, decision, focus, now)
    return result


def code_patient(
    patient: str,
    resources: list[JSON],
    shared: SharedIndex,
    tables: CodingTables,
    settings: Settings,
    now: str,
    with_parties: bool = True,
) -> tuple[list[CaseResult], list[InputProblem]]:
    """Assemble and code every case of one patient (only sessions on or after `since`); with
    `with_parties`, each result carries the resources its Claim names (billing/parties.py)."""
    sessions, problems = assemble_sessions(patient, resources, shared, tables, settings.coding)
    since = settings.selection.since
    if since:
        sessions = [s for s in sessions if s.service_date.isoformat() >= since]
    results = [code_session(s, tables, settings, now) for s in sessions]
    claims = [r.claim for r in results if r.claim is not None]
    if claims and with_parties:
        parties = collect_parties(claims, resources, shared)
        for result in results:
            result.parties = parties
    return results, problems


def load_run_tables(settings: Settings) -> CodingTables:
    """The mappings a run uses, with the local dry-needling codes of the settings added (R1)."""
    mappings = settings.mappings
    tables = load_tables(mappings.dir, mappings.include_low_confidence_muscles, mappings.cms_ptp_files)
    for local in mappings.local_dry_needling_codes:
        tables.procedure_kinds.setdefault((local.system, local.code), "dry-needling")
    return tables


# Called with the number of sessions coded so far; the command line draws it on a terminal.
Progress = Callable[[int], None]


class CaseCoder:
    """Codes batches of resources into a sink, keeping one summary; nothing is kept per case."""

    def __init__(
        self,
        sink: Sink,
        settings: Settings,
        tables: CodingTables | None = None,
        now: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.sink = sink
        self.settings = settings
        self.tables = tables or load_run_tables(settings)
        self.now = now or now_instant()
        self.summary = RunSummary()
        self.failed_patients: set[str] = set()
        self.progress = progress

    def tick(self) -> None:
        """Tell the progress reporter (the command line's) how many sessions are coded so far."""
        if self.progress is not None:
            self.progress(self.summary.sessions)

    def report(self, problem: InputProblem) -> None:
        self.summary.input_problems += 1
        self.sink.write_problem(build_operation_outcome(problem, self.now))

    def code(self, items: Iterable[SourceItem]) -> None:
        """Code every case in the items into the sink."""
        self.code_grouped(group_by_patient(items))

    def code_grouped(self, grouped: Grouped) -> None:
        """Code every case of grouped resources; results go to the sink, not kept in memory."""
        reported = 0
        for patient, resources in grouped.groups:
            try:
                results, problems = code_patient(
                    patient, resources, grouped.shared, self.tables, self.settings, self.now, self.sink.needs_parties
                )
            except Exception as error:  # a defect on one patient's data must not stop a backfill
                self._report_failure(patient, error)
                continue
            self.failed_patients.discard(patient)  # a worker's coder lives on from pass to pass
            for problem in dict.fromkeys(problems):  # one patient's cases may meet one problem twice
                self.report(problem)
            for result in results:
                self.summary.record(result)
                self.sink.write_case(result)
                self._report_warnings(result)
            reported = self._report_new(grouped.problems, reported)
            self.tick()
        self._report_new(grouped.problems, reported)
        self.summary.types.merge(grouped.types)  # reading buckets counts as it goes

    def coded(self, patients: list[str]) -> list[str]:
        """These patients, less those whose coding failed (their Claims must not be cancelled)."""
        return [p for p in patients if p not in self.failed_patients]

    def _report_failure(self, patient: str, error: Exception) -> None:
        """Nothing is written for the patient; the sync worker keeps its Claims and retries it.

        The log names the exception's type and where it arose, never its message, which may
        quote the record.
        """
        self.failed_patients.add(patient)
        self.summary.patients_failed += 1
        frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
        where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else "?"
        log.error("patient not coded", extra={"patient": patient, "error": type(error).__name__, "at": where})
        self.report(
            InputProblem(
                patient, f"not coded: internal error ({type(error).__name__} at {where})", "error", "exception"
            )
        )

    def _report_new(self, problems: list[InputProblem], already: int) -> int:
        """Report source problems found since the last call (bucket reading finds them late)."""
        for problem in problems[already:]:
            self.report(problem)
        return len(problems)

    def _report_warnings(self, result: CaseResult) -> None:
        """Warnings of a coded case go out as warning-level OperationOutcomes naming its Claim."""
        where = f"Claim/{result.claim['id']}" if result.claim else f"case {case_id(result.session)}"
        for finding in result.decision.warnings:
            self.summary.warnings += 1
            self.sink.write_problem(
                build_operation_outcome(InputProblem(where, str(finding), "warning", "business-rule"), self.now)
            )

    def finish(self) -> RunSummary:
        self.sink.close()
        return self.summary


def spills(source: Source, spill_above: int = SPILL_ABOVE_BYTES) -> bool:
    """Whether a source is grouped through bucket files (bounded memory): the one spill decision."""
    return isinstance(source, NdjsonSource) and source.size_hint() > spill_above


def bucket_count(source: Source, bucket_bytes: int = BUCKET_BYTES) -> int:
    """How many bucket files a spilled source is split into (each about `bucket_bytes`)."""
    return max(2, source.size_hint() // bucket_bytes + 1)


def group_source(source: Source, spill_above: int = SPILL_ABOVE_BYTES, tables: CodingTables | None = None) -> Grouped:
    """Big NDJSON exports go through bucket files (bounded memory); the rest is grouped in memory.
    With the tables, an export's patients with no dry-needling Procedure are left out unparsed."""
    if isinstance(source, NdjsonSource):
        files, unread = split_unread_files(source.files)
        codes = dry_needling_codes(tables) if tables is not None else []
        skipped: Counter[str] = Counter()
        lines = export_lines(files, skipped)
        if spills(source, spill_above):  # the first pass marks who may have a session
            grouped = group_ndjson_lines(lines, bucket_count(NdjsonSource(files, "")), code_needles(codes))
        else:
            grouped = group_lines_in_memory(lines, find_session_patients(files, codes))
        grouped.types.skipped.update(unread)
        grouped.types.skipped.update(skipped)  # both groupings read every line before the first group
        return grouped
    return group_by_patient(source.items())


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while coding.

    FHIR JSON is a tree: reference counting frees it, and nothing here builds cycles. With a
    whole export's resources alive, every automatic collection walks all of them; profiled on
    20,000 sessions that was 60% of the run (bench/run.py). One collection runs at the end,
    over what was made while coding only: what lived before (the imported modules, pydantic's
    and the models' schemas) is frozen out of it. Unfrozen, that end collection cost 0.12 s a
    bucket in each backfill worker, most of the parallel path's loss measured on 2026-12-01.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.collect()
        gc.unfreeze()
        if was_enabled:
            gc.enable()
