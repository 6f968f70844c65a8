"""Integration tests run against the real HAPI FHIR server that the test command starts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import requests

FHIR_JSON = "application/fhir+json"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


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
