"""Durable sync state: one SQLite file per source (and sink, when it is another), updated atomically.

A watermark per watched resource type, the patients to retry, and, for reading by window, the
patients coded in the window with their newest date of service (so a session that disappears
from the server is still re-coded, and its Claim cancelled). SQLite's transactions make each update all-or-nothing,
so a crash leaves the previous watermark, and the next run repeats (idempotent) work rather
than skipping any.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path


class SyncState:
    """The watermarks and the patients to retry of one source (and sink)."""

    def __init__(self, state_dir: Path, base_url: str, sink: str | None = None) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url.rstrip("/")
        if sink is not None and sink.rstrip("/") != self.base_url:
            # Claims kept elsewhere: what was written there is its own state.
            self.base_url = f"{self.base_url} -> {sink.rstrip('/')}"
        digest = hashlib.sha256(self.base_url.encode()).hexdigest()[:16]
        self.path = state_dir / f"sync-{digest}.sqlite3"
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS server (base_url TEXT PRIMARY KEY)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS watermark (resource_type TEXT PRIMARY KEY, last_updated TEXT NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS retry_patient "
            "(patient TEXT PRIMARY KEY, reason TEXT NOT NULL, attempts INTEGER)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS window_patient (patient TEXT PRIMARY KEY, newest_service TEXT NOT NULL)"
        )
        known = self._db.execute("SELECT base_url FROM server").fetchone()
        if known is None:
            self._db.execute("INSERT INTO server VALUES (?)", (self.base_url,))
        elif known[0] != self.base_url:
            raise ValueError(f"state file {self.path} belongs to {known[0]}, not {self.base_url}")

    def watermark(self, resource_type: str) -> str | None:
        row = self._db.execute(
            "SELECT last_updated FROM watermark WHERE resource_type = ?", (resource_type,)
        ).fetchone()
        return str(row[0]) if row else None

    def set_watermark(self, resource_type: str, last_updated: str) -> None:
        """Move a watermark forward (never back), atomically."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            current = self.watermark(resource_type)
            if current is None or last_updated > current:
                self._db.execute(
                    "INSERT INTO watermark VALUES (?, ?) "
                    "ON CONFLICT(resource_type) DO UPDATE SET last_updated = excluded.last_updated",
                    (resource_type, last_updated),
                )

    def start_at(self, instant: str, resource_types: list[str], deletions_of: list[str]) -> None:
        """Watermarks not set yet start at this instant (a Bulk export's transactionTime): what
        the export held is coded, so the passes read only what changed after it."""
        for resource_type in resource_types:
            if self.watermark(resource_type) is None:
                self.set_watermark(resource_type, instant)
        for resource_type in deletions_of:
            if self.watermark(f"{resource_type}/deleted") is None:
                self.set_watermark(f"{resource_type}/deleted", instant)

    def mark_for_retry(self, patients: list[str], reason: str) -> None:
        """Remember patients whose write failed, to retry on the next pass (nothing lost)."""
        if not patients:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO retry_patient VALUES (?, ?, 1) ON CONFLICT(patient) DO UPDATE SET attempts = attempts + 1",
                [(p, reason) for p in patients],
            )

    def clear_retry(self, patients: list[str]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM retry_patient WHERE patient = ?", [(p,) for p in patients])

    def patients_to_retry(self) -> list[str]:
        return [str(row[0]) for row in self._db.execute("SELECT patient FROM retry_patient ORDER BY patient")]

    def remember_in_window(self, newest: dict[str, str]) -> None:
        """Patients coded with sessions in the window, with their newest date of service."""
        if not newest:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO window_patient VALUES (?, ?) ON CONFLICT(patient) DO UPDATE SET "
                "newest_service = max(newest_service, excluded.newest_service)",
                sorted(newest.items()),
            )

    def patients_in_window(self, start: str) -> list[str]:
        """Patients remembered with a session on or after `start`; older ones are forgotten."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM window_patient WHERE newest_service < ?", (start,))
        return [str(row[0]) for row in self._db.execute("SELECT patient FROM window_patient ORDER BY patient")]

    def close(self) -> None:
        self._db.close()
