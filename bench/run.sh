#!/bin/sh
# bench/run.sh BUILD_DIR — the whole Nimbus benchmark (`make bench` calls it with BUILD_DIR=build).
#
# 1. starts echo_server (the floor: cheapest HTTP round trip on this machine); nginx (Debian's,
#    started here with its own config in the temp dir: one worker, upstream keep-alive, access log
#    off) as a reverse proxy in front of it — two HTTP hops, the warm call's yardstick; and
#    `nimbus serve` with the native echo bootstrap deployed three times: bench-echo (it pipelines
#    its next /next behind each /response), bench-serial (ECHO_PIPELINE=0: it waits for each 202,
#    as the AWS runtime interface clients do) and bench-multi (InstanceConcurrency 64: one
#    event-driven instance serves all the calls, as the echo server behind nginx does);
# 2. for each connection count (1/16/64), BENCH_ROUNDS rounds of loadgen against each of the five in
#    turn, so load from neighbours falls on all alike; each one's figures are its rounds' medians;
# 3. a latency table, a throughput table, the serial and multi tables and the error counts, on stdout and in
#    BUILD_DIR/bench-results.txt, with PASS/MISS against the targets, and the warm-path rows of
#    make bench's summary (BUILD_DIR/bench-summary.tsv).
#
# Everything it starts is killed on exit (trap), every step has a timeout, the temp dir is removed.
# Exit status: 0 when every run happened (MISS is reported, not fatal unless BENCH_STRICT=1),
# 1 when something could not be run.
#
# Knobs (environment): BENCH_DURATION (s per round, default 3), BENCH_ROUNDS (default 3),
# BENCH_CONNECTIONS (default "1 16 64"),
# BENCH_WARMUP (s, Nimbus runs, default 2), BENCH_ECHO_WARMUP (s, default 1),
# BENCH_SKIP_NIMBUS=1 (baselines only), BENCH_SKIP_NGINX=1 (no nginx row; also when nginx is not
# installed), BENCH_STRICT=1 (exit 1 on MISS or errors).
set -u

BUILD=${1:-build}
DUR=${BENCH_DURATION:-3}
ROUNDS=${BENCH_ROUNDS:-3}
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
NGINX=${BENCH_NGINX:-$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)}
BENCH_PY="/usr/bin/python3 $(dirname "$0")/nimbus_bench.py"

say() { printf '%s\n' "bench: $*" >&2; }
die() { say "$*"; exit 1; }

for f in "$ECHO_BIN" "$LOADGEN" "$BOOTSTRAP"; do
    [ -x "$f" ] || die "missing $f (run 'make build' first)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-bench.XXXXXX") || die "mktemp failed"
ECHO_PID=
NGINX_PID=
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
    stop "$NGINX_PID"
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
# ratio A B: A/B as "1.23x", "-" when either is missing or B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'; }

# CPU time per request. Latency and rate move with whatever else the machine runs; the CPU a
# request costs each side moves much less, so every run also says it: the user+system ticks of
# the server's processes over the run (warmup included), divided by the requests (warmup
# included). CPU_SERVER names the server's pids, CPU_SANDBOX_OF the daemon whose instances
# (the processes in its sandboxes' cgroups) are counted apart; the load generator is in neither.
TICK_US=$(awk -v t="$(getconf CLK_TCK 2>/dev/null || echo 100)" 'BEGIN { printf "%d", 1000000 / t }')
CPU_SERVER=
CPU_SANDBOX_OF=
# ticks PID...: "pid ticks" of each process, all its threads together.
ticks() {
    for p in "$@"; do
        t=$(cat /proc/"$p"/task/*/stat 2>/dev/null | awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { printf "%d", t }')
        [ -n "$t" ] && printf '%s %s\n' "$p" "$t"
    done
}
# sandbox_pids DAEMON_PID: the processes in that daemon's instance cgroups (named
# nimbus-<8 hex of a sequence><8 hex of the daemon's pid>).
sandbox_pids() {
    suffix=$(printf '%08x' "$1")
    grep -l "/nimbus-[0-9a-f]\{8\}$suffix\$" /proc/[0-9]*/cgroup 2>/dev/null | sed 's|^/proc/\([0-9]*\)/cgroup$|\1|'
}
cpu_snap() {
    # shellcheck disable=SC2086  # pid lists
    ticks $CPU_SERVER >"$TMP/cpu.$1.server"
    : >"$TMP/cpu.$1.sandbox"
    # shellcheck disable=SC2046
    [ -n "$CPU_SANDBOX_OF" ] && ticks $(sandbox_pids "$CPU_SANDBOX_OF") >"$TMP/cpu.$1.sandbox"
    return 0
}
# cpu_us WHICH REQUESTS: µs of CPU per request between the two snapshots (a process new since
# the first counts from 0; one gone by the second is missed, so instances that ended mid-run
# are left out).
cpu_us() {
    awk -v n="$2" -v us="$TICK_US" 'FNR == NR { a[$1] = $2; next } { t += $2 - ($1 in a ? a[$1] : 0) }
        END { if (n > 0) printf "%.1f", t * us / n; else printf "-" }' "$TMP/cpu.before.$1" "$TMP/cpu.after.$1"
}

# run_load NAME URL CONNECTIONS WARMUP: one loadgen run; its line goes to $TMP/NAME.out, with the
# server's CPU per request (cpu_us, and cpu_sandbox_us for Nimbus' instances) added.
run_load() {
    say "$1: $3 connection(s), ${DUR} s (+${4} s warmup) -> $2; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    limit=$(awk -v d="$DUR" -v w="$4" 'BEGIN { printf "%d", d + w + 30 }')
    cpu_snap before
    timeout -k 5 "$limit" "$LOADGEN" --url "$2" --connections "$3" --duration "$DUR" \
        --warmup "$4" --timeout 10 --connect-timeout 2 --body "$BODY" \
        --header 'Content-Type: application/json' >"$TMP/$1.out" 2>"$TMP/$1.err"
    rc=$?
    cpu_snap after
    [ -s "$TMP/$1.err" ] && sed 's/^/    /' "$TMP/$1.err" >&2
    if [ $rc -ne 0 ] || [ -z "$(field requests "$TMP/$1.out")" ]; then
        say "$1: loadgen failed (exit $rc)"
        return 1
    fi
    warm=$(sed -n 's/.*warmup requests=\([0-9]*\).*/\1/p' "$TMP/$1.err" | head -n 1)
    total=$(( $(field requests "$TMP/$1.out") + ${warm:-0} ))
    extra=" cpu_us=$(cpu_us server "$total")"
    [ -n "$CPU_SANDBOX_OF" ] && extra="$extra cpu_sandbox_us=$(cpu_us sandbox "$total")"
    printf '%s\n' "$(cat "$TMP/$1.out")$extra" >"$TMP/$1.out"
    say "    $(cat "$TMP/$1.out")"
}

# ---------------------------------------------------------------------------------------------
# Table. Runs that did not happen show "-" and are not judged. The targets' rows also go to
# make bench's summary (tab-separated, the format bench/nimbus_bench.py reads).
SUMMARY=${BENCH_SUMMARY:-$BUILD/bench-summary.tsv}
report() {
    {
        printf 'Nimbus benchmark  %s  host %s, %s CPUs, %s rounds of %s s per run (medians), body %s\n' \
            "$(date '+%Y-%m-%d %H:%M:%S')" "$(uname -n)" "$(nproc 2>/dev/null || echo '?')" "$ROUNDS" "$DUR" "$BODY"
        printf 'echo = bench/echo_server (raw epoll HTTP echo, one hop); nginx = nginx -> echo_server (two hops: one worker,\n'
        printf 'upstream keep-alive, access log off); nimbus = POST /2015-03-31/functions/bench-echo/invocations, native\n'
        printf 'bootstrap (runtime provided; two hops; it pipelines its next /next behind each /response).\n'
        printf 'All measured in this run, in turns (echo, nginx, nimbus, nimbus serial, nimbus multi) round after round.\n'
        printf 'Targets: nimbus p50 at 1 conn <= nginx p50; nimbus req/s >= nginx req/s at 16 and more conns;\n'
        printf 'older ones: nimbus p50 <= %sx echo p50; nimbus req/s >= %s%% of echo.\n\n' "$P50_TARGET" "$TPUT_TARGET"
        for c in $CONNS; do
            printf '%s' "$c"
            for k in p50_us p99_us rps errors; do
                for w in echo nginx nimbus; do printf ' %s' "$(fieldd $k "$TMP/$w-$c.out")"; done
            done
            printf '\n'
        done | awk -v pt="$P50_TARGET" -v tt="$TPUT_TARGET" -v rows="$TMP/summary.tsv" '
            function ok(x) { return x != "-" }
            function row(name, v, unit, base, target, good) {
              printf "%s\t%s\t%s\t%s\t%s\t%s\n", name, v, unit, base, target, good ? "PASS" : "MISS" >> rows
            }
            { n++; c[n] = $1; ep50[n] = $2; gp50[n] = $3; np50[n] = $4; ep99[n] = $5; gp99[n] = $6; np99[n] = $7
              erps[n] = $8; grps[n] = $9; nrps[n] = $10; eerr[n] = $11; gerr[n] = $12; nerr[n] = $13 }
            END {
              print "scenario | echo p50 µs | echo p99 µs | nginx p50 µs | nginx p99 µs | nimbus p50 µs | nimbus p99 µs | nimbus/nginx p50 | nimbus/echo p50"
              print "---------+-------------+-------------+--------------+--------------+---------------+---------------+------------------+----------------"
              for (i = 1; i <= n; i++) {
                r = "-"; q = "-"
                if (ok(gp50[i]) && ok(np50[i]) && gp50[i] + 0 > 0) {
                  x = np50[i] / gp50[i]
                  good = (c[i] != 1) || x <= 1
                  q = sprintf("%.2fx%s", x, c[i] == 1 ? (good ? "  PASS" : "  MISS") : "")
                  if (c[i] == 1) { judged++; if (!good) miss++
                    row("warm call p50, 1 conn (nimbus)", np50[i], "µs", "nginx two hops " gp50[i] " µs, this run", "<= nginx p50", good) }
                }
                if (ok(ep50[i]) && ok(np50[i]) && ep50[i] + 0 > 0) {
                  x = np50[i] / ep50[i]; judged++
                  r = sprintf("%.2fx  %s", x, x <= pt ? "PASS" : "MISS")
                  if (x > pt) miss++
                  row("warm call p50, " c[i] " conn / echo p50", sprintf("%.2f", x), "x", "echo " ep50[i] " µs, this run", "<= " pt "x", x <= pt)
                }
                printf "%-8s | %11s | %11s | %12s | %12s | %13s | %13s | %-16s | %s\n", c[i] " conn", ep50[i], ep99[i], gp50[i], gp99[i], np50[i], np99[i], q, r
              }
              print ""
              print "connections | echo req/s | nginx req/s | nimbus req/s | nimbus/nginx  | nimbus/echo %"
              print "------------+------------+-------------+--------------+---------------+--------------"
              for (i = 1; i <= n; i++) {
                r = "-"; q = "-"
                if (ok(grps[i]) && ok(nrps[i]) && grps[i] + 0 > 0) {
                  x = nrps[i] / grps[i]
                  good = (c[i] < 16) || x >= 1
                  q = sprintf("%.2fx%s", x, c[i] >= 16 ? (good ? "  PASS" : "  MISS") : "")
                  if (c[i] >= 16) { judged++; if (!good) miss++
                    row("warm calls/s, " c[i] " conns (nimbus)", nrps[i], "req/s", "nginx two hops " grps[i] " req/s, this run", ">= nginx", good) }
                }
                if (ok(erps[i]) && ok(nrps[i]) && erps[i] + 0 > 0) {
                  x = 100 * nrps[i] / erps[i]
                  r = sprintf("%.1f%%  %s", x, x >= tt ? "PASS" : "MISS")
                  if (x < tt) miss++
                  row("warm calls/s, " c[i] " conn / echo", sprintf("%.1f", x), "%", "echo " erps[i] " req/s, this run", ">= " tt "%", x >= tt)
                }
                printf "%-11s | %10s | %11s | %12s | %-13s | %s\n", c[i], erps[i], grps[i], nrps[i], q, r
              }
              print ""
              print "connections | echo errors | nginx errors | nimbus errors"
              print "------------+-------------+--------------+--------------"
              for (i = 1; i <= n; i++) {
                printf "%-11s | %11s | %12s | %13s\n", c[i], eerr[i], gerr[i], nerr[i]
                if ((ok(eerr[i]) && eerr[i] + 0 > 0) || (ok(gerr[i]) && gerr[i] + 0 > 0) || (ok(nerr[i]) && nerr[i] + 0 > 0)) errs++
              }
              if (judged) {
                printf "\nsummary: %d target(s) missed, %d run(s) with errors\n", miss, errs
                row("warm path: runs with errors", errs + 0, "runs", "-", "0", errs == 0)
              }
              else printf "\nsummary: nimbus not measured, %d run(s) with errors\n", errs
            }'
        # Not judged: the same bootstrap waiting for each 202 before its next /next, as the AWS
        # runtime interface clients do: what pipelining is worth.
        printf '\nnimbus serial = the same function, its runtime waiting for each 202 (ECHO_PIPELINE=0); not judged\n'
        printf 'connections | serial p50 µs | serial p99 µs | serial req/s | nimbus req/s / serial\n'
        printf '%s\n' '------------+---------------+---------------+--------------+----------------------'
        for c in $CONNS; do
            sp=$(fieldd p50_us "$TMP/serial-$c.out"); s9=$(fieldd p99_us "$TMP/serial-$c.out")
            sr=$(fieldd rps "$TMP/serial-$c.out"); nr=$(fieldd rps "$TMP/nimbus-$c.out")
            x=$(ratio "$nr" "$sr")
            printf '%-11s | %13s | %13s | %12s | %s\n' "$c" "$sp" "$s9" "$sr" "$x"
        done
        # Not judged: one instance serving all the calls at once (InstanceConcurrency 64, the
        # bootstrap's epoll mode): the platform's path without a process woken per call, as
        # nginx's echo server is not.
        printf '\nnimbus multi = one instance serving up to 64 calls at once (InstanceConcurrency 64, one event-driven\n'
        printf 'runtime, as the echo server behind nginx is); not judged\n'
        printf 'connections | multi p50 µs | multi p99 µs | multi req/s | multi/nginx | daemon µs/call | instance µs/call\n'
        printf '%s\n' '------------+--------------+--------------+-------------+-------------+----------------+-----------------'
        for c in $CONNS; do
            mp=$(fieldd p50_us "$TMP/multi-$c.out"); m9=$(fieldd p99_us "$TMP/multi-$c.out")
            mr=$(fieldd rps "$TMP/multi-$c.out"); gr=$(fieldd rps "$TMP/nginx-$c.out")
            x=$(ratio "$mr" "$gr")
            printf '%-11s | %12s | %12s | %11s | %11s | %14s | %s\n' "$c" "$mp" "$m9" "$mr" "$x" \
                "$(fieldd cpu_us "$TMP/multi-$c.out")" "$(fieldd cpu_sandbox_us "$TMP/multi-$c.out")"
        done
        # Not judged: what each request cost the servers' CPUs (see cpu_us), and the load the
        # machine had, so runs on a shared machine can be compared.
        printf '\nCPU per request, µs (user+system of the server side; loadgen not counted)\n'
        printf 'connections | echo | nginx+echo | nimbus daemon | nimbus instances | nimbus total | serial daemon | serial instances\n'
        printf '%s\n' '------------+------+------------+---------------+------------------+--------------+---------------+-----------------'
        for c in $CONNS; do
            e=$(fieldd cpu_us "$TMP/echo-$c.out"); g=$(fieldd cpu_us "$TMP/nginx-$c.out")
            d=$(fieldd cpu_us "$TMP/nimbus-$c.out"); i=$(fieldd cpu_sandbox_us "$TMP/nimbus-$c.out")
            t=$(awk -v d="$d" -v i="$i" 'BEGIN { if (d == "-" || i == "-") print "-"; else printf "%.1f", d + i }')
            sd=$(fieldd cpu_us "$TMP/serial-$c.out"); si=$(fieldd cpu_sandbox_us "$TMP/serial-$c.out")
            printf '%-11s | %4s | %10s | %13s | %16s | %12s | %13s | %s\n' "$c" "$e" "$g" "$d" "$i" "$t" "$sd" "$si"
        done
        printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$TMP/table.txt"
    cat "$TMP/table.txt"
    cp "$TMP/table.txt" "$RESULTS" 2>/dev/null || say "could not write $RESULTS"
    [ -s "$TMP/summary.tsv" ] && { cat "$TMP/summary.tsv" >>"$SUMMARY" 2>/dev/null || say "could not write $SUMMARY"; }
    return 0
}

# nginx.conf for the two-hop baseline: everything nginx writes stays in the temp dir (prefix, pid,
# error log, temp paths); one worker as the issue's figure; upstream keep-alive so each request is
# one upstream round trip, not a connect; keep-alive on both sides never ends mid-run (a closed
# connection would count as loadgen errors).
nginx_conf() {
    cat <<NGINX
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    upstream echo {
        server 127.0.0.1:$ECHO_PORT;
        keepalive 128;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://echo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGINX
}

# A free loopback port for nginx (it cannot report one it picked itself).
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------------------------
# Everything is started first, then measured in turns: for each connection count, ROUNDS rounds of
# echo, nginx, Nimbus and Nimbus with a runtime that waits for each 202, so a neighbour's load that
# comes and goes falls on all of them alike; each one's figures are the median of its rounds.

# (a) the echo server
"$ECHO_BIN" 0 >"$TMP/echo.stdout" 2>"$TMP/echo.stderr" &
ECHO_PID=$!
ECHO_PORT=$(wait_line "$TMP/echo.stdout" 's/^PORT \([0-9][0-9]*\)$/\1/p' "$ECHO_PID" 50) ||
    die "echo_server did not start: $(cat "$TMP/echo.stderr")"

# (b) nginx in front of the same echo server
if [ "${BENCH_SKIP_NGINX:-0}" != 1 ] && [ -x "$NGINX" ]; then
    mkdir -p "$TMP/nginx"
    tries=0
    while [ -z "$NGINX_PID" ] && [ $tries -lt 3 ]; do
        tries=$((tries + 1))
        NGINX_PORT=$(free_port) || break
        nginx_conf "$NGINX_PORT" >"$TMP/nginx/nginx.conf"
        "$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
            >"$TMP/nginx/stdout" 2>&1 &
        NGINX_PID=$!
        # Ready when it answers through to the echo server.
        i=0
        until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$NGINX_PORT/echo" 2>/dev/null; do
            i=$((i + 1))
            if ! alive "$NGINX_PID" || [ $i -gt 50 ]; then
                stop "$NGINX_PID"; NGINX_PID=; break
            fi
            sleep 0.1
        done
    done
    [ -n "$NGINX_PID" ] ||
        say "nginx did not start: $(tail -n 5 "$TMP/nginx/error.log" "$TMP/nginx/stdout" 2>/dev/null)"
else
    say "no nginx baseline (BENCH_SKIP_NGINX=1 or $NGINX missing)"
fi

# (c) Nimbus with the native echo bootstrap, three times: bench-echo pipelines its next /next behind
# each /response (the 202 comes with the next event); bench-serial waits for each 202 first
# (ECHO_PIPELINE=0), as the AWS runtime interface clients do; bench-multi is one instance serving
# up to 64 calls at once (InstanceConcurrency 64: the bootstrap's epoll mode).
nimbus_fail() {
    say "$*"
    for f in nimbus.stdout nimbus.stderr; do
        [ -s "$TMP/$f" ] && { say "--- $f (last 20 lines)"; tail -n 20 "$TMP/$f" >&2; }
    done
    report
    exit 1
}

if [ "${BENCH_SKIP_NIMBUS:-0}" != 1 ]; then
    [ -x "$NIMBUS" ] || nimbus_fail "missing $NIMBUS"
    mkdir -p "$TMP/data" "$TMP/fn"
    "$NIMBUS" serve --listen 127.0.0.1:0 --data-dir "$TMP/data" --max-instances 200 \
        >"$TMP/nimbus.stdout" 2>"$TMP/nimbus.stderr" &
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
    for fn in bench-echo bench-serial bench-multi; do
        env=
        [ "$fn" = bench-serial ] && env="--env ECHO_PIPELINE=0"
        [ "$fn" = bench-multi ] && env="--instance-concurrency 64"
        # shellcheck disable=SC2086  # env is one option or none
        timeout -k 5 60 "$NIMBUS" deploy "$fn" "$TMP/fn" --runtime provided --handler bench.handler \
            --memory 1769 --timeout 30 $env --endpoint "$ENDPOINT" >"$TMP/deploy.out" 2>&1 ||
            nimbus_fail "nimbus deploy $fn failed (exit $?): $(tail -n 20 "$TMP/deploy.out")"
        timeout -k 5 60 "$NIMBUS" invoke "$fn" --endpoint "$ENDPOINT" >"$TMP/invoke.out" 2>&1 ||
            nimbus_fail "warm-up invoke of $fn failed (exit $?): $(tail -n 20 "$TMP/invoke.out")"
    done
    say "warm-up invokes ok"
fi

# combine NAME-C: the median of each figure over the rounds' lines, errors and requests summed
# (mawk has no sort: an insertion sort per key).
combine() {
    for f in "$TMP/$1".r*.out; do [ -s "$f" ] && cat "$f"; done | awk '
        { for (i = 1; i <= NF; i++) { e = index($i, "="); if (!e) continue
            key = substr($i, 1, e - 1); val = substr($i, e + 1)
            if (!(key in n)) keys[++nk] = key
            v[key, ++n[key]] = val } }
        END {
          if (!nk) exit
          line = ""
          for (q = 1; q <= nk; q++) {
            key = keys[q]; m = n[key]
            if (key == "errors" || key == "requests") {
              t = 0; for (j = 1; j <= m; j++) t += v[key, j]; out = t
            } else {
              c = 0
              for (j = 1; j <= m; j++) if (v[key, j] != "-") {
                x = v[key, j] + 0; a = ++c
                while (a > 1 && s[a - 1] > x) { s[a] = s[a - 1]; a-- }
                s[a] = x }
              out = c ? (c % 2 ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2) : "-"
            }
            line = line (q > 1 ? " " : "") key "=" out
          }
          print line, "rounds=" m
        }' >"$TMP/$1.out"
    [ -s "$TMP/$1.out" ] || rm -f "$TMP/$1.out"
}

FN_URL=${ENDPOINT:-}/2015-03-31/functions/bench-echo/invocations
SERIAL_URL=${ENDPOINT:-}/2015-03-31/functions/bench-serial/invocations
MULTI_URL=${ENDPOINT:-}/2015-03-31/functions/bench-multi/invocations
NGINX_CPU=
[ -n "$NGINX_PID" ] && NGINX_CPU="$NGINX_PID $(pgrep -P "$NGINX_PID" 2>/dev/null | tr '\n' ' ') $ECHO_PID"
failed=0
for c in $CONNS; do
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        # Nimbus's first round at each count starts its instances in the warmup.
        nw=$ECHO_WARM
        [ "$r" = 1 ] && nw=$WARM
        CPU_SERVER=$ECHO_PID; CPU_SANDBOX_OF=
        run_load "echo-$c.r$r" "http://127.0.0.1:$ECHO_PORT/echo" "$c" "$ECHO_WARM" || die "echo run failed"
        if [ -n "$NGINX_PID" ]; then
            # nginx's master and its worker, and the echo server behind them: both hops.
            CPU_SERVER=$NGINX_CPU
            run_load "nginx-$c.r$r" "http://127.0.0.1:$NGINX_PORT/echo" "$c" "$ECHO_WARM" || say "nginx run failed"
        fi
        if [ -n "$NIMBUS_PID" ]; then
            alive "$NIMBUS_PID" || nimbus_fail "nimbus serve died during the benchmark"
            # The daemon (loop and workers; its spawner is idle on the warm path) and, apart, its
            # instances.
            CPU_SERVER=$NIMBUS_PID; CPU_SANDBOX_OF=$NIMBUS_PID
            run_load "nimbus-$c.r$r" "$FN_URL" "$c" "$nw" || failed=1
            run_load "serial-$c.r$r" "$SERIAL_URL" "$c" "$nw" || failed=1
            run_load "multi-$c.r$r" "$MULTI_URL" "$c" "$nw" || failed=1
        fi
        r=$((r + 1))
    done
    for w in echo nginx nimbus serial multi; do combine "$w-$c"; done
done
[ -z "$NIMBUS_PID" ] || alive "$NIMBUS_PID" || nimbus_fail "nimbus serve died during the benchmark"

# ---------------------------------------------------------------------------------------------
# (d) the tables
report
[ $failed = 0 ] || die "some loadgen runs failed"
if [ "${BENCH_STRICT:-0}" = 1 ] && ! grep -q '^summary: 0 target(s) missed, 0 run(s)' "$TMP/table.txt"; then
    die "BENCH_STRICT: targets missed or errors seen"
fi
exit 0
