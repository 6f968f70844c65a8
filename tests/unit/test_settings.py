"""Settings are checked where they are set: a TOML file, the environment, or code."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.cli import EXIT_USAGE, main
from adapter.settings import ConfigError, HttpSettings, Settings, load_settings


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[http]\ntimeout_s = "60"\n', "timeout_s"),  # a string where a number belongs
        ("[http]\ntimeout_s = -1\n", "timeout_s"),  # out of range
        ("[http]\nretry_attempts = 0\n", "retry_attempts"),
        ("[http]\nretry_attempts = 2.5\n", "retry_attempts"),
        ('[coding]\ngp_for_therapists = "yes"\n', "gp_for_therapists"),
        ("[coding]\nmodifier_order = [59]\n", "modifier_order"),
        ('[coding]\nmodifier_order = "59"\n', "modifier_order"),  # a string is not a list
        ('[coding]\nmedicare_therapist_path = "maybe"\n', "medicare_therapist_path"),
        ("[mappings]\ninclude_low_confidence = true\n", "include_low_confidence"),  # unknown key
        ('[mappings]\ncms_ptp_files = "one.txt"\n', "cms_ptp_files"),
        ('[mappings]\nlocal_dry_needling_codes = [{system = "s"}]\n', "local_dry_needling_codes"),
        ('[selection]\nsince = "last week"\n', "since"),
        ('[billing]\nnpi = "1"\n', "billing"),  # unknown table
        ("http = 5\n", "http"),
    ],
)
def test_wrong_values_are_refused_with_the_key(tmp_path: Path, text: str, named: str) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=named):
        load_settings(config, environ={})


def test_wrong_value_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[http]\ntimeout_s = "soon"\n')
    assert main(["run", "--config", str(config), "--sink", str(tmp_path / "out")]) == EXIT_USAGE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "[http] timeout_s" in line


def test_the_first_editions_run_table_says_where_each_key_went(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("[run]\nhttp_timeout_s = 5.0\nmappings_dir = 'm'\n")
    with pytest.raises(ConfigError, match=r"http_timeout_s -> \[http\] timeout_s; mappings_dir -> \[mappings\] dir"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match="DN_ADAPTER_RUN_HTTP_TIMEOUT_S"):
        load_settings(None, environ={"DN_ADAPTER_RUN_HTTP_TIMEOUT_S": "5"})


def test_relative_paths_are_from_the_files_folder(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "settings.toml"
    config.parent.mkdir()
    config.write_text('[mappings]\ndir = "../maps"\ncms_ptp_files = ["ptp.txt"]\n')
    settings = load_settings(config, environ={})
    assert settings.mappings.dir == tmp_path / "maps"
    assert settings.mappings.cms_ptp_files == (tmp_path / "conf" / "ptp.txt",)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[http]\ntimeout_s = 30\nretry_attempts = 3\n[coding]\nclinic_time_zone = "America/Denver"\n')
    environ = {
        "DN_ADAPTER_HTTP_TIMEOUT_S": "12.5",
        "DN_ADAPTER_CODING_CLINIC_TIME_ZONE": "America/Chicago",
        "DN_ADAPTER_CODING_MODIFIER_ORDER": '["GP", "KX"]',
        "DN_ADAPTER_MAPPINGS_INCLUDE_LOW_CONFIDENCE_MUSCLES": "true",
        "DN_ADAPTER_TOKEN": "a secret, not a setting",
    }
    settings = load_settings(config, environ=environ)
    assert settings.http.timeout_s == 12.5
    assert settings.http.retry_attempts == 3  # the file's value where the environment says nothing
    assert settings.coding.clinic_time_zone == "America/Chicago"
    assert settings.coding.modifier_order == ("GP", "KX")
    assert settings.mappings.include_low_confidence_muscles is True


def test_environment_values_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"\[http\] retry_attempts"):
        load_settings(None, environ={"DN_ADAPTER_HTTP_RETRY_ATTEMPTS": "many"})
    with pytest.raises(ConfigError, match=r"\[http\] timeout: Extra inputs"):
        load_settings(None, environ={"DN_ADAPTER_HTTP_TIMEOUT": "5"})  # a misspelt key
    assert load_settings(None, environ={}).http.retry_attempts == 6


def test_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DN_ADAPTER_HTTP_RETRY_ATTEMPTS", "9")
    assert load_settings(None).http.retry_attempts == 9
    assert Settings().http.retry_attempts == 9  # code that builds Settings gets it as well


def test_settings_in_code_are_checked_and_frozen() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        HttpSettings(timeout_s=0)
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.http = HttpSettings()
    assert settings.with_since("2026-01-01").selection.since == "2026-01-01"
