"""Coding data loaded from mappings/: muscles, regions, procedure codes, NCCI pairs, payers.

These values are data, not code (rules.md): a deployment replaces or extends them without
touching the adapter. Every loader names the file and line of a bad row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from . import systems
from .concept_maps import ConceptMapError, load_concept_maps

# An installed wheel carries the mappings inside the package; a checkout has them at its top level.
_PACKAGED_MAPPINGS = Path(__file__).resolve().parent / "_data" / "mappings"
DEFAULT_MAPPINGS = (
    _PACKAGED_MAPPINGS if _PACKAGED_MAPPINGS.is_dir() else Path(__file__).resolve().parent.parent / "mappings"
)
ACUPUNCTURE_CODES = frozenset({"97810", "97811", "97813", "97814"})
CONFIDENCE_LEVELS = ("P", "HIGH", "S", "MEDIUM", "LOW")


class MappingError(ValueError):
    """A mappings file is missing or has a row the adapter cannot use."""


@dataclass(frozen=True)
class MuscleEntry:
    """One SNOMED id of a muscle in the map (R4)."""

    snomed_id: str
    muscle: str
    paired: bool
    group: bool
    side: str | None
    confidence: str


@dataclass(frozen=True)
class PtpPair:
    """One NCCI procedure-to-procedure edit (column 1 / column 2, modifier indicator)."""

    column1: str
    column2: str
    effective: date
    deletion: date | None
    modifier_indicator: str

    def active_on(self, day: date) -> bool:
        return self.effective <= day and (self.deletion is None or day <= self.deletion)


@dataclass(frozen=True)
class PayerPolicy:
    """A payer-policy row: how to match a payer, what to do, and why."""

    match: str
    value: str
    action: str
    message: str
    source: str


@dataclass(frozen=True)
class CodingTables:
    """Everything the rules look up, loaded once per run."""

    muscles: dict[str, MuscleEntry]
    regions: dict[str, str]
    procedure_kinds: dict[tuple[str, str], str]
    ptp_pairs: tuple[PtpPair, ...] = ()
    payer_policies: tuple[PayerPolicy, ...] = ()
    disabled_muscles: dict[str, MuscleEntry] = field(default_factory=dict)
    # Local site codes to SNOMED CT expressions, from the deployment's ConceptMaps (R4).
    local_sites: dict[tuple[str, str], str] = field(default_factory=dict)
    site_cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def dry_needling_codes(self) -> list[tuple[str, str]]:
        """(system, code) of every dry-needling code, CPT and configured local ones (R1)."""
        return [pair for pair, kind in self.procedure_kinds.items() if kind == "dry-needling"]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for parallel workers without the site cache: each process fills its own."""
        return {**self.__dict__, "site_cache": {}}

    def kind_of(self, codes: Iterable[tuple[str, str]]) -> str | None:
        """The kind of a procedure from its codes: dry-needling, acupuncture, ... (R1)."""
        kinds = [kind for pair in codes if (kind := self.procedure_kinds.get(pair))]
        if not kinds:
            return None
        for preferred in ("acupuncture", "trigger-point-injection", "dry-needling"):
            if preferred in kinds:
                return preferred
        return None


def _rows(path: Path) -> Iterable[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise MappingError(f"mappings file not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            yield number, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _yes(value: str, path: Path, number: int, column: str) -> bool:
    if value not in ("yes", "no"):
        raise MappingError(f"{path.name}:{number}: column {column} must be yes or no, got {value!r}")
    return value == "yes"


def load_muscles(path: Path, include_low: bool = False) -> tuple[dict[str, MuscleEntry], dict[str, MuscleEntry]]:
    """Enabled and disabled rows of the muscle map; LOW rows are opt-in (rules.md R4)."""
    enabled: dict[str, MuscleEntry] = {}
    disabled: dict[str, MuscleEntry] = {}
    for number, row in _rows(path):
        confidence = row.get("confidence", "")
        if confidence not in CONFIDENCE_LEVELS:
            raise MappingError(f"{path.name}:{number}: unknown confidence {confidence!r}")
        side = row.get("side") or None
        if side not in (None, "left", "right"):
            raise MappingError(f"{path.name}:{number}: side must be left, right or empty")
        entry = MuscleEntry(
            snomed_id=row["snomed_id"],
            muscle=row["muscle"],
            paired=_yes(row.get("paired", ""), path, number, "paired"),
            group=_yes(row.get("group", ""), path, number, "group"),
            side=side,
            confidence=confidence,
        )
        if not entry.snomed_id.isdigit() or not entry.muscle:
            raise MappingError(f"{path.name}:{number}: snomed_id and muscle are required")
        is_enabled = _yes(row.get("enabled", ""), path, number, "enabled")
        if is_enabled or (include_low and confidence == "LOW"):
            enabled[entry.snomed_id] = entry
        else:
            disabled[entry.snomed_id] = entry
    return enabled, disabled


def load_regions(path: Path) -> dict[str, str]:
    """Region-only and generic concepts that are never counted as a muscle (R4)."""
    return {row["snomed_id"]: row.get("display", "") for _, row in _rows(path)}


def load_procedure_kinds(path: Path) -> dict[tuple[str, str], str]:
    """(system, code) -> kind; refuses a list that calls acupuncture dry needling (R1)."""
    kinds: dict[tuple[str, str], str] = {}
    for number, row in _rows(path):
        kind = row.get("kind", "")
        if kind not in ("dry-needling", "acupuncture", "trigger-point-injection"):
            raise MappingError(f"{path.name}:{number}: unknown kind {kind!r}")
        if kind == "dry-needling" and row["system"] == systems.CPT and row["code"] in ACUPUNCTURE_CODES:
            raise MappingError(f"{path.name}:{number}: acupuncture {row['code']} is never dry needling (R1)")
        kinds[(row["system"], row["code"])] = kind
    for code in ACUPUNCTURE_CODES:
        kinds[(systems.CPT, code)] = "acupuncture"
    return kinds


def _cms_date(value: str, where: str) -> date | None:
    value = value.strip()
    if value in ("", "*"):
        return None
    try:
        if "-" in value:
            return date.fromisoformat(value)
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError as error:
        raise MappingError(f"{where}: bad date {value!r}") from error


def load_ptp_csv(path: Path) -> tuple[PtpPair, ...]:
    """Our CSV form of NCCI PTP pairs (mappings/ncci-ptp.csv)."""
    pairs = []
    for number, row in _rows(path):
        where = f"{path.name}:{number}"
        effective = _cms_date(row.get("effective", ""), where)
        if effective is None or row.get("modifier_indicator") not in ("0", "1", "9"):
            raise MappingError(f"{where}: effective date and modifier_indicator 0/1/9 are required")
        pairs.append(
            PtpPair(
                row["column1"],
                row["column2"],
                effective,
                _cms_date(row.get("deletion", ""), where),
                row["modifier_indicator"],
            )
        )
    return tuple(pairs)


def load_cms_ptp_file(
    path: Path, codes_of_interest: frozenset[str] = frozenset({"20560", "20561"})
) -> tuple[PtpPair, ...]:
    """The CMS quarterly practitioner PTP text file (tab-delimited, a few header lines).

    Columns: Column1, Column2, (an "in existence prior to 1996" flag in some releases),
    EffDt (YYYYMMDD), DelDt (YYYYMMDD or *), ModifierIndicator, rationale. Header lines are
    recognised by not starting with a code, so the exact number of them does not matter
    (billing-facts-research.md 1). Only rows touching 20560/20561 are kept.
    """
    pairs = []
    with path.open(encoding="latin-1") as handle:
        for number, line in enumerate(handle, start=1):
            fields = [f.strip() for f in line.rstrip("\n").split("\t")]
            if len(fields) < 5 or not (len(fields[0]) == 5 and len(fields[1]) == 5):
                continue
            if fields[0] not in codes_of_interest and fields[1] not in codes_of_interest:
                continue
            # Two layouts are in circulation: with the "in existence prior to 1996" flag column
            # (blank or *) before the dates, and without it.
            offset = 2 if len(fields[2]) == 8 and fields[2].isdigit() else 3
            if len(fields) < offset + 3 or fields[offset + 2] not in ("0", "1", "9"):
                raise MappingError(f"{path.name}:{number}: cannot read dates and modifier indicator")
            indicator = fields[offset + 2]
            effective = _cms_date(fields[offset], f"{path.name}:{number}")
            if effective is None:
                raise MappingError(f"{path.name}:{number}: missing effective date")
            deletion = _cms_date(fields[offset + 1], f"{path.name}:{number}")
            pairs.append(PtpPair(fields[0], fields[1], effective, deletion, indicator))
    return tuple(pairs)


def load_payer_policies(path: Path) -> tuple[PayerPolicy, ...]:
    """Payer-policy rows; actions are warn or hold, never drop (R8)."""
    policies = []
    for number, row in _rows(path):
        if row.get("match") not in ("payer-name", "payer-identifier", "sopt-prefix"):
            raise MappingError(f"{path.name}:{number}: match must be payer-name, payer-identifier or sopt-prefix")
        if row.get("action") not in ("warn", "hold"):
            raise MappingError(f"{path.name}:{number}: action must be warn or hold")
        policies.append(PayerPolicy(row["match"], row["value"].lower(), row["action"], row["message"], row["source"]))
    return tuple(policies)


def load_tables(
    mappings_dir: Path = DEFAULT_MAPPINGS,
    include_low_confidence: bool = False,
    cms_ptp_files: Iterable[Path] = (),
) -> CodingTables:
    """Load every mappings file of a directory (the bundled one by default)."""
    muscles, disabled = load_muscles(mappings_dir / "muscles.csv", include_low_confidence)
    pairs = load_ptp_csv(mappings_dir / "ncci-ptp.csv")
    for cms_file in cms_ptp_files:
        pairs += load_cms_ptp_file(cms_file)
    kinds = load_procedure_kinds(mappings_dir / "procedure-codes.csv")
    try:
        local = load_concept_maps(mappings_dir / "conceptmaps", kinds, set(muscles) | set(disabled))
    except ConceptMapError as error:
        raise MappingError(f"conceptmaps/{error}") from error
    for pair, cpt in local.procedures.items():
        kinds[pair] = kinds[(systems.CPT, cpt)]  # R1: a local code is the kind of the CPT it maps to
    return CodingTables(
        muscles=muscles,
        regions=load_regions(mappings_dir / "regions.csv"),
        procedure_kinds=kinds,
        ptp_pairs=pairs,
        payer_policies=load_payer_policies(mappings_dir / "payer-policies.csv"),
        disabled_muscles=disabled,
        local_sites=local.sites,
    )
