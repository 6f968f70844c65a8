"""Issue 17: lines are parsed with orjson, and what only the standard parser reads still reads."""

from __future__ import annotations

import json

import pytest

from adapter.problems import InputProblem
from adapter.sources.ndjson import parse_line

PATIENT = b'{"resourceType":"Patient","id":"p1"'


@pytest.mark.parametrize(
    "extra",
    [
        b',"x":NaN',  # orjson refuses NaN
        b',"t":"\\ud800"',  # a lone surrogate escape
        b',"name":[{"text":"Jos\\u00e9"}]',
    ],
)
def test_what_json_loads_reads_still_reads(extra: bytes) -> None:
    raw = PATIENT + extra + b"}"
    parsed = parse_line(raw, "Patient.ndjson line 1")
    assert isinstance(parsed, dict)
    assert json.dumps(parsed, sort_keys=True) == json.dumps(json.loads(raw), sort_keys=True)


def test_an_integer_past_64_bits_is_read_as_a_number() -> None:
    """orjson reads it as a float (json.loads as an int); no rule reads a number of the input."""
    parsed = parse_line(PATIENT + b',"n":123456789012345678901234567890}', "Patient.ndjson line 1")
    assert isinstance(parsed, dict) and parsed["n"] == pytest.approx(1.2345678901234568e29)


@pytest.mark.parametrize("raw", [b"{bad", b"[" * 5000 + b"]" * 5000, b"\xff\xfe", PATIENT])
def test_malformed_lines_are_problems_naming_the_line(raw: bytes) -> None:
    parsed = parse_line(raw, "Patient.ndjson line 7")
    assert isinstance(parsed, InputProblem) and parsed.where == "Patient.ndjson line 7"
