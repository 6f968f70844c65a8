"""A directory sink: Claim.ndjson, Task.ndjson, Provenance.ndjson, OperationOutcome.ndjson.

Files are written under temporary names and renamed when the run completes, so a crashed run
never leaves a half-written output that looks complete.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import IO

import orjson

from ..fhirjson import JSON
from .base import CaseResult, SinkError, refusal_outcome
from .validation import describe, invalid_reason

OUTPUT_TYPES = ("Claim", "Task", "Provenance", "OperationOutcome")
WRITE_BUFFER = 256 * 1024  # a backfill writes more than it reads: fewer, larger writes


def refuse_overwriting_source(directory: Path, inputs: list[Path]) -> None:
    """A sink directory that holds the source's NDJSON files is refused before anything is written.

    Its Claim.ndjson and Provenance.ndjson would replace the export's own, and a later run of
    the same directory would read our output as input.
    """
    target = directory.resolve()
    outputs = {f"{rtype}.ndjson" for rtype in OUTPUT_TYPES}
    for path in inputs:
        resolved = path.resolve()
        if resolved.parent == target and (resolved.suffix == ".ndjson" or resolved.name in outputs):
            raise SinkError(f"the sink {directory} is the source's own directory ({path.name} is read from it)")


class FileSink:
    """Writes one NDJSON file per output resource type into a directory.

    `durable`: closing waits until the files are on disk (fsync). A parallel worker's part files
    are not: they are copied into the run's own sink, which is, and deleted at once.
    """

    needs_parties = False

    def __init__(self, directory: Path, validate: bool = False, durable: bool = True) -> None:
        self.directory = directory
        self.validate = validate
        self.durable = durable
        directory.mkdir(parents=True, exist_ok=True)
        self._handles: dict[str, IO[bytes]] = {
            rtype: (directory / f".{rtype}.ndjson.partial").open("wb", buffering=WRITE_BUFFER) for rtype in OUTPUT_TYPES
        }

    def _write(self, resource: JSON) -> None:
        # orjson writes the same compact UTF-8 JSON as json.dumps(separators=(",", ":"),
        # ensure_ascii=False), about nine times faster: serialising was a fifth of a backfill.
        self._handles[resource["resourceType"]].write(orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE))

    def write_case(self, result: CaseResult) -> None:
        resources = [r for r in (result.claim, result.task, result.provenance) if r is not None]
        if self.validate:
            reasons = [f"{describe(r)} {reason}" for r in resources if (reason := invalid_reason(r))]
            if reasons:  # none of the case is written: a Claim without its Provenance would mislead
                self._write(refusal_outcome(result, "; ".join(reasons)))
                return
        for resource in resources:
            self._write(resource)

    def write_problem(self, outcome: JSON) -> None:
        self._write(outcome)

    def write_resource(self, resource: JSON) -> None:
        """One resource of an output type (Claim, Task, Provenance, OperationOutcome) as it is."""
        self._write(resource)

    def append_part(self, part: Path) -> None:
        """Append another FileSink's finished output (a parallel worker's), then delete it.

        A durable sink syncs what it appended at once: this runs while the workers code the
        next parts, so closing has little left to wait for (the fsync of a 20,000-session
        output took 0.3 s at the end of the run).
        """
        for rtype, handle in self._handles.items():
            path = part / f"{rtype}.ndjson"
            handle.flush()
            with path.open("rb") as source:
                _append_file(source, handle)
            path.unlink()
            if self.durable:
                _sync_data(handle.fileno())
        part.rmdir()

    def discard(self) -> None:
        """The run stopped early: remove the temporary files, so nothing half-written stays behind."""
        for rtype, handle in self._handles.items():
            handle.close()
            (self.directory / f".{rtype}.ndjson.partial").unlink(missing_ok=True)

    def close(self) -> None:
        for rtype, handle in self._handles.items():
            handle.flush()
            if self.durable:
                os.fsync(handle.fileno())
            handle.close()
            os.replace(self.directory / f".{rtype}.ndjson.partial", self.directory / f"{rtype}.ndjson")


_sync_data = getattr(os, "fdatasync", os.fsync)  # no fdatasync on macOS


def _append_file(source: IO[bytes], target: IO[bytes]) -> None:
    """Copy a whole file onto the end of another, inside the kernel where it can (sendfile)."""
    size = os.fstat(source.fileno()).st_size
    sendfile = getattr(os, "sendfile", None)  # not on Windows
    copied = 0
    try:
        while sendfile is not None and copied < size:
            sent = sendfile(target.fileno(), source.fileno(), copied, size - copied)
            if sent == 0:
                break
            copied += sent
    except OSError:  # no sendfile between these two files: the rest goes through user space
        pass
    source.seek(copied)
    shutil.copyfileobj(source, target)
