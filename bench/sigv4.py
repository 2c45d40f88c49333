#!/usr/bin/python3
"""bench/sigv4.py BUILD_DIR — warm Invoke with SigV4 verification on, next to off, in one run.

Two `nimbus serve`s from the same binary, one without credentials (nothing checked) and one
with --credentials (every request's signature verified: SHA-256 of the body and of the
canonical request, one HMAC with the key's cached signing key), each with the same native
echo function (bench/bootstrap_native, 1769 MB). The loadgen replays one request on each: the
plain one, and one signed once by botocore (Debian's AWS CLI bundles it) — AWS accepts a
header-signed request again within its 15-minute window, and so does Nimbus. Rows alternate
off/on per connection count, BENCH_ROUNDS times (default 3, the order swapped each round, so
neither side always runs second), and each side's figures are the median over its rounds. Prints p50/p99 and requests/s, and "on" relative to "off"; the
target (within 5 %) is reported, never asserted. Writes BUILD_DIR/bench-sigv4.txt. Knobs:
BENCH_DURATION (s, default 3), BENCH_WARMUP (s, default 1), BENCH_CONNECTIONS (default "1 64"),
BENCH_ROUNDS (default 3).
"""
import base64, json, os, statistics, subprocess, sys, time

from nimbus_bench import Served, call, ratio, summary_row, zipped

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
LOADGEN = os.path.join(BUILD, 'bench', 'loadgen')
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')
DUR = float(os.environ.get('BENCH_DURATION', '3'))
WARM = float(os.environ.get('BENCH_WARMUP', '1'))
ROUNDS = max(1, int(os.environ.get('BENCH_ROUNDS', '3')))
CONNS = [int(c) for c in os.environ.get('BENCH_CONNECTIONS', '1 64').split()]
BODY = '{"hello":"world"}'
WITHIN = 0.05
KEY = ('AKIANIMBUSBENCHKEY01', 'bench-secret-0123456789abcdef')
PATH = '/2015-03-31/functions/bench-echo/invocations'


def say(msg):
    print('bench: ' + msg, file=sys.stderr, flush=True)


def signer():
    try:
        import awscli  # noqa: F401  (makes the bundled botocore importable)
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        sys.exit('bench: needs the AWS CLI (botocore) to sign requests: install awscli (scripts/deps.sh)')

    def sign(port, method, path, body, headers):
        r = AWSRequest(method=method, url='http://127.0.0.1:%d%s' % (port, path), data=body, headers=headers)
        SigV4Auth(Credentials(*KEY), 'lambda', 'us-east-1').add_auth(r)
        return dict(r.headers.items())
    return sign


def loadgen(port, conns, headers):
    cmd = [LOADGEN, '--url', 'http://127.0.0.1:%d%s' % (port, PATH), '--connections', str(conns),
           '--duration', str(DUR), '--warmup', str(WARM), '--timeout', '10', '--body', BODY]
    for k, v in headers.items():
        cmd += ['--header', '%s: %s' % (k, v)]
    p = subprocess.run(cmd, capture_output=True, timeout=DUR + WARM + 30)
    out = dict(kv.split('=', 1) for kv in p.stdout.decode().split() if '=' in kv)
    say('    ' + p.stdout.decode().strip())
    return out if 'requests' in out else {}


def deploy(srv, sign):
    req = json.dumps({'FunctionName': 'bench-echo', 'Runtime': 'provided', 'Handler': 'bench.handler',
                      'MemorySize': 1769, 'Timeout': 30,
                      'Code': {'ZipFile': base64.b64encode(zipped({'bootstrap': (open(NATIVE, 'rb').read(),
                                                                                  0o755)})).decode()}}).encode()
    h = {'Content-Type': 'application/json'}
    if sign:
        h = sign(srv.port, 'POST', '/2015-03-31/functions', req, h)
    st, _, raw = call(srv.port, 'POST', '/2015-03-31/functions', req, h)
    if st != 201:
        sys.exit('bench: deploy failed: %s %r' % (st, raw[:200]))
    h = {'Content-Type': 'application/json'}
    if sign:
        h = sign(srv.port, 'POST', PATH, BODY.encode(), h)
    st, _, raw = call(srv.port, 'POST', PATH, BODY.encode(), h)
    if st != 200:
        sys.exit('bench: warm-up invoke failed: %s %r' % (st, raw[:200]))
    return h


def median_row(outs):
    """One side's figures over its rounds: the median of each; errors summed."""
    if not outs:
        return {}
    row = {}
    for k in ('p50_us', 'p99_us', 'rps'):
        try:
            row[k] = '%.1f' % statistics.median(float(o[k]) for o in outs)
        except (KeyError, ValueError):
            row[k] = '-'
    row['errors'] = sum(int(o.get('errors', 0)) for o in outs)
    return row


def main():
    for f in (LOADGEN, NATIVE):
        if not os.access(f, os.X_OK):
            sys.exit('bench: missing %s (run make build)' % f)
    sign = signer()
    rows = {}
    creds_dir = __import__('tempfile').mkdtemp(prefix='nimbus-sigbench.')
    creds = os.path.join(creds_dir, 'credentials')
    with open(creds, 'w') as f:
        f.write('[%s]\nsecret_access_key = %s\naccount_id = 111111111111\nrole = admin\n' % KEY)
    os.chmod(creds, 0o600)
    try:
        with Served(BUILD, prefix='nimbus-sigbench.') as off, \
                Served(BUILD, ['--credentials', creds], prefix='nimbus-sigbench.') as on:
            h_off, h_on = deploy(off, None), deploy(on, sign)
            sides = [('off', off, h_off), ('on', on, h_on)]
            for c in CONNS:
                runs = {'off': [], 'on': []}
                for r in range(ROUNDS):
                    for kind, srv, h in (sides if r % 2 == 0 else sides[::-1]):
                        say('sigv4 %s: %d connection(s), %g s (+%g s warmup), round %d' % (kind, c, DUR, WARM, r + 1))
                        out = loadgen(srv.port, c, h)
                        if out:
                            runs[kind].append(out)
                for kind, outs in runs.items():
                    rows[(kind, c)] = median_row(outs)
    finally:
        __import__('shutil').rmtree(creds_dir, ignore_errors=True)
    lines = ['Nimbus SigV4 benchmark  %s  %d CPUs, %g s per run (+%g s warmup), median of %d rounds, body %s' %
             (time.strftime('%Y-%m-%d %H:%M:%S'), os.cpu_count() or 0, DUR, WARM, ROUNDS, BODY),
             'off = no --credentials (nothing checked); on = --credentials, one pre-signed Invoke replayed', '',
             '%-6s | %-4s | %9s | %9s | %9s | %6s | %s' % ('conns', 'auth', 'p50 µs', 'p99 µs', 'req/s', 'errors',
                                                         'on / off'),
             '-' * 6 + '-+-' + '-+-'.join('-' * w for w in (4, 9, 9, 9, 6, 30))]
    verdicts = []
    for c in CONNS:
        a, b = rows.get(('off', c), {}), rows.get(('on', c), {})
        for kind, r in (('off', a), ('on', b)):
            rel = ''
            if kind == 'on':
                p50, rps = ratio(b.get('p50_us'), a.get('p50_us')), ratio(b.get('rps'), a.get('rps'))
                if p50 is not None and rps is not None:
                    rel = 'p50 x%.2f, req/s x%.2f' % (p50, rps)
                    ok = p50 <= 1 + WITHIN and rps >= 1 - WITHIN
                    verdicts.append('%d conn: %s' % (c, 'PASS' if ok else 'MISS'))
                    summary_row('SigV4 on / off, %d conn' % c, 'p50 x%.2f r/s x%.2f' % (p50, rps), '-',
                                'no credentials %s µs, this run' % a.get('p50_us'), 'within %d%%' % (WITHIN * 100), ok,
                                BUILD)
            lines.append('%-6d | %-4s | %9s | %9s | %9s | %6s | %s' % (
                c, kind, r.get('p50_us', '-'), r.get('p99_us', '-'), r.get('rps', '-'), r.get('errors', '-'), rel))
    lines += ['', 'target: on within %d%% of off (p50 and req/s): %s' % (WITHIN * 100, ', '.join(verdicts) or '-')]
    text = '\n'.join(lines) + '\n'
    print(text, end='')
    with open(os.path.join(BUILD, 'bench-sigv4.txt'), 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
