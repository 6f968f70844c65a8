"""Read back what the adapter wrote, for the review page: a file sink's directory or a server.

A directory is what `run --sink DIR` writes (Claim.ndjson, Task.ndjson, Provenance.ndjson,
OperationOutcome.ndjson) or what the worker's directory store writes (the same files in one
`pass-<time>/` folder per pass, read oldest first, so later versions replace earlier ones). A
server is searched for the resources carrying our written-by tag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import systems
from ..build import ADAPTER_NAME
from ..fhir.client import FhirClient
from ..fhirjson import JSON, objects
from ..sources.server import search_by_ids

REPORTED_TYPES = ("Claim", "Task", "Provenance", "OperationOutcome")


@dataclass
class Written:
    """Our resources by type, oldest first, and the lines that could not be read."""

    resources: dict[str, list[JSON]] = field(default_factory=lambda: {t: [] for t in REPORTED_TYPES})
    unreadable: list[str] = field(default_factory=list)

    def of(self, resource_type: str) -> list[JSON]:
        return self.resources[resource_type]


def read_directory(directory: Path) -> Written:
    """The NDJSON a file sink or the directory store wrote; a bad line is noted, not fatal."""
    written = Written()
    folders = [directory, *sorted(p for p in directory.glob("pass-*") if p.is_dir())]
    for folder in folders:
        for resource_type in REPORTED_TYPES:
            path = folder / f"{resource_type}.ndjson"
            if path.is_file():
                _read_ndjson(path, resource_type, directory, written)
    return written


def _read_ndjson(path: Path, resource_type: str, root: Path, written: Written) -> None:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                resource = json.loads(line)
            except json.JSONDecodeError:
                resource = None
            if isinstance(resource, dict) and resource.get("resourceType") == resource_type:
                written.of(resource_type).append(resource)
            else:
                written.unreadable.append(f"{path.relative_to(root)} line {number}: not a {resource_type}")


def read_server(client: FhirClient) -> Written:
    """Our Claims, Tasks and Provenances on a server (searched by our written-by tag)."""
    written = Written()
    tag = f"{systems.WRITTEN_BY_TAG_SYSTEM}|{ADAPTER_NAME}"
    for resource_type in ("Claim", "Task", "Provenance"):
        found = client.search_resources(resource_type, {"_tag": tag, "_count": "200"})
        written.of(resource_type).extend(r for r in found if r.get("resourceType") == resource_type)
    return written


def patient_names(client: FhirClient, patients: list[str]) -> dict[str, str]:
    """Display names of these patients, one `_id` search (only when the user asks for names)."""
    ids = sorted({ref.split("/", 1)[1] for ref in patients if ref.startswith("Patient/")})
    names: dict[str, str] = {}
    for patient in search_by_ids(client, "Patient", "_id", ids):
        name = next(objects(patient.get("name")), None)
        if name is None or patient.get("resourceType") != "Patient":
            continue
        shown = name.get("text") or " ".join(
            [*(str(g) for g in name.get("given") or [] if isinstance(g, str)), str(name.get("family") or "")]
        )
        if shown.strip():
            names[f"Patient/{patient.get('id')}"] = shown.strip()
    return names
