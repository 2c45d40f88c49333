#!/usr/bin/python3
"""bench/soak.py BUILD_DIR — the soak (`make soak`; minutes, not part of `make test`).

For SOAK_SECONDS (default 300) it keeps a mixed load on one `nimbus serve`:
SOAK_CLIENTS threads (default 8) calling, in turn, an echo function (most calls), one that
fails (function errors), one that times out (Timeout 1 s, sleeps 3 s), one that writes a
little log, and an Event (async) invoke; a deployer thread updates code and configuration,
and creates and deletes a short-lived function, every few seconds.

Every SOAK_SAMPLE seconds (default 5) it samples the daemon's resident memory (RSS), open
fds and threads (from /proc; the daemon process only, not the spawner or instances) and the
store's size (the *.db, *-wal and *-shm files of the data dir), and prints a row. At the end
it prints the table's summary and exits 1 on sustained growth:

  after a warm-up (the first sixth of the samples), the median of the last third must not
  exceed the median of the first third (after warm-up) by more than 20 % (RSS, threads) or
  by more than 20 % and 16 (fds: a few connections come and go).

The store is reported but not judged: log retention is not in this branch yet, so the log
database grows with the calls by design; once retention exists, its cap is what to check.
"""
import json, os, statistics, sys, threading, time

from nimbus_bench import Served, call, create_function

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
SECONDS = int(os.environ.get('SOAK_SECONDS', '300'))
CLIENTS = int(os.environ.get('SOAK_CLIENTS', '8'))
SAMPLE = float(os.environ.get('SOAK_SAMPLE', '5'))

PRELUDE = r'''#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
T=$(mktemp -d)
while :; do
  curl -sS -D "$T/h" -o "$T/ev" "$API/invocation/next" || exit 1
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$T/h" | cut -d: -f2- | tr -d ' \r')
'''
SCRIPTS = {
    'echo': PRELUDE + '  curl -sS -o /dev/null -X POST --data-binary @"$T/ev" "$API/invocation/$ID/response"\ndone\n',
    'fail': PRELUDE + ('  curl -sS -o /dev/null -X POST -H "Lambda-Runtime-Function-Error-Type: Soak" '
                       '--data-binary \'{"errorType":"Soak","errorMessage":"on purpose"}\' "$API/invocation/$ID/error"\ndone\n'),
    'slow': PRELUDE + '  sleep 3\n  curl -sS -o /dev/null -X POST --data-binary "{}" "$API/invocation/$ID/response"\ndone\n',
    'logs': PRELUDE + ('  i=0; while [ $i -lt 20 ]; do echo "soak line $i of $ID"; i=$((i+1)); done\n'
                       '  curl -sS -o /dev/null -X POST --data-binary "{}" "$API/invocation/$ID/response"\ndone\n'),
}


def files(script):
    return {'bootstrap': (script, 0o755)}


def proc_sample(pid, data_dir):
    with open('/proc/%d/status' % pid) as f:
        st = {l.split(':')[0]: l.split(':')[1].strip() for l in f}
    rss = int(st['VmRSS'].split()[0])
    threads = int(st['Threads'])
    fds = len(os.listdir('/proc/%d/fd' % pid))
    db = 0
    for root, _, names in os.walk(data_dir):
        for n in names:
            if n.endswith(('.db', '.db-wal', '.db-shm')):
                try:
                    db += os.path.getsize(os.path.join(root, n))
                except OSError:
                    pass
    return rss, fds, threads, db


def main():
    counts = {k: 0 for k in ('ok', 'function_error', 'timeout', 'async', 'throttled', 'other', 'exception', 'deploys')}
    lock = threading.Lock()
    stop = threading.Event()

    def count(k):
        with lock:
            counts[k] += 1

    with Served(BUILD) as s:
        data_dir = os.path.join(s.tmp, 'data')
        for name, script in SCRIPTS.items():
            create_function(s.port, 'soak-' + name, 'provided', 'x', files(script), memory=128,
                            timeout=1 if name == 'slow' else 10)
        plan = ['echo'] * 12 + ['fail', 'slow', 'logs', 'async']

        def client(k):
            i = k
            while not stop.is_set():
                what = plan[i % len(plan)]
                i += 1
                try:
                    if what == 'async':
                        st, h, b = call(s.port, 'POST', '/2015-03-31/functions/soak-echo/invocations', b'{"a":1}',
                                        {'X-Amz-Invocation-Type': 'Event'}, timeout=60)
                        count('async' if st == 202 else 'other')
                        continue
                    st, h, b = call(s.port, 'POST', '/2015-03-31/functions/soak-%s/invocations' % what,
                                    b'{"n":%d}' % i, timeout=60)
                    if st == 429:
                        count('throttled')
                    elif st != 200:
                        count('other')
                    elif 'x-amz-function-error' in h:
                        count('timeout' if b'Timedout' in b else 'function_error')
                    else:
                        count('ok')
                except Exception:      # counted: a soak keeps going
                    count('exception')

        def deployer():
            n = 0
            while not stop.wait(3):
                n += 1
                try:
                    body = SCRIPTS['echo'].replace('#!/bin/sh', '#!/bin/sh\n# v%d' % n)
                    from nimbus_bench import zipped
                    import base64
                    call(s.port, 'PUT', '/2015-03-31/functions/soak-logs/code',
                         {'ZipFile': base64.b64encode(zipped(files(SCRIPTS['logs'] + '# %d\n' % n))).decode()})
                    call(s.port, 'PUT', '/2015-03-31/functions/soak-fail/configuration',
                         {'MemorySize': 128 + 64 * (n % 2)})
                    name = 'soak-tmp-%d' % n
                    create_function(s.port, name, 'provided', 'x', files(body), memory=128, timeout=5)
                    call(s.port, 'POST', '/2015-03-31/functions/%s/invocations' % name, b'{}', timeout=60)
                    call(s.port, 'DELETE', '/2015-03-31/functions/%s' % name)
                    count('deploys')
                except (Exception, SystemExit):   # counted as "other"; the soak goes on
                    count('other')

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
        threads.append(threading.Thread(target=deployer, daemon=True))
        for t in threads:
            t.start()
        rows = []
        t0 = time.monotonic()
        print('%7s %9s %6s %8s %10s %9s' % ('t(s)', 'RSS(KB)', 'fds', 'threads', 'store(KB)', 'calls'))
        while time.monotonic() - t0 < SECONDS:
            time.sleep(SAMPLE)
            rss, fds, thr, db = proc_sample(s.pid, data_dir)
            with lock:
                done = sum(v for k, v in counts.items() if k != 'deploys')
            rows.append((time.monotonic() - t0, rss, fds, thr, db))
            print('%7.0f %9d %6d %8d %10d %9d' % (rows[-1][0], rss, fds, thr, db // 1024, done), flush=True)
        stop.set()
        for t in threads:
            t.join(70)
        print('calls: ' + ', '.join('%s %d' % kv for kv in counts.items()))

    warm = len(rows) // 6
    body = rows[warm:]
    third = max(1, len(body) // 3)
    first, last = body[:third], body[-third:]
    failed = []
    for col, name, slack in ((1, 'RSS', 0), (2, 'fds', 16), (3, 'threads', 0)):
        a = statistics.median(r[col] for r in first)
        b = statistics.median(r[col] for r in last)
        grew = b > a * 1.2 + slack
        print('%-8s first third median %9.0f  last third median %9.0f  %s' % (name, a, b, 'GROWTH' if grew else 'flat'))
        if grew:
            failed.append(name)
    a = statistics.median(r[4] for r in first) / 1024
    b = statistics.median(r[4] for r in last) / 1024
    print('%-8s first third median %9.0f  last third median %9.0f  (KB; reported, not judged: no retention yet)'
          % ('store', a, b))
    if counts['exception'] or counts['other']:
        print('soak: %d exceptions and %d unexpected answers' % (counts['exception'], counts['other']))
    if len(rows) < 6:
        print('soak: too few samples to judge growth (raise SOAK_SECONDS)')
        return 0
    if failed:
        print('soak: FAILED, sustained growth of ' + ', '.join(failed))
        return 1
    print('soak: ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
