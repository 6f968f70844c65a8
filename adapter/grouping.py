"""Group a stream of resources by patient, keeping shared resources aside.

Small sources are grouped in memory. Large ones are spilled to bucket files by a hash of the
patient, then read back one bucket at a time, so memory follows the largest bucket and not
the size of the export.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .assemble import SHARED_TYPES, SharedIndex, patient_of
from .fhirjson import JSON, resource_key
from .problems import InputProblem
from .sources.base import SourceItem

SPILL_BUCKET_BYTES = 32 * 1024 * 1024


@dataclass
class Grouped:
    """Shared resources, input problems, and the per-patient groups (a one-shot iterator)."""

    shared: SharedIndex
    problems: list[InputProblem]
    groups: Iterator[tuple[str, list[JSON]]]
    unused_types: dict[str, int] = field(default_factory=dict)


def group_by_patient(
    items: Iterable[SourceItem], size_hint: int = 0, spill_threshold: int = 256 * 1024 * 1024
) -> Grouped:
    """Split items into shared resources, per-patient groups and problems.

    Reads the whole source once before yielding any group: a patient's resources may be
    spread over several files (one per type in a Bulk export).
    """
    shared = SharedIndex()
    problems: list[InputProblem] = []
    unused: dict[str, int] = defaultdict(int)
    buckets = max(1, size_hint // SPILL_BUCKET_BYTES) if size_hint > spill_threshold else 1
    store = _MemoryStore() if buckets == 1 else _SpillStore(buckets)
    for item in items:
        if isinstance(item, InputProblem):
            problems.append(item)
            continue
        rtype = str(item["resourceType"])
        if rtype in SHARED_TYPES:
            shared.add(item)
            continue
        patient = patient_of(item)
        if patient is None:
            if rtype in ("Patient",) or rtype not in (
                "Coverage",
                "Encounter",
                "Procedure",
                "Observation",
                "Condition",
                "MedicationAdministration",
                "BodyStructure",
                "Claim",
            ):
                unused[rtype] += 1
                continue
            problems.append(
                InputProblem(
                    resource_key(item) or rtype, "no subject/patient reference to a Patient", "error", "required"
                )
            )
            continue
        store.add(patient, item)
    return Grouped(shared, problems, store.groups(), dict(unused))


class _MemoryStore:
    def __init__(self) -> None:
        self.by_patient: dict[str, list[JSON]] = defaultdict(list)

    def add(self, patient: str, resource: JSON) -> None:
        self.by_patient[patient].append(resource)

    def groups(self) -> Iterator[tuple[str, list[JSON]]]:
        for patient in sorted(self.by_patient):
            yield patient, self.by_patient.pop(patient)


class _SpillStore:
    def __init__(self, buckets: int) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="dn-adapter-")
        self.paths = [Path(self.directory.name) / f"bucket-{i}.ndjson" for i in range(buckets)]
        self.handles = [p.open("w", encoding="utf-8") for p in self.paths]

    def add(self, patient: str, resource: JSON) -> None:
        bucket = int.from_bytes(hashlib.blake2b(patient.encode(), digest_size=4).digest(), "big") % len(self.handles)
        self.handles[bucket].write(json.dumps([patient, resource], separators=(",", ":")) + "\n")

    def groups(self) -> Iterator[tuple[str, list[JSON]]]:
        for handle in self.handles:
            handle.close()
        try:
            for path in self.paths:
                memory = _MemoryStore()
                with path.open(encoding="utf-8") as handle:
                    for line in handle:
                        patient, resource = json.loads(line)
                        memory.add(patient, resource)
                path.unlink()
                yield from memory.groups()
        finally:
            self.directory.cleanup()
