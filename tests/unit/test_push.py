"""Issue 19 without a server: what a notification names, the debounce, the listener's answers,
and the Subscriptions the worker creates, reuses or re-arms (transport edges with responses)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import responses

from adapter.fhir.client import FhirClient
from adapter.sync.listener import Health, NotificationListener
from adapter.sync.metrics import WorkerMetrics
from adapter.sync.notifications import BadNotification, Hint, hint_of
from adapter.sync.push import HintQueue
from adapter.sync.subscriptions import ensure_subscriptions, wanted_criteria

BASE = "http://ehr.test/fhir"


def test_a_rest_hook_path_names_its_resource_and_the_body_is_not_trusted() -> None:
    forged = json.dumps({"resourceType": "Procedure", "id": "other", "subject": {"reference": "Patient/x"}}).encode()
    assert hint_of("/Procedure/p1", forged) == Hint(("Procedure/p1",))
    assert hint_of("/Procedure/p1/_history/3", b"") == Hint(("Procedure/p1",))
    assert hint_of("", b"").names_nothing  # an empty ping: something changed
    with pytest.raises(BadNotification):
        hint_of("/../../etc/passwd", b"")
    with pytest.raises(BadNotification):
        hint_of("", b"{not json")


def test_a_backport_notification_names_its_focus_resources() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            {
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "type", "valueCode": "event-notification"},
                        {
                            "name": "notification-event",
                            "part": [
                                {"name": "event-number", "valueString": "7"},
                                {"name": "focus", "valueReference": {"reference": "http://ehr/fhir/Procedure/p9"}},
                            ],
                        },
                    ],
                }
            },
            {"fullUrl": "http://ehr/fhir/Observation/o1", "request": {"method": "PUT", "url": "Observation/o1"}},
        ],
    }
    assert hint_of("", json.dumps(bundle).encode()) == Hint(("Procedure/p9", "Observation/o1"))
    heartbeat = {"resourceType": "Bundle", "type": "history", "entry": [{"resource": {"resourceType": "Parameters"}}]}
    assert hint_of("", json.dumps(heartbeat).encode()).names_nothing


def test_hints_wait_for_quiet_or_the_longest_wait() -> None:
    queue = HintQueue(debounce_s=0.5, max_wait_s=2.0)
    for t in (0.0, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8):
        queue.add(Hint(("Procedure/p1",)), t)
    assert queue.take_due(1.9) == ({}, False)  # still bursting
    assert queue.take_due(2.0) == ({"Procedure/p1": 0.0}, False)  # the longest wait
    queue.add(Hint(("Procedure/p1",)), 3.0)
    queue.add(Hint(), 3.0)
    assert queue.next_due() == 3.5
    assert queue.take_due(3.6) == ({"Procedure/p1": 3.0}, True)


def call(
    listener: NotificationListener, method: str, path: str, body: bytes = b"", auth: str = ""
) -> tuple[str, bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = status

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": auth,
        "wsgi.input": io.BytesIO(body),
    }
    chunks = listener.app(environ, start_response)
    return answer["status"], b"".join(chunks)


@pytest.fixture()
def listener() -> Any:
    hints: list[Hint] = []
    made = NotificationListener(
        "127.0.0.1", 0, "s3cret", lambda h, t: hints.append(h), WorkerMetrics(), Health(60), 1024
    )
    made.hints = hints  # type: ignore[attr-defined]
    yield made
    made.stop()


def test_the_listener_checks_the_secret_first_and_bounds_the_body(listener: Any) -> None:
    assert call(listener, "POST", "/notify/Procedure/p1", auth="Bearer wrong")[0].startswith("401")
    assert call(listener, "POST", "/notify/Procedure/p1")[0].startswith("401")
    assert listener.hints == []
    assert call(listener, "POST", "/notify", b"x" * 2048, "Bearer s3cret")[0].startswith("413")
    assert call(listener, "GET", "/notify", auth="Bearer s3cret")[0].startswith("405")
    assert call(listener, "PUT", "/notify/Procedure/p1", b"{}", "Bearer s3cret")[0].startswith("200")
    assert listener.hints == [Hint(("Procedure/p1",))]
    metrics = listener.metrics.exposition().decode()
    assert 'dn_adapter_notifications_total{result="refused"} 2.0' in metrics
    assert 'dn_adapter_notifications_total{result="accepted"} 1.0' in metrics


def test_healthz_is_ready_only_after_a_recent_success(listener: Any) -> None:
    status, body = call(listener, "GET", "/healthz")
    assert status.startswith("503") and json.loads(body)["ready"] is False
    listener.health.succeeded()
    status, body = call(listener, "GET", "/healthz")
    assert status.startswith("200") and json.loads(body) == {"alive": True, "ready": True, "why": "ok"}
    listener.health.ready_within_s = 0
    assert call(listener, "GET", "/healthz")[0].startswith("503")


@responses.activate
def test_subscriptions_are_created_reused_or_rearmed() -> None:
    criteria = wanted_criteria([("http://www.ama-assn.org/go/cpt", "20560")], ("exam",))
    assert criteria[0].startswith("Procedure?code=") and "Observation?category=exam" in criteria
    endpoint, header = "http://worker:8765/notify", "Authorization: Bearer s"
    ours = [
        {"resourceType": "Subscription", "id": "s1", "status": "active", "criteria": criteria[0],
         "channel": {"type": "rest-hook", "endpoint": endpoint, "header": [header]}},
        {"resourceType": "Subscription", "id": "s2", "status": "error", "criteria": criteria[1],
         "channel": {"type": "rest-hook", "endpoint": endpoint, "header": [header]}},
    ]  # fmt: skip
    responses.get(f"{BASE}/Subscription", json={"resourceType": "Bundle", "entry": [{"resource": s} for s in ours]})
    responses.put(f"{BASE}/Subscription/s2", json={"resourceType": "Subscription", "id": "s2"})
    responses.post(f"{BASE}/Subscription", json={"resourceType": "Subscription", "id": "new"})
    ids = ensure_subscriptions(FhirClient(BASE), endpoint, "s", criteria[:3])
    assert ids == ["s1", "s2", "new"]
    sent = [json.loads(call.request.body or b"{}") for call in responses.calls if call.request.method != "GET"]
    assert sent[0]["status"] == "requested" and sent[0]["channel"]["header"] == [header]  # s2 re-armed
    assert sent[1]["criteria"] == criteria[2] and sent[1]["channel"]["payload"] == "application/fhir+json"


def test_listen_needs_watch(capsys: Any) -> None:
    from adapter.cli import main

    assert main(["sync", "--server", BASE, "--once", "--listen", "127.0.0.1:0"]) == 2
    assert "--listen needs --watch" in capsys.readouterr().err


def test_listen_address_is_host_and_port() -> None:
    from adapter.cli.sync import parse_listen
    from adapter.sources import SourceError

    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("8765", "host:", "host:99999", ":80"):
        with pytest.raises(SourceError):
            parse_listen(bad)
