"""The package installs like one: a wheel, a fresh venv, the demo and the mappings from elsewhere."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import adapter

ROOT = Path(__file__).resolve().parent.parent


def test_public_api_names_resolve() -> None:
    assert set(adapter.__all__) == set(adapter._PUBLIC) | {"__version__", "build_kind"}
    for name in adapter.__all__:
        assert getattr(adapter, name) is not None


def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # setuptools reuses build/lib: a module deleted since the last build would ship again.
    shutil.rmtree(ROOT / "build" / "lib", ignore_errors=True)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "SetuptoolsDeprecationWarning" not in build.stdout + build.stderr
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"adapter/py.typed", "adapter/_data/mappings/muscles.csv", "adapter/demo/clinic-day.json"} <= names
    assert "adapter/_data/profiles/StructureDefinition-dry-needling-claim.json" in names
    assert not [n for n in names if n.startswith("tests/") or n.endswith("synthetic.py")]  # test support stays out

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, timeout=900)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    version = subprocess.run([str(venv / "bin" / "dn-adapter"), "--version"], capture_output=True, text=True)
    assert "(interpreted)" in version.stdout  # the fallback wheel, for platforms without a compiled one
    demo = subprocess.run(
        [str(venv / "bin" / "dn-adapter"), "run", "--sink", "out"], cwd=elsewhere, capture_output=True, text=True
    )
    assert demo.returncode == 0, demo.stderr
    claims = [json.loads(line) for line in (elsewhere / "out" / "Claim.ndjson").read_text().splitlines()]
    assert claims and any(c["status"] == "active" for c in claims)
    lookup = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from adapter.tables import DEFAULT_MAPPINGS, load_tables;"
            "t = load_tables(); print(DEFAULT_MAPPINGS); print(t.muscles['31764008'].muscle)",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    mappings_dir, muscle = lookup.stdout.split()
    assert str(venv) in mappings_dir and muscle == "trapezius"


def test_install_picks_the_compiled_wheel_where_it_fits_and_the_pure_one_is_the_fallback(tmp_path: Path) -> None:
    """A release is two wheels (scripts/build_wheels.py, as black and mypy ship theirs). From a
    directory holding both, a plain `pip install dry-needling-adapter` takes the compiled one on
    this platform; it codes the demo day like the interpreted package and says which build runs."""
    from scripts.build_wheels import build_wheels

    dist = tmp_path / "dist"
    compiled, pure = build_wheels(dist)
    assert "-cp311-" in compiled.name and any(n.endswith(".so") for n in zipfile.ZipFile(compiled).namelist())
    assert pure.name.endswith("-py3-none-any.whl")
    assert not any(n.endswith(".so") for n in zipfile.ZipFile(pure).namelist())
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--find-links", str(dist), "dry-needling-adapter"],
        check=True,
        timeout=900,
    )
    version = subprocess.run([str(venv / "bin" / "dn-adapter"), "--version"], capture_output=True, text=True)
    assert "(compiled)" in version.stdout
    demo = subprocess.run([str(venv / "bin" / "dn-adapter"), "run", "--sink", "out"], cwd=tmp_path, capture_output=True)
    assert demo.returncode == 0
    claims = [json.loads(line) for line in (tmp_path / "out" / "Claim.ndjson").read_text().splitlines()]
    assert sorted((c["id"], c["status"]) for c in claims) == sorted(demo_claims(tmp_path))


def demo_claims(tmp_path: Path) -> list[tuple[str, str]]:
    """The demo day's Claims (id, status) from the checkout's interpreted package."""
    from adapter.cli import main

    assert main(["run", "--sink", str(tmp_path / "interpreted")]) == 0
    lines = (tmp_path / "interpreted" / "Claim.ndjson").read_text().splitlines()
    return [(c["id"], c["status"]) for c in map(json.loads, lines)]
