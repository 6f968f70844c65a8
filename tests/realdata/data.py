"""Real data for the tests, made or fetched by the test set-up and cached like the HAPI build.

- The official FHIR R4 example resources: the npm package hl7.fhir.r4.examples 4.0.1 (CC0),
  fetched with `npm pack` from the npm registry.
- A small seeded Synthea population: org.mitre.synthea:synthea 3.3.0 from Maven Central
  (resolved by tests/realdata/pom.xml), run twice with the same seeds: as Bulk NDJSON and as
  transaction Bundles (urn:uuid and conditional references, as Synthea writes them).

Both are cached under $DN_ADAPTER_TEST_CACHE (default ~/.cache/dn-adapter-tests), keyed by
version and seed, so only the first run on a machine pays for them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES_PACKAGE = "hl7.fhir.r4.examples@4.0.1"
SYNTHEA_VERSION = "3.3.0"
SYNTHEA_SEED = 42
SYNTHEA_PATIENTS = 8
# A fixed reference date: the same seeds then give the same population on every machine and day.
SYNTHEA_REFERENCE_DATE = "20250601"


def cache_root() -> Path:
    root = Path(os.environ.get("DN_ADAPTER_TEST_CACHE", Path.home() / ".cache" / "dn-adapter-tests"))
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """One preparation at a time per cache entry (parallel test runs share the cache)."""
    with (cache_root() / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def r4_examples() -> Path:
    """The directory of the R4 example resources (one JSON file each)."""
    target = cache_root() / "hl7.fhir.r4.examples-4.0.1"
    with _locked("examples"):
        if not (target / ".complete").exists():
            with tempfile.TemporaryDirectory() as work:
                subprocess.run(
                    ["npm", "pack", "--silent", EXAMPLES_PACKAGE],
                    cwd=work,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    timeout=600,
                )
                (tarball,) = Path(work).glob("*.tgz")
                shutil.rmtree(target, ignore_errors=True)
                with tarfile.open(tarball) as archive:
                    archive.extractall(work, filter="data")
                shutil.move(Path(work) / "package", target)
            (target / ".complete").touch()
    return target


def synthea() -> Path:
    """The Synthea population: `ndjson/` (Bulk files) and `bundles/` (one transaction a file)."""
    target = cache_root() / f"synthea-{SYNTHEA_VERSION}-s{SYNTHEA_SEED}-p{SYNTHEA_PATIENTS}-{SYNTHEA_REFERENCE_DATE}"
    with _locked("synthea"):
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            classpath = _synthea_classpath()
            _run_synthea(classpath, target / "run-ndjson", bulk=True)
            _run_synthea(classpath, target / "run-bundles", bulk=False)
            shutil.move(target / "run-ndjson" / "fhir", target / "ndjson")
            shutil.move(target / "run-bundles" / "fhir", target / "bundles")
            (target / ".complete").touch()
    return target


def synthea_bulk_population(patients: int) -> Path:
    """A bigger seeded Synthea population as Bulk NDJSON only (for bench/realistic.py), cached."""
    target = cache_root() / f"synthea-{SYNTHEA_VERSION}-s{SYNTHEA_SEED}-p{patients}-{SYNTHEA_REFERENCE_DATE}-bulk"
    with _locked(f"synthea-{patients}"):
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            _run_synthea(_synthea_classpath(), target / "run", bulk=True, patients=patients)
            shutil.move(target / "run" / "fhir", target / "ndjson")
            (target / ".complete").touch()
    return target / "ndjson"


def _synthea_classpath() -> str:
    cp_file = cache_root() / f"synthea-{SYNTHEA_VERSION}.classpath"
    if not cp_file.exists():
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(HERE / "pom.xml"),
                "dependency:build-classpath",
                f"-Dmdep.outputFile={cp_file}",
            ],
            check=True,
            timeout=1800,
        )
    jar = Path.home() / ".m2" / "repository" / "org" / "mitre" / "synthea" / "synthea" / SYNTHEA_VERSION
    return cp_file.read_text().strip() + os.pathsep + str(jar / f"synthea-{SYNTHEA_VERSION}.jar")


def _run_synthea(classpath: str, out: Path, bulk: bool, patients: int = SYNTHEA_PATIENTS) -> None:
    out.mkdir(parents=True)
    subprocess.run(
        [
            "java",
            "-Xmx2g",
            "-cp",
            classpath,
            "App",
            "-p",
            str(patients),
            "-s",
            str(SYNTHEA_SEED),
            "-cs",
            str(SYNTHEA_SEED),
            "-r",
            SYNTHEA_REFERENCE_DATE,
            "--exporter.baseDirectory",
            str(out),
            "--exporter.fhir.bulk_data",
            "true" if bulk else "false",
            "--exporter.hospital.fhir.export",
            "true",
            "--exporter.practitioner.fhir.export",
            "true",
            "--exporter.csv.export",
            "false",
            "--generate.only_alive_patients",
            "true",
        ],
        cwd=out,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=1800,
    )
