#!/usr/bin/python3
"""bench/sandbox.py BUILD_DIR — the sandbox's costs (issue 3), in one table:

  - cold start of the native echo bootstrap fully sandboxed (spawner: namespaces, cgroup limits,
    root, seccomp, no privileges) until its first /next, p50/p99, with the spawner's per-phase
    breakdown, next to the floor measured in the same run (plain fork+exec of the same binary,
    and the same binary behind plain `unshare`), from BUILD/bench/coldstart;
  - the same without the spawner's pool of inits made ahead (--sandbox-pool 0);
  - instances per second the spawner builds with N requests in flight at once;
  - the daemon's RSS with 200 idle warm instances (`nimbus serve --sandbox`, provisioned
    concurrency 200 on the native bootstrap).
Needs root (the spawner). Knobs: BENCH_COLD_N (default 200), BENCH_IDLE (default 200).
Target: sandboxed cold start p50 <= 5 ms.
"""
import json, os, subprocess, sys, time

from nimbus_bench import Served, call, create_function, rss_kb, summary_row

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
N = int(os.environ.get('BENCH_COLD_N', '200'))
IDLE = int(os.environ.get('BENCH_IDLE', '200'))
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')
COLD = os.path.join(BUILD, 'bench', 'coldstart')


def api(port, method, path, obj=None):
    st, h, data = call(port, method, path, obj)
    return st, data


def idle_rss():
    with Served(BUILD, ['--sandbox', '--max-instances', str(IDLE + 10)], prefix='nimbus-bench-sbx-') as srv:
        port = srv.port
        time.sleep(0.3)
        rss0 = rss_kb(srv.pid)
        create_function(port, 'idle', 'provided', 'x', {'bootstrap': (open(NATIVE, 'rb').read(), 0o755)},
                        memory=128)
        st, body = api(port, 'POST', '/2015-03-31/functions/idle/versions', {})
        if st != 201:
            raise RuntimeError('publish: %s %r' % (st, body[:200]))
        st, body = api(port, 'PUT', '/2019-09-30/functions/idle/provisioned-concurrency?Qualifier=1',
                       {'ProvisionedConcurrentExecutions': IDLE})
        if st != 202:
            raise RuntimeError('provisioned concurrency: %s %r' % (st, body[:200]))
        t0 = time.time()
        ready = 0
        while time.time() - t0 < 120:
            st, body = api(port, 'GET', '/nimbus/v1/functions/idle/instances')
            inst = json.loads(body).get('Instances', [])
            ready = sum(1 for i in inst if i['State'] == 'Ready')
            if ready >= IDLE:
                break
            time.sleep(0.2)
        st, body = api(port, 'POST', '/2015-03-31/functions/idle/invocations?Qualifier=1', {'x': 1})
        time.sleep(0.5)
        rss1 = rss_kb(srv.pid)
        sandbox_ms = sorted(i['SandboxMs'] for i in inst if 'SandboxMs' in i)
        return rss0, rss1, ready, sandbox_ms


def main():
    if os.geteuid() != 0:
        print('bench/sandbox.py: skipped (needs root for the spawner)')
        return 0
    out = subprocess.run([COLD, NATIVE, str(N)], capture_output=True, text=True, timeout=600)
    rows, phases, thr = {}, {}, {}
    for line in out.stdout.splitlines():
        kv = dict(x.split('=', 1) for x in line.split() if '=' in x)
        if 'row' in kv:
            rows[kv['row']] = (float(kv['p50']), float(kv['p99']))
        elif 'phase' in kv:
            phases[kv['phase']] = (float(kv['p50']), float(kv['p99']))
        elif 'throughput' in kv:
            thr[kv['throughput']] = kv
    if out.returncode != 0 or 'sandbox' not in rows:
        print(out.stdout, out.stderr)
        return 1
    rss0, rss1, ready, sms = idle_rss()
    lines = ['', '== sandbox: cold start of the native bootstrap until its first /next (n=%d each, interleaved)' % N,
             '| start | p50 ms | p99 ms |', '|---|---|---|']
    names = {'fork+exec': 'floor: fork+exec, host loopback', 'unshare': 'floor: unshare -p -m -i -u --mount-proc',
             'sandbox_ready': 'sandboxed (pool 4): spawn request answered', 'sandbox': 'sandboxed (pool 4): first /next',
             'sandbox_nopool_ready': 'sandboxed (no pool): spawn request answered',
             'sandbox_nopool': 'sandboxed (no pool): first /next'}
    for k in ('fork+exec', 'unshare', 'sandbox_ready', 'sandbox', 'sandbox_nopool_ready', 'sandbox_nopool'):
        lines.append('| %s | %.2f | %.2f |' % (names[k], rows[k][0], rows[k][1]))
    lines += ['', '| spawner phase (on the request\'s path) | pool p50 | pool p99 | no pool p50 | no pool p99 |',
              '|---|---|---|---|---|']
    for k in ('clone', 'cgroup', 'init_wait', 'mounts', 'privileges', 'exec', 'spawner_total'):
        a, b = phases['sandbox:' + k], phases['sandbox_nopool:' + k]
        lines.append('| %s | %.3f | %.3f | %.3f | %.3f |' % (k, a[0], a[1], b[0], b[1]))
    lines.append('')
    for k, label in (('sandbox', 'pool 4'), ('sandbox_nopool', 'no pool')):
        t = thr.get(k, {})
        lines.append('spawner throughput (%s, %s requests at once): %s instances in %s s = %s instances/s' % (
            label, t.get('instances'), t.get('instances'), t.get('seconds'), t.get('per_second')))
    lines += ['daemon RSS: %d kB at start, %d kB with %d idle warm sandboxed instances (%.1f kB each)' % (
            rss0, rss1, ready, (rss1 - rss0) / max(ready, 1)),
        'target p50 <= 5 ms: %s (%.2f ms)' % ('PASS' if rows['sandbox'][0] <= 5.0 else 'MISS', rows['sandbox'][0])]
    summary_row('sandbox cold start p50 (native, pool)', rows['sandbox'][0], 'ms',
                'fork+exec %.2f ms, this run' % rows['fork+exec'][0], '<= 5 ms', rows['sandbox'][0] <= 5.0)
    text = '\n'.join(lines) + '\n'
    sys.stdout.write(text)
    with open(os.path.join(BUILD, 'bench-sandbox.txt'), 'w') as f:
        f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
