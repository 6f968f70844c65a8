"""What a Subscription notification hints at: the resources it names, or only that something changed.

A notification is a hint, never data: the worker reads what it names from the server and codes
from that, so a forged or stale payload cannot change a Claim. Three shapes arrive:

- R4 rest-hook with a payload: HAPI (and the R4 spec's "update" delivery) PUTs or POSTs the
  resource to `{endpoint}/{type}/{id}`; the path names it, the body is ignored beyond its type
  and id.
- R4 rest-hook without a payload: an empty POST to the endpoint; it names nothing, so the next
  polling pass is brought forward.
- The Subscriptions backport (topic-based, R4B/R5 style, `id-only`): a Bundle of type `history`
  whose first entry is a SubscriptionStatus (a Parameters resource in R4) listing each event's
  `focus` reference; heartbeats and handshakes name nothing.
No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from ..fhirjson import JSON, objects, reference, resource_key

_REFERENCE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


@dataclass(frozen=True)
class Hint:
    """The resources a notification names (`Type/id`); none means "something changed"."""

    references: tuple[str, ...] = ()

    @property
    def names_nothing(self) -> bool:
        return not self.references


class BadNotification(ValueError):
    """A body that is not a notification we understand (answered 400, nothing read)."""


def hint_of(path_tail: str, body: bytes) -> Hint:
    """The hint a notification carries: `path_tail` is the request path after the endpoint."""
    tail = path_tail.strip("/")
    if tail:
        match = _REFERENCE.match(tail)
        if match is None:
            raise BadNotification(f"path /{tail[:80]} does not name a resource")
        return Hint((f"{match[1]}/{match[2]}",))
    if not body.strip():
        return Hint()
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadNotification("body is not JSON") from error
    if not isinstance(parsed, dict):
        raise BadNotification("body is not a FHIR resource")
    if parsed.get("resourceType") == "Bundle":
        return Hint(tuple(dict.fromkeys(_bundle_references(parsed))))
    key = resource_key(parsed)
    return Hint((key,) if key and _REFERENCE.match(key) else ())


def _bundle_references(bundle: JSON) -> list[str]:
    """The focus of each event of a backport notification Bundle, else its entries' resources."""
    found: list[str] = []
    entries = list(objects(bundle.get("entry")))
    status = entries[0].get("resource") if entries else None
    if isinstance(status, dict) and status.get("resourceType") in ("Parameters", "SubscriptionStatus"):
        found += _status_focuses(status)
        entries = entries[1:]
    for entry in entries:
        resource = entry.get("resource")
        key = resource_key(resource) if isinstance(resource, dict) else None
        url = entry.get("fullUrl") or (entry.get("request") or {}).get("url")
        candidate = key or (_relative(url) if isinstance(url, str) else None)
        if candidate and _REFERENCE.match(candidate):
            found.append(candidate)
    return found


def _status_focuses(status: JSON) -> list[str]:
    """notification-event.focus of a SubscriptionStatus (R5/R4B) or its R4 Parameters form."""
    found: list[str] = []
    for event in objects(status.get("notificationEvent")):
        ref = reference(event.get("focus"))
        if ref:
            found.append(_relative(ref))
    for parameter in objects(status.get("parameter")):
        if parameter.get("name") != "notification-event":
            continue
        for part in objects(parameter.get("part")):
            if part.get("name") == "focus":
                ref = reference(part.get("valueReference"))
                if ref:
                    found.append(_relative(ref))
    return [ref for ref in found if _REFERENCE.match(ref)]


def _relative(url: str) -> str:
    """'http://ehr/fhir/Procedure/1/_history/2' -> 'Procedure/1'."""
    parts = url.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else url
