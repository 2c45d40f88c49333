#!/bin/sh
# Build the libFuzzer targets and run them.
#   tests/fuzz/build.sh [seconds] [target ...]   fuzz each target that long (default 30 s)
#   tests/fuzz/build.sh --smoke [target ...]     every seed, then 3 s of fuzzing each:
#                                                 the quick check `make test` runs
# Output goes to build-fuzz/: the binaries, each target's growing corpus
# (build-fuzz/corpus_<target>/, started from the seeds in
# tests/fuzz/corpus/<target>/), and any crash reproducer (crash-*), which
# `build-fuzz/fuzz_<target> <file>` replays.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/build-fuzz
OBJ=$OUT/obj
LLHTTP=/usr/share/llhttp
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$OBJ"

# One line per target: its name (tests/fuzz/fuzz_<name>.c is the harness),
# the project sources it needs, and what it links ("llhttp" = the bundled
# parser, built below).
TARGETS="
http           | src/io/http.c src/io/http_server.c src/io/http_msg.c src/io/http_resp.c src/io/http_stream.c src/io/http_tls.c src/io/tls.c src/io/loop.c src/io/fdlimit.c src/base/err.c src/base/util.c | llhttp -lssl -lcrypto -lpthread
zip            | src/store/codestore.c src/base/util.c src/base/err.c               | -larchive -lcrypto -lpthread
function_json  | src/core/function.c src/core/function_input.c src/core/function_owner.c src/core/runtime.c src/base/util.c src/base/err.c | -lcjson -lcrypto -lpthread -lm
spawner_proto  | src/sandbox/spawner_proto.c                                        |
url_response   | src/api/url_event.c src/base/util.c src/base/err.c                 | -lcjson -lcrypto -lpthread -lm
schedule       | src/base/schedule.c src/base/tz.c src/base/err.c                   | -lpthread
runtime_api    | src/transport/runtime_api.c src/core/instance.c src/core/instance_output.c src/core/call.c src/core/router.c src/core/pool.c src/core/logs.c src/core/metrics.c src/base/prom.c src/io/fdlimit.c src/store/store_retention.c src/store/store_logs.c src/store/store_metrics.c src/core/function.c src/core/function_owner.c src/core/function_input.c src/core/runtime.c src/core/core.c src/io/http.c src/io/http_server.c src/io/http_msg.c src/io/http_resp.c src/io/http_stream.c src/io/http_tls.c src/io/tls.c src/io/loop.c src/io/route.c src/store/store_sqlite.c src/store/store_layers.c src/store/store_rows.c src/store/codestore.c src/store/codestore_merge.c src/store/sqldb.c src/base/err.c src/base/util.c src/base/errdoc.c src/base/log.c | llhttp -lssl -lcjson -lcrypto -lsqlite3 -larchive -lpthread -lm
"

# Ours, with the project's warnings; each source compiled once for all targets,
# again whenever it or any header it includes changed (clang's -MMD list).
stale() { # object source
  [ -e "$1" ] && [ -e "$1.d" ] || return 0
  [ "$2" -nt "$1" ] && return 0
  for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$1.d"); do
    [ "$dep" -nt "$1" ] && return 0
  done
  return 1
}
compile() {
  o="$OBJ/$(echo "$1" | tr / _ | sed 's/\.c$/.o/')"
  if stale "$o" "$ROOT/$1"; then
    clang -g -O1 -std=gnu11 $SAN -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
      -I"$ROOT/src" -I/usr/share/include/llhttp -MMD -MF "$o.d" -c "$ROOT/$1" -o "$o"
  fi
  echo "$o"
}

# llhttp is third-party: no warning flags, but instrumented so the fuzzer
# sees its branches. Prefixed: it has an http.c of its own.
llhttp_objs() {
  for f in api http llhttp; do
    o="$OBJ/llhttp_$f.o"
    [ -e "$o" ] || clang -g -O1 $SAN -w -I/usr/share/include/llhttp -c "$LLHTTP/$f.c" -o "$o"
    echo "$o"
  done
}

build() { # name sources libs
  objs=$(compile "tests/fuzz/fuzz_$1.c")
  for s in $2; do objs="$objs $(compile "$s")"; done
  libs=""
  for l in $3; do
    if [ "$l" = llhttp ]; then objs="$objs $(llhttp_objs)"; else libs="$libs $l"; fi
  done
  clang $SAN $objs $libs -o "$OUT/fuzz_$1"
}

SMOKE=0
SECS=30
if [ "${1:-}" = --smoke ]; then SMOKE=1; shift; fi
case "${1:-}" in [0-9]*) SECS=$1; shift ;; esac
WANT="$*"

names=$(echo "$TARGETS" | awk -F'|' 'NF == 3 { gsub(/ /, "", $1); print $1 }')
[ -n "$WANT" ] || WANT=$names
for t in $WANT; do
  line=$(echo "$TARGETS" | awk -F'|' -v t="$t" 'NF == 3 { n = $1; gsub(/ /, "", n); if (n == t) print }')
  [ -n "$line" ] || { echo "build.sh: no fuzz target '$t' (have: $(echo $names))" >&2; exit 2; }
  build "$t" "$(echo "$line" | cut -d'|' -f2)" "$(echo "$line" | cut -d'|' -f3)"
done

status=0
cd "$OUT"
for t in $WANT; do
  seeds="$ROOT/tests/fuzz/corpus/$t"
  if [ $SMOKE = 1 ]; then
    # A scratch corpus, so the quick check neither grows nor reads a
    # long run's findings; the seeds are read, never written.
    work=$(mktemp -d)
    echo "== fuzz_$t: seeds, then 3 s"
    ./fuzz_$t -max_total_time=3 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "$work" "$seeds" 2>"$work.log" || { status=1; cat "$work.log" >&2; }
    grep -E '^stat::number_of_executed_units|^Done' "$work.log" || true
    rm -rf "$work" "$work.log"
  else
    mkdir -p "corpus_$t"
    echo "== fuzz_$t: $SECS s"
    ./fuzz_$t -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "corpus_$t" "$seeds" || status=1
  fi
done
exit $status
