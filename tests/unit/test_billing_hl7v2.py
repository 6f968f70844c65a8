"""The DFT^P03 sink: every message parses with hl7apy in strict mode; over MLLP each waits for
its ACK from a local listener, a NAK is retried and then reported; a rerun sends nothing new."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapter.cli import main
from adapter.cli.parser import DEMO_DATA
from tests.billing import public_scenario_resources, scenario_billing_config
from tests.unit.test_billing_x12 import DEMO_BILLING, active_claims, write_bundle

START, END = b"\x0b", b"\x1c\x0d"


def messages_in(path: Path) -> list[str]:
    return [m for m in path.read_bytes().decode().split("\r\n") if m.strip()]


def strict(message: str) -> Any:
    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT)
    parsed.validate()
    return parsed


class Listener:
    """A local MLLP receiver: ACKs with AA, or with `answers` in turn (AE, AR, or None: hang up)."""

    def __init__(self, answers: list[str | None] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                buffer = b""
                while True:
                    try:
                        chunk = connection.recv(65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    buffer += chunk
                    while END in buffer:
                        frame, buffer = buffer.split(END, 1)
                        message = frame.lstrip(START).decode()
                        answer = self.answers.pop(0) if self.answers else "AA"
                        if answer is None:
                            connection.close()
                            break
                        self.received.append(message)
                        control = message.split("\r", 1)[0].split("|")[9]
                        header = f"MSH|^~\\&|BILLING||DN-ADAPTER||20261202000000||ACK^P03^ACK|A{control}|T|2.5.1"
                        ack = f"{header}\rMSA|{answer}|{control}"
                        connection.sendall(START + ack.encode() + END)


@pytest.fixture()
def scenarios(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    resources = public_scenario_resources()
    yield write_bundle(tmp_path / "scenarios.json", resources), scenario_billing_config(tmp_path / "b.toml", resources)


def run_hl7(source: Path, target: str, config: Path, state: Path) -> int:
    argv = ["run", "--source", str(source), "--sink", f"hl7v2:{target}", "--config", str(config)]
    return main([*argv, "--state-dir", str(state)])


def test_every_message_parses_strictly_and_every_active_claim_is_charged(
    scenarios: tuple[Path, Path], tmp_path: Path
) -> None:
    source, config = scenarios
    target = tmp_path / "charges.hl7"
    assert run_hl7(source, str(target), config, tmp_path / "state") == 0
    messages = messages_in(target)
    assert len(messages) == len(active_claims(source, tmp_path / "fhir")) > 10
    for message in messages:
        parsed = strict(message)
        assert parsed.msh.msh_9.value == "DFT^P03^DFT_P03"
        ft1 = parsed.dft_p03_financial.ft1
        assert ft1.ft1_6.value == "CG" and ft1.ft1_25.value.split("^")[0] in ("20560", "20561")
    assert run_hl7(source, str(target), config, tmp_path / "state") == 0  # a rerun: nothing new
    assert sorted(p.name for p in tmp_path.glob("charges*.hl7")) == ["charges.hl7"]


def test_messages_go_over_mllp_and_wait_for_their_ack(
    scenarios: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, config = scenarios
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    with Listener() as listener:
        assert run_hl7(source, f"mllp://127.0.0.1:{listener.port}", config, tmp_path / "state") == 0
    assert len(listener.received) == len(active_claims(source, tmp_path / "fhir"))
    for message in listener.received:
        strict(message)
    # The run's outcomes (its problems and warnings) are kept in the state directory.
    assert not list(workdir.iterdir())
    assert [p.name for p in (tmp_path / "state").glob("*.outcomes*.ndjson")] == ["DFT^P03.outcomes.ndjson"]


def test_a_nak_is_retried_then_reported_and_sent_on_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = [r for r in public_scenario_resources() if str(r.get("id", "")).startswith("dn-001")]
    source = write_bundle(tmp_path / "s.json", resources)
    config = scenario_billing_config(tmp_path / "b.toml", resources)
    config.write_text(config.read_text() + "[http]\nretry_attempts = 3\n")
    state = tmp_path / "state"
    # One receiver throughout (the ledger is kept per host and port).
    with Listener(["AE", None, "AR"]) as listener:  # a NAK, a hang-up, a reject: three tries, then reported
        target = f"mllp://127.0.0.1:{listener.port}"
        assert run_hl7(source, target, config, state) == 1
        assert "write errors:     1" in capsys.readouterr().out
        assert len(listener.received) == 2  # the hang-up answered nothing
        listener.answers = ["AE"]  # the next run sends it again: one NAK, then accepted
        assert run_hl7(source, target, config, state) == 0
        assert len(listener.received) == 4
        assert run_hl7(source, target, config, state) == 0  # sent: nothing goes out again
        assert len(listener.received) == 4


def test_a_recoded_claim_is_credited_and_charged_again(tmp_path: Path) -> None:
    resources = [r for r in public_scenario_resources() if str(r.get("id", "")).startswith("dn-001")]
    config = scenario_billing_config(tmp_path / "b.toml", resources)
    target, state = tmp_path / "charges.hl7", tmp_path / "state"
    assert run_hl7(write_bundle(tmp_path / "s.json", resources), str(target), config, state) == 0
    procedure = next(r for r in resources if r["resourceType"] == "Procedure")
    procedure["bodySite"].append({"coding": [{"system": "http://snomed.info/sct", "code": "72573008"}]})
    procedure["bodySite"].append({"coding": [{"system": "http://snomed.info/sct", "code": "6423006"}]})
    assert run_hl7(write_bundle(tmp_path / "s.json", resources), str(target), config, state) == 0
    credit, charge = (strict(m).dft_p03_financial.ft1 for m in messages_in(tmp_path / "charges.2.hl7"))
    first = strict(messages_in(target)[0]).dft_p03_financial.ft1
    assert (credit.ft1_6.value, credit.ft1_2.value, credit.ft1_11.value) == ("CD", f"{first.ft1_2.value}-R", "-95")
    assert (charge.ft1_6.value, charge.ft1_25.value) == ("CG", "20561^^C4")


def test_the_demo_days_charges_parse_strictly(tmp_path: Path) -> None:
    target = tmp_path / "charges.hl7"
    assert run_hl7(DEMO_DATA, str(target), DEMO_BILLING, tmp_path / "state") == 0
    assert len(messages_in(target)) == len(active_claims(DEMO_DATA, tmp_path / "fhir"))
    for message in messages_in(target):
        strict(message)
    assert json.loads((tmp_path / "charges.hl7.outcomes.ndjson").read_text().splitlines()[0])["resourceType"]
