"""Push benchmark: how long from a session signed on the server to its Claim written.

Push: a `sync --watch --listen` worker (Subscriptions on the server, the safety-net pass once an
hour, so every Claim comes from a notification); each session is signed (one transaction) only
after the previous one's Claim is written, and the time from the transaction's answer to the
Claim in the worker's directory store is one sample. Poll: the same worker with no
Subscriptions at the default interval (60 s); sessions signed at random moments over two
intervals, all waited for together. The server is expunged first.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import requests

from bench.online import HEADERS
from tests.factory import DELTOID, LEFT, RIGHT, TRAPEZIUS, Case, site
from tests.helpers import put_transaction
from tests.push_worker import WorkerProcess, remove_our_subscriptions

POLL_INTERVAL_S = 60.0  # sync --watch's default


def signed_case() -> Case:
    case = Case(f"bench{uuid.uuid4().hex[:10]}", day=(date.today() - timedelta(days=1)).isoformat())
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(TRAPEZIUS, RIGHT), site(DELTOID, LEFT)])
    return case


def expunge(base: str) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "expungeEverything", "valueBoolean": True}]}
    requests.post(f"{base}/$expunge", json=body, headers=HEADERS, timeout=600).raise_for_status()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def push_latencies(base: str, sessions: int, workdir: Path) -> list[float]:
    worker = WorkerProcess(base, workdir, "--interval", "3600")
    try:
        worker.wait_ready()
        worker.wait_subscribed(base)  # HAPI registers new Subscriptions asynchronously
        latencies = []
        for _ in range(sessions):
            case = signed_case()
            put_transaction(base, case.resources())
            latencies.append(worker.wait_for_claim(case.patient, timeout_s=120))
        return latencies
    finally:
        worker.stop()
        remove_our_subscriptions(base)


def poll_latencies(base: str, sessions: int, workdir: Path, seed: int) -> list[float]:
    env = {"DN_ADAPTER_PUSH_SUBSCRIBE": "false"}
    worker = WorkerProcess(base, workdir, "--interval", str(POLL_INTERVAL_S), env=env)
    rng = random.Random(seed)
    latencies: list[float] = []
    try:
        worker.wait_ready()
        offsets = sorted(rng.uniform(0, 2 * POLL_INTERVAL_S) for _ in range(sessions))
        started = time.monotonic()

        def sign_and_wait(offset: float) -> None:
            time.sleep(max(0.0, offset - (time.monotonic() - started)))
            case = signed_case()
            put_transaction(base, case.resources())
            latencies.append(worker.wait_for_claim(case.patient, timeout_s=3 * POLL_INTERVAL_S))

        threads = [threading.Thread(target=sign_and_wait, args=(o,)) for o in offsets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return latencies
    finally:
        worker.stop()


def push(base: str, sessions: int, seed: int) -> None:
    sessions = max(sessions, 200)
    expunge(base)
    with tempfile.TemporaryDirectory() as push_dir, tempfile.TemporaryDirectory() as poll_dir:
        pushed = push_latencies(base, sessions, Path(push_dir))
        polled = poll_latencies(base, 8, Path(poll_dir), seed)
    print(
        f"push latency over {len(pushed)} sessions: p50 {statistics.median(pushed):.2f} s, "
        f"p95 {percentile(pushed, 95):.2f} s, max {max(pushed):.2f} s"
    )
    print(
        f"poll latency at the default {POLL_INTERVAL_S:.0f} s interval over {len(polled)} sessions: "
        f"p50 {statistics.median(polled):.2f} s, max {max(polled):.2f} s"
    )
    print(
        f"push: sessions={len(pushed)} p50_s={statistics.median(pushed):.2f} "
        f"p95_s={percentile(pushed, 95):.2f} poll_p50_s={statistics.median(polled):.2f}"
    )
