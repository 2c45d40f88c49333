#!/usr/bin/python3
"""bench/async.py BUILD_DIR — asynchronous invocation: how many events per second `nimbus serve`
accepts (202 after the event is committed and fsync'd), next to the same server's synchronous
echo rate, how fast the accepted events are then delivered, and how many fsyncs the queue store
makes per 1,000 events (group commit).

One `nimbus serve` with its real durability (the default --async-retry-scale 1; only
--async-max-queued is raised so that a long run cannot fill the queue). Two functions, both the
native echo bootstrap (bench/bootstrap_native, 1769 MB, as bench/run.sh deploys it):
  sync    loadgen, POST .../bench-echo/invocations, at 1, 16 and 64 connections;
  async   loadgen with `X-Amz-Invocation-Type: Event` and --expect-status 202 against
          bench-async, same connections: accepted/s and the 202's p50/p99. The events are
          delivered while they are accepted, as on a live server;
  fsyncs  during each async run's measured window: fsync + fdatasync calls on the queue store's
          files (queue.db*), counted by `perf stat` on syscall tracepoints filtered by file
          descriptor (no ptrace: the daemon runs at full speed), per 1,000 accepted events; the
          server's own commit count (GET /nimbus/v1/async, when it serves it) beside it;
  drain   after each async run, the time until bench-async has no queued, running or retrying
          event left; delivered/s = events that succeeded since the run began / that time.
          When the drain ends with the run, delivery kept up and the figure is bounded by the
          accept rate, not by delivery.
The target (>= 10,000 accepted events/s at 64 connections) is reported, never asserted.
Prints the table and writes BUILD_DIR/bench-async.txt. Knobs: BENCH_DURATION (s, default 5),
BENCH_WARMUP (s, default 2), BENCH_CONNECTIONS (default "1 16 64").
"""
import json, os, re, subprocess, sys, threading, time, urllib.parse

from nimbus_bench import Served, call, create_function, summary_row

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
LOADGEN = os.path.join(BUILD, 'bench', 'loadgen')
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')
DUR = float(os.environ.get('BENCH_DURATION', '5'))
WARM = float(os.environ.get('BENCH_WARMUP', '2'))
CONNS = [int(c) for c in os.environ.get('BENCH_CONNECTIONS', '1 16 64').split()]
BODY = '{"hello":"world"}'
TARGET = 10000          # accepted events/s at 64 connections
DRAIN_LIMIT = 300       # s: a drain that takes longer is reported as not finished


def say(msg):
    print('bench: ' + msg, file=sys.stderr, flush=True)


def loadgen(port, fn, conns, headers=(), expect=None):
    """One loadgen run; its key=value line as a dict (empty when it failed)."""
    cmd = [LOADGEN, '--url', 'http://127.0.0.1:%d/2015-03-31/functions/%s/invocations' % (port, fn),
           '--connections', str(conns), '--duration', str(DUR), '--warmup', str(WARM), '--timeout', '10',
           '--body', BODY, '--header', 'Content-Type: application/json']
    for h in headers:
        cmd += ['--header', h]
    if expect:
        cmd += ['--expect-status', str(expect)]
    p = subprocess.run(cmd, capture_output=True, timeout=DUR + WARM + 30)
    if p.stderr:
        say('    ' + p.stderr.decode().strip())
    out = dict(kv.split('=', 1) for kv in p.stdout.decode().split() if '=' in kv)
    if 'requests' not in out:
        say('loadgen failed (exit %d)' % p.returncode)
        return {}
    say('    ' + p.stdout.decode().strip())
    return out


def queue_fds(pid):
    """The daemon's file descriptors on the queue store's files (queue.db, its WAL or journal)."""
    fds = []
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if re.search(r'/queue\.db(-wal|-journal)?$', target):
            fds.append(int(fd))
    return sorted(fds)


class FsyncCount:
    """fsync + fdatasync calls of `pid` (all its threads) for `seconds`, from now, by perf's
    syscall tracepoints; only on `fds` when given. .result() -> count, or None (no perf)."""

    def __init__(self, pid, seconds, fds):
        filt = ' || '.join('fd == %d' % fd for fd in fds)
        cmd = ['perf', 'stat', '-x', ',', '-p', str(pid)]
        for ev in ('syscalls:sys_enter_fsync', 'syscalls:sys_enter_fdatasync'):
            cmd += ['-e', ev] + (['--filter', filt] if filt else [])
        cmd += ['--', 'sleep', str(seconds)]
        try:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError:
            self.proc = None

    def result(self):
        if not self.proc:
            return None
        err = self.proc.communicate(timeout=60)[1].decode()
        counts = [int(line.split(',')[0]) for line in err.splitlines()
                  if 'sys_enter_f' in line and line.split(',')[0].isdigit()]
        if self.proc.returncode != 0 or len(counts) != 2:
            say('perf stat gave no fsync counts: %s' % err.strip()[-200:])
            return None
        return sum(counts)


def server_stats(port):
    """The server's async statistics (GET /nimbus/v1/async), or None when it has none."""
    try:
        st, h, raw = call(port, 'GET', '/nimbus/v1/async', timeout=10)
        return json.loads(raw) if st == 200 else None
    except (OSError, ValueError):
        return None


def unfinished(port, fn):
    """True while `fn` has an event queued, running or retrying."""
    for state in ('queued', 'running', 'retrying'):
        st, h, raw = call(port, 'GET', '/nimbus/v1/functions/%s/events?state=%s&limit=1' % (fn, state))
        if st != 200 or json.loads(raw).get('Events'):
            return True
    return False


class SucceededCounter:
    """Counts `fn`'s succeeded events, continuing after the last one it has seen (oldest first)."""

    def __init__(self, port, fn):
        self.port, self.fn, self.after, self.limit = port, fn, '', 1000

    def more(self):
        n = 0
        while True:
            q = {'state': 'succeeded', 'limit': str(self.limit)}
            if self.after:
                q['after'] = self.after
            st, h, raw = call(self.port, 'GET', '/nimbus/v1/functions/%s/events?%s' % (self.fn, urllib.parse.urlencode(q)))
            if st == 400 and self.limit > 100:
                self.limit = 100            # a server with a smaller page
                continue
            if st != 200:
                raise RuntimeError('events list -> %s %r' % (st, raw[:200]))
            doc = json.loads(raw)
            page = doc.get('Events', [])
            n += len(page)
            if page:
                self.after = page[-1]['RequestId']
            if not doc.get('NextMarker'):
                return n


def async_run(srv, fn, conns, counter):
    """One accept run, then its drain. Returns the row's figures."""
    port = srv.port
    stats0 = [None]
    fsync = [None]
    scope = [None]

    def window():
        # The measured window starts when loadgen's warmup ends.
        time.sleep(WARM)
        stats0[0] = server_stats(port)
        fds = queue_fds(srv.pid)
        scope[0] = 'queue.db' if fds else 'all'
        fsync[0] = FsyncCount(srv.pid, DUR, fds)
    t_start = time.monotonic()
    th = threading.Thread(target=window)
    th.start()
    lg = loadgen(port, fn, conns, ['X-Amz-Invocation-Type: Event'], expect=202)
    th.join()
    stats1 = server_stats(port)
    fsyncs = fsync[0].result() if fsync[0] else None
    t_accepted = time.monotonic()
    drained = None
    while time.monotonic() - t_start < DRAIN_LIMIT:
        if not unfinished(port, fn):
            drained = time.monotonic()
            break
        time.sleep(0.05)
    delivered = counter.more()
    row = {'lg': lg, 'fsyncs': fsyncs, 'commits': None, 'delivered_rps': None, 'lag': None,
           'delivered': delivered, 'scope': scope[0]}
    n = int(lg.get('requests', 0))
    if fsyncs is not None and n:
        row['fsync_per_k'] = 1000.0 * fsyncs / n
    if stats0[0] and stats1 and 'Commits' in stats1 and n:
        row['commits'] = 1000.0 * (stats1['Commits'] - stats0[0]['Commits']) / n
    if drained:
        row['delivered_rps'] = delivered / (drained - t_start)
        row['lag'] = drained - t_accepted
    say('    delivered %d events, drained %s' % (delivered, '%.1f s after the accepts' % row['lag']
                                                  if drained else 'NOT within %d s' % DRAIN_LIMIT))
    return row


def held_run(srv, fn, conns):
    """Accepts alone: the function is held (reserved concurrency 0) while loadgen runs, so no
    delivery shares the CPU; then it is released and its backlog delivered. Returns the loadgen
    figures, the queue commits per 1,000 events and the backlog's delivery rate."""
    port = srv.port
    st, h, raw = call(port, 'PUT', '/2017-10-31/functions/%s/concurrency' % fn,
                      json.dumps({'ReservedConcurrentExecutions': 0}).encode())
    if st != 200:
        raise RuntimeError('hold %s -> %s %r' % (fn, st, raw[:200]))
    s0 = server_stats(port)
    lg = loadgen(port, fn, conns, ['X-Amz-Invocation-Type: Event'], expect=202)
    s1 = server_stats(port)
    counter = SucceededCounter(port, fn)
    t0 = time.monotonic()
    st, h, raw = call(port, 'DELETE', '/2017-10-31/functions/%s/concurrency' % fn)
    drained = None
    while time.monotonic() - t0 < DRAIN_LIMIT:
        if not unfinished(port, fn):
            drained = time.monotonic()
            break
        time.sleep(0.05)
    delivered = counter.more()
    row = {'lg': lg, 'commits': None, 'delivered_rps': None, 'delivered': delivered}
    accepted = (s1['Accepted'] - s0['Accepted']) if s0 and s1 else 0
    if s0 and s1 and accepted:
        row['commits'] = 1000.0 * (s1['Commits'] - s0['Commits']) / accepted
    if drained and delivered:
        row['delivered_rps'] = delivered / (drained - t0)
    say('    held: %d accepted in all, %d delivered after the release' % (accepted, delivered))
    return row


def fmt(v, spec):
    return spec % v if v is not None else '-'


def main():
    for f in (LOADGEN, NATIVE):
        if not os.access(f, os.X_OK):
            sys.exit('bench: missing %s (run make build)' % f)
    native = open(NATIVE, 'rb').read()
    with Served(BUILD, ['--async-max-queued', '100000000'], prefix='nimbus-asyncbench.') as srv:
        port = srv.port
        for fn in ('bench-echo', 'bench-async', 'bench-held'):
            create_function(srv.port, fn, 'provided', 'bench.handler', {'bootstrap': (native, 0o755)})
            st, h, raw = call(port, 'POST', '/2015-03-31/functions/%s/invocations' % fn, b'{}')
            if st != 200:
                sys.exit('bench: warm-up invoke of %s failed: %s %r' % (fn, st, raw[:200]))
        sync = {}
        for c in CONNS:
            say('sync echo: %d connection(s), %g s (+%g s warmup)' % (c, DUR, WARM))
            sync[c] = loadgen(port, 'bench-echo', c)
        counter = SucceededCounter(port, 'bench-async')
        rows, problem = {}, None
        try:
            counter.more()                  # the warm-up call is not a run's event
            for c in CONNS:
                say('async accept: %d connection(s), %g s (+%g s warmup)' % (c, DUR, WARM))
                rows[c] = async_run(srv, 'bench-async', c, counter)
        except RuntimeError as e:           # the table still shows what was measured
            problem = str(e)
            say('async runs stopped: ' + problem)
        held = None
        if not problem:
            try:
                say('async accept, function held: %d connection(s), %g s (+%g s warmup)' % (CONNS[-1], DUR, WARM))
                held = held_run(srv, 'bench-held', CONNS[-1])
            except RuntimeError as e:
                problem = str(e)
                say('held run stopped: ' + problem)

    lines = ['Nimbus async benchmark  %s  %d CPUs, %g s per run (+%g s warmup), body %s' %
             (time.strftime('%Y-%m-%d %H:%M:%S'), os.cpu_count() or 0, DUR, WARM, BODY),
             'sync = RequestResponse invokes of the native echo function; accepted = 202s of Event invokes',
             '(durable: committed and fsync\'d before the 202); delivered = succeeded events / (run + drain).',
             '',
             '%-5s | %11s | %11s | %10s | %10s | %6s | %13s | %11s | %11s | %s' % (
                 'conns', 'sync req/s', 'accepted/s', '202 p50 µs', '202 p99 µs', 'errors',
                 'fsyncs/1k ev', 'commits/1k', 'delivered/s', 'drain after run'),
             '-' * 5 + '-+-' + '-+-'.join('-' * w for w in (11, 11, 10, 10, 6, 13, 11, 11, 15))]
    for c in CONNS:
        s, r = sync.get(c, {}), rows.get(c, {})
        lg = r.get('lg', {})
        lines.append('%-5d | %11s | %11s | %10s | %10s | %6s | %13s | %11s | %11s | %s' % (
            c, s.get('rps', '-'), lg.get('rps', '-'), lg.get('p50_us', '-'), lg.get('p99_us', '-'),
            lg.get('errors', '-'), fmt(r.get('fsync_per_k'), '%.1f'), fmt(r.get('commits'), '%.1f'),
            fmt(r.get('delivered_rps'), '%.0f'), fmt(r.get('lag'), '%.1f s') if r.get('lag') is not None
            else ('not drained in %d s' % DRAIN_LIMIT if r else '-')))
    if held:
        lg = held['lg']
        lines += ['', 'accepts alone (the function held by reserved concurrency 0, so nothing is delivered',
                  'meanwhile), then the backlog delivered once it is released:', '',
                  '%-5s | %11s | %10s | %10s | %6s | %11s | %s' % ('conns', 'accepted/s', '202 p50 µs',
                                                               '202 p99 µs', 'errors', 'commits/1k',
                                                               'backlog delivered/s'),
                  '%-5d | %11s | %10s | %10s | %6s | %11s | %s' % (
                      CONNS[-1], lg.get('rps', '-'), lg.get('p50_us', '-'), lg.get('p99_us', '-'),
                      lg.get('errors', '-'), fmt(held.get('commits'), '%.1f'),
                      fmt(held.get('delivered_rps'), '%.0f'))]
    got = rows.get(64, {}).get('lg', {}).get('rps')
    lines += ['', 'target: >= %d accepted events/s at 64 connections: %s' % (
        TARGET, 'not measured' if got is None else '%.0f  %s' % (float(got), 'PASS' if float(got) >= TARGET else 'MISS'))]
    summary_row('async events accepted/s, 64 conns', None if got is None else float(got), 'ev/s',
                'sync echo %s req/s, this run' % sync.get(64, {}).get('rps', '-'), '>= %d' % TARGET, None if got is None else float(got) >= TARGET)
    if rows and all(r.get('commits') is None for r in rows.values()):
        lines.append('commits/1k: the server does not report its queue commits (GET /nimbus/v1/async)')
    if any(r.get('scope') == 'all' for r in rows.values()):
        lines.append('fsyncs/1k: no queue.db file was open in the daemon; the count is all of its fsyncs')
    if rows and all(r.get('fsyncs') is None for r in rows.values()):
        lines.append('fsyncs/1k: perf stat with syscall tracepoints was not available')
    if problem:
        lines.append('async runs stopped: ' + problem)
    text = '\n'.join(lines)
    print(text)
    with open(os.path.join(BUILD, 'bench-async.txt'), 'w') as f:
        f.write(text + '\n')


if __name__ == '__main__':
    main()
