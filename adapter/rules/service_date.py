"""R2a: the date of service is the clinic's local date.

A timestamp written with a non-UTC offset is taken on that offset's date; one in UTC is
converted to the clinic's time zone first; with no zone known it is taken as UTC, with a
warning. A date without a time is taken as written.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..session import ProcedureFacts
from .decision import Finding, Findings

_DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")
_UTC_OFFSETS = frozenset({"Z", "+00:00", "-00:00"})


@functools.lru_cache(maxsize=256)
def clinic_zone(name: str | None) -> ZoneInfo | None:
    """The IANA time zone of that name, or None when there is none of that name."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_service_date(value: object, zone: ZoneInfo | None) -> tuple[date | None, bool]:
    """The clinic's local date of a FHIR date or dateTime, and whether it is a UTC time taken
    as UTC because no clinic time zone is known (R2a)."""
    if not isinstance(value, str):
        return None, False
    match = _DATE_TIME.match(value.strip())
    if match is None:
        return None, False
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        written = date(int(year), int(month), int(day))
        if offset not in _UTC_OFFSETS:
            return written, False  # a local offset, a date alone, or a time without offset: as written
        if zone is None:
            return written, True
        instant = datetime(
            written.year, written.month, written.day, int(hour), int(minute), int(second or 0), tzinfo=UTC
        )
        return instant.astimezone(zone).date(), False
    except ValueError:
        return None, False


def check_service_date(procedures: list[ProcedureFacts], day: date) -> Findings:
    """A warning for each Procedure dated from a UTC time with no clinic time zone (R2a)."""
    in_utc = [p.reference for p in procedures if p.date_in_utc]
    found = _utc_warnings(procedures)
    if in_utc:
        found.decided("R2a", f"date of service {day.isoformat()}, taken in UTC (no clinic time zone known)")
    else:
        found.decided("R2a", f"date of service {day.isoformat()}, the clinic's local date")
    return found


def _utc_warnings(procedures: list[ProcedureFacts]) -> Findings:
    return Findings(
        warnings=[
            Finding(
                "R2a",
                f"{p.reference} is timed in UTC and no clinic time zone is known (timezone extension on the "
                "Encounter's Location or the billing Organization, or the clinic_time_zone setting): "
                "the date of service may be off by one",
            )
            for p in procedures
            if p.date_in_utc
        ]
    )
