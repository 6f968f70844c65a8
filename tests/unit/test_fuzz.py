"""Fuzzing the readers and the coding core: bad input never crashes a run or spoils good cases."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.anatomy import parse_expression
from adapter.fhirjson import parse_date, reference
from adapter.sources.ndjson import parse_line
from tests.factory import Case, site
from tests.helpers import run_resources

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "2025-02-30",
            "not-a-date",
            "Patient/",
            "#",
            "urn:uuid:x",
            "Procedure/dn:1",
            "\u202e\u0000\ud7ff",
            "x" * 5000,
        ]
    ),
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)


def good_case() -> list[dict[str, Any]]:
    case = Case(key="good")
    case.procedure("p1", [site("31764008", "7771000"), site("72573008", "7771000"), site("6423006", "7771000")])
    return case.resources()


def expected_good() -> tuple[str, str | None]:
    (claim,) = [c for c in run_resources(good_case()).resources("Claim")]
    return claim["status"], claim["item"][0]["productOrService"]["coding"][0]["code"]


GOOD = expected_good()


def mutate(resource: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(resource)
    node: Any = mutated
    for key in path[:-1]:
        if isinstance(node, dict) and isinstance(node.get(key), (dict, list)):
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[0]
        else:
            break
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list):
        node.append(value)
    return mutated


FIELDS = [
    "status",
    "code",
    "subject",
    "encounter",
    "performedDateTime",
    "performer",
    "bodySite",
    "extension",
    "contained",
    "reasonReference",
    "partOf",
    "period",
    "diagnosis",
    "beneficiary",
    "type",
    "payor",
    "id",
    "resourceType",
    "coding",
    "reference",
    "location",
    "locationQualifier",
    "participant",
]


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.integers(min_value=0, max_value=40),
    path=st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4),
    value=json_values,
)
def test_mutated_case_never_crashes_and_good_case_still_codes(target: int, path: list[str], value: Any) -> None:
    bad = Case(key="bad")
    bad.procedure(
        "p1",
        [site("31764008", "7771000")],
        extension=[
            {
                "url": "http://hl7.org/fhir/StructureDefinition/procedure-targetBodyStructure",
                "valueReference": {"reference": "BodyStructure/missing"},
            }
        ],
    )
    resources = bad.resources()
    index = target % len(resources)
    resources[index] = mutate(resources[index], path, value)
    sink = run_resources(good_case() + resources)
    good = [c for c in sink.resources("Claim") if c["patient"]["reference"] == "Patient/good-patient"]
    assert [(c["status"], c["item"][0]["productOrService"]["coding"][0]["code"]) for c in good] == [GOOD]
    for outcome in sink.problems:
        assert outcome["issue"][0]["diagnostics"]


@settings(max_examples=300, deadline=1000)
@given(st.binary(max_size=300))
def test_any_ndjson_line_is_a_resource_or_a_problem(raw: bytes) -> None:
    item = parse_line(raw, "x.ndjson line 1")
    assert isinstance(item, dict) or "x.ndjson line 1" in str(item)


def test_deep_nesting_and_huge_lines_are_problems() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert "malformed" in str(parse_line(deep, "deep"))
    huge = b'{"resourceType": "Procedure", "id": "x", "note": "' + b"a" * (17 * 1024 * 1024) + b'"}'
    assert "longer than" in str(parse_line(huge, "huge"))


@settings(max_examples=500, deadline=500)
@given(st.text(max_size=200))
def test_expressions_references_and_dates_never_raise(text: str) -> None:
    parse_expression(text)
    reference({"reference": text})
    parse_date(text)


@settings(max_examples=100, deadline=2000)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["resourceType", "id", "subject", "status", "code"]), json_values, max_size=5),
        max_size=8,
    )
)
def test_random_resources_in_a_run_never_crash(resources: list[dict[str, Any]]) -> None:
    sink = run_resources(resources + good_case())
    good = [c for c in sink.resources("Claim") if c["patient"]["reference"] == "Patient/good-patient"]
    assert len(good) == 1
    json.dumps(sink.problems)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=False)
    | st.text()
    # where orjson and json.dumps write different bytes: the fallback must catch each
    | st.sampled_from([float("nan"), 1e-05, -3.5e-07, 2.5e-300, 1e16, "\x7f", "caf\u00e9", 2**65, "null", "0.00001"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json_values, max_size=6))
def test_claim_fingerprint_bytes_are_json_dumps_bytes(value: dict[str, object]) -> None:
    """Fingerprints name Provenances already written: the fast serialisation must give the
    bytes json.dumps gives, for any text, number or nesting, or fall back to json.dumps."""
    from adapter.build import _canonical_json

    assert _canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
