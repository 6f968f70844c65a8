"""The benchmarks run (on a tiny N); their figures are for bench/, never asserted here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def last_line_of_bench(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "bench/run.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def test_offline_bench_runs_on_a_tiny_n() -> None:
    last = last_line_of_bench("--sessions", "30", "--repeat", "1")
    assert last.startswith("offline: sessions=30 adapter_s=") and "ratio=" in last and "peak_rss_mb=" in last


@pytest.mark.integration
def test_online_bench_runs_on_a_tiny_n() -> None:
    """Expunges the server: this module sorts after tests/integration/, so it runs after them."""
    base = os.environ.get("HAPI_BASE_URL")
    if not base:
        pytest.skip("HAPI_BASE_URL is not set")
    assert last_line_of_bench("--sessions", "10", "--server", base).startswith(
        "online: sessions=10 requests_per_session="
    )


@pytest.mark.integration
def test_online_bench_runs_through_the_latency_proxy() -> None:
    base = os.environ.get("HAPI_BASE_URL")
    if not base:
        pytest.skip("HAPI_BASE_URL is not set")
    last = last_line_of_bench("--sessions", "5", "--server", base, "--latency-ms", "1")
    assert last.startswith("online: sessions=5 requests_per_session=") and last.endswith(" latency_ms=1")
