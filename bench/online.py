"""Online benchmark: the adapter's backfill vs a naive client vs the server-bound floor.

Each contender starts from the same server state: everything expunged, the same synthetic
clinic data loaded. The floor replays exactly the adapter's own requests with plain
`requests` calls, so adapter_s / floor_s is what our own code costs on top of the server.
With a latency, every contender talks to the server through the same local proxy, which holds
each request that long (a network round trip; loopback has none).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import requests

from adapter.fhir.client import FhirClient
from adapter.pipeline import CaseCoder, code_patient, load_run_tables
from adapter.settings import Settings
from adapter.sinks.base import CaseResult
from adapter.sinks.server import ServerSink
from adapter.sources.server import fetch_patients, patients_with_dry_needling
from tests.reliability.proxy import FaultProxy
from tests.synthetic import ClinicGenerator

HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
# method, url, params, body, headers, and the next link the response carried (if any)
Recorded = tuple[str, str, Any, Any, dict[str, str], str | None]
NEXT_LINK = re.compile(rb'"relation"\s*:\s*"next"\s*,\s*"url"\s*:\s*"([^"]+)"')


def next_link_in(body: bytes) -> str | None:
    match = NEXT_LINK.search(body)
    return match.group(1).decode() if match else None


class RecordingSession(requests.Session):
    """A requests.Session that remembers every request the adapter sends."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[Recorded] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"}
        response = super().request(method, url, *args, **kwargs)
        self.recorded.append(
            (method, url, kwargs.get("params"), kwargs.get("data"), headers, next_link_in(response.content))
        )
        return response


def reset_and_load(base: str, sessions: int, seed: int) -> None:
    """Expunge everything, then load the synthetic clinic in transactions of 1,000 PUTs."""
    response = requests.post(
        f"{base}/$expunge",
        json={"resourceType": "Parameters", "parameter": [{"name": "expungeEverything", "valueBoolean": True}]},
        headers=HEADERS,
        timeout=600,
    )
    response.raise_for_status()
    batch: list[dict[str, Any]] = []
    for resource in ClinicGenerator(seed).resources(sessions):
        batch.append(
            {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}
        )
        if len(batch) == 1000:
            _post(base, batch)
            batch = []
    if batch:
        _post(base, batch)


def _post(base: str, entries: list[dict[str, Any]]) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    for attempt in range(3):
        response = requests.post(base, json=bundle, headers=HEADERS, timeout=600)
        # Seen once on a server just started: HAPI-0550 (409), a version race with its own
        # background work right after $expunge. Loading is set-up, not measured: try again.
        if response.status_code != 409 or attempt == 2:
            break
        time.sleep(1)
    response.raise_for_status()


def adapter_backfill(base: str) -> tuple[float, int, list[Recorded]]:
    """The stateless `run --source URL --sink URL`, in process, recording its requests."""
    session = RecordingSession()
    client = FhirClient(base, session=session)
    settings = Settings()
    tables = load_run_tables(settings)
    sink = ServerSink(client)
    coder = CaseCoder(sink, settings, tables)
    started = time.perf_counter()
    codes = tables.dry_needling_codes()
    for patients in patients_with_dry_needling(client, codes):
        coder.code(fetch_patients(client, patients))
        sink.flush()
    coder.finish()
    elapsed = time.perf_counter() - started
    assert not sink.stats.errors, sink.stats.errors[:3]
    return elapsed, client.requests_sent, session.recorded


def bulk_backfill(base: str) -> tuple[float, int]:
    """`run --source BASE/$export --sink BASE`, in process: kick-off to Claims written.

    Polls at most a second apart (HAPI asks for 120 s; its jobs finish in seconds here).
    """
    import tempfile

    from adapter.backfill import code_everything
    from adapter.cli.endpoints import Endpoints
    from adapter.settings import BulkSettings

    settings = Settings(bulk=BulkSettings(poll_max_delay_s=1.0, poll_default_delay_s=1.0))
    tables = load_run_tables(settings)
    with tempfile.TemporaryDirectory() as state:
        endpoints = Endpoints(settings, tables, state_dir=Path(state))
        started = time.perf_counter()
        source = endpoints.source(f"{base}/$export")
        sink = endpoints.sink(base)
        summary = code_everything(source, sink, settings, tables=tables)
        elapsed = time.perf_counter() - started
    assert isinstance(sink, ServerSink) and not sink.stats.errors, "bulk backfill write errors"
    return elapsed, summary.sessions


def floor_replay(recorded: list[Recorded]) -> tuple[float, float]:
    """The same requests, in the same order, with plain requests calls and nothing else.

    Returns the total seconds and the seconds of the write transactions among them (what the
    server spends storing the Claims, Provenances and Tasks, which any client pays).
    Paging links name a search the server made for the adapter's run; replaying them verbatim
    would fetch an already computed page (HAPI keeps it), so each is replaced by the next link
    the replay's own search returned.
    """
    http = requests.Session()
    own_link: dict[str, str] = {}
    writes_s = 0.0
    started = time.perf_counter()
    for method, url, params, data, headers, recorded_next in recorded:
        target = own_link.get(url, url)
        sent = time.perf_counter()
        body = http.request(method, target, params=params, data=data, headers=headers, timeout=600).content
        if method == "POST" and data is not None and b'"type":"transaction"' in data[:200]:
            writes_s += time.perf_counter() - sent
        if recorded_next:
            replayed_next = next_link_in(body)
            if replayed_next:
                own_link[recorded_next] = replayed_next
    return time.perf_counter() - started, writes_s


class CountingSession(requests.Session):
    """Counts the naive client's requests and the seconds its writes (PUTs) took."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.writes_s = 0.0

    def request(self, method: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent += 1
        started = time.perf_counter()
        response = super().request(method, *args, **kwargs)
        if method == "PUT":
            self.writes_s += time.perf_counter() - started
        return response


def naive_client(base: str) -> tuple[float, int, float]:
    """One request per resource read and per resource written, as most scripts do it."""
    http = CountingSession()
    http.headers.update(HEADERS)
    settings = Settings()
    tables = load_run_tables(settings)
    started = time.perf_counter()
    url: str | None = f"{base}/Procedure?code=http://www.ama-assn.org/go/cpt|20560,http://www.ama-assn.org/go/cpt|20561"
    while url:
        page = http.get(url, timeout=600).json()
        for entry in page.get("entry", []):
            _naive_session(http, base, entry["resource"], tables, settings)
        url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
    return time.perf_counter() - started, http.sent, http.writes_s


def _naive_session(
    http: requests.Session, base: str, procedure: dict[str, Any], tables: Any, settings: Settings
) -> None:
    from adapter.grouping import group_by_patient
    from adapter.sources.base import check_resource

    def get(ref: str | None) -> dict[str, Any] | None:
        if not ref or "/" not in ref or ref.startswith("#"):
            return None
        response = http.get(f"{base}/{ref}", timeout=600)
        return response.json() if response.status_code == 200 else None

    def search(path: str) -> list[dict[str, Any]]:
        return [e["resource"] for e in http.get(f"{base}/{path}", timeout=600).json().get("entry", [])]

    patient = procedure["subject"]["reference"]
    resources = [procedure, get(patient), get((procedure.get("encounter") or {}).get("reference"))]
    encounter = resources[-1] or {}
    resources += [get(d["condition"]["reference"]) for d in encounter.get("diagnosis", [])]
    for performer in procedure.get("performer", []):
        role = get(performer["actor"]["reference"])
        resources += [role, get((role or {}).get("practitioner", {}).get("reference"))]
    for extension in procedure.get("extension", []):
        resources.append(get(extension.get("valueReference", {}).get("reference")))
    resources += search(f"Coverage?beneficiary={patient}")
    resources += search(f"Observation?part-of=Procedure/{procedure['id']}")
    grouped = group_by_patient(check_resource(r, "naive") for r in resources if r)
    for patient_ref, group in grouped.groups:
        results, _ = code_patient(patient_ref, group, grouped.shared, tables, settings, "2026-01-01T00:00:00Z")
        for result in results:
            _naive_write(http, base, result)


def _naive_write(http: requests.Session, base: str, result: CaseResult) -> None:
    """Each resource in its own request, under the adapter's ids (so Provenance.target and
    Task.focus resolve, as they do for the adapter); a failed write fails the benchmark."""
    for resource in (result.claim, result.provenance, result.task):
        if resource is not None:
            http.put(
                f"{base}/{resource['resourceType']}/{resource['id']}", json=resource, timeout=600
            ).raise_for_status()


def online(server: str, sessions: int, seed: int, latency_ms: float = 0.0) -> None:
    """Measure and print; with `latency_ms`, through a proxy that holds every request that long."""
    if not latency_ms:
        _measure_online(server.rstrip("/"), sessions, seed)
        return
    with FaultProxy(server, seed=0, budget=0, latency_s=latency_ms / 1000) as proxy:
        _measure_online(proxy.base, sessions, seed, f" latency_ms={latency_ms:g}")


def _measure_online(base: str, sessions: int, seed: int, note: str = "") -> None:
    # Warm the server's JIT and caches first, so the first contender is not the one that pays.
    reset_and_load(base, sessions, seed)
    adapter_backfill(base)
    reset_and_load(base, sessions, seed)
    adapter_first, requests_sent, recorded = adapter_backfill(base)
    # A-B-B-A order (adapter, floor, floor, adapter), fastest of each: the server's own drift
    # between runs then weighs on both alike.
    reset_and_load(base, sessions, seed)
    floor_first = floor_replay(recorded)
    reset_and_load(base, sessions, seed)
    floor_second = floor_replay(recorded)
    reset_and_load(base, sessions, seed)
    adapter_second, _, _ = adapter_backfill(base)
    adapter_s = min(adapter_first, adapter_second)
    floor_s, writes_s = min(floor_first, floor_second)
    reset_and_load(base, sessions, seed)
    naive_s, naive_requests, naive_writes_s = naive_client(base)
    reset_and_load(base, sessions, seed)
    bulk_s, bulk_sessions = bulk_backfill(base)
    header = (
        "sessions",
        "requests",
        "req/sess",
        "naive_req",
        "adapter_s",
        "naive_s",
        "floor_s",
        "naive/adp",
        "adp/floor",
        "writes_s",
        "naive_wr_s",
        "naive/wr",
    )
    row = (
        sessions,
        requests_sent,
        f"{requests_sent / sessions:.3f}",
        naive_requests,
        f"{adapter_s:.2f}",
        f"{naive_s:.2f}",
        f"{floor_s:.2f}",
        f"{naive_s / adapter_s:.1f}",
        f"{adapter_s / floor_s:.2f}",
        f"{writes_s:.2f}",
        f"{naive_writes_s:.2f}",
        f"{naive_s / writes_s:.1f}" if writes_s else "-",
    )
    print(" ".join(f"{h:>9}" for h in header))
    print(" ".join(f"{v:>9}" for v in row))
    print(
        f"bulk: sessions={bulk_sessions} bulk_s={bulk_s:.2f} sessions_per_s={bulk_sessions / bulk_s:.1f} "
        f"search_sessions_per_s={sessions / adapter_s:.1f} (kick-off, poll, download, code, write){note}"
    )
    print(
        f"online: sessions={sessions} requests_per_session={requests_sent / sessions:.3f} adapter_s={adapter_s:.2f} "
        f"naive_s={naive_s:.2f} floor_s={floor_s:.2f}{note}"
    )
