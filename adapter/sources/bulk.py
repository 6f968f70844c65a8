"""A FHIR Bulk Data export as a source: kick-off, poll, download, resume (Bulk Data Access IG).

`[base]/$export`, `[base]/Patient/$export` or `[base]/Group/ID/$export` is kicked off with
`Prefer: respond-async`; the status URL is polled, honouring Retry-After (seconds or an
HTTP-date) up to `[bulk] poll_max_delay_s`, and X-Progress is logged; every output, error and
deleted file of the manifest is streamed to disk; the job is deleted on the server once all
files are here (Epic and Oracle Health allow one export per client at a time). The downloaded
outputs are then read like any Bulk-export directory (sources/ndjson.py), so coding is as fast
as docs/performance.md shows; each line of an error file becomes a problem in our output.

Resume: the kick-off's status URL, the manifest and the files finished are kept in
`<state dir>/bulk-<hash of the kick-off URL>/state.json`, written atomically. A killed backfill
started again polls the same export instead of starting another, and keeps the files it has; a
file half written is downloaded again whole.

Tokens: a download carries the access token only when the manifest says `requiresAccessToken`
and only to the server's own origin; a download redirected to a file host (Oracle Health
answers 307 to one) gets no Authorization header.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import orjson

from ..fhir.errors import ClientError, ProtocolError, error_for_status
from ..fhir.retry_after import parse_retry_after
from ..fhirjson import JSON, obj, objects, text
from ..indexes import PATIENT_FIELDS, SHARED_TYPES
from ..problems import InputProblem
from ..settings import BulkSettings
from .base import SourceError, is_fhir_resource_type
from .ndjson import NdjsonSource
from .patients import PatientReader

if TYPE_CHECKING:  # the client brings requests and PyJWT: imported where one is made
    from ..fhir.client import FhirClient

log = logging.getLogger("adapter.source")

KICK_OFF = re.compile(r"^(?P<base>https?://[^?#]+?)/(?:Patient/|Group/[A-Za-z0-9\-.]{1,64}/)?\$export(?:\?[^#]*)?$")
# What the rules read (indexes.py): every type of a patient's record, and the shared ones.
READ_TYPES = frozenset({*PATIENT_FIELDS, *SHARED_TYPES})
EXPORT_TYPES = tuple(sorted(READ_TYPES - {"Device", "Medication"}))
MAX_REDIRECTS = 3


def is_kick_off(spec: str) -> bool:
    return KICK_OFF.match(spec) is not None


def server_base(spec: str) -> str:
    """The FHIR base URL of a kick-off URL."""
    match = KICK_OFF.match(spec)
    if match is None:
        raise SourceError(f"not a Bulk Data kick-off URL: {spec}")
    return match.group("base")


def patient_level(spec: str) -> bool:
    """A Patient or Group export: only patient-compartment types (HAPI refuses the others,
    HAPI-0512), so the shared resources the records name are read by id afterwards."""
    return "/Patient/$export" in spec or "/Group/" in urlsplit(spec).path


def with_types(spec: str) -> str:
    """The kick-off URL, with `_type` the types the rules read unless it names its own.

    One comma-joined `_type`: Oracle Health (Cerner) refuses a repeated `_type`, and Epic, HAPI
    and Kodjin take the comma list (smart-on-fhir/smart-fetch smart_fetch/bulk_utils.py).
    """
    parts = urlsplit(spec)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "_type" for name, _ in query):
        return spec
    types = sorted(PATIENT_FIELDS) if patient_level(spec) else EXPORT_TYPES
    query.append(("_type", ",".join(types)))
    return urlunsplit(parts._replace(query=urlencode(query, safe=",")))


@dataclass
class Downloaded:
    """The files of one finished export on disk."""

    outputs: list[Path]
    errors: list[Path]
    deleted: list[Path]
    transaction_time: str | None


class BulkExport:
    """One export's life: kick-off (or resume), poll, download, delete (module docstring)."""

    def __init__(
        self,
        client: FhirClient,
        kick_off: str,
        state_dir: Path,
        settings: BulkSettings,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.kick_off = with_types(kick_off)
        digest = hashlib.sha256(self.kick_off.encode()).hexdigest()[:16]
        self.work_dir = state_dir / f"bulk-{digest}"
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.state: JSON = {}

    # -- state -----------------------------------------------------------------------------------

    def _load(self) -> None:
        path = self.work_dir / "state.json"
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            loaded = {}
        except (OSError, ValueError) as error:
            raise SourceError(f"bulk export state {path} is unreadable ({error}); remove it to start again") from error
        self.state = loaded if isinstance(loaded, dict) and loaded.get("kick_off") == self.kick_off else {}

    def save(self) -> None:
        """Atomically: a crash leaves the previous state or this one, never half of one."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        partial = self.work_dir / "state.json.partial"
        with partial.open("w", encoding="utf-8") as handle:
            json.dump({**self.state, "kick_off": self.kick_off}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.work_dir / "state.json")

    # -- the export ------------------------------------------------------------------------------

    def run(self) -> Downloaded:
        """The export's files on disk: resumed where a previous run stopped, else kicked off."""
        self._load()
        if self.state.get("status_url") and not self.state.get("manifest"):
            log.info("bulk export resumed", extra={"status": "polling"})
        manifest = self.state.get("manifest")
        if not isinstance(manifest, dict):
            if not self.state.get("status_url"):
                self._start()
            manifest = self._poll()
        downloaded = self._download_all(manifest)
        if not self.state.get("job_deleted"):
            self._delete_job()
        return downloaded

    def _start(self) -> None:
        answer = self.client.exchange(
            "GET", self.kick_off, headers={"Prefer": "respond-async"}, what="bulk export kick-off"
        )
        status_url = answer.headers.get("Content-Location")
        if answer.status != 202 or not status_url:
            raise ProtocolError(answer.status, "bulk export kick-off", "expected 202 Accepted with Content-Location")
        self.state = {"status_url": status_url, "downloaded": {}}
        self.save()
        log.info("bulk export started")

    def _poll(self) -> JSON:
        started = self.clock()
        progress: str | None = None
        while True:
            try:
                answer = self.client.exchange("GET", str(self.state["status_url"]), what="bulk export status")
            except ClientError as error:
                if error.status in (404, 410) and not self.state.get("restarted"):
                    # The server forgot the job (expired, or deleted by an operator): start again once.
                    log.warning("bulk export job gone; kicking off again", extra={"status": error.status})
                    self.state = {"restarted": True}
                    self._start()
                    self.state["restarted"] = True
                    continue
                raise
            if answer.status == 200:
                if not isinstance(answer.payload, dict):
                    raise ProtocolError(200, "bulk export status", "the manifest is not JSON")
                self.state["manifest"] = answer.payload
                self.save()
                return answer.payload
            shown = answer.headers.get("X-Progress")
            if shown != progress:
                progress = shown
                log.info("bulk export in progress", extra={"progress": (shown or "")[:100]})
            if self.clock() - started > self.settings.give_up_after_s:
                raise SourceError(
                    f"bulk export not finished after {self.settings.give_up_after_s:.0f} s ([bulk] give_up_after_s); "
                    "run again later to resume it"
                )
            asked = parse_retry_after(answer.headers.get("Retry-After"))
            wait = self.settings.poll_default_delay_s if asked is None else asked
            self.sleep(min(max(wait, 0.5), self.settings.poll_max_delay_s))

    def _download_all(self, manifest: JSON) -> Downloaded:
        done = self.state.setdefault("downloaded", {})
        with_token = manifest.get("requiresAccessToken") is True
        files: dict[str, list[Path]] = {"output": [], "error": [], "deleted": []}
        not_needed: dict[str, int] = {}
        for kind in files:
            for number, item in enumerate(objects(manifest.get(kind))):
                url = text(item.get("url"))
                if url is None:
                    continue
                rtype = text(item.get("type")) or "OperationOutcome"
                if kind == "output" and is_fhir_resource_type(rtype) and rtype not in READ_TYPES:
                    # A kick-off with its own _type may list types the rules never read: the
                    # manifest names each file's type, so such a file is not even downloaded.
                    not_needed[rtype] = not_needed.get(rtype, 0) + 1
                    continue
                name = f"{kind}-{number:05d}-{re.sub(r'[^A-Za-z]', '', rtype)[:64]}.ndjson"
                path = self.work_dir / name
                if done.get(url) != name or not path.exists():
                    self._download(url, path, with_token, f"bulk {kind} file {rtype}")
                    done[url] = name
                    self.save()
                files[kind].append(path)
        log.info(
            "bulk export downloaded",
            extra={"files": sum(len(f) for f in files.values()), "not_downloaded": not_needed or None},
        )
        return Downloaded(files["output"], files["error"], files["deleted"], text(manifest.get("transactionTime")))

    def _download(self, url: str, path: Path, with_token: bool, what: str) -> None:
        """Stream one file to disk; redirects are followed, the token only ever to the server."""
        partial = path.with_name(path.name + ".partial")
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            own = (parts.scheme, parts.netloc.lower()) == self.client.origin
            if parts.scheme not in ("http", "https") or (parts.scheme == "http" and not own):
                raise ProtocolError(0, what, f"refusing to download from {parts.scheme}://{parts.netloc}")

            def headers(own: bool = own) -> dict[str, str]:
                token = self.client.auth.headers() if with_token and own else {}
                return {"Accept": "application/fhir+ndjson", **token}

            answer = self.client.transport.send("GET", current, headers=headers, what=what, save_to=partial)
            if 300 <= answer.status < 400 and answer.headers.get("Location"):
                current = urljoin(current, answer.headers["Location"])
                continue
            if answer.status >= 300:
                partial.unlink(missing_ok=True)
                raise error_for_status(answer.status, what, f"download answered {answer.status}")
            os.replace(partial, path)
            return
        raise ProtocolError(0, what, f"more than {MAX_REDIRECTS} redirects")

    def _delete_job(self) -> None:
        """DELETE the status URL: the server may free the files (and let this client export again)."""
        try:
            self.client.exchange("DELETE", str(self.state["status_url"]), what="bulk export delete")
        except ClientError as error:  # already gone (HAPI answers 404 once the job is cleaned up)
            log.info("bulk export job not deleted", extra={"status": error.status})
        self.state["job_deleted"] = True
        self.save()


SHARED_NAME = "output-shared.ndjson"
REFERRING_TYPES = ("Procedure", "Encounter", "Coverage")


def add_shared_resources(export: BulkExport, downloaded: Downloaded, reader: PatientReader) -> Downloaded:
    """A Patient or Group export's clinicians, organizations and locations, read by id (once
    each) from what its Procedures, Encounters and Coverages name, as one more output file."""
    path = export.work_dir / SHARED_NAME
    if not export.state.get("shared_read") or not path.exists():
        referring = [p for p in downloaded.outputs if any(t in p.name for t in REFERRING_TYPES)]
        records = (r for _, raw in NdjsonSource(referring, "").lines() if isinstance(r := _parsed(raw), dict))
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            for resource in reader.referenced(records):
                handle.write(orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE))
        os.replace(partial, path)
        export.state["shared_read"] = True
        export.save()
    return Downloaded([*downloaded.outputs, path], downloaded.errors, downloaded.deleted, downloaded.transaction_time)


def _parsed(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # the coding reads the line again and reports it


class BulkSource(NdjsonSource):
    """The downloaded outputs of an export, read as a Bulk-export directory; each line of its
    error files is a problem in our output (backfill.code_everything reports them, on every
    path: in memory, spilled, parallel)."""

    def __init__(self, export: BulkExport, downloaded: Downloaded) -> None:
        super().__init__(downloaded.outputs, export.kick_off)
        self.export = export
        self.downloaded = downloaded

    def error_problems(self) -> Iterator[InputProblem]:
        for path in self.downloaded.errors:
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if not line.strip():
                    continue
                try:
                    outcome = obj(json.loads(line))
                except ValueError:
                    outcome = {}
                issue = next(objects(outcome.get("issue")), {})
                detail = text(issue.get("diagnostics")) or text(obj(issue.get("details")).get("text")) or "no details"
                yield InputProblem(
                    "bulk export error file", f"the server reported: {detail[:500]}", "error", "exception"
                )

    def finish(self) -> None:
        """The run is done with the files: remove them and the export's state."""
        shutil.rmtree(self.export.work_dir, ignore_errors=True)
