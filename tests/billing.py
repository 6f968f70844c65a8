"""Test support for the billing formats: a settings file that supplies what the public
scenarios lack, and the pyx12 validation of an 837P."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import SCENARIOS, bundle_resources


def scenario_billing_config(path: Path, resources: list[dict[str, Any]]) -> Path:
    """[billing] settings for these resources: the envelope, a payer id for every payer
    Organization, an EIN and a 9-digit-ZIP address for every other Organization."""
    lines = [
        "[billing]",
        'submitter_id = "DNTEST01"',
        'submitter_name = "DN ADAPTER TESTS"',
        'contact_phone = "2175550100"',
        'receiver_id = "CLEARHOUSE01"',
        'receiver_name = "TEST CLEARINGHOUSE"',
        "[billing.payer_ids]",
    ]
    organizations = [r for r in resources if r.get("resourceType") == "Organization"]
    lines += [f'"Organization/{o["id"]}" = "P{n:05d}"' for n, o in enumerate(organizations)]
    for organization in organizations:
        lines += [
            f'[billing.providers."Organization/{organization["id"]}"]',
            'ein = "123456789"',
            'line = "100 MAIN STREET"',
            'city = "SPRINGFIELD"',
            'state = "IL"',
            'postal_code = "627010001"',
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def public_scenario_resources() -> list[dict[str, Any]]:
    import json

    expected = json.loads((SCENARIOS / "expected.json").read_text())
    return [r for s in expected for r in bundle_resources(SCENARIOS / s["bundle"])]


def validate_837(path: Path) -> str:
    """pyx12's verdict on an 837P: the 999 it writes beside the file (raises unless accepted)."""
    x12valid = Path(sys.executable).with_name("x12valid")
    result = subprocess.run([str(x12valid), str(path)], capture_output=True, text=True, timeout=300)
    (acknowledgement,) = [p for p in path.parent.glob(f"{path.name}.99*")]
    text = acknowledgement.read_text()
    acknowledgement.unlink()
    problems = [s for s in text.split("~") if s.strip().startswith(("IK3", "IK4", "IK5*R", "IK5*E", "AK9*R", "AK9*E"))]
    if f"{path.name}: OK" not in result.stderr + result.stdout or problems or "AK9*A" not in text:
        raise AssertionError(f"pyx12 rejects {path.name}: {problems or result.stderr[-2000:]}")
    return text
