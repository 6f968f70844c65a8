"""Command line, settings, state and mappings loaders: exit codes and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapter.cli import EXIT_OK, EXIT_USAGE, main
from adapter.settings import ConfigError, load_settings
from adapter.sync.state import SyncState
from adapter.tables import MappingError, load_cms_ptp_file, load_tables
from tests.helpers import SCENARIOS


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["run", "--help"])
    assert raised.value.code == 0
    text = capsys.readouterr().out
    for option in ("--source", "--sink", "--config", "--since", "--log-level"):
        assert option in text


def test_unreadable_source_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--source", str(tmp_path / "missing.json"), "--sink", str(tmp_path / "out")]) == EXIT_USAGE
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["run", "--source", str(bad), "--sink", str(tmp_path / "out")]) == EXIT_USAGE
    not_bundle = tmp_path / "patient.json"
    not_bundle.write_text(json.dumps({"resourceType": "Patient", "id": "x"}))
    assert main(["run", "--source", str(not_bundle), "--sink", str(tmp_path / "out")]) == EXIT_USAGE
    errors = capsys.readouterr().err.strip().splitlines()
    assert [line.startswith("dn-adapter: ") for line in errors] == [True, True, True]
    assert "Traceback" not in "".join(errors)


def test_oversized_bundle_stops_with_a_reason_not_a_memory_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import adapter.sources.bundle as bundle

    scenario = SCENARIOS / "DN-001.json"
    monkeypatch.setattr(bundle, "MAX_BUNDLE_BYTES", scenario.stat().st_size - 1)
    assert main(["run", "--source", str(scenario), "--sink", str(tmp_path / "out")]) == EXIT_USAGE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "DN-001.json" in line and "NDJSON" in line
    assert list((tmp_path / "out").iterdir()) == []  # no half-written files left behind
    monkeypatch.setattr(bundle, "MAX_BUNDLE_BYTES", scenario.stat().st_size)
    assert main(["run", "--source", str(scenario), "--sink", str(tmp_path / "out")]) == EXIT_OK


def test_bad_config_and_bad_since_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[coding]\nno_such_setting = 1\n")
    source = str(SCENARIOS / "DN-001.json")
    assert main(["run", "--source", source, "--sink", str(tmp_path / "o"), "--config", str(config)]) == EXIT_USAGE
    assert main(["run", "--source", source, "--sink", str(tmp_path / "o"), "--since", "03/04/2025"]) == EXIT_USAGE


def test_settings_file_is_applied(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[coding]\nhcpcs_system = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"\n'
        "[mappings]\ninclude_low_confidence_muscles = true\n[http]\ntimeout_s = 5.0\n"
    )
    settings = load_settings(config)
    assert settings.coding.hcpcs_system.startswith("https://")
    assert settings.mappings.include_low_confidence_muscles and settings.http.timeout_s == 5.0
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "missing.toml")


def test_since_narrows_by_date_of_service(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(["run", "--source", str(SCENARIOS / "DN-034.json"), "--sink", str(out), "--since", "2025-03-01"])
        == EXIT_OK
    )
    claims = [json.loads(line) for line in (out / "Claim.ndjson").read_text().splitlines()]
    assert [c["item"][0]["servicedDate"] for c in claims] == ["2025-03-04"]


def test_bad_mappings_row_names_file_and_line(tmp_path: Path) -> None:
    import shutil

    from adapter.tables import DEFAULT_MAPPINGS

    mappings = tmp_path / "m"
    shutil.copytree(DEFAULT_MAPPINGS, mappings)
    with (mappings / "procedure-codes.csv").open("a") as handle:
        handle.write("http://www.ama-assn.org/go/cpt,97810,dry-needling,acupuncture,test\n")
    with pytest.raises(MappingError, match=r"procedure-codes\.csv:\d+: acupuncture 97810 is never dry needling"):
        load_tables(mappings)


def test_cms_ptp_file_loader_keeps_dry_needling_rows(tmp_path: Path) -> None:
    cms = tmp_path / "ccipra-v323r0-f1.txt"
    cms.write_text(
        "CPT codes and descriptions only are copyright American Medical Association\n"
        "Column1\tColumn2\t*=in existence prior to 1996\tEffective Date\tDeletion Date\tModifier\tPTP Edit Rationale\n"
        "\t\t\t\t*=no data\t0=not allowed\t\n"
        "97140\t20560\t\t20200101\t*\t1\tMisuse of column two code with column one code\n"
        "20561\t20560\t*\t20200101\t20211231\t0\tMutually exclusive procedures\n"
        "99213\t36415\t\t20000101\t*\t1\tunrelated\n"
    )
    pairs = load_cms_ptp_file(cms)
    assert [(p.column1, p.column2, p.modifier_indicator) for p in pairs] == [
        ("97140", "20560", "1"),
        ("20561", "20560", "0"),
    ]
    assert pairs[0].deletion is None and str(pairs[1].deletion) == "2021-12-31"


def test_sync_state_is_per_server_and_never_moves_back(tmp_path: Path) -> None:
    state = SyncState(tmp_path, "http://a.example/fhir")
    state.set_watermark("Procedure", "2025-01-02T00:00:00.000Z")
    state.set_watermark("Procedure", "2025-01-01T00:00:00.000Z")
    assert state.watermark("Procedure") == "2025-01-02T00:00:00.000Z"
    state.mark_for_retry(["Patient/1"], "write failed")
    assert state.patients_to_retry() == ["Patient/1"]
    state.clear_retry(["Patient/1"])
    assert state.patients_to_retry() == []
    state.close()
    other = SyncState(tmp_path, "http://b.example/fhir")
    assert other.watermark("Procedure") is None and other.path != state.path
    other.close()
    again = SyncState(tmp_path, "http://a.example/fhir/")
    assert again.watermark("Procedure") == "2025-01-02T00:00:00.000Z"
    again.close()


def test_a_run_on_files_never_imports_the_http_client(tmp_path: Path) -> None:
    """requests and PyJWT were a third of a second of every run's start (docs/performance.md);
    a run that reads and writes files has no use for them, nor for the HL7 v2 library."""
    code = (
        "import sys; from adapter.cli import main; "
        "code = main(['run', '--sink', sys.argv[1], '--log-level', 'error']); "
        "print(code, sorted(m for m in ('requests', 'jwt', 'urllib3', 'hl7apy') if m in sys.modules))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True, check=True
    )
    assert ran.stdout.splitlines()[-1] == "0 []"
    assert (tmp_path / "out" / "Claim.ndjson").read_text()
