"""Build the compiled adapter: the same source, with its hot modules compiled to C by mypyc.

    python scripts/build_compiled.py          # -> build/compiled/ (rebuilt only when a source changed)

The result is a copy of the package in build/compiled/adapter/ whose coding core (assembly,
rules, Claim building, grouping, the file sink) is a set of C extension modules. It behaves
exactly as the interpreted package (tests/test_compiled.py compares their output byte for byte)
and codes a big export in about two thirds of the time (docs/performance.md). It lives in its
own directory, never next to the sources: there, a compiled module would silently shadow a
later edit of its .py file. Run it with scripts/run-compiled. Needs a C compiler and mypy (the
dev extra), which brings mypyc.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "build" / "compiled"
STAMP = TARGET / ".source-hash"

# The modules a backfill spends its time in (bench/run.py). The rest (the FHIR client, the
# sync worker, settings and mapping loaders) runs interpreted: it waits on I/O, or runs once.
COMPILED_MODULES = (
    "adapter/fhirjson.py",
    "adapter/systems.py",
    "adapter/value.py",
    "adapter/problems.py",
    "adapter/session.py",
    "adapter/anatomy.py",
    "adapter/assemble.py",
    "adapter/indexes.py",
    "adapter/clinicians.py",
    "adapter/grouping.py",
    "adapter/raw_lines.py",
    "adapter/session_patients.py",
    "adapter/build.py",
    "adapter/decision_trace.py",
    "adapter/billing/parties.py",
    "adapter/pipeline.py",
    "adapter/sources/base.py",
    "adapter/sources/ndjson.py",
    "adapter/sinks/files.py",
    "adapter/rules/__init__.py",
    "adapter/rules/acupuncture.py",
    "adapter/rules/case.py",
    "adapter/rules/codes.py",
    "adapter/rules/decide.py",
    "adapter/rules/decision.py",
    "adapter/rules/diagnosis.py",
    "adapter/rules/modifiers.py",
    "adapter/rules/muscles.py",
    "adapter/rules/modifier_extensions.py",
    "adapter/rules/payers.py",
    "adapter/rules/service_date.py",
    "adapter/rules/status.py",
)


def source_hash() -> str:
    """A hash of every file copied into the build, of what decides how it is built (this list
    of modules, setup.py), and of the Python that compiles it."""
    digest = hashlib.sha256(sys.version.encode())
    for path in [Path(__file__).resolve(), ROOT / "setup.py", *sorted((ROOT / "adapter").rglob("*"))]:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def ensure_compiled() -> Path:
    """build/compiled/, rebuilt when the sources changed since the last build; its path."""
    wanted = source_hash()
    if STAMP.is_file() and STAMP.read_text() == wanted:
        return TARGET
    TARGET.parent.mkdir(exist_ok=True)
    # One build at a time (a test run and a benchmark may both ask): the second waits, then
    # finds the first one's result.
    with (TARGET.parent / ".compile.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (STAMP.is_file() and STAMP.read_text() == wanted):
            _build(wanted)
    return TARGET


def _build(wanted: str) -> None:
    staging = Path(tempfile.mkdtemp(prefix="compiled-", dir=TARGET.parent))
    try:
        shutil.copytree(ROOT / "adapter", staging / "adapter", ignore=shutil.ignore_patterns("__pycache__"))
        # The package finds its mappings next to itself (adapter/tables.py: DEFAULT_MAPPINGS).
        (staging / "mappings").symlink_to(Path("..", "..", "mappings"), target_is_directory=True)
        result = subprocess.run(
            [str(Path(sys.executable).with_name("mypyc")), *COMPILED_MODULES],
            cwd=staging,
            capture_output=True,
            text=True,
            env={**os.environ, "MYPYC_OPT_LEVEL": "3"},
        )
        if result.returncode != 0:
            raise SystemExit(f"mypyc failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        shutil.rmtree(staging / "build")
        shutil.rmtree(staging / ".mypy_cache", ignore_errors=True)
        (staging / STAMP.name).write_text(wanted)
        staging.chmod(0o755)
        shutil.rmtree(TARGET, ignore_errors=True)
        staging.rename(TARGET)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    print(ensure_compiled())
