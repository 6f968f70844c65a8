#!/usr/bin/env bash
# Compile profiles/fsh with SUSHI and copy the generated JSON into profiles/ (committed).
# Needs Node/npm and the HAPI test-server build (for the offline FHIR R4 core package).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
core="$HOME/.fhir/packages/hl7.fhir.r4.core#4.0.1"
if [ ! -f "$core/package/package.json" ]; then
  # packages.fhir.org is not reachable from our build machines: export the R4 core definitions
  # that HAPI ships in its validation resources instead.
  "$root/tests/hapi-server/hapi.sh" build
  java -cp "$root/tests/hapi-server/target/classes:$(cat "$root/tests/hapi-server/target/cp.txt")" \
    org.dnadapter.hapi.ExportCorePackage "$core"
fi
(cd "$here/tools" && npm install --no-audit --no-fund --silent)
(cd "$here/fsh" && "$here/tools/node_modules/.bin/sushi" build . )
rm -f "$here"/*.json
cp "$here"/fsh/fsh-generated/resources/*.json "$here/"
ls "$here"/*.json
