#!/bin/sh
# Regenerate the examples that come from templates: examples/<T>-hello is
# exactly what `nimbus init <T>-hello --template <T>` makes from templates/<T>.
# Edit the template, never the example, then run this (after `make build`):
#   sh scripts/examples.sh [BUILD]
# tests/integration/test_examples.py fails when the two have drifted.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NIMBUS=$(cd "$BUILD" && pwd)/nimbus
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for dir in "$ROOT"/templates/*/; do
  t=$(basename "$dir")
  name="$t-hello"
  "$NIMBUS" init "$name" --template "$t" --dir "$TMP/$name" >/dev/null
  rm -rf "$ROOT/examples/$name"
  mv "$TMP/$name" "$ROOT/examples/$name"
  echo "examples/$name <- templates/$t"
done
