"""Settings are checked where they are set: a TOML file, the environment, or code."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.cli import EXIT_USAGE, main
from adapter.settings import ConfigError, load_settings


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[run]\nhttp_timeout_s = "60"\n', "http_timeout_s"),  # a string where a number belongs
        ("[run]\nhttp_timeout_s = -1\n", "http_timeout_s"),  # out of range
        ("[run]\nhttp_retry_attempts = 0\n", "http_retry_attempts"),
        ("[run]\nhttp_retry_attempts = 2.5\n", "http_retry_attempts"),
        ('[coding]\ngp_for_therapists = "yes"\n', "gp_for_therapists"),
        ("[coding]\nmodifier_order = [59]\n", "modifier_order"),
        ("[run]\ninclude_low_confidence = true\n", "include_low_confidence"),  # unknown key
        ('[run]\ncms_ptp_files = "one.txt"\n', "cms_ptp_files"),
    ],
)
def test_wrong_values_are_refused_with_the_key(tmp_path: Path, text: str, named: str) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=named):
        load_settings(config, environ={})


def test_wrong_value_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[run]\nhttp_timeout_s = "soon"\n')
    assert main(["run", "--config", str(config), "--sink", str(tmp_path / "out")]) == EXIT_USAGE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "http_timeout_s" in line


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[run]\nhttp_timeout_s = 30\n[coding]\nclinic_time_zone = "America/Denver"\n')
    environ = {
        "DN_ADAPTER_RUN_HTTP_TIMEOUT_S": "12.5",
        "DN_ADAPTER_CODING_CLINIC_TIME_ZONE": "America/Chicago",
        "DN_ADAPTER_CODING_MODIFIER_ORDER": '["GP", "KX"]',
        "DN_ADAPTER_TOKEN": "a secret, not a setting",
    }
    settings = load_settings(config, environ=environ)
    assert settings.http_timeout_s == 12.5
    assert settings.coding.clinic_time_zone == "America/Chicago"
    assert settings.coding.modifier_order == ("GP", "KX")


def test_environment_values_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="http_retry_attempts"):
        load_settings(None, environ={"DN_ADAPTER_RUN_HTTP_RETRY_ATTEMPTS": "many"})
    assert load_settings(None, environ={}).http_retry_attempts == 6
