"""The offline floor: read every line of an NDJSON export and json-parse it, nothing else."""

import json
import sys
from pathlib import Path

count = 0
for path in sorted(Path(sys.argv[1]).glob("*.ndjson")):
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                try:  # noqa: SIM105 - the floor must stay as cheap as it can be
                    json.loads(line)
                except ValueError:
                    pass
                count += 1
print(count)
