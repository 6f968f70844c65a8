"""The worker's metrics, in Prometheus form (prometheus_client), served on `/metrics`.

Counters move by what the coder, the claims store and the FHIR client counted since the last
update, so the worker only calls `after_coding` once a pass or a push batch; nothing here
touches the coding path. Names and labels are in docs/operations.md.
"""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, Gauge, Histogram, disable_created_metrics
from prometheus_client import Counter as PromCounter
from prometheus_client.exposition import generate_latest

from ..pipeline import RunSummary
from ..sinks.base import WriteStats

_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
_WRITE_KINDS = ("created", "updated", "cancelled", "unchanged")


class WorkerMetrics:
    """One registry per worker (not the process-global one), so tests can run several."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twin per series
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = PromCounter("dn_adapter_sessions_coded", "Sessions (cases) coded", registry=r)
        self.claims = PromCounter(
            "dn_adapter_claims_written",
            "Claim writes by kind (created, updated, cancelled, unchanged)",
            ["kind"],
            registry=r,
        )
        self.holds = PromCounter("dn_adapter_holds", "Hold reasons by rule", ["rule"], registry=r)
        self.write_errors = PromCounter("dn_adapter_write_errors", "Cases whose write failed", registry=r)
        self.requests = PromCounter(
            "dn_adapter_fhir_requests", "Answers of the FHIR server by HTTP status", ["status"], registry=r
        )
        self.patients = PromCounter(
            "dn_adapter_patients_coded", "Patients coded, by what triggered it (poll or push)", ["trigger"], registry=r
        )
        self.notifications = PromCounter(
            "dn_adapter_notifications",
            "Subscription notifications by result (accepted, refused, too-large, bad)",
            ["result"],
            registry=r,
        )
        self.pass_duration = Histogram(
            "dn_adapter_pass_duration_seconds", "Duration of a polling pass", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.watermark_lag = Gauge(
            "dn_adapter_watermark_lag_seconds", "Server time minus the Procedure watermark after a pass", registry=r
        )
        self.latency = Histogram(
            "dn_adapter_notification_to_claim_seconds",
            "From a notification's arrival to its patient's Claims written",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "dn_adapter_last_success_timestamp_seconds", "When a pass or a push batch last succeeded", registry=r
        )
        self._seen_holds: Counter[str] = Counter()
        self._seen_requests: Counter[str] = Counter()
        self._seen_writes: dict[str, int] = dict.fromkeys(_WRITE_KINDS, 0)
        self._seen_sessions = 0
        self._seen_errors = 0

    def after_coding(self, summary: RunSummary, stats: WriteStats, statuses: Counter[str]) -> None:
        """Move the counters by what changed in these running totals since the last call."""
        self.sessions.inc(summary.sessions - self._seen_sessions)
        self._seen_sessions = summary.sessions
        for rule, n in summary.held_by_rule.items():
            self.holds.labels(rule).inc(n - self._seen_holds[rule])
        self._seen_holds = Counter(summary.held_by_rule)
        for kind in _WRITE_KINDS:
            now = int(getattr(stats, kind))
            self.claims.labels(kind).inc(now - self._seen_writes[kind])
            self._seen_writes[kind] = now
        self.write_errors.inc(len(stats.errors) - self._seen_errors)
        self._seen_errors = len(stats.errors)
        for status, n in statuses.items():
            self.requests.labels(status).inc(n - self._seen_requests[status])
        self._seen_requests = Counter(statuses)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
