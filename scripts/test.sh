#!/bin/sh
# `make test`: the layering check, unit tests (Criterion), a short run of every
# fuzz target, and end-to-end tests against a real `nimbus serve`, on the
# AddressSanitizer + UBSan build.
set -u
BUILD=${1:-build-asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
echo "== layers (scripts/check_layers.py)"
/usr/bin/python3 scripts/check_layers.py --objects "$BUILD" || status=1
echo "== unit tests ($BUILD/unit_tests)"
"$BUILD/unit_tests" -j2 || status=1
echo "== fuzz targets: their seeds, then a few seconds each (tests/fuzz)"
sh tests/fuzz/build.sh --smoke || status=1
echo "== integration tests ($BUILD/nimbus)"
NIMBUS_BIN="$BUILD/nimbus" /usr/bin/python3 tests/integration/run.py || status=1
exit $status
