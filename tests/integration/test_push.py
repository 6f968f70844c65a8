"""Issue 19: Subscription push on the real HAPI server (rest-hook enabled), the polling pass as
the safety net, /healthz and /metrics. Each worker runs as `sync --watch --listen` in a
subprocess writing to a directory store, so the shared server's Claims stay as they are."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.factory import DELTOID, LEFT, RIGHT, TRAPEZIUS, Case, site
from tests.helpers import put_transaction
from tests.push_worker import WorkerProcess, remove_our_subscriptions

pytestmark = pytest.mark.integration


def new_case() -> Case:
    """A session two days ago: inside the date-of-service window of a worker given --patients."""
    case = Case(f"push{uuid.uuid4().hex[:10]}", day=(date.today() - timedelta(days=2)).isoformat())
    case.procedure("p1", [site(TRAPEZIUS, LEFT), site(TRAPEZIUS, RIGHT), site(DELTOID, LEFT)])
    return case


def patients_file(tmp_path: Path, cases: list[Case]) -> Path:
    listed = tmp_path / "patients.txt"
    listed.write_text("".join(f"{c.patient}\n" for c in cases))
    return listed


def test_a_signed_procedure_becomes_its_claim_without_a_poll(fhir_base: str, tmp_path: Path) -> None:
    worker = WorkerProcess(fhir_base, tmp_path, "--interval", "3600")
    try:
        worker.wait_ready()
        before = worker.metrics()
        assert before["dn_adapter_pass_duration_seconds_count"] == 1  # the pass at start
        assert 0 <= before["dn_adapter_watermark_lag_seconds"] < 600
        worker.wait_subscribed(fhir_base)
        case = new_case()
        put_transaction(fhir_base, case.resources())
        seconds = worker.wait_for_claim(case.patient, timeout_s=30)
        (claim,) = worker.claims_of(case.patient)
        assert claim["status"] == "active" and claim["item"][0]["productOrService"]["coding"][0]["code"] == "20561"
        created = 'dn_adapter_claims_written_total{kind="created"}'
        after = worker.settled_metrics(created, before.get(created, 0) + 1)  # moved last, after the write
        assert after["dn_adapter_pass_duration_seconds_count"] == 1, "a poll ran in between"
        assert after['dn_adapter_patients_coded_total{trigger="push"}'] >= 1
        assert after['dn_adapter_notifications_total{result="accepted"}'] >= 1
        assert after[created] > before.get(created, 0)
        assert after["dn_adapter_notification_to_claim_seconds_count"] >= 1
        assert (
            after['dn_adapter_fhir_requests_total{status="200"}']
            > before['dn_adapter_fhir_requests_total{status="200"}']
        )
        assert seconds < 30
    finally:
        worker.stop()
        remove_our_subscriptions(fhir_base, int(worker.base.rsplit(":", 1)[1]))


def test_a_wrong_secret_is_refused_and_changes_nothing(fhir_base: str, tmp_path: Path) -> None:
    case = new_case()
    put_transaction(fhir_base, case.resources())
    listed = patients_file(tmp_path, [])
    env = {"DN_ADAPTER_PUSH_SUBSCRIBE": "false"}
    worker = WorkerProcess(fhir_base, tmp_path, "--interval", "3600", "--patients", str(listed), env=env)
    try:
        worker.wait_ready()
        assert worker.notify(f"/Procedure/{case.key}-p1", secret="not-the-secret") == 401
        assert worker.notify(f"/Procedure/{case.key}-p1", secret="") == 401
        time.sleep(2)
        assert worker.claims_of(case.patient) == []
        metrics = worker.metrics()
        assert metrics['dn_adapter_notifications_total{result="refused"}'] == 2
        assert metrics.get('dn_adapter_patients_coded_total{trigger="push"}', 0) == 0
        # The same notification with the secret codes the case: the refusal was the secret's.
        assert worker.notify(f"/Procedure/{case.key}-p1") == 200
        worker.wait_for_claim(case.patient, timeout_s=30)
        assert worker.notify("/Procedure/x", body=b"x" * (2 * 1024 * 1024)) == 413
        assert worker.notify("/not a resource") == 400
    finally:
        worker.stop()


def test_with_the_listener_unreachable_the_polling_pass_still_codes(fhir_base: str, tmp_path: Path) -> None:
    """The server's notifications go to an address nobody listens on (a listener down, a
    firewall): the pass at the safety-net interval codes the session all the same."""
    case = new_case()
    listed = patients_file(tmp_path, [case])
    env = {"DN_ADAPTER_PUSH_ENDPOINT_URL": "http://127.0.0.1:9/notify"}
    worker = WorkerProcess(fhir_base, tmp_path, "--interval", "3", "--patients", str(listed), env=env)
    try:
        worker.wait_ready()
        put_transaction(fhir_base, case.resources())
        worker.wait_for_claim(case.patient, timeout_s=60)
        metrics = worker.settled_metrics("dn_adapter_pass_duration_seconds_count", 2)  # counted after the pass
        assert metrics.get('dn_adapter_patients_coded_total{trigger="push"}', 0) == 0
        assert metrics["dn_adapter_pass_duration_seconds_count"] >= 2
    finally:
        worker.stop()
        remove_our_subscriptions(fhir_base, 9)


def test_a_burst_of_fifty_notifications_codes_the_patient_once_or_twice(fhir_base: str, tmp_path: Path) -> None:
    case = new_case()
    put_transaction(fhir_base, case.resources())
    env = {"DN_ADAPTER_PUSH_SUBSCRIBE": "false"}
    worker = WorkerProcess(
        fhir_base, tmp_path, "--interval", "3600", "--patients", str(patients_file(tmp_path, [])), env=env
    )
    try:
        worker.wait_ready()
        paths = [f"/Procedure/{case.key}-p1", f"/Encounter/{case.key}-enc-1", f"/Patient/{case.key}-patient"]
        answers: list[int] = []
        threads = [threading.Thread(target=lambda i=i: answers.append(worker.notify(paths[i % 3]))) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers.count(200) == 50
        worker.wait_for_claim(case.patient, timeout_s=30)
        time.sleep(3)  # any second coding lands
        metrics = worker.settled_metrics('dn_adapter_patients_coded_total{trigger="push"}', 1)
        assert 1 <= metrics['dn_adapter_patients_coded_total{trigger="push"}'] <= 2
        assert metrics['dn_adapter_notifications_total{result="accepted"}'] == 50
        assert len({c["id"] for c in worker.claims_of(case.patient)}) == 1
        assert [c["status"] for c in worker.claims_of(case.patient)] == ["active"]  # written once
    finally:
        worker.stop()
