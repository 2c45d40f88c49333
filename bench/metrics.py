#!/usr/bin/python3
"""bench/metrics.py BUILD_DIR — what metrics cost the warm path: the warm echo benchmark with and
without a real Prometheus scraping GET /metrics every second, in one run.

One `nimbus serve`, one function (the native echo bootstrap, bench/bootstrap_native, 1769 MB).
The same loadgen, the same body, the same connections, alternately per connection count:
  off  nobody scrapes (the counters still count: they cannot be turned off);
  on   Debian's prometheus, started for the row with its own config (scrape_interval 1s,
       --web.listen-address on a free loopback port, storage in a temp dir), scraping the
       daemon's /metrics during the whole row (warmup included);
each twice (off, on, off, on), so the two rows of a kind show the noise. Prints p50/p99 and
requests/s per row, the ratios on/off of the means, the noise (the two rows of a kind against each
other), and the scrapes Prometheus made. The target (no loss beyond the noise) is reported, never
asserted. Writes BUILD_DIR/bench-metrics.txt. Knobs: BENCH_DURATION (s, default 5), BENCH_WARMUP
(s, default 2), BENCH_CONNECTIONS (default "1 64").
"""
import json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request

from nimbus_bench import Served, call, create_function

BUILD = sys.argv[1] if len(sys.argv) > 1 else 'build'
LOADGEN = os.path.join(BUILD, 'bench', 'loadgen')
NATIVE = os.path.join(BUILD, 'bench', 'bootstrap_native')
PROMETHEUS = shutil.which('prometheus') or '/usr/bin/prometheus'
DUR = float(os.environ.get('BENCH_DURATION', '5'))
WARM = float(os.environ.get('BENCH_WARMUP', '2'))
CONNS = [int(c) for c in os.environ.get('BENCH_CONNECTIONS', '1 64').split()]
BODY = '{"hello":"world"}'


def say(msg):
    print('bench: ' + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def loadgen(url, conns):
    cmd = [LOADGEN, '--url', url, '--connections', str(conns), '--duration', str(DUR), '--warmup', str(WARM),
           '--timeout', '10', '--body', BODY, '--header', 'Content-Type: application/json']
    p = subprocess.run(cmd, capture_output=True, timeout=DUR + WARM + 30)
    if p.stderr:
        say('    ' + p.stderr.decode().strip())
    out = dict(kv.split('=', 1) for kv in p.stdout.decode().split() if '=' in kv)
    say('    ' + p.stdout.decode().strip())
    return out if 'requests' in out else {}


class Prometheus:
    """A Prometheus of our own scraping 127.0.0.1:<target> every second."""

    def __init__(self, target):
        self.dir = tempfile.mkdtemp(prefix='nimbus-prombench.')
        self.port = free_port()
        cfg = os.path.join(self.dir, 'prometheus.yml')
        with open(cfg, 'w') as f:
            f.write('global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n'
                    '  - job_name: nimbus\n    static_configs:\n      - targets: ["127.0.0.1:%d"]\n' % target)
        self.proc = subprocess.Popen([PROMETHEUS, '--config.file=' + cfg,
                                      '--web.listen-address=127.0.0.1:%d' % self.port,
                                      '--storage.tsdb.path=' + os.path.join(self.dir, 'data')],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def query(self, q):
        url = 'http://127.0.0.1:%d/api/v1/query?%s' % (self.port, urllib.parse.urlencode({'query': q}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                res = json.loads(r.read())['data']['result']
                return float(res[0]['value'][1]) if res else None
        except (OSError, ValueError, KeyError, IndexError):
            return None

    def wait_scraping(self, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.query('up{job="nimbus"}') == 1:
                return True
            time.sleep(0.2)
        return False

    def scrapes(self, seconds):
        return self.query('count_over_time(up{job="nimbus"}[%ds])' % seconds)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def mean(rows, key):
    v = [float(r[key]) for r in rows if key in r]
    return sum(v) / len(v) if len(v) == len(rows) and v else None


def rel(a, b):
    return '%.3f' % (a / b) if a is not None and b else '-'


def main():
    for f in (LOADGEN, NATIVE, PROMETHEUS):
        if not os.access(f, os.X_OK):
            sys.exit('bench: missing %s (make build; scripts/deps.sh installs prometheus)' % f)
    native = open(NATIVE, 'rb').read()
    rows, scrapes = {}, {}
    with Served(BUILD, prefix='nimbus-metricsbench.') as srv:
        port = srv.port
        create_function(port, 'bench-echo', 'provided', 'bench.handler', {'bootstrap': (native, 0o755)})
        st, h, raw = call(port, 'POST', '/2015-03-31/functions/bench-echo/invocations', BODY.encode())
        if st != 200:
            sys.exit('bench: warm-up invoke failed: %s %r' % (st, raw[:200]))
        url = 'http://127.0.0.1:%d/2015-03-31/functions/bench-echo/invocations' % port
        for c in CONNS:
            for rep in (1, 2):
                for kind in ('off', 'on'):
                    prom = None
                    if kind == 'on':
                        prom = Prometheus(port)
                        if not prom.wait_scraping():
                            prom.stop()
                            sys.exit('bench: prometheus never scraped the daemon')
                    say('%s #%d: %d connection(s), %g s (+%g s warmup)' % (kind, rep, c, DUR, WARM))
                    t0 = time.monotonic()
                    rows[(kind, rep, c)] = loadgen(url, c)
                    if prom:
                        scrapes[(rep, c)] = prom.scrapes(int(time.monotonic() - t0 + 0.5))
                        prom.stop()

    lines = ['Nimbus metrics benchmark  %s  %d CPUs, %g s per run (+%g s warmup), body %s' %
             (time.strftime('%Y-%m-%d %H:%M:%S'), os.cpu_count() or 0, DUR, WARM, BODY),
             'warm echo Invoke (native bootstrap); off = nobody scrapes, on = a real Prometheus scrapes',
             '/metrics every 1 s; order off, on, off, on per connection count.', '',
             '%-6s | %-4s | %2s | %9s | %9s | %9s | %6s | %s' % ('conns', 'kind', '#', 'p50 µs', 'p99 µs', 'req/s',
                                                               'errors', 'scrapes'),
             '-' * 6 + '-+-' + '-+-'.join('-' * w for w in (4, 2, 9, 9, 9, 6, 7))]
    summary = []
    for c in CONNS:
        for rep in (1, 2):
            for kind in ('off', 'on'):
                r = rows.get((kind, rep, c), {})
                sc = scrapes.get((rep, c)) if kind == 'on' else None
                lines.append('%-6d | %-4s | %2d | %9s | %9s | %9s | %6s | %s' % (
                    c, kind, rep, r.get('p50_us', '-'), r.get('p99_us', '-'), r.get('rps', '-'),
                    r.get('errors', '-'), '%d' % sc if sc is not None else '-'))
        off = [rows.get(('off', i, c), {}) for i in (1, 2)]
        on = [rows.get(('on', i, c), {}) for i in (1, 2)]
        p50 = rel(mean(on, 'p50_us'), mean(off, 'p50_us'))
        rps = rel(mean(on, 'rps'), mean(off, 'rps'))
        noise = []
        for key in ('p50_us', 'rps'):
            for pair in (off, on):
                a, b = (mean([x], key) for x in pair)
                if a is not None and b:
                    noise.append(abs(a / b - 1))
        nmax = max(noise) if noise else None
        verdict = '-'
        try:
            loss = max(float(p50) - 1, 1 - float(rps))
            verdict = 'PASS' if nmax is not None and loss <= max(nmax, 0.02) else 'MISS'
        except ValueError:
            pass
        summary.append('%d conn: on/off p50 x%s, req/s x%s; noise (same kind, run 1 vs 2) up to %s; %s' % (
            c, p50, rps, '%.1f%%' % (nmax * 100) if nmax is not None else '-', verdict))
    lines += [''] + summary + ['', 'target: no loss beyond the noise (a loss within the larger of the noise '
                                   'and 2% passes)']
    text = '\n'.join(lines) + '\n'
    sys.stdout.write(text)
    with open(os.path.join(BUILD, 'bench-metrics.txt'), 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
