#!/usr/bin/python3
"""bench/density.py BUILD_DIR — density: N idle warm instances on this machine (N = BENCH_DENSITY,
default 1000), of the native echo bootstrap and of a Python echo handler, each on a daemon of its
own.

Each kind is brought to N instances the way Lambda offers: a published version and
PutProvisionedConcurrencyConfig of N, then polled until AllocatedProvisionedConcurrentExecutions
is N. Then, with the N instances idle:
  - the daemon's RSS before and with them, and the difference per instance (target <= 50 KB);
  - each instance's PSS: the sum of /proc/PID/smaps_rollup's Pss over its process tree (its
    init, the instances API's Pid, and every descendant), median and p90 (target for Python
    <= 3 MB: the pages a zygote would share copy-on-write are counted once, split among them);
  - the spawner's RSS, and the machine's memory used (MemAvailable before - after);
  - calls to them: 200 one after another (latency p50/p99), then N at once (every instance
    busy at the same time), all answered, none a cold start (no Init Duration in REPORT)
    and no new instance started.
The machine is shared: `uptime` is printed with the figures.
"""
import base64, http.client, json, os, statistics, subprocess, sys, threading, time

from nimbus_bench import Served, call, create_function, publish, rss_kb, summary_row

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
N = int(os.environ.get('BENCH_DENSITY', '1000'))
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')
PY_ECHO = 'def handler(event, context):\n    return event\n'
SEQ_CALLS = 200
READY_WAIT_S = max(120, N * 0.3)   # generous: a shared machine with 2 cores


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else None


def mem_available_kb():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1])
    return 0


def children(pid):
    """Every descendant of pid (through /proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir('/proc/%d/task' % p)
        except OSError:
            continue
        for t in tids:
            try:
                with open('/proc/%d/task/%s/children' % (p, t)) as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                kids = []
            out += kids
            todo += kids
    return out


def pss_kb(pid):
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_kb(pid):
    return sum(pss_kb(p) for p in [pid] + children(pid))


def spawner_pid(daemon_pid):
    """The daemon's child named nimbus-spawner."""
    for c in children(daemon_pid):
        try:
            with open('/proc/%d/comm' % c) as f:
                if f.read().strip() == 'nimbus-spawner':
                    return c
        except OSError:
            pass
    return None


def instances(port, name):
    st, h, raw = call(port, 'GET', '/nimbus/v1/functions/%s/instances' % name)
    return json.loads(raw)['Instances'] if st == 200 else []


def same_json(a, b):
    """The echo came back (Python's json re-spaces it)."""
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def invoke(conn, name, body, tail=False):
    """One Invoke on a kept-alive connection: (status, function error, body, log tail, seconds)."""
    hdr = {'Content-Type': 'application/json'}
    if tail:
        hdr['X-Amz-Log-Type'] = 'Tail'
    t0 = time.perf_counter()
    conn.request('POST', '/2015-03-31/functions/%s/invocations' % name, body=body, headers=hdr)
    r = conn.getresponse()
    data = r.read()
    took = time.perf_counter() - t0
    log = base64.b64decode(r.getheader('X-Amz-Log-Result') or '').decode(errors='replace')
    return r.status, r.getheader('X-Amz-Function-Error'), data, log, took


def provision(port, name, n):
    """Publish version 1 and ask for n provisioned instances; seconds until all are allocated
    (None if not within READY_WAIT_S) and the last answer."""
    st, h, raw = call(port, 'POST', '/2015-03-31/functions/%s/versions' % name, {})
    if st != 201:
        raise SystemExit('bench: publish %s failed: %s %s' % (name, st, raw[:200]))
    t0 = time.perf_counter()
    path = '/2019-09-30/functions/%s/provisioned-concurrency?Qualifier=1' % name
    st, h, raw = call(port, 'PUT', path, {'ProvisionedConcurrentExecutions': n})
    if st != 202:
        raise SystemExit('bench: PutProvisionedConcurrencyConfig %s failed: %s %s' % (name, st, raw[:200]))
    last = {}
    while time.perf_counter() - t0 < READY_WAIT_S:
        st, h, raw = call(port, 'GET', path)
        last = json.loads(raw) if st == 200 else {'status': st}
        if last.get('AllocatedProvisionedConcurrentExecutions') == n:
            return time.perf_counter() - t0, last
        time.sleep(0.2)
    return None, last


def sequential(port, name):
    """SEQ_CALLS calls one after another: (latencies, errors, cold starts seen in REPORT)."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    lat, errors, cold = [], 0, 0
    for i in range(SEQ_CALLS):
        body = b'{"seq":%d}' % i
        st, ferr, data, log, took = invoke(c, name + ':1', body, tail=True)
        lat.append(took)
        if st != 200 or ferr or not same_json(data, body):
            errors += 1
        if 'Init Duration' in log:
            cold += 1
    c.close()
    return lat, errors, cold


def all_at_once(port, name, n):
    """n calls released together: (seconds until all answered, errors, cold starts in REPORT)."""
    res = [None] * n
    gate = threading.Barrier(n + 1)

    def one(i):
        body = b'{"all":%d}' % i
        try:
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
            c.connect()
        except Exception as e:
            gate.wait()
            res[i] = (0, str(e), b'', '', 0)
            return
        gate.wait()
        try:
            t = time.perf_counter()
            st, ferr, data, log, took = invoke(c, name + ':1', body, tail=True)
            res[i] = (st, ferr or (None if same_json(data, body) else 'wrong body'), data, log, took, t, t + took)
        except Exception as e:     # a lost call is what this counts
            res[i] = (0, str(e), b'', '', 0)
        c.close()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    gate.wait()
    for t in ts:
        t.join(180)
    # From the first call sent to the last answered, as the threads saw them (the main thread
    # may be scheduled after they ran).
    spans = [r[5:7] for r in res if r and len(r) == 7]
    took = max(e for _, e in spans) - min(b for b, _ in spans) if spans else None
    errors = [r for r in res if not r or r[0] != 200 or r[1]]
    cold = sum(1 for r in res if r and 'Init Duration' in r[3])
    return took, errors, cold


def measure(kind, say):
    """One daemon, one function of `kind`, N provisioned instances: a dict of figures."""
    args = ['--max-instances', str(max(N, 100)), '--account-concurrency', str(max(N, 1000)),
            '--keep-alive', '3600']
    name = 'dense-' + kind
    out = {'kind': kind}
    with Served(BUILD, args, prefix='nimbus-density.') as srv:
        port = srv.port
        if kind == 'native':
            create_function(port, name, 'provided', 'x.y', {'bootstrap': (open(NATIVE, 'rb').read(), 0o755)},
                            memory=128)
        else:
            create_function(port, name, 'python3.11', 'app.handler', {'app.py': (PY_ECHO, 0o644)}, memory=128)
        time.sleep(0.5)
        sp = spawner_pid(srv.pid)
        out['rss0'], out['sp0'], avail0 = rss_kb(srv.pid), rss_kb(sp) if sp else 0, mem_available_kb()
        took, last = provision(port, name, N)
        out['ready_s'] = took
        if took is None:
            say('  %s: only %s of %d instances allocated after %.0f s: %s' % (
                kind, last.get('AllocatedProvisionedConcurrentExecutions'), N, READY_WAIT_S, last))
        time.sleep(2.0)   # let the last inits settle (page cache, lazily faulted pages)
        inst = instances(port, name)
        ready = [i for i in inst if i['State'] == 'Ready']
        out['ready'] = len(ready)
        out['rss1'], out['sp1'], avail1 = rss_kb(srv.pid), rss_kb(sp) if sp else 0, mem_available_kb()
        out['used_mb'] = (avail0 - avail1) / 1024.0
        pss = [tree_pss_kb(i['Pid']) for i in ready if i.get('Pid')]
        out['pss_med'] = statistics.median(pss) if pss else None
        out['pss_p90'] = pct(pss, 90)
        out['per_inst_kb'] = (out['rss1'] - out['rss0']) / max(len(ready), 1)
        lat, seq_err, seq_cold = sequential(port, name)
        out['lat_p50'], out['lat_p99'], out['seq_err'], out['seq_cold'] = pct(lat, 50), pct(lat, 99), seq_err, seq_cold
        all_s, all_err, all_cold = all_at_once(port, name, len(ready) or N)
        out['all_s'], out['all_err'], out['all_cold'] = all_s, len(all_err), all_cold
        if all_err:
            say('  %s: %d of the calls at once failed, e.g. %r' % (kind, len(all_err), all_err[0][:2]))
        after = instances(port, name)
        out['new_instances'] = len(set(i['Id'] for i in after) - set(i['Id'] for i in inst))
        out['uptime'] = subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()
    return out


def main():
    if not os.access(NATIVE, os.X_OK):
        sys.exit('bench: missing %s (make build)' % NATIVE)
    notes = []
    res = [measure(k, notes.append) for k in ('native', 'python')]
    fmt_ms = lambda s: '%.0f ms' % (s * 1000) if s is not None else 'never'
    lines = ['Nimbus density benchmark: %s, %d provisioned idle instances per kind, MemorySize 128' % (
        time.strftime('%Y-%m-%d %H:%M:%S'), N), '']
    lines += ['%-46s | %12s | %12s' % ('measure', 'native', 'python'), '-' * 46 + '-+-' + '-' * 12 + '-+-' + '-' * 12]
    rows = [
        ('0 -> {n} provisioned instances allocated', lambda r: fmt_ms(r['ready_s'])),
        ('instances ready', lambda r: '%d' % r['ready']),
        ('daemon RSS before', lambda r: '%.1f MB' % (r['rss0'] / 1024.0)),
        ('daemon RSS with {n} idle instances', lambda r: '%.1f MB' % (r['rss1'] / 1024.0)),
        ('daemon memory per idle instance', lambda r: '%.1f KB' % r['per_inst_kb']),
        ('spawner RSS before / with them', lambda r: '%.1f/%.1f MB' % (r['sp0'] / 1024.0, r['sp1'] / 1024.0)),
        ('instance PSS, median', lambda r: '%.0f KB' % r['pss_med'] if r['pss_med'] is not None else '-'),
        ('instance PSS, p90', lambda r: '%.0f KB' % r['pss_p90'] if r['pss_p90'] is not None else '-'),
        ('machine memory used (MemAvailable delta)', lambda r: '%.0f MB' % r['used_mb']),
        ('%d calls one by one: p50' % SEQ_CALLS, lambda r: '%.2f ms' % (r['lat_p50'] * 1000)),
        ('%d calls one by one: p99' % SEQ_CALLS, lambda r: '%.2f ms' % (r['lat_p99'] * 1000)),
        ('... errors / cold starts', lambda r: '%d / %d' % (r['seq_err'], r['seq_cold'])),
        ('{n} calls at once: all answered (span)', lambda r: fmt_ms(r['all_s'])),
        ('... errors / cold starts / new instances', lambda r: '%d / %d / %d' % (
            r['all_err'], r['all_cold'], r['new_instances'])),
    ]
    for label, f in rows:
        lines.append('%-46s | %12s | %12s' % (label.format(n=N), f(res[0]), f(res[1])))
    lines += [''] + notes + ['native: ' + res[0]['uptime'], 'python: ' + res[1]['uptime']]
    publish(BUILD, 'bench-density.txt', lines)

    for r in res:
        k = r['kind']
        warm_ok = r['ready'] == N and r['all_err'] == 0 and r['seq_err'] == 0 and \
            r['all_cold'] == 0 and r['seq_cold'] == 0 and r['new_instances'] == 0
        summary_row('density %s: idle warm instances, all calls warm' % k, r['ready'], 'instances',
                    'none measured before', '%d, 0 errors, 0 cold' % N, warm_ok)
        summary_row('density %s: daemon memory per idle instance' % k, round(r['per_inst_kb'], 1), 'KB',
                    'this run', '<= 50 KB', r['per_inst_kb'] <= 50)
        if k == 'python':
            summary_row('density python: instance PSS, median', r['pss_med'], 'KB', 'this run',
                        '<= 3072 KB', r['pss_med'] is not None and r['pss_med'] <= 3072)
        else:
            summary_row('density native: instance PSS, median', r['pss_med'], 'KB', 'this run', '-', None)


if __name__ == '__main__':
    main()
