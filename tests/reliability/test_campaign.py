"""A small reliability campaign in the full test command (the big one: docs/reliability.md)."""

from __future__ import annotations

import os

import pytest

from tests.reliability.campaign import run_campaign


@pytest.mark.integration
def test_small_campaign_has_no_duplicates_missing_or_wrong_claims() -> None:
    base = os.environ.get("HAPI_BASE_URL")
    if not base:
        pytest.skip("HAPI_BASE_URL is not set")
    result = run_campaign(base, seed=7, sessions=25, faults=30, kills=3, log=lambda message: None)
    assert result["kills"] == 3 and result["faults"] == 30
    assert (result["duplicates"], result["missing"], result["wrong"]) == (0, 0, 0)
