"""Push: Subscription notifications coded within seconds, the polling pass kept as the safety net.

The listener thread only queues hints (`HintQueue.add`). One thread, the worker's, does all
the coding: it takes the hints that are due (no new hint for a resource within `debounce_s`,
or `max_wait_s` since its first), reads each named resource from the server (a notification
is never trusted), codes and writes the patients they belong to, and runs the polling pass
every `interval_s`. So a push batch and a pass never write the same case at once, and a burst
of notifications for one patient is coded once or twice, not fifty times. A notification
that names nothing (an empty rest-hook ping) brings the next pass forward.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..fhir.client import FhirClient
from ..fhir.errors import FhirError, TransportError
from ..fhirjson import JSON
from ..pipeline import CaseCoder
from ..sinks.base import ClaimStore
from ..sources.server import search_by_ids
from .listener import Health
from .metrics import WorkerMetrics
from .notifications import Hint
from .state import SyncState
from .worker import StopFlag, code_and_write, patients_of_changes

log = logging.getLogger("adapter.push")
Fetch = Callable[[list[str]], list[JSON]]


@dataclass
class _Waiting:
    first: float
    last: float


@dataclass
class HintQueue:
    """Hints from the listener, waiting until they are due; thread-safe."""

    debounce_s: float
    max_wait_s: float
    wake: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _waiting: dict[str, _Waiting] = field(default_factory=dict)
    _poll_soon: bool = False

    def add(self, hint: Hint, received: float) -> None:
        with self._lock:
            if hint.names_nothing:
                self._poll_soon = True
            for ref in hint.references:
                waiting = self._waiting.get(ref)
                if waiting is None:
                    self._waiting[ref] = _Waiting(received, received)
                else:
                    waiting.last = received
        self.wake.set()

    def take_due(self, now: float) -> tuple[dict[str, float], bool]:
        """The references due now (with when their first hint came), and whether to poll now."""
        with self._lock:
            due = {
                ref: w.first
                for ref, w in self._waiting.items()
                if now - w.last >= self.debounce_s or now - w.first >= self.max_wait_s
            }
            for ref in due:
                del self._waiting[ref]
            poll, self._poll_soon = self._poll_soon, False
            return due, poll

    def next_due(self) -> float | None:
        with self._lock:
            times = [min(w.last + self.debounce_s, w.first + self.max_wait_s) for w in self._waiting.values()]
            return min(times) if times else None


class PushWorker:
    """The worker's one coding thread in push mode: push batches between polling passes."""

    def __init__(
        self,
        client: FhirClient,
        sink: ClaimStore,
        coder: CaseCoder,
        state: SyncState,
        fetch: Fetch,
        queue: HintQueue,
        metrics: WorkerMetrics,
        health: Health,
    ) -> None:
        self.client, self.sink, self.coder, self.state = client, sink, coder, state
        self.fetch = fetch
        self.queue = queue
        self.metrics = metrics
        self.health = health
        self.codes = coder.tables.dry_needling_codes()

    def serve(self, run_pass: Callable[[], None], interval_s: float, stop: StopFlag) -> None:
        """Until stopped: a pass now and every `interval_s`, push batches as hints fall due."""
        next_pass = time.monotonic()
        while not stop.requested:
            now = time.monotonic()
            due, poll_now = self.queue.take_due(now)
            if due:
                self.code_hinted(due)
            if poll_now or now >= next_pass:
                self._timed_pass(run_pass)
                next_pass = time.monotonic() + interval_s
            wake_at = min(next_pass, self.queue.next_due() or next_pass)
            # Capped, so a stop request is seen within a quarter second.
            if self.queue.wake.wait(timeout=min(0.25, max(0.0, wake_at - time.monotonic()))):
                self.queue.wake.clear()

    def _timed_pass(self, run_pass: Callable[[], None]) -> None:
        started = time.monotonic()
        run_pass()  # its errors end the worker, as without push (the command decides the exit)
        self.metrics.pass_duration.observe(time.monotonic() - started)
        mark = self.state.watermark("Procedure")  # none in the date-of-service window reading
        if mark:
            lag = datetime.now(UTC) - datetime.fromisoformat(mark.replace("Z", "+00:00"))
            self.metrics.watermark_lag.set(max(0.0, lag.total_seconds()))
        self._succeeded()

    def code_hinted(self, due: dict[str, float]) -> None:
        """Read what the hints name, code their patients, write; latency per hint."""
        try:
            patients = sorted(self._patients_of(sorted(due)))
            if patients:
                code_and_write(self.coder, self.sink, self.state, patients, self.fetch(patients))
                self.sink.close()  # the batch's end, as a pass's
                self.metrics.patients.labels("push").inc(len(patients))
        except (TransportError, FhirError) as error:
            # The resources stay changed on the server: the next polling pass codes them.
            log.warning("push batch failed; the next pass catches it", extra={"error": type(error).__name__})
            self.health.failed(f"push batch failed: {type(error).__name__}")
            return
        finished = time.monotonic()
        for first in due.values():
            self.metrics.latency.observe(finished - first)
        log.info("push coded", extra={"hints": len(due), "patients": len(patients)})
        self._succeeded()

    def _patients_of(self, references: list[str]) -> set[str]:
        """Read what the hints name, one `_id` search a type; one not found was deleted, and
        our Provenances name its patient (a `{"resourceType", "id"}` stub stands for it)."""
        ids_by_type: dict[str, list[str]] = {}
        for ref in references:
            resource_type, _, rid = ref.partition("/")
            ids_by_type.setdefault(resource_type, []).append(rid)
        patients: set[str] = set()
        for resource_type, ids in ids_by_type.items():
            found = {
                str(r.get("id")): r
                for r in search_by_ids(self.client, resource_type, "_id", sorted(ids))
                if r.get("resourceType") == resource_type
            }
            resources = [found.get(rid) or {"resourceType": resource_type, "id": rid} for rid in sorted(ids)]
            patients |= patients_of_changes(self.client, resource_type, resources, self.codes)
        return patients

    def _succeeded(self) -> None:
        self.metrics.after_coding(self.coder.summary, self.sink.stats, self.client.statuses)
        self.metrics.last_success.set(time.time())
        self.health.succeeded()
