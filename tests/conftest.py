"""Fixtures shared by every kind of test: the HAPI server's base URL, an HTTP session, a unique
tag, and the public scenarios with their expected outcomes."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.helpers import SCENARIOS

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="session")
def fhir_base() -> str:
    base = os.environ.get("HAPI_BASE_URL")
    if not base:
        pytest.skip("HAPI_BASE_URL is not set: run `make test` (it starts the HAPI server) or `make hapi-up`")
    return base.rstrip("/")


@pytest.fixture()
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.headers.update({"Accept": FHIR_JSON, "Content-Type": FHIR_JSON})
    yield session
    session.close()


@pytest.fixture()
def tag() -> str:
    """A unique tag, so each test sees only what it wrote on the shared server."""
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def expected_scenarios() -> list[dict[str, Any]]:
    """expected.json of the public scenarios (tests/scenarios/, as shipped)."""
    loaded: list[dict[str, Any]] = json.loads((SCENARIOS / "expected.json").read_text())
    return loaded
