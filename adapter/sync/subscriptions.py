"""The worker's Subscriptions on the server: created at start, or reused (and re-armed) when
an earlier run left them, found by our written-by tag, their criteria and their endpoint.

R4 rest-hook, one Subscription per watched type: the dry-needling Procedures by code, and every
change to the types that change a case (Observation by the configured categories, Encounter,
Condition, Coverage, BodyStructure, MedicationAdministration). Clinicians and payers change
rarely; the polling pass covers them. The secret travels in the channel header
(`Authorization: Bearer ...`) and the listener checks it on every notification.

Where the server offers topic-based Subscriptions (the R4 backport), `[push] topic` names the
topic's canonical URL and one Subscription asks for id-only notifications of it.
"""

from __future__ import annotations

import logging

from .. import systems
from ..build import ADAPTER_NAME, written_by_meta
from ..fhir.client import FhirClient
from ..fhirjson import JSON, as_list
from ..sources.server import code_token
from .worker import WATCHED_TYPES

log = logging.getLogger("adapter.subscriptions")
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
BACKPORT_PROFILE = f"{BACKPORT}/backport-subscription"


def wanted_criteria(codes: list[tuple[str, str]], observation_categories: tuple[str, ...]) -> list[str]:
    """The criteria of the rest-hook Subscriptions the worker keeps."""
    criteria = [f"Procedure?code={code_token(codes)}"]
    for resource_type in WATCHED_TYPES:
        if resource_type == "Procedure":
            continue
        if resource_type == "Observation" and observation_categories:
            criteria.append(f"Observation?category={','.join(observation_categories)}")
        else:
            criteria.append(f"{resource_type}?")
    return criteria


def ensure_subscriptions(
    client: FhirClient, endpoint: str, secret: str, criteria: list[str], topic: str | None = None
) -> list[str]:
    """Create or reuse one Subscription per criterion (or one of the topic); their ids."""
    header = f"Authorization: Bearer {secret}"
    tag = f"{systems.WRITTEN_BY_TAG_SYSTEM}|{ADAPTER_NAME}"
    existing = list(client.search_resources("Subscription", {"_tag": tag, "_count": "200"}))
    wanted = (
        [_topic_subscription(topic, endpoint, header)] if topic else [_rest_hook(c, endpoint, header) for c in criteria]
    )
    ids: list[str] = []
    for body in wanted:
        match = next((s for s in existing if _same_subscription(s, body)), None)
        if match is None:
            created, _ = client.request("POST", "Subscription", body=body, what="create Subscription")
            ids.append(str((created or {}).get("id", "")))
            log.info("subscription created", extra={"criteria": body["criteria"][:80]})
        elif match.get("status") in ("requested", "active") and _header(match) == [header]:
            ids.append(str(match["id"]))
        else:  # ours, but switched off by the server (errors) or armed with another secret
            updated = {**body, "id": match["id"]}
            client.request("PUT", f"Subscription/{match['id']}", body=updated, what="re-arm Subscription")
            ids.append(str(match["id"]))
            log.info("subscription re-armed", extra={"criteria": body["criteria"][:80]})
    return ids


def _rest_hook(criteria: str, endpoint: str, header: str) -> JSON:
    return {
        "resourceType": "Subscription",
        "meta": written_by_meta(),
        "status": "requested",
        "reason": "dry-needling-adapter: code and write claims as sessions change",
        "criteria": criteria,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            # With a payload, the server names the resource in the URL (`{endpoint}/Type/id`);
            # the body itself is never trusted (notifications.py).
            "payload": "application/fhir+json",
            "header": [header],
        },
    }


def _topic_subscription(topic: str, endpoint: str, header: str) -> JSON:
    """An R4 backport Subscription of a topic, id-only notifications."""
    return {
        "resourceType": "Subscription",
        "meta": {**written_by_meta(), "profile": [BACKPORT_PROFILE]},
        "status": "requested",
        "reason": "dry-needling-adapter: code and write claims as sessions change",
        "criteria": topic,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": f"{BACKPORT}/backport-payload-content", "valueCode": "id-only"}]},
            "header": [header],
        },
    }


def _same_subscription(found: JSON, wanted: JSON) -> bool:
    endpoint = _channel(found).get("endpoint")
    return bool(found.get("criteria") == wanted["criteria"] and endpoint == wanted["channel"]["endpoint"])


def _header(subscription: JSON) -> list[str]:
    return [h for h in as_list(_channel(subscription).get("header")) if isinstance(h, str)]


def _channel(subscription: JSON) -> JSON:
    channel = subscription.get("channel")
    return channel if isinstance(channel, dict) else {}
