"""Security: secrets and PHI stay out of logs, TLS is verified, credentials stay home."""

from __future__ import annotations

import datetime
import io
import json
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import responses

from adapter.cli import main
from adapter.fhir.auth import BearerAuth
from adapter.fhir.client import FhirClient, RetryPolicy
from adapter.fhir.errors import TransportError
from adapter.logs import JsonLinesFormatter
from adapter.pipeline import CaseCoder
from adapter.settings import Settings
from adapter.sinks.server import ServerSink
from tests.helpers import SCENARIOS, bundle_resources

TOKEN = "s3cr3t-token-value"


@pytest.fixture()
def captured_logs() -> Any:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    logger = logging.getLogger("adapter")
    old = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield stream
    logger.handlers[:], logger.level, logger.propagate = old


def phi_of_scenarios() -> set[str]:
    """Names, birth dates, MRNs and notes in the scenario bundles: none may appear in a log."""
    values: set[str] = set()
    for path in SCENARIOS.glob("DN-*.json"):
        for resource in bundle_resources(path):
            for name in resource.get("name", []) if isinstance(resource.get("name"), list) else []:
                values.add(name.get("family", ""))
                values.update(name.get("given", []))
            if resource.get("birthDate"):
                values.add(resource["birthDate"])
            for identifier in resource.get("identifier", []):
                if "mrn" in identifier.get("system", ""):
                    values.add(identifier["value"])
            for note in resource.get("note", []):
                values.add(note.get("text", ""))
    return {v for v in values if len(v) > 3}


def test_run_logs_carry_no_phi(tmp_path: Path, captured_logs: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    for path in sorted(SCENARIOS.glob("DN-*.json")):
        assert main(["run", "--source", str(path), "--sink", str(tmp_path / path.stem), "--log-level", "debug"]) == 0
    text = captured_logs.getvalue() + capsys.readouterr().err
    leaked = [value for value in phi_of_scenarios() if value in text]
    assert leaked == []


@responses.activate
def test_server_errors_and_retries_log_no_token_and_no_phi(captured_logs: io.StringIO) -> None:
    base = "http://fhir.test/fhir"
    responses.get(f"{base}/Claim", status=429, headers={"Retry-After": "0"})
    responses.get(f"{base}/Claim", json={"resourceType": "Bundle", "type": "searchset"})
    responses.get(f"{base}/Task", json={"resourceType": "Bundle", "type": "searchset"})
    responses.post(
        base,
        status=422,
        json={
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "invalid", "diagnostics": "Claim.item[0] is not valid"}],
        },
    )
    client = FhirClient(base, BearerAuth(TOKEN), retry=RetryPolicy(attempts=3), sleep=lambda s: None)
    sink = ServerSink(client)
    coder = CaseCoder(sink, Settings())
    from adapter.sources.base import check_resource

    coder.code(check_resource(r, "x") for r in bundle_resources(SCENARIOS / "DN-001.json"))
    coder.finish()
    text = captured_logs.getvalue()
    assert "retrying" in text and "write failed" in text
    assert TOKEN not in text and "Bearer" not in text
    assert [v for v in phi_of_scenarios() if v in text] == []
    for line in text.splitlines():
        json.loads(line)  # every log line is one JSON object


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls_with_an_unknown_certificate_is_refused_unless_its_ca_is_configured(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    seen_auth: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen_auth.append(self.headers.get("Authorization"))
            body = b'{"resourceType": "CapabilityStatement"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{server.server_port}/fhir"
    try:
        with pytest.raises(TransportError, match="TLS verification failed"):
            FhirClient(base, BearerAuth(TOKEN), sleep=lambda s: None).request("GET", "metadata")
        assert seen_auth == [], "no credential was sent over an unverified connection"
        body, _ = FhirClient(base, BearerAuth(TOKEN), verify=str(cert)).request("GET", "metadata")
        assert body == {"resourceType": "CapabilityStatement"}
    finally:
        server.shutdown()
