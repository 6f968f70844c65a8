"""Transport edge cases of the FHIR client, with `responses` (the server-decided ones run on HAPI)."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import pytest
import requests
import responses

from adapter.fhir.auth import BearerAuth, SmartBackendAuth
from adapter.fhir.client import FhirClient, RetryPolicy, parse_retry_after
from adapter.fhir.errors import ForeignHostError, ResponseTooLarge, ServerError, TransportError
from adapter.sinks.server import ServerSink
from tests.helpers import sent_body

BASE = "http://fhir.test/fhir"


def client(**kwargs: Any) -> tuple[FhirClient, list[float]]:
    waits: list[float] = []
    return FhirClient(
        BASE, sleep=waits.append, retry=RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=30), **kwargs
    ), waits


def bundle(entries: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in entries]}
    if next_url:
        page["link"] = [{"relation": "next", "url": next_url}]
    return page


@responses.activate
def test_429_with_retry_after_seconds_waits_that_long() -> None:
    responses.get(f"{BASE}/Patient/1", status=429, headers={"Retry-After": "7"})
    responses.get(f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
    fhir, waits = client()
    body, _ = fhir.request("GET", "Patient/1")
    assert body == {"resourceType": "Patient", "id": "1"}
    assert waits == [7.0]


@responses.activate
def test_429_with_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 12, usegmt=True)
    responses.get(f"{BASE}/Patient/1", status=429, headers={"Retry-After": when})
    responses.get(f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
    fhir, waits = client()
    fhir.request("GET", "Patient/1")
    assert len(waits) == 1 and 9 <= waits[0] <= 12


def test_retry_after_is_capped_and_parsed() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0


@responses.activate
def test_retry_after_longer_than_the_cap_is_capped() -> None:
    responses.get(f"{BASE}/x", status=503, headers={"Retry-After": "3600"})
    responses.get(f"{BASE}/x", json={"resourceType": "Basic"})
    fhir, waits = client()
    fhir.request("GET", "x")
    assert waits == [30]


@responses.activate
def test_503_then_success_and_backoff_grows() -> None:
    for _ in range(3):
        responses.get(f"{BASE}/x", status=503)
    responses.get(f"{BASE}/x", json={"resourceType": "Basic"})
    fhir, waits = client()
    assert fhir.request("GET", "x")[0] == {"resourceType": "Basic"}
    assert len(waits) == 3


@responses.activate
def test_gives_up_after_the_attempts_with_a_clear_error() -> None:
    for _ in range(4):
        responses.get(f"{BASE}/x", body=requests.ConnectionError("refused"))
    fhir, _ = client()
    with pytest.raises(TransportError, match="ConnectionError after 4 attempts"):
        fhir.request("GET", "x")


@responses.activate
def test_non_transient_errors_are_not_retried_and_carry_the_outcome() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "Claim.status is required"}],
    }
    responses.post(f"{BASE}/Claim", status=422, json=outcome)
    fhir, waits = client()
    with pytest.raises(ServerError, match=r"Claim\.status is required") as raised:
        fhir.request("POST", "Claim", body={"resourceType": "Claim"})
    assert raised.value.status == 422 and waits == [] and len(responses.calls) == 1


@responses.activate
def test_html_error_page_becomes_a_clean_error() -> None:
    responses.get(f"{BASE}/x", status=404, body="<html><body>Not Found</body></html>", content_type="text/html")
    fhir, _ = client()
    with pytest.raises(ServerError, match="HTTP 404"):
        fhir.request("GET", "x")


@responses.activate
def test_timeout_after_which_the_conditional_write_had_landed() -> None:
    """The first transaction times out but landed; the retry's ifNoneExist finds it: one Claim."""
    from tests.unit.test_sink import case_result

    result = case_result()
    responses.get(f"{BASE}/Claim", json=bundle([]))
    responses.get(f"{BASE}/Task", json=bundle([]))
    responses.post(BASE, body=requests.ReadTimeout("timed out"))
    responses.post(
        BASE,
        json={
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [
                {"response": {"status": "200 OK", "location": "Claim/1/_history/1"}},
                {"response": {"status": "200 OK", "location": "Provenance/p/_history/2"}},
            ],
        },
    )
    fhir, waits = client()
    sink = ServerSink(fhir)
    sink.write_case(result)
    sink.flush()
    posts = [c for c in responses.calls if c.request.method == "POST"]
    assert len(posts) == 2 and len(waits) == 1
    first, second = (json.loads(sent_body(c.request)) for c in posts)
    assert first == second, "the retry sends the same conditional transaction"
    claim_entry = next(e for e in second["entry"] if e["resource"]["resourceType"] == "Claim")
    assert claim_entry["request"]["ifNoneExist"].startswith("identifier=")
    assert sink.stats.errors == []


@responses.activate
def test_next_link_to_a_foreign_host_is_refused() -> None:
    responses.get(
        f"{BASE}/Procedure",
        json=bundle([{"resourceType": "Procedure", "id": "1"}], "https://evil.example/fhir/Procedure?page=2"),
    )
    fhir, _ = client(auth=BearerAuth("secret-token"))
    pages = fhir.search("Procedure", {})
    assert next(pages)["entry"]
    with pytest.raises(ForeignHostError):
        next(pages)
    assert all("evil.example" not in (c.request.url or "") for c in responses.calls)


@responses.activate
def test_relative_next_links_are_followed_and_an_empty_last_page_ends() -> None:
    responses.get(
        f"{BASE}/Procedure",
        json=bundle([{"resourceType": "Procedure", "id": "1"}], "/fhir?_getpages=abc&_getpagesoffset=20"),
    )
    responses.get(f"{BASE}", json=bundle([]))
    fhir, _ = client()
    found = list(fhir.search_resources("Procedure", {}))
    assert [r["id"] for r in found] == ["1"]


@responses.activate
def test_redirects_are_not_followed() -> None:
    responses.get(f"{BASE}/x", status=302, headers={"Location": "https://elsewhere.example/x"})
    fhir, _ = client(auth=BearerAuth("secret-token"))
    with pytest.raises(ServerError, match="not followed"):
        fhir.request("GET", "x")
    assert len(responses.calls) == 1


@responses.activate
def test_malformed_bundle_page_is_an_error_not_a_crash() -> None:
    responses.get(f"{BASE}/Procedure", body="{not json", content_type="application/fhir+json")
    fhir, _ = client()
    with pytest.raises(ServerError, match="not JSON"):
        list(fhir.search("Procedure", {}))
    responses.replace(responses.GET, f"{BASE}/Procedure", json={"resourceType": "Patient"})
    with pytest.raises(ServerError, match="not a Bundle"):
        list(fhir.search("Procedure", {}))


@responses.activate
def test_oversized_response_is_refused() -> None:
    responses.get(f"{BASE}/x", body=b"x" * 5000)
    fhir, _ = client(max_response_bytes=1000)
    with pytest.raises(ResponseTooLarge):
        fhir.request("GET", "x")


@responses.activate
def test_polling_searches_send_no_cache_and_long_queries_go_by_post() -> None:
    responses.get(f"{BASE}/Procedure", json=bundle([]))
    responses.post(f"{BASE}/Procedure/_search", json=bundle([]))
    fhir, _ = client()
    list(fhir.search("Procedure", {"_lastUpdated": "gt2025-01-01T00:00:00Z"}))
    list(fhir.search("Procedure", {"subject": ",".join(f"Patient/{i:05d}" for i in range(400))}))
    assert responses.calls[0].request.headers["Cache-Control"] == "no-cache"
    assert responses.calls[1].request.method == "POST"
    assert b"subject=Patient" in sent_body(responses.calls[1].request)


def _rsa_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@responses.activate
def test_401_fetches_a_fresh_smart_token_once() -> None:
    import jwt

    token_url = "http://fhir.test/auth/token"
    responses.get(f"{BASE}/.well-known/smart-configuration", json={"token_endpoint": token_url})
    responses.post(token_url, json={"access_token": "first", "expires_in": 300})
    responses.post(token_url, json={"access_token": "second", "expires_in": 300})
    responses.get(f"{BASE}/Patient/1", status=401)
    responses.get(f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
    auth = SmartBackendAuth(BASE, "client-1", _rsa_key(), "kid-1", "system/Patient.read", token_endpoint=None)
    fhir, _ = client(auth=auth)
    fhir.request("GET", "Patient/1")
    reads = [c for c in responses.calls if (c.request.url or "").endswith("/Patient/1")]
    assert [c.request.headers["Authorization"] for c in reads] == ["Bearer first", "Bearer second"]
    token_calls = [c for c in responses.calls if c.request.url == token_url]
    form = sent_body(token_calls[0].request).decode()
    assertion = dict(p.split("=", 1) for p in form.split("&"))["client_assertion"]
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["iss"] == claims["sub"] == "client-1" and claims["aud"] == token_url
    assert claims["exp"] - claims["iat"] <= 300
    assert jwt.get_unverified_header(assertion)["alg"] == "RS384"


@responses.activate
def test_smart_token_is_cached_until_shortly_before_expiry() -> None:
    token_url = "http://fhir.test/auth/token"
    responses.post(token_url, json={"access_token": "t1", "expires_in": 300})
    responses.post(token_url, json={"access_token": "t2", "expires_in": 300})
    now = [1000.0]
    auth = SmartBackendAuth(BASE, "c", _rsa_key(), "k", "s", token_endpoint=token_url, clock=lambda: now[0])
    assert auth.headers() == {"Authorization": "Bearer t1"}
    now[0] += 200
    assert auth.headers() == {"Authorization": "Bearer t1"}
    now[0] += 60  # within the refresh margin of expiry
    assert auth.headers() == {"Authorization": "Bearer t2"}


def test_secrets_never_show_in_reprs() -> None:
    assert "secret" not in repr(BearerAuth("secret-token"))


@responses.activate
def test_a_server_without_history_means_deletions_are_not_seen(caplog: pytest.LogCaptureFixture) -> None:
    """EHRs that keep no type history answer 4xx: the pass goes on, and the log says what is missed."""
    from adapter.sync.searches import deleted_since

    responses.get(f"{BASE}/Procedure/_history", status=405, json={"resourceType": "OperationOutcome"})
    fhir, _ = client()
    with caplog.at_level("WARNING", logger="adapter.source"):
        assert deleted_since(fhir, "Procedure", "2025-01-01T00:00:00.000Z") is None
    assert "hard deletions are not seen" in caplog.text


@responses.activate
def test_a_deleted_resource_is_known_by_its_last_live_version() -> None:
    """The history names the deleted id; its own history gives the version with the patient."""
    from adapter.sync.searches import deleted_since

    history = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            {"request": {"method": "DELETE", "url": "Procedure/gone/_history/3"}},
            {"request": {"method": "DELETE", "url": "Procedure/twice/_history/2"}},
            {"resource": {"resourceType": "Procedure", "id": "twice", "subject": {"reference": "Patient/b"}}},
            {
                "request": {"method": "PUT", "url": "Procedure/kept/_history/2"},
                "resource": {"resourceType": "Procedure", "id": "kept"},
            },
        ],
    }
    responses.get(f"{BASE}/Procedure/_history", json=history)
    responses.get(
        f"{BASE}/Procedure/gone/_history",
        json={
            "resourceType": "Bundle",
            "type": "history",
            "entry": [
                {"request": {"method": "DELETE", "url": "Procedure/gone/_history/3"}},
                {"resource": {"resourceType": "Procedure", "id": "gone", "subject": {"reference": "Patient/a"}}},
            ],
        },
    )
    fhir, _ = client()
    found = deleted_since(fhir, "Procedure", "2025-01-01T00:00:00.000Z")
    assert found is not None
    assert [(r["id"], r["subject"]["reference"]) for r in found] == [("gone", "Patient/a"), ("twice", "Patient/b")]
    assert "_since=2025-01-01T00%3A00%3A00.000Z" in (responses.calls[0].request.url or "")


def test_code_token_names_every_spelling_of_the_system() -> None:
    """Servers match a token's system as stored: CPT under its OID needs its own entry."""
    from adapter.sources.server import code_token

    token = code_token([("http://www.ama-assn.org/go/cpt", "20560"), ("http://ehr.example/local", "DN")])
    assert token.split(",") == [
        "http://www.ama-assn.org/go/cpt|20560",
        "urn:oid:2.16.840.1.113883.6.12|20560",
        "http://ehr.example/local|DN",
    ]


@responses.activate
def test_token_requests_go_through_the_one_transport() -> None:
    """A 503 from the token endpoint is retried with Retry-After like any FHIR call (issue 13)."""
    from adapter.fhir.transport import RetryPolicy, Transport

    token_url = "http://fhir.test/auth/token"
    responses.post(token_url, status=503, headers={"Retry-After": "2"})
    responses.post(token_url, json={"access_token": "t1", "expires_in": 300})
    waits: list[float] = []
    transport = Transport(retry=RetryPolicy(attempts=3), sleep=waits.append)
    auth = SmartBackendAuth(BASE, "c", _rsa_key(), "k", "s", token_endpoint=token_url, transport=transport)
    assert auth.headers() == {"Authorization": "Bearer t1"}
    assert waits == [2.0] and transport.requests_sent == 2
