"""Which patients of an export can have a session at all, found before grouping it.

A case needs a dry-needling Procedure (R1); a patient without one gets nothing assembled and
nothing reported (assemble.py). In a real export most patients are such (a Synthea population
has none), yet their Encounters, Conditions and Claims are most of the lines the rules would
otherwise read. The Procedure lines' bytes mark the patients whose Procedures may be dry
needling; grouping then skips the other patients' lines unparsed. A big export is marked in
its first pass, as its lines are split into bucket files (grouping.spill_lines_to), and the
other patients' lines are skipped as the buckets are read; a small one is scanned for the
marks ahead of grouping it in memory (find_session_patients).

Marked means may: a Procedure line is taken as a candidate whenever its bytes hold one of
the dry-needling codes, or an escape that could spell one, or when the line does not look
whole (so a damaged line is parsed and reported, not skipped), or when its type or patient is
not certain from the bytes (it is parsed). The marks are a bitmap of hashes, so memory does
not follow the export; two patients sharing a hash only keeps one that need not be kept.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .indexes import patient_of
from .raw_lines import line_type, looks_whole, patient_hint
from .sources.ndjson import parse_line
from .tables import CodingTables

_BITS = 1 << 23  # a megabyte of marks
_NAME = b'"Procedure"'
_BLOCK = 8 * 1024 * 1024


class SessionPatients:
    """Patients that may have a dry-needling session (a bitmap of their references' hashes)."""

    def __init__(self) -> None:
        self._marks = bytearray(_BITS >> 3)

    def mark(self, patient: str) -> None:
        bit = zlib.crc32(patient.encode()) & (_BITS - 1)
        self._marks[bit >> 3] |= 1 << (bit & 7)

    def may_have_sessions(self, patient: str) -> bool:
        return self.may_have_sessions_key(patient.encode())

    def may_have_sessions_key(self, key: bytes) -> bool:
        """may_have_sessions of the patient's reference as UTF-8 bytes (a bucket line's key)."""
        bit = zlib.crc32(key) & (_BITS - 1)
        return bool(self._marks[bit >> 3] & (1 << (bit & 7)))

    def add(self, other: SessionPatients) -> None:
        """Mark whoever the other marks too (another process's part of the export)."""
        merged = int.from_bytes(self._marks, "little") | int.from_bytes(other._marks, "little")
        self._marks = bytearray(merged.to_bytes(len(self._marks), "little"))


@dataclass
class ProcedureScan:
    """What one process found in its files: the marks, and how many Procedures it read and
    how many of them may be dry needling."""

    marks: SessionPatients
    procedures: int = 0
    candidates: int = 0

    def counts_as_candidate(self, rtype: str | None, raw: bytes, needles: tuple[bytes, ...]) -> bool:
        """Count one line, and whether its patient is to be marked: a line that is, or may be,
        a Procedure (is_procedure_line), and may be dry needling (may_be_dry_needling)."""
        if not is_procedure_line(rtype, raw):
            return False
        self.procedures += 1
        if not may_be_dry_needling(rtype, raw, needles):
            return False
        self.candidates += 1
        return True


def dry_needling_codes(tables: CodingTables) -> list[str]:
    """The codes to look for: every dry-needling code of the tables, CPT and local ones (R1)."""
    return [code for _, code in tables.dry_needling_codes()]


def code_needles(dry_needling_codes: Iterable[str]) -> tuple[bytes, ...]:
    """The codes as the bytes a line holds them in (codings strips blanks: so does this)."""
    return tuple(code.strip().encode() for code in dry_needling_codes if code.strip())


def is_procedure_line(rtype: str | None, raw: bytes) -> bool:
    """A Procedure by its certain type, or a line whose type is not certain that names the
    type quoted (a substring test: cheap on the lines of other types)."""
    return rtype == "Procedure" or (rtype is None and _NAME in raw)


def may_be_dry_needling(rtype: str | None, raw: bytes, needles: tuple[bytes, ...]) -> bool:
    """Whether a Procedure line may be dry needling: it holds one of the codes, or an escape
    that could spell one, or does not look whole, or its type is not certain."""
    return rtype is None or not looks_whole(raw) or b"\\u" in raw or any(n in raw for n in needles)


def find_session_patients(files: list[Path], dry_needling_codes: Iterable[str]) -> SessionPatients | None:
    """The patients whose Procedures may be dry needling; None when most Procedures may be
    (filtering would then cost more than it saves), or when no code is known to look for."""
    return combine_scans([scan_procedures(files, dry_needling_codes)])


def combine_scans(scans: list[ProcedureScan | None]) -> SessionPatients | None:
    """The marks of the parts of one export (scan_procedures in each process), or None."""
    if not scans or any(scan is None for scan in scans):
        return None
    first, *others = [scan for scan in scans if scan is not None]
    procedures, candidates = first.procedures, first.candidates
    for other in others:
        first.marks.add(other.marks)
        procedures, candidates = procedures + other.procedures, candidates + other.candidates
    return None if candidates * 2 > procedures else first.marks


def scan_procedures(files: list[Path], dry_needling_codes: Iterable[str]) -> ProcedureScan | None:
    """Mark the patients of these files' Procedure lines that may be dry needling (see the
    module's docstring); None with no code to look for."""
    needles = code_needles(dry_needling_codes)
    if not needles:
        return None
    scan = ProcedureScan(SessionPatients())
    # Every line of every file grouping will read: a Procedure in a file named for another
    # type is still grouped, and its patient must not be left out. The quoted type name is a
    # substring test, cheap on the lines of other types.
    for path in files:
        if not _mentions_procedure(path):
            continue
        with path.open("rb", buffering=1 << 20) as handle:
            for number, raw in enumerate(handle, start=1):
                if _NAME not in raw:
                    continue
                rtype = line_type(raw)
                if scan.counts_as_candidate(rtype, raw, needles):
                    _mark_patient(scan.marks, rtype, raw, f"{path.name} line {number}")
    return scan


def _mentions_procedure(path: Path) -> bool:
    """Whether the quoted type name is anywhere in the file: a substring search of large blocks
    at memory speed, instead of a Python step for each of its lines (most files have none).
    Blocks, not a mapping of the file: a mapped file's pages count as the process's memory."""
    with path.open("rb", buffering=0) as handle:
        tail = b""
        while block := handle.read(_BLOCK):
            if _NAME in tail + block[: len(_NAME)] or _NAME in block:
                return True
            tail = block[-len(_NAME) :]
    return False


def _mark_patient(found: SessionPatients, rtype: str | None, raw: bytes, where: str) -> None:
    patient = patient_hint(rtype, raw)
    if patient is None:
        item = parse_line(raw, where)  # a problem here is reported when grouping reads the line
        patient = patient_of(item) if isinstance(item, dict) else None
    if patient is not None:
        found.mark(patient)
