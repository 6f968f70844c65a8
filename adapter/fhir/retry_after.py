"""Retry-After (RFC 9110 section 10.2.3): how long a server asks us to wait, read by the
transport's retries and by the Bulk export's status polling. Apart from the transport, which
brings requests, so that reading files never imports it."""

from __future__ import annotations

import email.utils
import time


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP-date, as seconds from now (never negative)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
