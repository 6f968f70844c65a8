"""The adapter as a user installs it: the release's two wheels (scripts/build_wheels.py) in a
directory, and `pip install dry-needling-adapter` from it into a fresh environment, which takes
the compiled wheel where it fits this platform and the pure one otherwise.

Built once for each state of the sources (scripts/build_compiled.py's hash), in build/installed/.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

from scripts.build_compiled import source_hash
from scripts.build_wheels import build_wheels

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "build" / "installed"


def ensure_installed() -> Path:
    """The installed release's Python interpreter (rebuilt when the sources changed); prints
    which build `dn-adapter --version` says runs."""
    wanted = source_hash()
    stamp = TARGET / ".source-hash"
    python = TARGET / "venv" / "bin" / "python"
    TARGET.parent.mkdir(exist_ok=True)
    with (TARGET.parent / ".installed.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_text() == wanted):
            shutil.rmtree(TARGET, ignore_errors=True)
            build_wheels(TARGET / "dist")
            subprocess.run([sys.executable, "-m", "venv", str(TARGET / "venv")], check=True)
            pip = [str(python), "-m", "pip", "install", "-q", "--find-links", str(TARGET / "dist")]
            subprocess.run([*pip, "dry-needling-adapter"], check=True)
            stamp.write_text(wanted)
    version = subprocess.run([str(TARGET / "venv" / "bin" / "dn-adapter"), "--version"], capture_output=True, text=True)
    print(f"installed release: {version.stdout.strip()}", flush=True)
    return python
