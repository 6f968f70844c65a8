"""Load FHIR Bundle files into a server as transactions of PUTs (to try the adapter by hand).

usage: python scripts/load_bundle.py BASE_URL BUNDLE.json [BUNDLE.json ...]
"""

from __future__ import annotations

import json
import sys

import requests


def main(base: str, paths: list[str]) -> None:
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            bundle = json.load(handle)
        entries = [
            {
                "resource": e["resource"],
                "request": {"method": "PUT", "url": f"{e['resource']['resourceType']}/{e['resource']['id']}"},
            }
            for e in bundle.get("entry", [])
            if isinstance(e.get("resource"), dict) and e["resource"].get("id")
        ]
        response = requests.post(
            base.rstrip("/"),
            json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
            headers={"Content-Type": "application/fhir+json"},
            timeout=600,
        )
        print(f"{path}: {len(entries)} resources, HTTP {response.status_code}")
        if response.status_code >= 300:
            print(response.text[:2000], file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
