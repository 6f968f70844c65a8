"""Smoke tests of the HAPI server itself: the behaviour our sync client relies on."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import requests

TAG_SYSTEM = "http://example.org/test-run"


def tagged(resource: dict[str, Any], tag: str) -> dict[str, Any]:
    resource["meta"] = {"tag": [{"system": TAG_SYSTEM, "code": tag}]}
    return resource


def test_metadata_is_fhir_r4(fhir_base: str, http: requests.Session) -> None:
    statement = http.get(f"{fhir_base}/metadata", timeout=30).json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"


def test_create_read_and_client_assigned_id(fhir_base: str, http: requests.Session, tag: str) -> None:
    created = http.post(
        f"{fhir_base}/Patient", json=tagged({"resourceType": "Patient", "gender": "female"}, tag), timeout=30
    )
    assert created.status_code == 201
    rid = created.json()["id"]
    assert http.get(f"{fhir_base}/Patient/{rid}", timeout=30).json()["gender"] == "female"
    put = http.put(
        f"{fhir_base}/Patient/{tag}-p", json=tagged({"resourceType": "Patient", "id": f"{tag}-p"}, tag), timeout=30
    )
    assert put.status_code == 201 and put.json()["id"] == f"{tag}-p"


def test_conditional_create_twice_gives_one_resource(fhir_base: str, http: requests.Session, tag: str) -> None:
    claim_like = tagged(
        {"resourceType": "Basic", "code": {"text": "x"}, "identifier": [{"system": "urn:test", "value": tag}]}, tag
    )
    headers = {"If-None-Exist": f"identifier=urn:test|{tag}"}
    first = http.post(f"{fhir_base}/Basic", json=claim_like, headers=headers, timeout=30)
    second = http.post(f"{fhir_base}/Basic", json=claim_like, headers=headers, timeout=30)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    found = http.get(f"{fhir_base}/Basic", params={"identifier": f"urn:test|{tag}"}, timeout=30).json()
    assert found["total"] == 1


def test_transaction_with_urn_uuid_references(fhir_base: str, http: requests.Session, tag: str) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:6f2b3a0e-0000-4000-8000-000000000001",
                "resource": tagged({"resourceType": "Patient"}, tag),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:6f2b3a0e-0000-4000-8000-000000000002",
                "resource": tagged(
                    {
                        "resourceType": "Encounter",
                        "status": "finished",
                        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                        "subject": {"reference": "urn:uuid:6f2b3a0e-0000-4000-8000-000000000001"},
                    },
                    tag,
                ),
                "request": {"method": "POST", "url": "Encounter"},
            },
        ],
    }
    response = http.post(fhir_base, json=bundle, timeout=60)
    assert response.status_code == 200
    locations = [e["response"]["location"] for e in response.json()["entry"]]
    patient_id = locations[0].split("/")[1]
    encounter = http.get(f"{fhir_base}/{locations[1].split('/_history')[0]}", timeout=30).json()
    assert encounter["subject"]["reference"] == f"Patient/{patient_id}"


def test_last_updated_paging_across_pages(fhir_base: str, http: requests.Session, tag: str) -> None:
    start = http.get(f"{fhir_base}/metadata", timeout=30).headers.get("Date")
    assert start
    entries = [
        {
            "resource": tagged({"resourceType": "Basic", "code": {"text": str(i)}}, tag),
            "request": {"method": "POST", "url": "Basic"},
        }
        for i in range(45)
    ]
    assert (
        http.post(
            fhir_base, json={"resourceType": "Bundle", "type": "batch", "entry": entries}, timeout=120
        ).status_code
        == 200
    )
    url: str | None = f"{fhir_base}/Basic?_tag={TAG_SYSTEM}|{tag}&_sort=_lastUpdated&_count=20"
    seen, pages, last = [], 0, ""
    while url:
        page = http.get(url, headers={"Cache-Control": "no-cache"}, timeout=30).json()
        pages += 1
        for entry in page.get("entry", []):
            seen.append(entry["resource"]["id"])
            assert entry["resource"]["meta"]["lastUpdated"] >= last
            last = entry["resource"]["meta"]["lastUpdated"]
        url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
    assert len(seen) == len(set(seen)) == 45
    assert pages == 3


def test_page_size_default_and_maximum(fhir_base: str, http: requests.Session, tag: str) -> None:
    entries = [
        {
            "resource": tagged({"resourceType": "Basic", "code": {"text": str(i)}}, tag),
            "request": {"method": "POST", "url": "Basic"},
        }
        for i in range(25)
    ]
    http.post(fhir_base, json={"resourceType": "Bundle", "type": "batch", "entry": entries}, timeout=120)
    default = http.get(f"{fhir_base}/Basic?_tag={TAG_SYSTEM}|{tag}", timeout=30).json()
    assert len(default["entry"]) == 20
    big = http.get(f"{fhir_base}/Basic?_count=1000", timeout=60).json()
    assert len(big.get("entry", [])) <= 500


def test_cached_search_hides_a_fresh_write_unless_no_cache(fhir_base: str, http: requests.Session, tag: str) -> None:
    search = f"{fhir_base}/Basic?_tag={TAG_SYSTEM}|{tag}"
    http.post(f"{fhir_base}/Basic", json=tagged({"resourceType": "Basic", "code": {"text": "1"}}, tag), timeout=30)
    assert len(http.get(search, timeout=30).json().get("entry", [])) == 1
    http.post(f"{fhir_base}/Basic", json=tagged({"resourceType": "Basic", "code": {"text": "2"}}, tag), timeout=30)
    cached = http.get(search, timeout=30).json()
    fresh = http.get(search, headers={"Cache-Control": "no-cache"}, timeout=30).json()
    assert len(cached.get("entry", [])) == 1, "HAPI reuses the cached search for a minute, like the sandbox"
    assert len(fresh.get("entry", [])) == 2


def test_validate_against_an_uploaded_profile(fhir_base: str, http: requests.Session, tag: str) -> None:
    url = f"http://example.org/fhir/StructureDefinition/{tag}-patient"
    profile = {
        "resourceType": "StructureDefinition",
        "url": url,
        "name": "TestPatient",
        "status": "active",
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {"element": [{"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1}]},
    }
    assert http.post(f"{fhir_base}/StructureDefinition", json=profile, timeout=60).status_code == 201
    bad = {"resourceType": "Patient", "meta": {"profile": [url]}}
    good = {"resourceType": "Patient", "meta": {"profile": [url]}, "birthDate": "1970-01-01"}
    bad_outcome = http.post(f"{fhir_base}/Patient/$validate", json=bad, timeout=120).json()
    good_outcome = http.post(f"{fhir_base}/Patient/$validate", json=good, timeout=120).json()
    errors = [i for i in bad_outcome["issue"] if i["severity"] in ("error", "fatal")]
    assert any("birthDate" in json.dumps(i) for i in errors)
    assert not [i for i in good_outcome["issue"] if i["severity"] in ("error", "fatal")]


def test_rest_hook_subscription_delivers_to_a_local_listener(fhir_base: str, http: requests.Session, tag: str) -> None:
    received: list[str] = []

    class Listener(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received.append(self.rfile.read(length).decode() or self.path)
            self.send_response(200)
            self.end_headers()

        do_PUT = do_POST  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        subscription = {
            "resourceType": "Subscription",
            "status": "requested",
            "reason": "test",
            "criteria": f"Basic?_tag={TAG_SYSTEM}|{tag}",
            "channel": {
                "type": "rest-hook",
                "endpoint": f"http://127.0.0.1:{server.server_port}/hook",
                "payload": "application/fhir+json",
            },
        }
        sid = http.post(f"{fhir_base}/Subscription", json=subscription, timeout=30).json()["id"]
        deadline = time.time() + 60
        while http.get(f"{fhir_base}/Subscription/{sid}", timeout=30).json()["status"] != "active":
            assert time.time() < deadline, "subscription never became active"
            time.sleep(0.5)
        time.sleep(2)  # the registry picks up active subscriptions asynchronously
        http.post(
            f"{fhir_base}/Basic", json=tagged({"resourceType": "Basic", "code": {"text": "hook"}}, tag), timeout=30
        )
        deadline = time.time() + 60
        while not received and time.time() < deadline:
            time.sleep(0.5)
        assert received and '"Basic"' in received[0]
        http.delete(f"{fhir_base}/Subscription/{sid}", timeout=30)
    finally:
        server.shutdown()
