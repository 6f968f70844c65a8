"""The offline floor: read every line of an NDJSON export and parse it, nothing else.

python bench/floor.py DIR            with json.loads (the standard library)
python bench/floor.py DIR orjson     with orjson.loads (what the adapter parses with)
"""

import json
import sys
from pathlib import Path

import orjson

loads = orjson.loads if sys.argv[2:] == ["orjson"] else json.loads
count = 0
for path in sorted(Path(sys.argv[1]).glob("*.ndjson")):
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                try:  # noqa: SIM105 - the floor must stay as cheap as it can be
                    loads(line)
                except ValueError:
                    pass
                count += 1
print(count)
