"""The bench's memory figure: the resident memory of the measured process and its workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.run import tree_rss_kb


def test_tree_rss_counts_every_descendant() -> None:
    """A child holding 64 MB and its own child holding 64 MB more both count, as the adapter's
    parallel workers do; a finished child no longer does."""
    hold = "import subprocess, sys, time; b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096]); "
    grandchild = f"{hold}time.sleep(30)"
    child = f"{hold}p = subprocess.Popen([sys.executable, '-c', {grandchild!r}]); time.sleep(30)"
    before = tree_rss_kb(os.getpid())
    process = subprocess.Popen([sys.executable, "-c", child])
    try:
        deadline = time.monotonic() + 20
        while tree_rss_kb(os.getpid()) - before < 2 * 64 * 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree_rss_kb(os.getpid()) - before >= 2 * 64 * 1024
    finally:
        subprocess.run(["pkill", "-P", str(process.pid)], check=False)
        process.kill()
        process.wait()
    assert tree_rss_kb(os.getpid()) - before < 32 * 1024
