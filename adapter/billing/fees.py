"""The clinic's charges per CPT code (and optionally per payer), from fee-schedule.csv."""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ..tables import MappingError


class FeeSchedule:
    """Charges by (code, payer id); a payer's own row wins over the row for every payer."""

    def __init__(self, charges: dict[tuple[str, str], Decimal]) -> None:
        self.charges = charges

    def charge(self, code: str, payer_id: str | None) -> Decimal | None:
        return self.charges.get((code, payer_id or "")) or self.charges.get((code, ""))


def load_fee_schedule(path: Path) -> FeeSchedule:
    """Read the CSV; a malformed row is refused with file and line."""
    charges: dict[tuple[str, str], Decimal] = {}
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                code, payer, charge = (row.get(k) or "" for k in ("code", "payer", "charge"))
                try:
                    amount = Decimal(charge.strip())
                except InvalidOperation:
                    raise MappingError(f"{path} line {number}: charge {charge!r} is not a number") from None
                if not code.strip() or amount <= 0:
                    raise MappingError(f"{path} line {number}: needs a code and a positive charge")
                charges[(code.strip(), payer.strip())] = amount
    except OSError as error:
        raise MappingError(f"cannot read fee schedule {path}: {error.strerror}") from error
    return FeeSchedule(charges)
