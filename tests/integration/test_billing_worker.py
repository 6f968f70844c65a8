"""The worker delivering to billing: each pass's billable changes as an 837P (validated by
pyx12) through the Epic-like profile; a second pass sends nothing; a session entered in error
is voided."""

from __future__ import annotations

import copy
from pathlib import Path

from adapter.cli import main
from tests.billing import public_scenario_resources, scenario_billing_config, validate_837
from tests.helpers import put_transaction
from tests.integration.test_vendor_profiles import GROUP, loaded, procedure_of
from tests.vendors.profiles import PROFILES
from tests.vendors.proxy import VendorProxy

__all__ = ["loaded"]  # the module fixture that loads the scenarios and their Group


def test_the_worker_sends_each_passes_changes_as_an_837p(loaded: None, fhir_base: str, tmp_path: Path) -> None:
    config = scenario_billing_config(tmp_path / "settings.toml", public_scenario_resources())
    config.write_text(config.read_text() + "[selection]\nwindow_days = 1500\n")
    target, state = tmp_path / "billing" / "claims.837", tmp_path / "state"
    with VendorProxy(fhir_base, PROFILES["epic"]) as proxy:
        argv = ["sync", "--server", proxy.base, "--patients", GROUP, "--sink", f"x12:{target}", "--once"]
        argv += ["--state-dir", str(state), "--config", str(config), "--log-level", "error"]
        assert main(argv) == 0
        validate_837(target)
        assert main(argv) == 0  # nothing changed: no second file
        assert sorted(p.name for p in target.parent.glob("*.837")) == ["claims.837"]

        wrong = {**copy.deepcopy(procedure_of(fhir_base, "DN-001")), "status": "entered-in-error"}
        put_transaction(fhir_base, [wrong])
        try:
            assert main(argv) == 0
        finally:
            put_transaction(fhir_base, [procedure_of(fhir_base, "DN-001")])
    void = target.with_name("claims.2.837")
    validate_837(void)
    clms = [s.split("*") for s in void.read_text().split("~") if s.strip().startswith("CLM*")]
    assert len(clms) == 1 and clms[0][5].endswith(":8")
