"""Bulk Data $export NDJSON files (one resource type a file) as a streaming source."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import orjson

from ..problems import InputProblem
from .base import SourceError, SourceItem, check_resource

MAX_LINE_BYTES = 16 * 1024 * 1024


class NdjsonSource:
    """Reads line by line; a malformed line is a problem for that line, not for the run."""

    def __init__(self, files: list[Path], description: str) -> None:
        self.files = files
        self.description = description

    def size_hint(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    def lines(self) -> Iterator[tuple[str, bytes]]:
        """(where, raw line) for every non-empty line, in file order."""
        for path in self.files:
            try:
                handle = path.open("rb")
            except OSError as error:
                raise SourceError(f"cannot read {path}: {error.strerror}") from error
            name = path.name
            with handle:
                for number, raw in enumerate(handle, start=1):
                    # isspace stops at the first byte that is not blank; strip would copy the line
                    if raw and not raw.isspace():
                        yield f"{name} line {number}", raw

    def items(self) -> Iterator[SourceItem]:
        for where, raw in self.lines():
            yield parse_line(raw, where)


def parse_line(raw: bytes, where: str) -> SourceItem:
    """One NDJSON line as a resource, or a problem naming the line."""
    if len(raw) > MAX_LINE_BYTES:
        return InputProblem(where, f"line longer than {MAX_LINE_BYTES} bytes", "error", "too-costly")
    try:
        resource = orjson.loads(raw)  # about twice json.loads's speed: the hot path of an export
    except orjson.JSONDecodeError:
        # What orjson refuses and the standard parser reads (NaN, integers past 64 bits, lone
        # surrogate escapes, nesting past 1,024) is read as before: reading stays tolerant.
        try:
            resource = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return InputProblem(where, "malformed JSON", "error", "structure")
    return check_resource(resource, where)
