#!/bin/sh
# bench/run.sh BUILD_DIR — the whole Nimbus benchmark (`make bench` calls it with BUILD_DIR=build).
#
# 1. echo_server (the floor: cheapest HTTP round trip on this machine) under loadgen at 1/16/64
#    connections;
# 2. `nimbus serve` with the native echo bootstrap deployed as function bench-echo, same loads
#    against POST /2015-03-31/functions/bench-echo/invocations;
# 3. a latency table, a throughput table and the error counts, on stdout and in
#    BUILD_DIR/bench-results.txt, with PASS/MISS against the targets.
#
# Everything it starts is killed on exit (trap), every step has a timeout, the temp dir is removed.
# Exit status: 0 when every run happened (MISS is reported, not fatal unless BENCH_STRICT=1),
# 1 when something could not be run.
#
# Knobs (environment): BENCH_DURATION (s, default 5), BENCH_CONNECTIONS (default "1 16 64"),
# BENCH_WARMUP (s, Nimbus runs, default 2), BENCH_ECHO_WARMUP (s, default 1),
# BENCH_SKIP_NIMBUS=1 (echo half only), BENCH_STRICT=1 (exit 1 on MISS or errors).
set -u

BUILD=${1:-build}
DUR=${BENCH_DURATION:-5}
CONNS=${BENCH_CONNECTIONS:-1 16 64}
WARM=${BENCH_WARMUP:-2}
ECHO_WARM=${BENCH_ECHO_WARMUP:-1}
BODY='{"hello":"world"}'
P50_TARGET=2.5        # nimbus p50 ≤ 2.5 × echo p50
TPUT_TARGET=40        # nimbus req/s ≥ 40 % of echo req/s

ECHO_BIN=$BUILD/bench/echo_server
LOADGEN=$BUILD/bench/loadgen
BOOTSTRAP=$BUILD/bench/bootstrap_native
NIMBUS=$BUILD/nimbus
RESULTS=$BUILD/bench-results.txt

say() { printf '%s\n' "bench: $*" >&2; }
die() { say "$*"; exit 1; }

for f in "$ECHO_BIN" "$LOADGEN" "$BOOTSTRAP"; do
    [ -x "$f" ] || die "missing $f (run 'make build' first)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-bench.XXXXXX") || die "mktemp failed"
ECHO_PID=
NIMBUS_PID=

# A process we started is alive if /proc has it and it is not a zombie waiting to be reaped.
alive() {
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$state" != Z ] && [ -n "$state" ]
}

# Stop one process we started: SIGTERM, up to 5 s of grace (Nimbus tears its instances down),
# then SIGKILL.
stop() {
    pid=$1
    [ -n "$pid" ] || return 0
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        i=0
        while alive "$pid" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        if alive "$pid"; then
            say "pid $pid ignored SIGTERM for 5 s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    wait "$pid" 2>/dev/null
    return 0
}

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    trap - EXIT INT TERM HUP
    stop "$NIMBUS_PID"
    stop "$ECHO_PID"
    # Never recurse into something still mounted under the temp dir (a leaked sandbox mount would
    # point at real directories): leave the dir behind and say so instead.
    if grep -q " $TMP/" /proc/mounts 2>/dev/null; then
        say "mounts remain under $TMP; not removing it"
    else
        rm -rf --one-file-system "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# wait_line FILE SED_EXPR PID TENTHS: print the first match of SED_EXPR in FILE, polling until
# it appears, the process dies or TENTHS/10 seconds pass. Fails with no output otherwise.
wait_line() {
    i=0
    while [ "$i" -lt "$4" ]; do
        v=$(sed -n "$2" "$1" 2>/dev/null | head -n 1)
        if [ -n "$v" ]; then printf '%s\n' "$v"; return 0; fi
        alive "$3" || return 1
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# field KEY FILE: value of KEY=... in loadgen's output line, or "" if absent.
field() { sed -n "s/.*\(^\| \)$1=\([^ ]*\).*/\2/p" "$2" 2>/dev/null | head -n 1; }
# fieldd KEY FILE: the same, "-" if absent (for the table's whitespace-separated rows).
fieldd() { v=$(field "$1" "$2"); printf '%s' "${v:--}"; }

# run_load NAME URL CONNECTIONS WARMUP: one loadgen run; its line goes to $TMP/NAME.out.
run_load() {
    say "$1: $3 connection(s), ${DUR} s (+${4} s warmup) -> $2"
    limit=$(awk -v d="$DUR" -v w="$4" 'BEGIN { printf "%d", d + w + 30 }')
    timeout -k 5 "$limit" "$LOADGEN" --url "$2" --connections "$3" --duration "$DUR" \
        --warmup "$4" --timeout 10 --connect-timeout 2 --body "$BODY" \
        --header 'Content-Type: application/json' >"$TMP/$1.out" 2>"$TMP/$1.err"
    rc=$?
    [ -s "$TMP/$1.err" ] && sed 's/^/    /' "$TMP/$1.err" >&2
    if [ $rc -ne 0 ] || [ -z "$(field requests "$TMP/$1.out")" ]; then
        say "$1: loadgen failed (exit $rc)"
        return 1
    fi
    say "    $(cat "$TMP/$1.out")"
}

# ---------------------------------------------------------------------------------------------
# Table. Runs that did not happen show "-" and are not judged.
report() {
    {
        printf 'Nimbus benchmark  %s  host %s, %s CPUs, %s s per run, body %s\n' \
            "$(date '+%Y-%m-%d %H:%M:%S')" "$(uname -n)" "$(nproc 2>/dev/null || echo '?')" "$DUR" "$BODY"
        printf 'echo = bench/echo_server (raw epoll HTTP echo); nimbus = POST /2015-03-31/functions/bench-echo/invocations,\n'
        printf 'native bootstrap (runtime provided). Targets: nimbus p50 <= %sx echo p50; nimbus req/s >= %s%% of echo.\n\n' \
            "$P50_TARGET" "$TPUT_TARGET"
        for c in $CONNS; do
            printf '%s %s %s %s %s %s %s %s %s\n' "$c" \
                "$(fieldd p50_us "$TMP/echo-$c.out")" "$(fieldd p99_us "$TMP/echo-$c.out")" \
                "$(fieldd p50_us "$TMP/nimbus-$c.out")" "$(fieldd p99_us "$TMP/nimbus-$c.out")" \
                "$(fieldd rps "$TMP/echo-$c.out")" "$(fieldd rps "$TMP/nimbus-$c.out")" \
                "$(fieldd errors "$TMP/echo-$c.out")" "$(fieldd errors "$TMP/nimbus-$c.out")"
        done | awk -v pt="$P50_TARGET" -v tt="$TPUT_TARGET" '
            function ok(x) { return x != "-" }
            { n++; c[n] = $1; ep50[n] = $2; ep99[n] = $3; np50[n] = $4; np99[n] = $5
              erps[n] = $6; nrps[n] = $7; eerr[n] = $8; nerr[n] = $9 }
            END {
              print "scenario     | echo p50 µs | echo p99 µs | nimbus p50 µs | nimbus p99 µs | ratio p50 (nimbus/echo)"
              print "-------------+-------------+-------------+---------------+---------------+------------------------"
              for (i = 1; i <= n; i++) {
                r = "-"
                if (ok(ep50[i]) && ok(np50[i]) && ep50[i] + 0 > 0) {
                  x = np50[i] / ep50[i]; judged++
                  r = sprintf("%.2fx  %s", x, x <= pt ? "PASS" : "MISS")
                  if (x > pt) miss++
                }
                printf "%-12s | %11s | %11s | %13s | %13s | %s\n", c[i] " conn", ep50[i], ep99[i], np50[i], np99[i], r
              }
              print ""
              print "connections | echo req/s | nimbus req/s | nimbus/echo %"
              print "------------+------------+--------------+--------------"
              for (i = 1; i <= n; i++) {
                r = "-"
                if (ok(erps[i]) && ok(nrps[i]) && erps[i] + 0 > 0) {
                  x = 100 * nrps[i] / erps[i]
                  r = sprintf("%.1f%%  %s", x, x >= tt ? "PASS" : "MISS")
                  if (x < tt) miss++
                }
                printf "%-11s | %10s | %12s | %s\n", c[i], erps[i], nrps[i], r
              }
              print ""
              print "connections | echo errors | nimbus errors"
              print "------------+-------------+--------------"
              for (i = 1; i <= n; i++) {
                printf "%-11s | %11s | %13s\n", c[i], eerr[i], nerr[i]
                if ((ok(eerr[i]) && eerr[i] + 0 > 0) || (ok(nerr[i]) && nerr[i] + 0 > 0)) errs++
              }
              if (judged) printf "\nsummary: %d target(s) missed, %d run(s) with errors\n", miss, errs
              else printf "\nsummary: nimbus not measured, %d run(s) with errors\n", errs
            }'
    } >"$TMP/table.txt"
    cat "$TMP/table.txt"
    cp "$TMP/table.txt" "$RESULTS" 2>/dev/null || say "could not write $RESULTS"
}

# ---------------------------------------------------------------------------------------------
# (a) the echo baseline
"$ECHO_BIN" 0 >"$TMP/echo.stdout" 2>"$TMP/echo.stderr" &
ECHO_PID=$!
ECHO_PORT=$(wait_line "$TMP/echo.stdout" 's/^PORT \([0-9][0-9]*\)$/\1/p' "$ECHO_PID" 50) ||
    die "echo_server did not start: $(cat "$TMP/echo.stderr")"
for c in $CONNS; do
    run_load "echo-$c" "http://127.0.0.1:$ECHO_PORT/echo" "$c" "$ECHO_WARM" || die "echo run failed"
done
stop "$ECHO_PID"
ECHO_PID=

if [ "${BENCH_SKIP_NIMBUS:-0}" = 1 ]; then
    report
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# (b) Nimbus with the native echo bootstrap
nimbus_fail() {
    say "$*"
    for f in nimbus.stdout nimbus.stderr; do
        [ -s "$TMP/$f" ] && { say "--- $f (last 20 lines)"; tail -n 20 "$TMP/$f" >&2; }
    done
    report
    exit 1
}

[ -x "$NIMBUS" ] || nimbus_fail "missing $NIMBUS"
mkdir -p "$TMP/data" "$TMP/fn"
"$NIMBUS" serve --listen 127.0.0.1:0 --data-dir "$TMP/data" >"$TMP/nimbus.stdout" 2>"$TMP/nimbus.stderr" &
NIMBUS_PID=$!
# The ready line goes to stdout; look at stderr too in case it ends up there.
LISTEN_SED='s/.*nimbus: listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p'
i=0
NIMBUS_PORT=
while [ $i -lt 100 ] && [ -z "$NIMBUS_PORT" ]; do
    NIMBUS_PORT=$(cat "$TMP/nimbus.stdout" "$TMP/nimbus.stderr" 2>/dev/null | sed -n "$LISTEN_SED" | head -n 1)
    [ -n "$NIMBUS_PORT" ] && break
    alive "$NIMBUS_PID" || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$NIMBUS_PORT" ]; then
    if alive "$NIMBUS_PID"; then
        nimbus_fail "nimbus serve printed no 'nimbus: listening on http://127.0.0.1:<port>' line within 10 s"
    fi
    wait "$NIMBUS_PID"
    rc=$?
    NIMBUS_PID=
    nimbus_fail "nimbus serve failed to start (exit $rc)"
fi
ENDPOINT=http://127.0.0.1:$NIMBUS_PORT
say "nimbus serve listening on $ENDPOINT (pid $NIMBUS_PID)"

if ! cp "$BOOTSTRAP" "$TMP/fn/bootstrap" || ! chmod 755 "$TMP/fn/bootstrap"; then
    nimbus_fail "cannot stage bootstrap"
fi
timeout -k 5 60 "$NIMBUS" deploy bench-echo "$TMP/fn" --runtime provided --handler bench.handler \
    --memory 1769 --timeout 30 --endpoint "$ENDPOINT" >"$TMP/deploy.out" 2>&1 ||
    nimbus_fail "nimbus deploy failed (exit $?): $(tail -n 20 "$TMP/deploy.out")"
timeout -k 5 60 "$NIMBUS" invoke bench-echo --endpoint "$ENDPOINT" >"$TMP/invoke.out" 2>&1 ||
    nimbus_fail "warm-up invoke failed (exit $?): $(tail -n 20 "$TMP/invoke.out")"
say "warm-up invoke ok"

FN_URL=$ENDPOINT/2015-03-31/functions/bench-echo/invocations
failed=0
for c in $CONNS; do
    alive "$NIMBUS_PID" || nimbus_fail "nimbus serve died during the benchmark"
    run_load "nimbus-$c" "$FN_URL" "$c" "$WARM" || failed=1
done
alive "$NIMBUS_PID" || nimbus_fail "nimbus serve died during the benchmark"

# ---------------------------------------------------------------------------------------------
# (c) the tables
report
[ $failed = 0 ] || die "some loadgen runs failed"
if [ "${BENCH_STRICT:-0}" = 1 ] && ! grep -q '^summary: 0 target(s) missed, 0 run(s)' "$TMP/table.txt"; then
    die "BENCH_STRICT: targets missed or errors seen"
fi
exit 0
