#!/usr/bin/python3
"""bench/url.py BUILD_DIR — function URL warm requests next to the Invoke API's, in one run.

One `nimbus serve`, one function (the native echo bootstrap, bench/bootstrap_native, 1769 MB)
with a function URL (AuthType NONE, BUFFERED). The same loadgen, the same body, the same
connections, alternately:
  invoke  POST /2015-03-31/functions/bench-echo/invocations
  inv-ev  the Invoke of the first row with the URL's event as its body (the same bytes each way
          as the URL row), to tell the conversions' cost from the event's size;
  url     POST /nimbus/url/<url-id>/bench?x=1 — the URL's path form; the host-name form
          differs only by reading the Host header. Each request becomes Lambda's payload
          format 2.0 event (headers, query, requestContext...), the echo returns it, and the
          answer is inferred from it (no statusCode: 200, application/json, the event as body),
          so the URL row pays for both conversions.
Prints p50/p99 and requests/s per row and the URL's cost relative to Invoke; the target (within
10 %) is reported, never asserted. Writes BUILD_DIR/bench-url.txt. Knobs: BENCH_DURATION (s,
default 5), BENCH_WARMUP (s, default 2), BENCH_CONNECTIONS (default "1 64").
"""
import json, os, sys, time

import nimbus_bench
from nimbus_bench import Served, call, create_function, ratio, summary_row

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
LOADGEN = os.path.join(BUILD, 'bench', 'loadgen')
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')
DUR = float(os.environ.get('BENCH_DURATION', '5'))
WARM = float(os.environ.get('BENCH_WARMUP', '2'))
CONNS = [int(c) for c in os.environ.get('BENCH_CONNECTIONS', '1 64').split()]
BODY = '{"hello":"world"}'
WITHIN = 0.10


def say(msg):
    print('bench: ' + msg, file=sys.stderr, flush=True)


def loadgen(url, conns, body=BODY):
    return nimbus_bench.loadgen(LOADGEN, url, conns, DUR, WARM, body, say)


def main():
    for f in (LOADGEN, NATIVE):
        if not os.access(f, os.X_OK):
            sys.exit('bench: missing %s (run make build)' % f)
    native = open(NATIVE, 'rb').read()
    rows, event = {}, ''
    with Served(BUILD, prefix='nimbus-urlbench.') as srv:
        port = srv.port
        create_function(port, 'bench-echo', 'provided', 'bench.handler', {'bootstrap': (native, 0o755)})
        st, h, raw = call(port, 'POST', '/2021-10-31/functions/bench-echo/url', {'AuthType': 'NONE'})
        if st != 201:
            sys.exit('bench: CreateFunctionUrlConfig failed: %s %r' % (st, raw[:200]))
        url_id = json.loads(raw)['FunctionUrl'].split('//', 1)[1].split('.', 1)[0]
        invoke = 'http://127.0.0.1:%d/2015-03-31/functions/bench-echo/invocations' % port
        url = 'http://127.0.0.1:%d/nimbus/url/%s/bench?x=1' % (port, url_id)
        st, h, raw = call(port, 'POST', '/nimbus/url/%s/bench?x=1' % url_id, BODY.encode())
        if st != 200 or json.loads(raw).get('rawPath') != '/bench':
            sys.exit('bench: warm-up URL request failed: %s %r' % (st, raw[:200]))
        event = raw.decode()     # the payload 2.0 event the URL gives the function
        for c in CONNS:
            for kind, target, body in (('invoke', invoke, BODY), ('url', url, BODY), ('inv-ev', invoke, event)):
                say('%s: %d connection(s), %g s (+%g s warmup)' % (kind, c, DUR, WARM))
                rows[(kind, c)] = loadgen(target, c, body)

    lines = ['Nimbus function URL benchmark  %s  %d CPUs, %g s per run (+%g s warmup), body %s' %
             (time.strftime('%Y-%m-%d %H:%M:%S'), os.cpu_count() or 0, DUR, WARM, BODY),
             'invoke = POST .../invocations; url = POST /nimbus/url/<id>/bench?x=1 (payload 2.0 both ways),',
             'same native echo function, same server, same loadgen; inv-ev = Invoke with the URL\'s own event',
             '(%d bytes) as its body: what the URL costs beyond carrying a bigger event both ways.' % len(event), '',
             '%-6s | %-6s | %9s | %9s | %9s | %6s | %s' % ('conns', 'path', 'p50 µs', 'p99 µs', 'req/s', 'errors',
                                                          'url / invoke'),
             '-' * 6 + '-+-' + '-+-'.join('-' * w for w in (6, 9, 9, 9, 6, 30))]
    verdicts = []
    for c in CONNS:
        inv, u = rows.get(('invoke', c), {}), rows.get(('url', c), {})
        for kind, r in (('invoke', inv), ('url', u), ('inv-ev', rows.get(('inv-ev', c), {}))):
            rel = ''
            if kind == 'url':
                p50, rps = ratio(u.get('p50_us'), inv.get('p50_us')), ratio(u.get('rps'), inv.get('rps'))
                if p50 is not None and rps is not None:
                    rel = 'p50 x%.2f, req/s x%.2f' % (p50, rps)
                    ok = p50 <= 1 + WITHIN and rps >= 1 - WITHIN
                    verdicts.append('%d conn: %s' % (c, 'PASS' if ok else 'MISS'))
                    summary_row('function URL / Invoke, %d conn' % c, 'p50 x%.2f r/s x%.2f' % (p50, rps), '-',
                                'Invoke %s µs, this run' % inv.get('p50_us'), 'within %d%%' % (WITHIN * 100), ok)
            lines.append('%-6d | %-6s | %9s | %9s | %9s | %6s | %s' % (
                c, kind, r.get('p50_us', '-'), r.get('p99_us', '-'), r.get('rps', '-'), r.get('errors', '-'), rel))
    lines += ['', 'target: URL within %d%% of Invoke (p50 and req/s): %s' % (
        WITHIN * 100, ', '.join(verdicts) if verdicts else 'not measured')]
    text = '\n'.join(lines) + '\n'
    sys.stdout.write(text)
    with open(os.path.join(BUILD, 'bench-url.txt'), 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
