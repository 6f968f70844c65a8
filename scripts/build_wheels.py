"""Build the two wheels a release ships, as black and mypy ship theirs:

    python scripts/build_wheels.py [DIST]      # -> DIST (default dist/): both wheels

- `dry_needling_adapter-V-cp311-cp311-<platform>.whl`: the coding core compiled by mypyc
  (setup.py, DN_ADAPTER_MYPYC=1; needs mypy and a C compiler here, nothing where it installs);
- `dry_needling_adapter-V-py3-none-any.whl`: the same package, interpreted.

From a directory (or index) holding both, `pip install dry-needling-adapter` installs the
compiled wheel where its platform tag matches and the pure one everywhere else;
`dn-adapter --version` says which one runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_wheels(dist: Path) -> list[Path]:
    """Both wheels into `dist` (emptied of earlier wheels first); their paths, compiled first."""
    dist.mkdir(parents=True, exist_ok=True)
    for old in dist.glob("dry_needling_adapter-*.whl"):
        old.unlink()
    for compiled in (True, False):
        # setuptools reuses build/lib between builds: a compiled module must not reach the pure wheel.
        _remove_setuptools_build()
        env = {**os.environ, "DN_ADAPTER_MYPYC": "1" if compiled else "0"}
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q", "-w", str(dist), "."],
            cwd=ROOT,
            env=env,
            check=True,
        )
    wheels = sorted(dist.glob("dry_needling_adapter-*.whl"), key=lambda w: "none-any" in w.name)
    _remove_setuptools_build()
    return wheels


def _remove_setuptools_build() -> None:
    for directory in [*(ROOT / "build").glob("lib*"), *(ROOT / "build").glob("temp*"), ROOT / "build" / "bdist"]:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    for wheel in build_wheels(Path(sys.argv[1]) if sys.argv[1:] else ROOT / "dist"):
        print(wheel)
