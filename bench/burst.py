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
Target here: 0 -> 100 ready instances serving 100 calls in <= 1 s, 0 errors.
"""
import http.client, json, os, sys, threading, time

from nimbus_bench import Served, call, create_function, rss_kb

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
N = int(os.environ.get('BENCH_BURST', '100'))
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')


def burst(port, name):
    """N calls released together; returns (seconds until all answered, errors, start time)."""
    results = [None] * N
    gate = threading.Barrier(N + 1)

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
    threads = [threading.Thread(target=call, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(120)
    took = time.perf_counter() - t0
    errors = sum(1 for r in results if not r or r[0] != 200 or r[1] or r[2] != b'{"n":%d}' % results.index(r))
    return took, errors, t0


HOLD_MS = 1500   # longer than the scale-out itself, so no call can wait for a busy instance


def deploy(port, name, env):
    create_function(port, name, 'provided', 'x.y', {'bootstrap': (open(NATIVE, 'rb').read(), 0o755)}, env=env)


def ready_times(port, name, t0):
    """Seconds from t0 until each instance of `name` became ready, from the daemon's own account
    (AgeMs: since its start; InitDurationMs: start to ready), sorted; and how many started."""
    st, h, raw = call(port, 'GET', '/nimbus/v1/functions/%s/instances' % name)
    now = time.perf_counter()
    inst = json.loads(raw)['Instances']
    times = sorted(now - i['AgeMs'] / 1000.0 + i['InitDurationMs'] / 1000.0 - t0
                   for i in inst if 'InitDurationMs' in i)
    return times, len(inst)


def timed_burst(port, name):
    """A burst, then when its instances became ready: (answered s, errors, ready times, started)."""
    took, errors, t0 = burst(port, name)
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
        # (b) each call holds its instance HOLD_MS: N calls need N instances
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
            '%-48s | %8s    | target <= 1000 ms: %s' % (
                'hold %d ms, cold: 0 -> %d instances ready' % (HOLD_MS, N),
                '%.0f ms' % (ready_at * 1000) if ready_at else 'never',
                ('PASS' if ready_at and ready_at <= 1.0 else 'MISS') + ' (%d started)' % n_hold),
            '%-48s | %8.0f ms | floor %d ms (the hold)' % ('hold %d ms, cold: all %d calls answered' % (HOLD_MS, N),
                                                          hold * 1000, HOLD_MS),
            '%-48s | %10d | target 0' % ('hold, cold: calls lost or errored', hold_err),
            '%-48s | %7.1f MB |' % ('daemon RSS before', rss0 / 1024.0),
            '%-48s | %7.1f MB |' % ('daemon RSS with %d idle warm instances' % n_idle, rss1 / 1024.0),
            '%-48s | %7.1f KB |' % ('daemon memory per idle warm instance', (rss1 - rss0) / max(n_idle, 1)),
        ]
        text = '\n'.join(lines)
        print(text)
        with open(os.path.join(BUILD, 'bench-burst.txt'), 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
