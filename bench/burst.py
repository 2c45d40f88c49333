#!/usr/bin/python3
"""bench/burst.py BUILD_DIR — scale-out: a burst of N concurrent calls on a
cold function (N = BENCH_BURST, default 100) with the native echo bootstrap.

Measures, in one run:
  - echo: time from the burst's start until all N calls are answered, with
    calls lost or errored, and how many instances started (instances ready
    early take waiting calls, so fewer than N are needed);
  - the same burst again on the now-warm pool (the floor: no cold starts);
  - hold: each call holds its instance 1.5 s (ECHO_HOLD_MS), so N calls need
    N instances: time until N are ready (the instances API) and all answered;
  - the daemon's resident memory before and with the N idle warm instances,
    and the difference per instance.
Then, on a daemon of its own, the big burst (BENCH_BURST_BIG, default 1000; 0 skips it): that
many calls at once, each holding its instance BIG_HOLD_MS (longer than the whole scale-out, so
every call needs an instance of its own): when the last instance was ready, when every call was
answered, and calls lost or errored.
Targets (issue 16): 0 -> 100 ready instances serving 100 calls in <= 500 ms (590-930 ms before),
0 -> 1,000 with no error; rows in make bench's summary.
"""
import http.client, json, os, subprocess, sys, threading, time

from nimbus_bench import Served, call, create_function, rss_kb, summary_row

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
N = int(os.environ.get('BENCH_BURST', '100'))
BIG = int(os.environ.get('BENCH_BURST_BIG', '1000'))
BIG_HOLD_MS = 15000
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')


def burst(port, name, n=None):
    """n (N) calls released together; returns (seconds until all answered, errors, start time)."""
    n = n or N
    results = [None] * n
    gate = threading.Barrier(n + 1)

    def call(i):
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        c.connect()
        gate.wait()
        try:
            c.request('POST', '/2015-03-31/functions/%s/invocations' % name, body=b'{"n":%d}' % i)
            r = c.getresponse()
            body = r.read()
            results[i] = (r.status, r.getheader('X-Amz-Function-Error'), body)
        except Exception as e:       # a lost call is what this counts
            results[i] = (0, str(e), b'')
        c.close()
    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(120)
    took = time.perf_counter() - t0
    errors = sum(1 for i, r in enumerate(results) if not r or r[0] != 200 or r[1] or r[2] != b'{"n":%d}' % i)
    return took, errors, t0


HOLD_MS = 1500   # longer than the scale-out itself, so no call can wait for a busy instance


def deploy(port, name, env, timeout=30):
    create_function(port, name, 'provided', 'x.y', {'bootstrap': (open(NATIVE, 'rb').read(), 0o755)}, env=env,
                    timeout=timeout)


def ready_times(port, name, t0):
    """Seconds from t0 until each instance of `name` became ready, from the daemon's own account
    (AgeMs: since its start; InitDurationMs: start to ready), sorted; and how many started."""
    st, h, raw = call(port, 'GET', '/nimbus/v1/functions/%s/instances' % name)
    now = time.perf_counter()
    inst = json.loads(raw)['Instances']
    times = sorted(now - i['AgeMs'] / 1000.0 + i['InitDurationMs'] / 1000.0 - t0
                   for i in inst if 'InitDurationMs' in i)
    return times, len(inst)


def timed_burst(port, name, n=None):
    """A burst, then when its instances became ready: (answered s, errors, ready times, started)."""
    took, errors, t0 = burst(port, name, n)
    times, started = ready_times(port, name, t0)
    return took, errors, times, started


def main():
    if not os.access(NATIVE, os.X_OK):
        sys.exit('bench: missing %s (make build)' % NATIVE)
    with Served(BUILD, ['--max-instances', str(max(N, 100))], prefix='nimbus-burst.') as srv:
        port = srv.port
        deploy(port, 'burst', {})
        deploy(port, 'hold', {'ECHO_HOLD_MS': str(HOLD_MS)})
        time.sleep(0.3)
        rss0 = rss_kb(srv.pid)
        # (a) echo: the router hands waiting calls to instances as they become ready, so fewer
        # than N start
        cold, cold_err, _, n_echo = timed_burst(port, 'burst')
        warm, warm_err, _ = burst(port, 'burst')
        # (b) each call holds its instance HOLD_MS: N calls need N instances. Started once the
        # sandboxes and /tmp file systems made ahead are back after (a)'s cold starts, as a
        # burst finds a daemon that has not just had another one.
        time.sleep(1.0)
        hold, hold_err, times, n_hold = timed_burst(port, 'hold')
        ready_at = times[N - 1] if len(times) >= N else None
        time.sleep(0.5)
        rss1 = rss_kb(srv.pid)
        n_idle = n_echo + n_hold
        lines = [
            'Nimbus scale-out benchmark: %s, burst of %d concurrent calls, native echo bootstrap' %
            (time.strftime('%Y-%m-%d %H:%M:%S'), N), '',
            '%-48s | %10s | %s' % ('measure', 'value', 'note'),
            '-' * 48 + '-+-' + '-' * 10 + '-+-' + '-' * 30,
            '%-48s | %8.0f ms | %d instances started' % ('echo, cold: all %d calls answered' % N, cold * 1000, n_echo),
            '%-48s | %10d | target 0' % ('echo, cold: calls lost or errored', cold_err),
            '%-48s | %8.0f ms | the floor: no cold start' % ('echo, warm: all %d calls answered' % N, warm * 1000),
            '%-48s | %10d |' % ('echo, warm: calls lost or errored', warm_err),
            '%-48s | %8s    | target <= 500 ms: %s' % (
                'hold %d ms, cold: 0 -> %d instances ready' % (HOLD_MS, N),
                '%.0f ms' % (ready_at * 1000) if ready_at else 'never',
                ('PASS' if ready_at and ready_at <= 0.5 else 'MISS') + ' (%d started)' % n_hold),
            '%-48s | %8.0f ms | floor %d ms (the hold)' % ('hold %d ms, cold: all %d calls answered' % (HOLD_MS, N),
                                                          hold * 1000, HOLD_MS),
            '%-48s | %10d | target 0' % ('hold, cold: calls lost or errored', hold_err),
            '%-48s | %7.1f MB |' % ('daemon RSS before', rss0 / 1024.0),
            '%-48s | %7.1f MB |' % ('daemon RSS with %d idle warm instances' % n_idle, rss1 / 1024.0),
            '%-48s | %7.1f KB |' % ('daemon memory per idle warm instance', (rss1 - rss0) / max(n_idle, 1)),
        ]
    summary_row('burst: 0 -> %d ready instances, %d calls held' % (N, N), round(ready_at * 1000) if ready_at else None,
                'ms', '590-930 ms (issue 16)', '<= 500 ms, 0 errors', bool(ready_at and ready_at <= 0.5 and not hold_err))
    if BIG:
        big = big_burst()
        lines += ['', 'big burst: %d calls at once, each holding its instance %d ms (a daemon of its own)' % (BIG, BIG_HOLD_MS),
                  '%-48s | %8s    | %d of %d ready' % ('0 -> %d instances ready' % BIG, '%.0f ms' % (big['ready'] * 1000)
                                                      if big['ready'] else 'never', big['n_ready'], BIG),
                  '%-48s | %8.0f ms | floor %d ms (the hold)' % ('all %d calls answered' % BIG, big['took'] * 1000, BIG_HOLD_MS),
                  '%-48s | %10d | target 0' % ('calls lost or errored', big['errors'])]
        summary_row('burst: 0 -> %d ready instances, %d calls held' % (BIG, BIG), round(big['ready'] * 1000)
                    if big['ready'] else None, 'ms', 'none measured before', '%d ready, 0 errors' % BIG,
                    bool(big['ready'] and not big['errors']))
    lines += ['', subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()]
    text = '\n'.join(lines)
    print(text)
    with open(os.path.join(BUILD, 'bench-burst.txt'), 'w') as f:
        f.write(text + '\n')


def big_burst():
    """BIG calls at once on a cold function whose calls each hold BIG_HOLD_MS."""
    with Served(BUILD, ['--max-instances', str(BIG), '--account-concurrency', str(max(BIG, 1000))],
                prefix='nimbus-burst.') as srv:
        deploy(srv.port, 'big', {'ECHO_HOLD_MS': str(BIG_HOLD_MS)}, timeout=120)
        time.sleep(0.3)
        took, errors, times, started = timed_burst(srv.port, 'big', BIG)
        return {'took': took, 'errors': errors, 'n_ready': len(times),
                'ready': times[BIG - 1] if len(times) >= BIG else None}


if __name__ == '__main__':
    main()
