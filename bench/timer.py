#!/usr/bin/python3
"""bench/timer.py BUILD_DIR — timer accuracy: 1,000 schedules on one `nimbus serve`, how long after
its slot each slot's event reached the async queue.

Ten functions (the native echo bootstrap) with a reserved concurrency of 0, so their events wait
in the queue and nothing runs: what is measured is the timer wheel and the accept, not the
function. Each function gets 100 triggers, `@every 10s` (BENCH_TIMER_EXPR), created one after the
other, so their slots (counted from each trigger's creation second) spread over the seconds of the
period. The run lasts BENCH_TIMER_SECONDS (default 75) after the last trigger was added; then every
trigger is disabled and every event of the run is read back through the events API
(`GET /nimbus/v1/functions/NAME/events/ID`): lag = the event's CreatedMs (when the daemon accepted
it) minus the slot in its payload (`triggerTime`). Missed = the triggers' own `Missed` counters
(slots skipped), and slots that fired twice are counted too.
Prints the table (fires, p50/p99/max lag ms, missed, duplicates) with PASS/MISS against p99 <= 50 ms
(reported, never asserted) and writes BUILD_DIR/bench-timer.txt.
"""
import calendar, http.client, json, os, sys, time

from nimbus_bench import Served, call, create_function, summary_row

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')
SECONDS = float(os.environ.get('BENCH_TIMER_SECONDS', '75'))
EXPR = os.environ.get('BENCH_TIMER_EXPR', '@every 10s')
FUNCTIONS, PER_FUNCTION = 10, 100
TARGET_P99_MS = 50


def say(msg):
    print('bench: ' + msg, file=sys.stderr, flush=True)


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


class Conn:
    """One keep-alive connection for the many reads at the end."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)

    def get(self, path):
        self.c.request('GET', path)
        r = self.c.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit('bench: GET %s -> %s %s' % (path, r.status, body[:200]))
        return json.loads(body)


def main():
    if not os.access(NATIVE, os.X_OK):
        raise SystemExit('bench: %s missing (make build)' % NATIVE)
    with open(NATIVE, 'rb') as f:
        native = f.read()
    with Served(BUILD, ['--insecure-no-sandbox'] if os.geteuid() != 0 else []) as s:
        names = ['timer-bench-%d' % i for i in range(FUNCTIONS)]
        for n in names:
            create_function(s.port, n, 'provided', 'x', {'bootstrap': (native, 0o755)}, memory=128)
            st, h, raw = call(s.port, 'PUT', '/2017-10-31/functions/%s/concurrency' % n,
                              {'ReservedConcurrentExecutions': 0})
            if st != 200:
                raise SystemExit('bench: concurrency %s -> %s %s' % (n, st, raw[:200]))
        say('adding %d triggers (%s)' % (FUNCTIONS * PER_FUNCTION, EXPR))
        for k in range(PER_FUNCTION):
            for n in names:
                st, h, raw = call(s.port, 'POST', '/nimbus/v1/functions/%s/triggers' % n,
                                  {'Name': 't%03d' % k, 'ScheduleExpression': EXPR})
                if st != 201:
                    raise SystemExit('bench: add trigger -> %s %s' % (st, raw[:200]))
        t0 = time.time()
        say('running %.0f s' % SECONDS)
        time.sleep(SECONDS)
        for n in names:
            for k in range(PER_FUNCTION):
                call(s.port, 'PATCH', '/nimbus/v1/functions/%s/triggers/t%03d' % (n, k), {'Enabled': False})
        time.sleep(1)
        conn = Conn(s.port)
        lags, missed, fires, dups = [], 0, 0, 0
        say('reading the events back')
        for n in names:
            for t in conn.get('/nimbus/v1/functions/%s/triggers' % n)['Triggers']:
                missed += t['Missed']
                fires += t['Fires']
            ids, after = [], None
            while True:
                page = conn.get('/nimbus/v1/functions/%s/events?limit=1000%s' % (n, '&after=' + after if after else ''))
                ids += [e['RequestId'] for e in page['Events']]
                after = page.get('NextMarker')
                if not after:
                    break
            seen = set()
            for rid in ids:
                ev = conn.get('/nimbus/v1/functions/%s/events/%s' % (n, rid))
                payload = json.loads(ev['Payload'])
                slot = calendar.timegm(time.strptime(payload['triggerTime'], '%Y-%m-%dT%H:%M:%SZ')) * 1000
                key = (payload['triggerName'], slot)
                if key in seen:
                    dups += 1
                seen.add(key)
                lags.append(ev['CreatedMs'] - slot)
        lags.sort()
        p50, p99, mx = pct(lags, 50), pct(lags, 99), (lags[-1] if lags else 0)
        verdict = 'PASS' if lags and p99 <= TARGET_P99_MS and dups == 0 else 'MISS'
        lines = [
            'Timer accuracy: %d schedules (%s) on one daemon, %.0f s; lag = accepted - slot' % (
                FUNCTIONS * PER_FUNCTION, EXPR, time.time() - t0),
            '%-8s %8s %8s %8s %8s %8s %s' % ('fires', 'events', 'p50 ms', 'p99 ms', 'max ms', 'missed', 'dups'),
            '%-8d %8d %8d %8d %8d %8d %d' % (fires, len(lags), p50, p99, mx, missed, dups),
            'target p99 <= %d ms: %s' % (TARGET_P99_MS, verdict),
        ]
        summary_row('timer lag p99 (%d schedules, %d dups, %d missed)' % (FUNCTIONS * PER_FUNCTION, dups, missed),
                    p99 if lags else None, 'ms', 'p50 %d ms, this run' % p50, '<= %d ms, 0 dups' % TARGET_P99_MS,
                    verdict == 'PASS')
    text = '\n'.join(lines)
    print(text)
    with open(os.path.join(BUILD, 'bench-timer.txt'), 'w') as f:
        f.write(text + '\n')


if __name__ == '__main__':
    main()
