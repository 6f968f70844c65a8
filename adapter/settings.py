"""Settings of the coding rules and of a run, split by concern, with their defaults, a TOML
loader and DN_ADAPTER_* environment overrides.

One table per concern: [coding] (what the pure rules read), [mappings] (which tables they
read), [selection] (which sessions a run codes, and how a server is read), [http] (how the
client talks to a server), [bulk] (how a Bulk Data export is waited for) and [billing] (the
billing formats' envelope and what the EHR data lacks). Each is a
strict pydantic model, so a wrong type, an out-of-range value or an unknown key is refused
with the key named (exit 2), and a string never passes where a number belongs. `Settings` is
a pydantic-settings model: `DN_ADAPTER_<TABLE>_<KEY>` environment variables override the
file. Every setting is documented in docs/configuration.md. Secrets are never settings: they
come from files or environment variables named in fhir/auth.py.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

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

ENV_PREFIX = "DN_ADAPTER_"


class ConfigError(ValueError):
    """The configuration file cannot be used."""


# A TOML or JSON array is a list; these fields take one and keep it as a tuple. Their items
# stay strict (no 59 where "59" belongs), and a bare string is still refused.
Strings = Annotated[tuple[str, ...], Field(strict=False)]
# Paths come as strings from TOML and the environment.
LaxPath = Annotated[Path, Field(strict=False)]


def _iana_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (KeyError, ValueError, OSError) as error:
        raise ValueError(f"{zone!r} is not an IANA time zone") from error
    return zone


IanaZone = Annotated[str, AfterValidator(_iana_zone)]


class _Table(BaseModel):
    """One table of settings: strict, closed, and frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CodingSettings(_Table):
    """Settings the pure coding rules read ([coding])."""

    hcpcs_system: str = systems.HCPCS
    modifier_order: Strings = DEFAULT_MODIFIER_ORDER
    gp_for_therapists: bool = True
    medicare_physician_prefixes: Strings = MEDICARE_PHYSICIAN_PREFIXES
    medicare_conditional_prefixes: Strings = MEDICARE_CONDITIONAL_PREFIXES
    risky_same_day_codes: Strings = (
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
    clinic_time_zone: IanaZone | None = None
    clinic_time_zones: dict[str, IanaZone] = Field(default_factory=dict)
    # R8: Medicare and a PT/PTA: "hold" (default) or "non-covered" (coded with GY, patient liable).
    medicare_therapist_path: Literal["hold", "non-covered"] = "hold"
    # R8 non-covered path: the clinic issues voluntary ABNs, so GX is added beside GY.
    voluntary_abn: bool = False


class LocalCode(_Table):
    """An EHR's own code for dry needling (R1)."""

    system: str
    code: str


class MappingSettings(_Table):
    """Which tables the rules read ([mappings]); relative paths are from the file's folder."""

    dir: LaxPath = DEFAULT_MAPPINGS
    include_low_confidence_muscles: bool = False
    cms_ptp_files: Annotated[tuple[LaxPath, ...], Field(strict=False)] = ()
    local_dry_needling_codes: Annotated[tuple[LocalCode, ...], Field(strict=False)] = ()


class SelectionSettings(_Table):
    """Which sessions a run codes ([selection])."""

    # Only sessions whose date of service is on or after this day (YYYY-MM-DD); --since sets it.
    since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    # How the worker finds changes: "auto" (from the CapabilityStatement), "last-updated"
    # (watermarks) or "window" (re-code the last window_days days of service each pass).
    reading: Literal["auto", "last-updated", "window"] = "auto"
    window_days: int = Field(default=30, ge=1, le=3650)
    # Observation categories searched where a server requires one with `patient` (US Core).
    observation_categories: Strings = ("exam", "survey", "procedure", "therapy")


class HttpSettings(_Table):
    """How the client talks to a FHIR server ([http])."""

    # Per request, attempts per request, and the longest wait between two attempts.
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    retry_attempts: int = Field(default=6, ge=1, le=50)
    retry_max_delay_s: float = Field(default=60.0, ge=0, le=3600)
    ca_bundle: str | None = None


class BulkSettings(_Table):
    """How a Bulk Data export is waited for ([bulk])."""

    # The longest wait between two status polls, whatever Retry-After asks (some servers ask for
    # hours), the wait when it asks nothing, and how long an export may take in all.
    poll_max_delay_s: float = Field(default=300.0, gt=0, le=86400)
    poll_default_delay_s: float = Field(default=10.0, gt=0, le=86400)
    give_up_after_s: float = Field(default=86400.0, gt=0, le=30 * 86400)


class PushSettings(_Table):
    """Subscription push for `sync --watch --listen` ([push]); the secret is never a setting
    (DN_ADAPTER_SUBSCRIPTION_SECRET or ..._FILE, else one is made at start)."""

    # The URL the EHR posts notifications to, when a proxy terminates TLS in front of the
    # listener; default http://HOST:PORT/notify of --listen.
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    subscribe: bool = True  # create or reuse our Subscriptions at start (off: an admin registers them)
    topic: str | None = None  # a SubscriptionTopic canonical (the backport): one id-only Subscription
    debounce_s: float = Field(default=0.2, ge=0, le=60)
    max_wait_s: float = Field(default=1.0, gt=0, le=600)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1024 * 1024)
    poll_interval_s: float = Field(default=300.0, gt=0, le=86400)  # the safety-net pass with --listen
    ready_within_s: float | None = Field(default=None, gt=0)  # /healthz ready bound; default 2 passes + 60 s


class BillingProvider(_Table):
    """What a billing Organization's record may lack for an 837P: its EIN and its address."""

    ein: str | None = Field(default=None, pattern=r"^\d{9}$")
    line: str | None = None
    city: str | None = None
    state: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    postal_code: str | None = Field(default=None, pattern=r"^\d{9}$")


class BillingSettings(_Table):
    """The billing formats' envelope and what the EHR data lacks ([billing]); see
    docs/billing-output.md for each element."""

    submitter_id: str | None = Field(default=None, min_length=2, max_length=15)
    submitter_name: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = Field(default=None, pattern=r"^\d{10}$")
    receiver_id: str | None = Field(default=None, min_length=2, max_length=15)
    receiver_name: str | None = None
    usage_indicator: Literal["T", "P"] = "T"  # ISA15: test or production
    place_of_service: str = Field(default="11", pattern=r"^\d{2}$")  # CMS place of service code
    payer_id_system: str | None = None  # the payor Organization identifier system holding the payer id
    payer_ids: dict[str, str] = Field(default_factory=dict)  # 'Organization/id' = payer id
    providers: dict[str, BillingProvider] = Field(default_factory=dict)  # 'Organization/id' = what it lacks
    fee_schedule: LaxPath | None = None  # default: fee-schedule.csv of the mappings
    sending_application: str = "DN-ADAPTER"  # HL7 v2 MSH-3
    receiving_application: str = "BILLING"  # HL7 v2 MSH-5


class Settings(BaseSettings):
    """All settings of a run: one table per concern. DN_ADAPTER_<TABLE>_<KEY> environment
    variables (JSON values, or plain strings) win over what the code or the file gives."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        strict=True,
        extra="forbid",
        frozen=True,
    )

    coding: CodingSettings = Field(default_factory=CodingSettings)
    mappings: MappingSettings = Field(default_factory=MappingSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    bulk: BulkSettings = Field(default_factory=BulkSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    push: PushSettings = Field(default_factory=PushSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file: a deployment changes one value without a new file.
        # No .env or secrets folder: secrets are never settings.
        return env_settings, init_settings

    def with_since(self, since: str) -> Settings:
        """These settings, coding only sessions on or after `since` (checked)."""
        return self.model_copy(update={"selection": SelectionSettings(since=since)})


TABLES = {name: info.annotation for name, info in Settings.model_fields.items()}

# The first edition's [run] table, split by concern: where each of its keys went.
_MOVED_FROM_RUN = {
    "mappings_dir": "[mappings] dir",
    "include_low_confidence_muscles": "[mappings] include_low_confidence_muscles",
    "cms_ptp_files": "[mappings] cms_ptp_files",
    "local_dry_needling_codes": "[mappings] local_dry_needling_codes",
    "since": "[selection] since",
    "http_timeout_s": "[http] timeout_s",
    "http_retry_attempts": "[http] retry_attempts",
    "http_retry_max_delay_s": "[http] retry_max_delay_s",
    "ca_bundle": "[http] ca_bundle",
}


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from a TOML file ([coding], [mappings], [selection], [http]), then the
    DN_ADAPTER_<TABLE>_<KEY> environment overrides (`environ`, or the process's), or the defaults."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read configuration {path}: {error}") from error
    _refuse_first_edition(data, environ)
    unknown = set(data) - set(TABLES)
    if unknown:
        raise ConfigError(f"unknown table(s): {', '.join(sorted(unknown))} (known: {', '.join(TABLES)})")
    for table, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"[{table}] must be a table, got {values!r}")
    _resolve_paths(data.get("mappings"), path.parent if path is not None else Path.cwd(), data.get("billing"))
    try:
        if environ is None:
            return Settings(**data)
        return _with_environment(data, environ)
    except ValidationError as error:
        raise ConfigError(_first_problem(error)) from error


def _with_environment(data: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    """Settings with the overrides of `environ` instead of the process's environment."""
    source = EnvSettingsSource(Settings)
    source.env_vars = {k.lower(): v for k, v in environ.items()}
    overrides = source()
    merged = {table: {**data.get(table, {}), **overrides.get(table, {})} for table in set(data) | set(overrides)}
    return Settings.model_validate(merged)


def _refuse_first_edition(data: dict[str, Any], environ: Mapping[str, str] | None) -> None:
    """A [run] table or DN_ADAPTER_RUN_* name would otherwise be dropped without a word."""
    import os

    run = data.get("run")
    if isinstance(run, dict):
        moves = [f"{key} -> {_MOVED_FROM_RUN.get(key, '(unknown setting)')}" for key in sorted(run)]
        raise ConfigError(f"[run] was split by concern; move {'; '.join(moves) or 'nothing'}")
    names = os.environ if environ is None else environ
    old = sorted(n for n in names if n.startswith(f"{ENV_PREFIX}RUN_"))
    if old:
        raise ConfigError(
            f"{old[0]}: DN_ADAPTER_RUN_* was split by concern; use DN_ADAPTER_MAPPINGS_*, "
            "DN_ADAPTER_SELECTION_* or DN_ADAPTER_HTTP_* (docs/configuration.md)"
        )


def _resolve_paths(mappings: Any, base: Path, billing: Any = None) -> None:
    if isinstance(billing, dict) and isinstance(billing.get("fee_schedule"), str):
        billing["fee_schedule"] = (base / billing["fee_schedule"]).resolve()
    if not isinstance(mappings, dict):
        return
    if isinstance(mappings.get("dir"), str):
        mappings["dir"] = (base / mappings["dir"]).resolve()
    files = mappings.get("cms_ptp_files")
    if isinstance(files, list):
        mappings["cms_ptp_files"] = [(base / p).resolve() if isinstance(p, str) else p for p in files]


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ())]
    table, key = (location[0], ".".join(location[1:])) if len(location) > 1 else ("settings", "".join(location))
    message = str(first.get("msg", "")).removeprefix("Value error, ")
    return f"[{table}] {key or '?'}: {message} (got {first.get('input')!r})"
