"""bench/nimbus_bench.py — what the Python benchmarks share: a `nimbus serve` started on a fresh
data dir and stopped (SIGTERM, then SIGKILL) with its temp dir removed, JSON calls to its API,
function ZIPs built in memory, and a process's resident memory. Standard library only."""
import base64, http.client, io, json, os, re, shutil, signal, subprocess, sys, tempfile, time, zipfile


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def call(port, method, path, body=None, headers=None, timeout=120):
    """One request; a dict body is sent as JSON. Returns (status, lower-cased headers, body)."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    c.request(method, path, body=data, headers=headers or {'Content-Type': 'application/json'})
    r = c.getresponse()
    out = (r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read())
    c.close()
    return out


def loadgen(binary, url, conns, dur, warm, body, say):
    """One closed-loop loadgen run; its key=value line as a dict ({} when it measured nothing),
    its lines passed to say()."""
    cmd = [binary, '--url', url, '--connections', str(conns), '--duration', str(dur), '--warmup', str(warm),
           '--timeout', '10', '--body', body, '--header', 'Content-Type: application/json']
    p = subprocess.run(cmd, capture_output=True, timeout=dur + warm + 30)
    if p.stderr:
        say('    ' + p.stderr.decode().strip())
    out = dict(kv.split('=', 1) for kv in p.stdout.decode().split() if '=' in kv)
    say('    ' + p.stdout.decode().strip())
    return out if 'requests' in out else {}


def ratio(a, b):
    """a / b, or None when either is missing or b is 0."""
    try:
        return float(a) / float(b)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def publish(build, name, lines):
    """The table on stdout and in BUILD/NAME."""
    text = '\n'.join(lines) + '\n'
    sys.stdout.write(text)
    with open(os.path.join(build, name), 'w') as f:
        f.write(text)


def zipped(files):
    """{name: (bytes or str, mode)} -> ZIP bytes, modes kept (unix attributes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            z.writestr(info, data)
    return buf.getvalue()


def create_function(port, name, runtime, handler, files, memory=1769, env=None, timeout=30):
    """CreateFunction; exits the benchmark with the reason when it fails."""
    req = {'FunctionName': name, 'Runtime': runtime, 'Handler': handler, 'Timeout': timeout,
           'MemorySize': memory, 'Code': {'ZipFile': base64.b64encode(zipped(files)).decode()}}
    if env:
        req['Environment'] = {'Variables': env}
    st, h, raw = call(port, 'POST', '/2015-03-31/functions', req)
    if st != 201:
        raise SystemExit('bench: deploy %s failed: %s %s' % (name, st, raw[:200]))
    wait_ready(port, name, 'State', 'Active')


def wait_ready(port, name, field, value, limit=30):
    """Poll GetFunctionConfiguration until `field` is `value` (State Active after a creation,
    LastUpdateStatus Successful after an update), as the SDK's waiters do, every 5 ms."""
    end = time.monotonic() + limit
    while True:
        st, h, raw = call(port, 'GET', '/2015-03-31/functions/%s/configuration' % name)
        got = json.loads(raw).get(field) if st == 200 else None
        if got == value:
            return
        if time.monotonic() > end:
            raise SystemExit('bench: %s of %s still %r after %d s' % (field, name, got, limit))
        time.sleep(0.005)


class Served:
    """`with Served(build, [args...]) as s:` — s.port, s.pid, s.tmp (removed afterwards)."""

    def __init__(self, build, args=(), prefix='nimbus-bench.', tmp=None):
        # tmp given: that directory (its data kept for another start), not removed by stop()
        self.keep = tmp is not None
        self.tmp = tmp or tempfile.mkdtemp(prefix=prefix)
        self.proc = subprocess.Popen([os.path.join(build, 'nimbus'), 'serve', '--listen', '127.0.0.1:0',
                                      '--data-dir', os.path.join(self.tmp, 'data')] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        line = self.proc.stdout.readline().decode()
        m = re.search(r':(\d+)\s*$', line)
        if not m:
            self.stop()
            raise SystemExit('bench: nimbus serve did not start: %r' % line)
        self.port = int(m.group(1))
        self.pid = self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------
# The one summary table of `make bench`. Every benchmark appends its target rows to one TSV file
# (BUILD/bench-summary.tsv, or $BENCH_SUMMARY) while it runs; `make bench` empties it first and
# prints it as a table last, so every target of the run is in one place next to its baseline.
# Columns: name, value, unit, baseline, target, verdict (PASS, MISS, or "-" when not measured).
# From Python: summary_row(...); from sh: `python3 bench/nimbus_bench.py row BUILD NAME VALUE UNIT
# BASELINE TARGET OK` (OK: 1/0/-), `... reset BUILD`, `... table BUILD`.
SUMMARY_NAME = 'bench-summary.tsv'


def summary_path(build=None):
    if os.environ.get('BENCH_SUMMARY'):
        return os.environ['BENCH_SUMMARY']
    if build is None:
        import sys
        build = sys.argv[1] if len(sys.argv) > 1 else 'build'
    return os.path.join(build, SUMMARY_NAME)


def _cell(v):
    if v is None:
        return '-'
    if isinstance(v, float):
        return '%.3g' % v if abs(v) < 100 else '%.0f' % v
    return str(v).replace('\t', ' ').replace('\n', ' ')


def summary_row(name, value, unit, baseline, target, ok, build=None):
    """One target's row in the run's summary. value None = not measured; ok True/False/None
    (None: nothing to judge). baseline and target are short free text, e.g. 'nginx 95 µs' and
    '<= nginx p50' (say 'this run' in baseline when it was measured alongside)."""
    verdict = '-' if ok is None or value is None else ('PASS' if ok else 'MISS')
    line = '\t'.join(_cell(x) for x in (name, value, unit, baseline, target, verdict))
    with open(summary_path(build), 'a') as f:
        f.write(line + '\n')


def summary_table(build=None):
    """The summary as text (aligned columns) and the number of MISS rows."""
    try:
        with open(summary_path(build)) as f:
            rows = [l.rstrip('\n').split('\t') for l in f if l.strip()]
    except FileNotFoundError:
        rows = []
    head = ['measure', 'value', 'unit', 'baseline', 'target', 'verdict']
    rows = [(r + ['-'] * 6)[:6] for r in rows]
    w = [max(len(r[i]) for r in [head] + rows) for i in range(6)]
    fmt = lambda r: ' | '.join(c.ljust(w[i]) if i != 1 else c.rjust(w[i]) for i, c in enumerate(r)).rstrip()
    out = [fmt(head), '-+-'.join('-' * x for x in w)] + [fmt(r) for r in rows]
    misses = sum(1 for r in rows if r[5] == 'MISS')
    out += ['', 'summary: %d row(s), %d PASS, %d MISS, %d not judged' % (
        len(rows), sum(1 for r in rows if r[5] == 'PASS'), misses, sum(1 for r in rows if r[5] == '-'))]
    return '\n'.join(out), misses


if __name__ == '__main__':
    import sys
    a = sys.argv[1:]
    failed = os.path.join(a[1], 'bench-failed.txt') if len(a) > 1 else ''
    if len(a) == 2 and a[0] == 'reset':
        open(summary_path(a[1]), 'w').close()
        open(failed, 'w').close()
    elif len(a) == 2 and a[0] == 'table':
        text, _ = summary_table(a[1])
        print('\n=== make bench: summary (every row measured in this run; the machine is shared, so '
              'compare rows of one run only) ===\n' + text)
        gone = open(failed).read().split() if os.path.exists(failed) else []
        if gone:
            sys.exit('bench: these benchmarks failed (their rows are missing): ' + ' '.join(gone))
    elif len(a) == 8 and a[0] == 'row':
        ok = {'1': True, '0': False}.get(a[7])
        val = None if a[3] in ('', '-') else (float(a[3]) if re.match(r'^-?[0-9.]+$', a[3]) else a[3])
        summary_row(a[2], val, a[4], a[5], a[6], ok, build=a[1])
    else:
        sys.exit('usage: nimbus_bench.py reset BUILD | table BUILD | row BUILD NAME VALUE UNIT BASELINE TARGET OK(1/0/-)')
