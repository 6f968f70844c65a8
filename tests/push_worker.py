"""A `sync --watch --listen` worker in a subprocess, for the push tests and the push bench."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

SECRET = "test-subscription-secret-0123456789"
ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """Starts the worker, waits until its /healthz says ready, reads its /metrics and its store."""

    def __init__(self, server: str, directory: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.store = directory / "store"
        self.log = directory / "worker.log"
        args = [sys.executable, "-m", "adapter", "sync", "--server", server, "--sink", str(self.store)]
        args += ["--watch", "--listen", "127.0.0.1:0", "--state-dir", str(directory / "state"), *extra]
        environment = {**os.environ, "DN_ADAPTER_SUBSCRIPTION_SECRET": SECRET, "DN_ADAPTER_PROGRESS": "0"}
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**environment, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        self.base = f"http://127.0.0.1:{self._port()}"

    def _port(self, timeout_s: float = 60) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                if '"event": "listening"' in line:
                    return int(json.loads(line)["port"])
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise AssertionError("worker never listened")

    def wait_ready(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if requests.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                return
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            time.sleep(0.2)
        raise AssertionError("worker never became ready")

    def wait_subscribed(self, server: str, timeout_s: float = 120) -> None:
        """Until the server notifies us: HAPI activates a Subscription, then registers it for
        matching asynchronously (seconds on a busy server). A patient-less Encounter (matched by
        our `Encounter?` Subscription, coding nothing) is written each second as the probe."""
        accepted = 'dn_adapter_notifications_total{result="accepted"}'
        before = self.metrics().get(accepted, 0)
        deadline = time.monotonic() + timeout_s
        probe: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": f"probe-{os.getpid()}-{time.monotonic_ns()}",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        }
        while time.monotonic() < deadline:
            requests.put(f"{server}/Encounter/{probe['id']}", json=probe, timeout=30)
            for _ in range(10):
                if self.metrics().get(accepted, 0) > before:
                    return
                time.sleep(0.1)
        raise AssertionError("the server never notified the worker")

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics, keyed 'name{labels}'."""
        text = requests.get(f"{self.base}/metrics", timeout=5).text
        samples = {}
        for line in text.splitlines():
            match = re.match(r"^([a-z_:]+(?:\{[^}]*\})?) ([0-9.e+-]+|NaN|\+Inf)$", line)
            if match:
                samples[match[1]] = float(match[2])
        return samples

    def settled_metrics(self, name: str, at_least: float, timeout_s: float = 30) -> dict[str, float]:
        """/metrics once `name` reached `at_least`: the worker moves its counters just after it
        writes, so a Claim can be on disk a moment before they move."""
        deadline = time.monotonic() + timeout_s
        while True:
            samples = self.metrics()
            if samples.get(name, 0) >= at_least or time.monotonic() > deadline:
                return samples
            time.sleep(0.1)

    def notify(self, path: str, secret: str = SECRET, body: bytes = b"") -> int:
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json"}
        return requests.post(f"{self.base}/notify{path}", data=body, headers=headers, timeout=10).status_code

    def claims(self) -> list[dict[str, Any]]:
        """Every Claim version the directory store wrote, oldest pass first."""
        found = []
        for path in sorted(self.store.glob("pass-*/Claim.ndjson")):
            found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return found

    def claims_of(self, patient: str) -> list[dict[str, Any]]:
        return [c for c in self.claims() if c["patient"]["reference"] == patient]

    def wait_for_claim(self, patient: str, timeout_s: float) -> float:
        """Seconds until a Claim for the patient is in the store (raises after timeout_s)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.claims_of(patient):
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"no Claim for {patient} within {timeout_s} s: {self.log.read_text()[-1500:]}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def remove_our_subscriptions(server: str, endpoint_port: int | None = None) -> None:
    """Delete the Subscriptions workers left (all ours, or those of one listener port)."""
    tag = "https://dry-needling-adapter.github.io/fhir/CodeSystem/written-by|dry-needling-adapter"
    found = requests.get(f"{server}/Subscription", params={"_tag": tag, "_count": "500"}, timeout=60).json()
    for entry in found.get("entry") or []:
        subscription = entry["resource"]
        endpoint = subscription.get("channel", {}).get("endpoint", "")
        if endpoint_port is None or f":{endpoint_port}/" in endpoint:
            requests.delete(f"{server}/Subscription/{subscription['id']}", timeout=60)
