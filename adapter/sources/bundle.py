"""A FHIR Bundle JSON file (collection, transaction, batch or searchset) as a source."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..fhirjson import obj, objects
from ..problems import InputProblem
from .base import SourceError, SourceItem, check_resource

# A Bundle is one JSON document, parsed whole: Python holds it in several times its size.
# Above this, the run stops with a clear reason instead of exhausting memory; NDJSON is read
# line by line in bounded memory, whatever its size.
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
BUNDLE_TYPES = frozenset({"collection", "transaction", "batch", "searchset", "batch-response", "transaction-response"})


class BundleFileSource:
    """Reads one Bundle; urn:uuid references are rewritten to 'Type/id' so later stages see one form."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = path.name

    def size_hint(self) -> int:
        return self.path.stat().st_size

    def items(self) -> Iterator[SourceItem]:
        try:
            size = self.path.stat().st_size
        except OSError as error:
            raise SourceError(f"cannot read {self.path}: {error.strerror}") from error
        if size > MAX_BUNDLE_BYTES:
            raise SourceError(
                f"{self.path.name} is {size // (1024 * 1024)} MB; a Bundle file is read whole and may be at most "
                f"{MAX_BUNDLE_BYTES // (1024 * 1024)} MB: give the data as Bulk-export NDJSON instead"
            )
        try:
            with self.path.open("rb") as handle:
                bundle = json.load(handle)
        except OSError as error:
            raise SourceError(f"cannot read {self.path}: {error.strerror}") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise SourceError(f"{self.path.name} is not valid JSON: {error}") from error
        except RecursionError as error:
            raise SourceError(f"{self.path.name} is nested too deeply to read") from error
        yield from bundle_items(bundle, self.path.name)


def bundle_items(bundle: Any, name: str) -> Iterator[SourceItem]:
    """Resources of a parsed Bundle, with a problem for every entry that is not usable."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise SourceError(f"{name} is not a FHIR Bundle")
    if bundle.get("type") not in BUNDLE_TYPES:
        raise SourceError(f"{name}: Bundle.type {bundle.get('type')!r} is not one of {', '.join(sorted(BUNDLE_TYPES))}")
    entries = list(objects(bundle.get("entry")))
    aliases: dict[str, str] = {}
    for entry in entries:
        resource, full_url = entry.get("resource"), entry.get("fullUrl")
        if isinstance(resource, dict) and isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
            resource.setdefault("id", full_url.removeprefix("urn:uuid:"))
            aliases[full_url] = f"{resource.get('resourceType')}/{resource['id']}"
    for position, entry in enumerate(entries):
        where = f"{name} entry[{position}]"
        resource = entry.get("resource")
        if resource is None:
            # A read or delete request, or a response's status line, carries no resource by design
            # (the R4 examples' batch and transaction Bundles hold both).
            method = obj(entry.get("request")).get("method")
            if method in ("GET", "HEAD", "DELETE") or (method is None and isinstance(entry.get("response"), dict)):
                continue
            yield InputProblem(where, "entry without a resource", "error", "structure")
            continue
        if aliases:
            _rewrite_references(resource, aliases)
        item = check_resource(resource, where)
        yield item


def _rewrite_references(node: Any, aliases: dict[str, str], depth: int = 0) -> None:
    if depth > 64:
        return
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in aliases:
            node["reference"] = aliases[ref]
        for value in node.values():
            if isinstance(value, (dict, list)):
                _rewrite_references(value, aliases, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _rewrite_references(value, aliases, depth + 1)
