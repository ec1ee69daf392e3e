#!/usr/bin/env bash
# Reproduces src/quaykey/dashboard/static/vendor/ from the pinned npm packages:
#   scripts/vendor-dashboard-assets.sh          # fetch with `npm pack`, copy, write PROVENANCE.md
# Only the files the dashboard loads are kept, each with its package's licence.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/src/quaykey/dashboard/static/vendor"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# package@version | file in the package | name in vendor/ | licence
FILES=(
  "echarts@6.1.0|dist/echarts.min.js|echarts.min.js|Apache-2.0"
  "echarts@6.1.0|LICENSE|LICENSE-echarts|Apache-2.0"
  "echarts@6.1.0|NOTICE|NOTICE-echarts|Apache-2.0"
  "echarts@6.1.0|licenses/LICENSE-d3|LICENSE-echarts-d3|BSD-3-Clause"
  "world-atlas@2.0.2|countries-110m.json|countries-110m.json|ISC (data: Natural Earth, public domain)"
  "world-atlas@2.0.2|LICENSE|LICENSE-world-atlas|ISC"
  "topojson-client@3.1.0|dist/topojson-client.min.js|topojson-client.min.js|ISC"
  "topojson-client@3.1.0|LICENSE|LICENSE-topojson-client|ISC"
)

mkdir -p "$DEST"
cd "$TMP"
for spec in echarts@6.1.0 world-atlas@2.0.2 topojson-client@3.1.0; do
  tgz=$(npm pack --silent "$spec" | tail -n 1)
  mkdir -p "$spec"
  tar xzf "$tgz" -C "$spec"
done

{
  echo "# Provenance of the dashboard's third-party assets"
  echo
  echo "Fetched with \`npm pack PACKAGE@VERSION\` and copied unchanged by"
  echo "\`scripts/vendor-dashboard-assets.sh\`; \`tests/unit/dashboard/test_vendor.py\` checks the sha256."
  echo
  echo "| package | version | file in package | file here | sha256 | licence |"
  echo "|---|---|---|---|---|---|"
} > "$TMP/PROVENANCE.md"

for row in "${FILES[@]}"; do
  IFS='|' read -r spec src name licence <<< "$row"
  cp "$TMP/$spec/package/$src" "$DEST/$name"
  sum=$(sha256sum "$DEST/$name" | cut -d' ' -f1)
  echo "| ${spec%@*} | ${spec#*@} | $src | $name | $sum | $licence |" >> "$TMP/PROVENANCE.md"
done
cp "$TMP/PROVENANCE.md" "$DEST/PROVENANCE.md"
echo "wrote $DEST" >&2
