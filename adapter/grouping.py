"""Group a stream of resources by patient, keeping shared resources aside.

Small sources are grouped in memory. Large NDJSON exports are spilled, as raw lines, to
bucket files by a hash of the patient, then read back one bucket at a time, so memory follows
the largest bucket and not the size of the export.
"""

from __future__ import annotations

import io
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .fhirjson import JSON, resource_key
from .indexes import PATIENT_FIELDS, SHARED_TYPES, SharedIndex, patient_of
from .problems import InputProblem
from .raw_lines import first_line_type, line_type, looks_whole, named_type, patient_hint
from .session_patients import ProcedureScan, SessionPatients, combine_scans
from .sources.base import SourceError, SourceItem, is_fhir_resource_type
from .sources.ndjson import NdjsonSource, parse_line

PER_PATIENT_TYPES = frozenset(PATIENT_FIELDS)
BUCKET_WRITE_BUFFER = 64 * 1024
# Observations are most of a real export's lines (vitals, labs), and the rules read only those
# partOf a Procedure with a body site (R4): a block of an Observation file in which every line
# is a compactly written Observation, and which holds no "partOf" or no "bodySite" at all, is
# counted as skipped whole, at memory speed, instead of line by line (_skippable's test on each
# of its lines would give the same answer). Any other block is read line by line.
_OBSERVATION_LINE = b'{"resourceType":"Observation"'
_OBSERVATION_BLOCK_BYTES = 4 * 1024 * 1024


@dataclass
class TypeCounts:
    """How many resources of each type a run read, how many it skipped as unused by the rules,
    and how many lines of patients with no dry-needling Procedure it left unparsed."""

    read: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    unneeded: Counter[str] = field(default_factory=Counter)

    def merge(self, other: TypeCounts) -> None:
        self.read.update(other.read)
        self.skipped.update(other.skipped)
        self.unneeded.update(other.unneeded)


@dataclass
class Grouped:
    """Shared resources, input problems, and the per-patient groups (a one-shot iterator)."""

    shared: SharedIndex
    problems: list[InputProblem]
    groups: Iterator[tuple[str, list[JSON]]]
    types: TypeCounts = field(default_factory=TypeCounts)


def group_by_patient(items: Iterable[SourceItem], sessions: SessionPatients | None = None) -> Grouped:
    """Split parsed items into shared resources, per-patient groups (in memory) and problems;
    with `sessions`, only the patients it marks are kept."""
    shared = SharedIndex()
    problems: list[InputProblem] = []
    types = TypeCounts()
    by_patient: dict[str, list[JSON]] = defaultdict(list)
    for item in items:
        patient = _sort_item(item, shared, problems, types, sessions)
        if patient is not None and not isinstance(item, InputProblem):
            by_patient[patient].append(item)
    return Grouped(shared, problems, _drain(by_patient), types)


def group_lines_in_memory(lines: Iterable[tuple[str, bytes]], sessions: SessionPatients | None = None) -> Grouped:
    """Group raw NDJSON lines in memory; lines the rules never read are skipped unparsed, and
    so are those of patients `sessions` does not mark."""
    types = TypeCounts()

    def items() -> Iterator[SourceItem]:
        for where, raw in lines:
            rtype = line_type(raw)
            if rtype is not None and _skippable(rtype, raw):
                types.skipped[rtype] += 1
            elif rtype is not None and sessions is not None and _left_out(patient_hint(rtype, raw), raw, sessions):
                types.unneeded[rtype] += 1
            else:
                yield parse_line(raw, where)

    grouped = group_by_patient(items(), sessions)
    grouped.types.merge(types)
    return grouped


def _sort_item(
    item: SourceItem,
    shared: SharedIndex,
    problems: list[InputProblem],
    types: TypeCounts,
    sessions: SessionPatients | None = None,
) -> str | None:
    """File one item: a problem, a shared resource, or (returned) the patient it belongs to;
    None too for a patient `sessions` does not mark."""
    patient = _patient_to_file_under(item, shared, problems, types)
    if patient is None or isinstance(item, InputProblem):
        return None
    rtype = str(item["resourceType"])
    if sessions is not None and not sessions.may_have_sessions(patient):
        types.unneeded[rtype] += 1
        return None
    types.read[rtype] += 1
    return patient


def _patient_to_file_under(
    item: SourceItem, shared: SharedIndex, problems: list[InputProblem], types: TypeCounts
) -> str | None:
    """The patient a per-patient resource the rules read belongs to (not yet counted: the
    caller counts it as read or not needed); a problem, a shared resource, a resource the rules
    never read or one without a patient is filed (and counted) here, and gives None."""
    if isinstance(item, InputProblem):
        problems.append(item)
        return None
    rtype = str(item["resourceType"])
    if rtype in SHARED_TYPES:
        types.read[rtype] += 1
        shared.add(item)
        return None
    if not _rules_read(rtype, item):
        types.skipped[rtype] += 1
        return None
    patient = patient_of(item)
    if patient is None:
        types.read[rtype] += 1
        problems.append(
            InputProblem(resource_key(item) or rtype, "no subject/patient reference to a Patient", "error", "required")
        )
    return patient


def _left_out(patient: str | None, raw: bytes, sessions: SessionPatients | None) -> bool:
    """A whole-looking line whose patient, certain from its bytes, has no session: not parsed."""
    return sessions is not None and patient is not None and not sessions.may_have_sessions(patient) and looks_whole(raw)


def _drain(by_patient: dict[str, list[JSON]]) -> Iterator[tuple[str, list[JSON]]]:
    for patient in sorted(by_patient):
        yield patient, by_patient.pop(patient)


def split_unread_files(files: list[Path]) -> tuple[list[Path], Counter[str]]:
    """The files to read, and the lines of whole files of a type the rules never read
    (see find_unread_files; counted here one after the other)."""
    kept, unread = find_unread_files(files)
    skipped: Counter[str] = Counter()
    for path, rtype in unread:
        skipped[rtype] += count_lines(path)
    return kept, skipped


def find_unread_files(files: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files to read, and the whole files of a type the rules never read, with that type.

    A Bulk Data file holds one resource type (Bulk Data IG, "Response - Complete Status") and
    is named for it (`ExplanationOfBenefit.ndjson`, `output-00003-Immunization.ndjson`): when
    the name names one FHIR type the rules never read and the file's first line is of that
    type, its lines are only counted (count_lines), not classified one by one. A mixed file,
    or one whose name says nothing, is read line by line as before.
    """
    kept: list[Path] = []
    unread: list[tuple[Path, str]] = []
    for path in files:
        rtype = _unread_type_named(path)
        if rtype is not None and first_line_type(path) == rtype:
            unread.append((path, rtype))
        else:
            kept.append(path)
    return kept, unread


def count_lines(path: Path) -> int:
    """The non-empty lines of a file (a skipped file's count, for the run summary)."""
    with path.open("rb", buffering=1 << 20) as handle:
        return sum(1 for line in handle if not line.isspace())


def _unread_type_named(path: Path) -> str | None:
    rtype = named_type(path)
    return None if rtype is None or rtype in PER_PATIENT_TYPES or rtype in SHARED_TYPES else rtype


@dataclass
class Spill:
    """An export split into bucket files by patient, with what the first pass found: the
    shared resources, problems, counts, and the patients who may have a session (None: all)."""

    shared: SharedIndex
    problems: list[InputProblem]
    types: TypeCounts
    sessions: SessionPatients | None
    paths: list[Path]
    directory: tempfile.TemporaryDirectory[str]

    def grouped(self) -> Grouped:
        """All buckets, one after the other, as one Grouped (the sequential path)."""

        def groups() -> Iterator[tuple[str, list[JSON]]]:
            try:
                for path in self.paths:
                    yield from read_bucket(path, self.problems, self.types, self.sessions)
            finally:
                self.directory.cleanup()

        return Grouped(self.shared, self.problems, groups(), self.types)


def group_ndjson_lines(
    lines: Iterable[tuple[str, bytes]], bucket_count: int, needles: tuple[bytes, ...] = ()
) -> Grouped:
    """Group raw NDJSON lines by patient through bucket files (see spill_ndjson_lines)."""
    return spill_ndjson_lines(lines, bucket_count, needles).grouped()


def spill_ndjson_lines(lines: Iterable[tuple[str, bytes]], bucket_count: int, needles: tuple[bytes, ...] = ()) -> Spill:
    """Split raw NDJSON lines into bucket files by patient, in a temporary directory."""
    directory = tempfile.TemporaryDirectory(prefix="dn-adapter-")
    paths = [Path(directory.name) / f"bucket-{i}.ndjson" for i in range(bucket_count)]
    shared, problems, types, scan = spill_lines_to(lines, paths, needles)
    return Spill(shared, problems, types, combine_scans([scan]), paths, directory)


def spill_lines_to(
    lines: Iterable[tuple[str, bytes]], paths: list[Path], needles: tuple[bytes, ...] = ()
) -> tuple[SharedIndex, list[InputProblem], TypeCounts, ProcedureScan | None]:
    """The first pass: append each raw line to the bucket file of its patient.

    It reads only the resource type and the patient reference of each line (a regular
    expression on the bytes); lines where that is not certain (see _patient_hint) are parsed
    to decide. Shared resources are parsed and kept. Each bucket is then read on its own, so
    memory follows the largest bucket, not the export. The bucket of a patient is a stable
    hash, the same in every process. With the dry-needling codes' `needles`, the same pass
    marks the patients who may have a session (session_patients.py; None when no code is
    given): reading a bucket then leaves the other patients' lines unparsed. A line written
    to a bucket is counted when its bucket is read.
    """
    shared = SharedIndex()
    problems: list[InputProblem] = []
    types = TypeCounts()
    scan = ProcedureScan(SessionPatients()) if needles else None
    # One buffer a bucket, and the bucket count grows with the export: keep each small.
    handles = [p.open("ab", buffering=BUCKET_WRITE_BUFFER) for p in paths]
    try:
        for where, raw in lines:
            rtype = line_type(raw)
            if rtype is not None and _skippable(rtype, raw):
                types.skipped[rtype] += 1
                continue
            candidate = scan is not None and scan.counts_as_candidate(rtype, raw, needles)
            patient = patient_hint(rtype, raw)
            if patient is None:
                item = parse_line(raw, where)
                patient = _patient_to_file_under(item, shared, problems, types)
                if patient is None or isinstance(item, InputProblem):
                    continue
                rtype = str(item["resourceType"])
            if scan is not None and candidate:
                scan.marks.mark(patient)
            key = patient.encode()
            end = b"" if raw.endswith(b"\n") else b"\n"  # the last line of a file may have none
            handles[zlib.crc32(key) % len(handles)].write(
                b"".join((key, b"\t", str(rtype).encode(), b"\t", where.encode(), b"\t", raw, end))
            )
    finally:
        for handle in handles:
            handle.close()
    return shared, problems, types, scan


def export_lines(files: list[Path], skipped: Counter[str]) -> Iterator[tuple[str, bytes]]:
    """NdjsonSource.lines() of an export's files, less the blocks of Observation files the
    rules never read (counted in `skipped`, see _OBSERVATION_LINE)."""
    for path in files:
        if named_type(path) == "Observation":
            yield from _observation_file_lines(path, skipped)
        else:
            yield from NdjsonSource([path], "").lines()


def _observation_file_lines(path: Path, skipped: Counter[str]) -> Iterator[tuple[str, bytes]]:
    try:
        handle = path.open("rb", buffering=0)
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror}") from error
    number = 0
    # One buffer, read into again and again: a new block of bytes each time, and its copies,
    # cost more in fresh memory pages than the searches over it.
    buffer = bytearray(_OBSERVATION_BLOCK_BYTES)
    held = 0  # the start of a line not yet ended, carried to the front
    with handle:
        while True:
            if held == len(buffer):  # a line longer than the buffer
                buffer.extend(bytes(len(buffer)))
            with memoryview(buffer) as view:
                got = handle.readinto(view[held:])
            filled = held + (got or 0)
            if filled == 0:
                return
            cut = buffer.rfind(b"\n", 0, filled) + 1 if got else filled  # whole lines; at the end, the rest
            if cut == 0:
                held = filled
                continue
            lines = _unread_observations(buffer, cut)
            if lines:
                skipped["Observation"] += lines
                number += lines
            else:  # line by line, as a file is iterated (NdjsonSource.lines())
                with memoryview(buffer) as view:
                    block = io.BytesIO(view[:cut].tobytes())
                for raw in block:
                    number += 1
                    if not raw.isspace():  # blank lines are counted, not read
                        yield f"{path.name} line {number}", raw
            held = filled - cut
            buffer[:held] = buffer[cut:filled]


def _unread_observations(buffer: bytearray, end: int) -> int:
    """How many lines the first `end` bytes hold when all are compact Observations the rules
    never read; 0 when any may be read (a block holding both keys is not counted at all)."""
    if buffer.find(b'"partOf"', 0, end) >= 0 and buffer.find(b'"bodySite"', 0, end) >= 0:
        return 0
    lines = buffer.count(b"\n", 0, end) + (0 if buffer[end - 1] == ord("\n") else 1)
    starting = buffer.count(b"\n" + _OBSERVATION_LINE, 0, end) + buffer.startswith(_OBSERVATION_LINE, 0, end)
    return lines if starting == lines else 0


def _rules_read(rtype: str, resource: JSON) -> bool:
    """Whether a run reads this resource: only the types case assembly knows (and the Patient,
    whose name, birth date and address the billing formats carry); Observations without a
    body site partOf a Procedure (pain scores, assessments) never change a case (R4)."""
    if rtype not in PER_PATIENT_TYPES:
        return False
    return rtype != "Observation" or ("partOf" in resource and "bodySite" in resource)


def _skippable(rtype: str, raw: bytes) -> bool:
    """The same test on a raw line, without parsing it: the hot path of a big export.

    A type the rules never read (ExplanationOfBenefit, Immunization, ...) is skipped unparsed;
    a name that is no FHIR type is parsed, so the line gets its OperationOutcome.
    """
    if rtype == "Observation":
        return b'"partOf"' not in raw or b'"bodySite"' not in raw
    if rtype in PER_PATIENT_TYPES or rtype in SHARED_TYPES:
        return False
    return is_fhir_resource_type(rtype)


def read_bucket(
    paths: Path | list[Path],
    problems: list[InputProblem],
    types: TypeCounts,
    sessions: SessionPatients | None = None,
) -> Iterator[tuple[str, list[JSON]]]:
    """The patient groups of one bucket (one file, or one per first-pass worker; deleted once
    read); bad lines go to `problems`, the lines read and left out are counted in `types`.
    With `sessions`, the whole-looking lines of patients it does not mark stay unparsed.

    The bucket's lines are grouped as bytes and a patient's are parsed just before the patient
    is coded: what is parsed is then coded while it is in the processor's cache, and freed
    before the next patient's is made (parsing a whole bucket first, and keeping it, made a
    line cost about three times what parsing it alone does: docs/performance.md).
    """
    lines_by_patient: dict[bytes, list[bytes]] = defaultdict(list)
    for path in [paths] if isinstance(paths, Path) else paths:
        _read_bucket_file(path, types, sessions, lines_by_patient)
    # Bytes sort as the references they spell (UTF-8 keeps the order of code points).
    for key in sorted(lines_by_patient):
        patient = key.decode()
        resources = _parse_patient_lines(patient, lines_by_patient.pop(key), problems)
        if resources:
            yield patient, resources


def _read_bucket_file(
    path: Path,
    types: TypeCounts,
    sessions: SessionPatients | None,
    lines_by_patient: dict[bytes, list[bytes]],
) -> None:
    if not path.exists():
        return
    with path.open("rb", buffering=1 << 20) as handle:
        for line in handle:
            # The patient was found in the first pass (exactly one top-level reference).
            # Most lines of a real export are of patients with no session (their Claims,
            # Encounters): left out here, by the bytes.
            key_end = line.find(b"\t")
            key = line[:key_end]
            rtype = line[key_end + 1 : line.find(b"\t", key_end + 1)].decode()
            if sessions is not None and not sessions.may_have_sessions_key(key) and looks_whole(line):
                types.unneeded[rtype] += 1
                continue
            types.read[rtype] += 1
            lines_by_patient[key].append(line)
    path.unlink()


def _parse_patient_lines(patient: str, lines: list[bytes], problems: list[InputProblem]) -> list[JSON]:
    """One patient's bucket lines as resources; bad lines go to `problems`."""
    resources: list[JSON] = []
    for line in lines:
        _, _, where, raw = line.split(b"\t", 3)
        item = parse_line(raw, where.decode())
        if isinstance(item, InputProblem):
            problems.append(item)
        elif patient_of(item) != patient:  # the one reference found was a nested one
            where_text = resource_key(item) or where.decode()
            problems.append(InputProblem(where_text, "no subject/patient reference to a Patient", "error", "required"))
        else:
            resources.append(item)
    return resources
