"""Benchmarks, measured side by side in one run (these machines are noisy: compare ratios).

  python bench/run.py --sessions N                 offline: floor (read + json.loads) vs the adapter as
                                                   installed from the release wheels (bench/installed.py:
                                                   pip picks the compiled one here) and interpreted
  python bench/run.py --sessions N --server URL    online: adapter backfill vs a naive client vs the floor
  python bench/run.py --sessions 0 --server URL --reading    requests per session for each way of reading
  python bench/run.py --sessions N --server URL --push       signed-to-Claim latency: push vs poll
      [--latency-ms L]                             ... through a proxy adding L ms to every request

Each measurement runs in its own child process, so its peak RSS is its own (os.wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.installed import ensure_installed  # noqa: E402
from tests.synthetic import write_ndjson_export  # noqa: E402

DATA = ROOT / "bench" / "data"


def export_for(sessions: int, seed: int) -> Path:
    """The seeded NDJSON export for N sessions (generated once, then reused)."""
    directory = DATA / f"n{sessions}-s{seed}"
    marker = directory / ".complete"
    if not marker.exists():
        write_ndjson_export(directory, sessions, seed)
        marker.touch()
    return directory


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and its descendants (the adapter's parallel workers), in KiB.

    The descendants are read from /proc/PID/task/TID/children, not found by reading every
    process's stat: that cost 3 ms of CPU a sample, every 20 ms, taken from the run measured
    (a seventh of a core, on a two-core machine where the adapter uses both).
    """
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            for task in os.listdir(f"/proc/{current}/task"):
                pending += [int(child) for child in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
        except (OSError, StopIteration, ValueError, IndexError):  # it ended meanwhile
            continue
    return total


def measure(args: list[str], python: Path | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS of the process tree (MB, sampled every 20 ms) and stdout of one run.

    `python`: another environment's interpreter (the installed release), which then imports
    `adapter` from its own site-packages, not from the source tree it runs in.
    """
    env = {**os.environ, "PYTHONSAFEPATH": "1"} if python else None
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(python or sys.executable), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, env=env
    )
    assert process.stdout is not None
    peak = [0]

    def sample() -> None:
        while process.returncode is None and peak[0] >= 0:
            peak[0] = max(peak[0], tree_rss_kb(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    peak_kb = max(peak[0], usage.ru_maxrss)
    if process.returncode != 0:
        raise SystemExit(f"benchmark step failed ({process.returncode}): {' '.join(args)}\n{output}")
    return elapsed, peak_kb / 1024, output


def offline(sessions: int, seed: int, repeat: int) -> dict[str, float]:
    """Floor, compiled adapter and interpreted adapter on one export, interleaved; the fastest of each."""
    export = export_for(sessions, seed)
    installed = ensure_installed()
    lines = sum(1 for f in export.glob("*.ndjson") for _ in f.open("rb"))
    size_mb = sum(f.stat().st_size for f in export.glob("*.ndjson")) / 1e6
    seconds: dict[str, list[float]] = {"floor": [], "orjson_floor": [], "compiled": [], "interpreted": []}
    peak: dict[str, float] = dict.fromkeys(seconds, 0.0)
    for _ in range(repeat):  # interleaved, so drift hits all alike
        for name in seconds:
            with tempfile.TemporaryDirectory() as out:
                run = ["-m", "adapter", "run", "--source", str(export), "--sink", out, "--log-level", "error"]
                if name == "floor":
                    elapsed, rss, _ = measure(["bench/floor.py", str(export)])
                elif name == "orjson_floor":
                    elapsed, rss, _ = measure(["bench/floor.py", str(export), "orjson"])
                else:
                    elapsed, rss, _ = measure(run, installed if name == "compiled" else None)
            seconds[name].append(elapsed)
            peak[name] = max(peak[name], rss)
    floor_s, orjson_s, adapter_s, interpreted_s = (
        min(seconds[n]) for n in ("floor", "orjson_floor", "compiled", "interpreted")
    )
    header = [
        "sessions",
        "lines",
        "MB",
        "floor_s",
        "adapter_s",
        "ratio",
        "interp_s",
        "interp_ratio",
        "floor_rss",
        "adapter_rss",
        "interp_rss",
    ]
    print(" ".join(f"{h:>9}" for h in header))
    print(
        f"{sessions:>9} {lines:>9} {size_mb:>9.1f} {floor_s:>9.2f} {adapter_s:>9.2f} {adapter_s / floor_s:>9.2f} "
        f"{interpreted_s:>9.2f} {interpreted_s / floor_s:>12.2f} {peak['floor']:>9.0f} {peak['compiled']:>11.0f} "
        f"{peak['interpreted']:>10.0f}"
    )
    print(
        f"orjson floor: {orjson_s:.2f} s (json.loads floor {floor_s:.2f} s); ratio to it: compiled "
        f"{adapter_s / orjson_s:.2f}, interpreted {interpreted_s / orjson_s:.2f}"
    )
    return {
        "sessions": sessions,
        "adapter_s": adapter_s,
        "floor_s": floor_s,
        "ratio": adapter_s / floor_s,
        "peak_rss_mb": peak["compiled"],
        "interpreted_s": interpreted_s,
        "interpreted_ratio": interpreted_s / floor_s,
        "interpreted_peak_rss_mb": peak["interpreted"],
    }


def projection(sessions: int, seed: int) -> str:
    """One run of the installed release on N sessions, projected linearly to 5 million (memory
    does not grow with N: see --scale)."""
    export = export_for(sessions, seed)
    with tempfile.TemporaryDirectory() as out:
        run = ["-m", "adapter", "run", "--source", str(export), "--sink", out, "--log-level", "error"]
        elapsed, rss, _ = measure(run, ensure_installed())
    rate = sessions / elapsed
    print(f"large row: sessions={sessions} adapter_s={elapsed:.1f} peak_rss_mb={rss:.0f} (the installed release)")
    return f"projection: sessions_per_s={rate:.0f} five_million_min={5_000_000 / rate / 60:.1f}"


def validation_cost(sessions: int, seed: int, sample: int = 3000) -> dict[str, float]:
    """What checking a written resource against the R4 models costs (sinks/validation.py): the
    server sink pays it for every resource it sends, `run --validate` for every one it writes."""
    import time

    from adapter.sinks.validation import invalid_reason

    export = export_for(sessions, seed)
    with tempfile.TemporaryDirectory() as out:
        measure(["-m", "adapter", "run", "--source", str(export), "--sink", out, "--log-level", "error"])
        written = [
            json.loads(line)
            for rtype in ("Claim", "Task", "Provenance")
            for line in (Path(out) / f"{rtype}.ndjson").read_text().splitlines()[: sample // 3]
        ]
    invalid_reason(written[0])  # loads the models once, outside the timing
    started = time.perf_counter()
    refused = sum(1 for resource in written if invalid_reason(resource))
    validate_s = time.perf_counter() - started
    lines = [json.dumps(resource) for resource in written]
    started = time.perf_counter()
    for line in lines:
        json.loads(line)
    parse_s = time.perf_counter() - started
    per_resource_ms = validate_s * 1000 / max(1, len(written))
    print(
        f"validation: resources={len(written)} refused={refused} per_resource_ms={per_resource_ms:.3f} "
        f"vs_json_loads={validate_s / max(parse_s, 1e-9):.0f}"
    )
    return {"resources": len(written), "refused": refused, "per_resource_ms": per_resource_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, required=True, help="number of synthetic sessions")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each measurement; the fastest counts (default 3)"
    )
    parser.add_argument(
        "--scale", type=int, default=0, help="also run SESSIONS*SCALE and print both (memory must not grow with N)"
    )
    parser.add_argument("--server", default=None, help="FHIR base URL for the online benchmark")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="online: hold every request this long in a local proxy, as a network would (default 0: loopback)",
    )
    parser.add_argument(
        "--reading", action="store_true", help="with --server: requests per session for each way of reading"
    )
    parser.add_argument(
        "--realistic",
        type=int,
        default=0,
        metavar="PATIENTS",
        help="also the realistic row: a Synthea population of PATIENTS (generated once, cached) with the "
        "scenarios' sessions mixed in (--realistic-copies times)",
    )
    parser.add_argument(
        "--project",
        type=int,
        default=0,
        metavar="N",
        help="also a large-N row (at least 500000): N synthetic sessions coded once, projected to 5 million",
    )
    parser.add_argument("--realistic-copies", type=int, default=100, help="copies of the scenarios (default 100)")
    parser.add_argument(
        "--push",
        action="store_true",
        help="with --server: latency from a signed session to its Claim, push (Subscriptions) vs poll",
    )
    args = parser.parse_args()
    if args.server and args.push:
        from bench.push import push

        push(args.server, args.sessions, args.seed)
        return
    if args.server and args.reading:
        from bench.reading import reading

        reading(args.server)
        return
    if args.server:
        from bench.online import online

        online(args.server, args.sessions, args.seed, args.latency_ms)
        return
    results = [offline(args.sessions, args.seed, args.repeat)]
    validation_cost(args.sessions, args.seed)
    if args.scale:
        results.append(offline(args.sessions * args.scale, args.seed, args.repeat))
    real = None
    if args.realistic:
        from bench.realistic import realistic

        real = realistic(args.realistic, args.realistic_copies, args.repeat)
    for r in reversed(results):  # then the line for N = --sessions
        print(
            f"offline: sessions={r['sessions']} adapter_s={r['adapter_s']:.2f} floor_s={r['floor_s']:.2f} "
            f"ratio={r['ratio']:.2f} peak_rss_mb={r['peak_rss_mb']:.0f}"
        )
    if real:
        print(
            f"realistic: mb={real['mb']:.0f} adapter_s={real['adapter_s']:.2f} "
            f"needed_floor_s={real['needed_floor_s']:.2f} ratio={real['adapter_s'] / real['needed_floor_s']:.2f}"
        )
    if args.project:
        print(projection(args.project, args.seed))
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
