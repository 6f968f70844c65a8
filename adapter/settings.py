"""Settings of the coding rules and of a run, with their defaults, a TOML loader and
DN_ADAPTER_* environment overrides.

The settings are pydantic dataclasses: every value is checked where it is set (a TOML file,
the environment, or code), so a wrong type, an out-of-range value or an unknown key is refused
with the key named (exit 2), and a string never passes where a number belongs. Every setting
is documented in docs/configuration.md. Secrets are never settings: they come from files or
environment variables named in fhir/auth.py.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import field, fields, replace
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass

from . import systems
from .tables import DEFAULT_MAPPINGS

# R7 policy order: 59/X*, 76/77, GP, CQ, KX, GA/GX/GY/GZ (research-notes.md 4, not an external rule).
DEFAULT_MODIFIER_ORDER = ("59", "XE", "XS", "XP", "XU", "76", "77", "GP", "CQ", "KX", "GA", "GX", "GY", "GZ")

# R8: who may furnish Medicare-covered needling under NCD 30.3.3 (research-notes.md 8 [P][S6]).
# Physicians (NUCC 20xxxxxxxX allopathic/osteopathic); PA, NP, CNS only with ACAOM credentials,
# which the EHR data cannot show, so they are eligible with a warning.
MEDICARE_PHYSICIAN_PREFIXES = ("20",)
MEDICARE_CONDITIONAL_PREFIXES = ("363A", "363L", "364S")


MEDICARE_THERAPIST_PATHS = ("hold", "non-covered")


class ConfigError(ValueError):
    """The configuration file cannot be used."""


# Strict: no "60" for 60 or "yes" for true. Unknown keys are refused by the loader, by name.
_CHECKED = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=False)


@dataclass(frozen=True, config=_CHECKED)
class CodingSettings:
    """Settings the pure coding rules read."""

    hcpcs_system: str = systems.HCPCS
    modifier_order: tuple[str, ...] = DEFAULT_MODIFIER_ORDER
    gp_for_therapists: bool = True
    medicare_physician_prefixes: tuple[str, ...] = MEDICARE_PHYSICIAN_PREFIXES
    medicare_conditional_prefixes: tuple[str, ...] = MEDICARE_CONDITIONAL_PREFIXES
    risky_same_day_codes: tuple[str, ...] = (
        "97140",
        "97110",
        "97112",
        "97530",
        "98940",
        "98941",
        "98942",
        "98925",
        "98926",
        "98927",
        "98928",
        "98929",
    )
    # R2a: the clinic's IANA time zone when the data names none; per billing Organization
    # ('Organization/id' = zone) before the one zone.
    clinic_time_zone: str | None = None
    clinic_time_zones: dict[str, str] = field(default_factory=dict)
    # R8: Medicare and a PT/PTA: "hold" (default) or "non-covered" (coded with GY, patient liable).
    medicare_therapist_path: str = "hold"
    # R8 non-covered path: the clinic issues voluntary ABNs, so GX is added beside GY.
    voluntary_abn: bool = False

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo

        zones = {"clinic_time_zone": self.clinic_time_zone} if self.clinic_time_zone is not None else {}
        if not isinstance(self.clinic_time_zones, dict):
            raise ConfigError("[coding] clinic_time_zones must be a table of 'Organization/id' = zone")
        zones.update({f"clinic_time_zones.{k}": v for k, v in self.clinic_time_zones.items()})
        for key, name in zones.items():
            try:
                ZoneInfo(str(name))
            except (KeyError, ValueError, OSError) as error:
                raise ConfigError(f"[coding] {key}: {name!r} is not an IANA time zone") from error
        if self.medicare_therapist_path not in MEDICARE_THERAPIST_PATHS:
            raise ConfigError(
                f"[coding] medicare_therapist_path must be one of {', '.join(MEDICARE_THERAPIST_PATHS)}, "
                f"got {self.medicare_therapist_path!r}"
            )
        if not isinstance(self.voluntary_abn, bool):
            raise ConfigError(f"[coding] voluntary_abn must be true or false, got {self.voluntary_abn!r}")


@dataclass(frozen=True, config=_CHECKED)
class Settings:
    """All settings of a run."""

    coding: CodingSettings = field(default_factory=CodingSettings)
    mappings_dir: Path = DEFAULT_MAPPINGS
    include_low_confidence_muscles: bool = False
    cms_ptp_files: tuple[Path, ...] = ()
    local_dry_needling_codes: tuple[tuple[str, str], ...] = ()
    since: str | None = None
    # HTTP: per request, attempts per request, and the longest wait between two attempts.
    http_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    http_retry_attempts: int = Field(default=6, ge=1, le=50)
    http_retry_max_delay_s: float = Field(default=60.0, ge=0, le=3600)
    ca_bundle: str | None = None


ENV_PREFIX = "DN_ADAPTER_"


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from a TOML file ([coding] and [run] tables), then DN_ADAPTER_CODING_<KEY> and
    DN_ADAPTER_RUN_<KEY> environment overrides (JSON values, or plain strings), or the defaults."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read configuration {path}: {error}") from error
    base = path.parent if path is not None else Path.cwd()
    coding_values = {**dict(data.get("coding", {})), **_from_environment(environ, "CODING", CodingSettings)}
    run_values = {**dict(data.get("run", {})), **_from_environment(environ, "RUN", Settings)}
    coding = _apply(CodingSettings(), coding_values, "coding")
    run: dict[str, Any] = dict(run_values)
    settings = Settings(coding=coding)
    if "mappings_dir" in run:
        run["mappings_dir"] = (base / str(run["mappings_dir"])).resolve()
    if "cms_ptp_files" in run:
        run["cms_ptp_files"] = tuple((base / str(p)).resolve() for p in _as_list(run["cms_ptp_files"], "cms_ptp_files"))
    if "local_dry_needling_codes" in run:
        try:
            run["local_dry_needling_codes"] = tuple(
                (str(c["system"]), str(c["code"])) for c in _as_list(run["local_dry_needling_codes"], "codes")
            )
        except (KeyError, TypeError) as error:
            raise ConfigError("[run] local_dry_needling_codes: each entry needs a system and a code") from error
    applied: Settings = _apply(settings, run, "run")
    return applied


def _from_environment(environ: Mapping[str, str] | None, table: str, model: Any) -> dict[str, Any]:
    """The settings of one table given as DN_ADAPTER_<TABLE>_<KEY>; other DN_ADAPTER_* names
    (the secrets of fhir/auth.py) are not settings and are left alone."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for item in fields(model):
        value = environ.get(f"{ENV_PREFIX}{table}_{item.name.upper()}")
        if value is None or item.name == "coding":
            continue
        try:
            found[item.name] = json.loads(value)
        except json.JSONDecodeError:
            found[item.name] = value
    return found


def _as_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"[run] {key} must be a list, got {value!r}")
    return value


def _apply(target: Any, values: dict[str, Any], table: str) -> Any:
    known = {f.name for f in fields(target)} - {"coding"}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{table}]: {', '.join(sorted(unknown))}")
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return replace(target, **converted)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first.get("loc", ())) or "?"
        raise ConfigError(f"[{table}] {key}: {first.get('msg')} (got {first.get('input')!r})") from error
