"""The summary a command prints at the end of a run or a sync pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..pipeline import RunSummary
from ..sinks.base import WriteStats

if TYPE_CHECKING:  # the sync worker brings the FHIR client (requests): `run` never needs it
    from ..sync.worker import SyncSummary


def print_summary(
    title: str,
    summary: RunSummary,
    stats: WriteStats | None = None,
    sync: SyncSummary | None = None,
    requests: int | None = None,
) -> None:
    print(title)
    for line in summary.lines():
        print("  " + line)
    if sync:
        print(
            f"  changed resources: {sync.changed_resources}, deleted: {sync.deleted_resources} "
            f"(patients re-coded: {sync.patients}, retried: {sync.retried})"
        )
    if stats:
        print(
            f"  written:          created={stats.created} updated={stats.updated} cancelled={stats.cancelled} "
            f"unchanged={stats.unchanged} tasks={stats.tasks} transactions={stats.transactions}"
        )
        print(f"  write errors:     {len(stats.errors)}")
    if requests is not None:
        print(f"  HTTP requests:    {requests}")
