"""What a sink has delivered, so it delivers each Claim version once (SQLite): the billing
sinks' ledger in the state dir, and the directory claims store's own (ledger.py).

Per case: what the last delivered Claim said (its fingerprint), its status as delivered, its
reference on the billing side (the 837P's CLM01, the DFT's FT1 transaction id), the patient and
date of service, and the Claim and the resources it named, from which a later withdrawal is
built. The sinks record only after the file or message that carries a change is in place.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..fhirjson import JSON


@dataclass(frozen=True)
class Sent:
    fingerprint: str
    status: str  # "active" or "void"
    reference: str
    claim: JSON
    parties: dict[str, JSON]
    patient: str = ""
    service_date: str = ""


class ExportLedger:
    """The sent Claims of one billing sink, by case id."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sent (case_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
            "status TEXT NOT NULL, reference TEXT NOT NULL, claim TEXT NOT NULL, parties TEXT NOT NULL, "
            "patient TEXT NOT NULL, service_date TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")

    def get(self, case_id: str) -> Sent | None:
        row = self._db.execute(
            "SELECT fingerprint, status, reference, claim, parties, patient, service_date FROM sent WHERE case_id = ?",
            (case_id,),
        ).fetchone()
        return None if row is None else _sent(row)

    def cases_of(self, patient: str) -> dict[str, Sent]:
        """Every case of this patient delivered so far, by case id."""
        rows = self._db.execute(
            "SELECT case_id, fingerprint, status, reference, claim, parties, patient, service_date FROM sent "
            "WHERE patient = ?",
            (patient,),
        ).fetchall()
        return {str(row[0]): _sent(row[1:]) for row in rows}

    def record(self, sent: dict[str, Sent]) -> None:
        """Remember these as sent, all at once."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO sent VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET "
                "fingerprint = excluded.fingerprint, status = excluded.status, reference = excluded.reference, "
                "claim = excluded.claim, parties = excluded.parties, patient = excluded.patient, "
                "service_date = excluded.service_date",
                [
                    (
                        cid,
                        s.fingerprint,
                        s.status,
                        s.reference,
                        json.dumps(s.claim),
                        json.dumps(s.parties),
                        s.patient,
                        s.service_date,
                    )
                    for cid, s in sorted(sent.items())
                ],
            )

    def next_number(self, name: str) -> int:
        """The next control number of this kind (1, 2, ...), kept across runs."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO counter VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,)
            )
            row = self._db.execute("SELECT value FROM counter WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()


def _sent(row: tuple[object, ...]) -> Sent:
    fingerprint, status, reference, claim, parties, patient, served = row
    return Sent(
        str(fingerprint), str(status), str(reference), json.loads(str(claim)), json.loads(str(parties)),
        str(patient), str(served),
    )  # fmt: skip
