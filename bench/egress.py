#!/usr/bin/python3
"""bench/egress.py BUILD_DIR — cold start of the native echo bootstrap with Network egress next to
Network none, on one `nimbus serve`, interleaved sample by sample (so drift hits both alike).

Each sample: UpdateFunctionConfiguration with a new Description (the warm instance is retired),
then one client-timed invoke. BENCH_COLD samples each (default 30). Target: egress p50 within
1 ms of none (the veth pair is made ahead in the sandbox pool, off the call's path).
Needs root and nft (egress); without them it says so and exits 0. Prints a table and writes
BUILD_DIR/bench-egress.txt.
"""
import os, shutil, statistics, sys, time

from nimbus_bench import Served, call, create_function, publish, summary_row

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')
COLD = int(os.environ.get('BENCH_COLD', '30'))
TARGET_MS = 1.0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def cold(port, name, i):
    call(port, 'PUT', '/2015-03-31/functions/%s/configuration' % name, {'Description': 'cold %d' % i})
    time.sleep(0.05)   # the pool refills (an egress init with its veth is made ahead)
    t = time.perf_counter()
    st, h, _ = call(port, 'POST', '/2015-03-31/functions/%s/invocations' % name, b'{"hello":"world"}')
    ms = (time.perf_counter() - t) * 1000
    return ms, st != 200 or 'x-amz-function-error' in h


def main():
    if os.geteuid() != 0 or not shutil.which('nft'):
        print('bench/egress.py: skipped (Network egress needs root and nft)')
        return
    if not os.access(NATIVE, os.X_OK):
        sys.exit('bench: missing %s (run make build)' % NATIVE)
    boot = {'bootstrap': (open(NATIVE, 'rb').read(), 0o755)}
    with Served(BUILD, prefix='nimbus-egressbench.') as srv:
        samples, errors = {'none': [], 'egress': []}, {'none': 0, 'egress': 0}
        for net in samples:
            create_function(srv.port, 'echo-' + net, 'provided', 'x.y', boot)
            st, _, raw = call(srv.port, 'PUT', '/2015-03-31/functions/echo-%s/configuration' % net, {'Network': net})
            if st != 200:
                sys.exit('bench: Network %s refused: %s %s' % (net, st, raw[:200]))
            cold(srv.port, 'echo-' + net, -1)   # first call: the pool learns the function's network
        for i in range(COLD):
            for net in samples:
                ms, bad = cold(srv.port, 'echo-' + net, i)
                samples[net].append(ms)
                errors[net] += bad
    p50 = {n: statistics.median(v) for n, v in samples.items()}
    delta = p50['egress'] - p50['none']
    lines = ['Nimbus egress benchmark: %s, %d interleaved cold samples each, native echo bootstrap' %
             (time.strftime('%Y-%m-%d %H:%M:%S'), COLD), '',
             '%-8s | %9s | %9s | %6s' % ('network', 'cold p50', 'cold p99', 'errors'),
             '-' * 8 + '-+-' + '-' * 9 + '-+-' + '-' * 9 + '-+-' + '-' * 6]
    for n, v in samples.items():
        lines.append('%-8s | %6.2f ms | %6.2f ms | %6d' % (n, p50[n], pct(v, 99), errors[n]))
    lines += ['', 'egress - none at p50: %+.2f ms (target <= %.1f ms): %s' %
              (delta, TARGET_MS, 'PASS' if delta <= TARGET_MS else 'MISS')]
    summary_row('cold start p50, Network egress - none', '%+.2f' % delta, 'ms',
                'none %.2f ms, this run' % p50['none'], '<= %.1f ms' % TARGET_MS, delta <= TARGET_MS, BUILD)
    publish(BUILD, 'bench-egress.txt', lines)


if __name__ == '__main__':
    main()
