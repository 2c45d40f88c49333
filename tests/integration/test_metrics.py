"""Metrics: the console's history (/nimbus/v1/metrics/functions and
/nimbus/v1/functions/NAME/metrics), the Prometheus page (/metrics) checked by
Debian's promtool and scraped by a real Prometheus server, and
`nimbus serve --log-format json`."""
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import unittest
import urllib.request

from nimbus_testlib import (ECHO, Server, ServerTestCase, bootstrap, fn_files, free_port, uniq,
                            wait_for)

FAIL = bootstrap(r'''while next; do
  printf '{"errorMessage":"boom","errorType":"MyError"}' > "$T/err"
  curl -sS -o /dev/null -X POST --data-binary @"$T/err" "$API/invocation/$REQ_ID/error"
done''')
SLOW = bootstrap('while next; do sleep 5; respond "{}"; done')
CRASH = bootstrap('next; exit 3')

ISO_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')


def iso(s):
    return datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)


class MetricsTestCase(ServerTestCase):
    def put_concurrency(self, name, n):
        st, h, doc, raw = self.c.api('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                     {'ReservedConcurrentExecutions': n})
        self.assertEqual(st, 200, raw[:300])

    def history(self, name, query=''):
        st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/metrics%s' % (name, query))
        self.assertEqual(st, 200, raw[:300])
        return doc

    def summary(self, name):
        st, h, doc, raw = self.c.api('GET', '/nimbus/v1/metrics/functions')
        self.assertEqual(st, 200, raw[:300])
        rows = [f for f in doc['Functions'] if f['FunctionName'] == name]
        self.assertEqual(len(rows), 1, doc)
        return rows[0]


class HistoryTest(MetricsTestCase):
    def test_summary_counts_calls_errors_throttles_cold_starts(self):
        name, _ = self.new_function(uniq('hsum'), fn_files(ECHO))
        row = self.summary(name)
        self.assertEqual(row, {'FunctionName': name, 'LastInvoked': None, 'Invocations1h': 0, 'Errors1h': 0,
                               'Throttles1h': 0, 'ColdStarts1h': 0})
        before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        for _ in range(3):
            self.invoke_ok(name)
        bad, _ = self.new_function(uniq('hbad'), fn_files(FAIL))
        for _ in range(2):
            st, h, body = self.c.invoke(bad)
            self.assertEqual(h.get('x-amz-function-error'), 'Unhandled')
        self.put_concurrency(name, 0)
        st, h, body = self.c.invoke(name)
        self.assertEqual(st, 429, body)
        row = self.summary(name)
        self.assertEqual(row['Invocations1h'], 3)
        self.assertEqual(row['Errors1h'], 0)
        self.assertEqual(row['Throttles1h'], 1)
        self.assertEqual(row['ColdStarts1h'], 1)
        self.assertRegex(row['LastInvoked'], ISO_RE)
        self.assertGreaterEqual(iso(row['LastInvoked']), before)
        row = self.summary(bad)
        self.assertEqual((row['Invocations1h'], row['Errors1h'], row['ColdStarts1h']), (2, 2, 1))

    def test_points_cover_the_window_and_hold_the_calls(self):
        name, _ = self.new_function(uniq('hpts'), fn_files(ECHO))
        for _ in range(4):
            self.invoke_ok(name)
        doc = self.history(name)
        self.assertEqual(doc['FunctionName'], name)
        self.assertEqual(doc['Step'], 10)
        pts = doc['Points']
        self.assertEqual(len(pts), 360)
        self.assertEqual(doc['Start'], pts[0]['Time'])
        times = [iso(p['Time']) for p in pts]
        for a, b in zip(times, times[1:]):
            self.assertEqual((b - a).total_seconds(), 10)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLessEqual(times[-1], now)
        self.assertLess((now - times[-1]).total_seconds(), 20)
        self.assertEqual(sum(p['Invocations'] for p in pts), 4)
        self.assertEqual(sum(p['ColdStarts'] for p in pts), 1)
        with_calls = [p for p in pts if p['Invocations']]
        for p in with_calls:
            self.assertIsInstance(p['DurationP50Ms'], (int, float))
            self.assertGreater(p['DurationP50Ms'], 0)
            self.assertGreaterEqual(p['DurationP99Ms'], p['DurationP50Ms'])
        for p in pts:
            if not p['Invocations']:
                self.assertIsNone(p['DurationP50Ms'])
                self.assertIsNone(p['DurationP99Ms'])
        self.assertEqual(set(pts[0]), {'Time', 'Invocations', 'Errors', 'Throttles', 'ColdStarts',
                                       'DurationP50Ms', 'DurationP99Ms'})

    def test_step_and_minutes(self):
        name, _ = self.new_function(uniq('hstep'), fn_files(ECHO))
        self.invoke_ok(name)
        doc = self.history(name, '?minutes=5&step=60')
        self.assertEqual(doc['Step'], 60)
        self.assertEqual(len(doc['Points']), 5)
        self.assertEqual(sum(p['Invocations'] for p in doc['Points']), 1)
        t = [iso(p['Time']) for p in doc['Points']]
        self.assertEqual((t[1] - t[0]).total_seconds(), 60)
        self.assertEqual(len(self.history(name, '?minutes=1')['Points']), 6)

    def test_bad_parameters_are_400(self):
        name, _ = self.new_function(uniq('hbadq'), fn_files(ECHO))
        for q in ('?minutes=61', '?minutes=0', '?minutes=x', '?step=15', '?step=0', '?step=-10', '?step=abc'):
            st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/metrics%s' % (name, q))
            self.assertJsonError(st, h, raw, 400, 'InvalidParameterValueException')

    def test_unknown_function_is_404(self):
        st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/metrics' % uniq('nosuch'))
        self.assertJsonError(st, h, raw, 404, 'ResourceNotFoundException')


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_page(text):
    """[(name, {label: value}, float)] of every sample; HELP/TYPE lines checked to come first."""
    out = []
    typed = {}
    for line in text.splitlines():
        if line.startswith('# TYPE '):
            _, _, name, kind = line.split(' ', 3)
            typed[name] = kind
            continue
        if line.startswith('#') or not line:
            continue
        m = SAMPLE_RE.match(line)
        assert m, 'not a sample line: %r' % line
        labels = dict((k, v.encode().decode('unicode_escape')) for k, v in LABEL_RE.findall(m.group(2) or ''))
        out.append((m.group(1), labels, float(m.group(3))))
    return out, typed


class PageTest(MetricsTestCase):
    server_args = ('--throttle-wait-ms', '300')

    def page(self):
        st, h, body = self.c.request('GET', '/metrics')
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
        return body.decode()

    def value(self, samples, name, **labels):
        got = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
        self.assertEqual(len(got), 1, '%s %r: %r' % (name, labels, got))
        return got[0]

    def outcomes(self, samples, fn):
        return {l['outcome']: v for n, l, v in samples
                if n == 'nimbus_invocations_total' and l['function'] == fn and l['version'] == '$LATEST'}

    def test_counters_move_with_success_error_timeout_crash_throttle(self):
        ok, _ = self.new_function(uniq('mok'), fn_files(ECHO))
        bad, _ = self.new_function(uniq('mbad'), fn_files(FAIL))
        slow, _ = self.new_function(uniq('mslow'), fn_files(SLOW), timeout=1)
        crash, _ = self.new_function(uniq('mcrash'), fn_files(CRASH))
        samples, _ = parse_page(self.page())
        self.assertEqual(set(self.outcomes(samples, ok).values()), {0})
        for _ in range(3):
            self.invoke_ok(ok)
        for _ in range(2):
            st, h, body = self.c.invoke(bad)
            self.assertFunctionError(h, body, 'MyError')
        st, h, body = self.c.invoke(slow)
        self.assertFunctionError(h, body, 'Sandbox.Timedout')
        st, h, body = self.c.invoke(crash)
        self.assertFunctionError(h, body, 'Runtime.ExitError')
        self.put_concurrency(ok, 0)
        st, h, body = self.c.invoke(ok)
        self.assertEqual(st, 429, body)
        samples, _ = parse_page(self.page())
        zero = dict.fromkeys(('success', 'function_error', 'timeout', 'throttle', 'crash', 'oom'), 0)
        self.assertEqual(self.outcomes(samples, ok), dict(zero, success=3, throttle=1))
        self.assertEqual(self.outcomes(samples, bad), dict(zero, function_error=2))
        self.assertEqual(self.outcomes(samples, slow), dict(zero, timeout=1))
        self.assertEqual(self.outcomes(samples, crash), dict(zero, crash=1))
        self.assertEqual(self.value(samples, 'nimbus_throttles_total', function=ok,
                                    reason='reserved_concurrency'), 1)
        self.assertEqual(self.value(samples, 'nimbus_cold_starts_total', function=ok, version='$LATEST'), 1)
        self.assertEqual(self.value(samples, 'nimbus_cold_starts_total', function=bad, version='$LATEST'), 1)
        for fn, calls in ((ok, 3), (bad, 2), (slow, 1), (crash, 1)):
            self.assertEqual(self.value(samples, 'nimbus_invocation_duration_seconds_count', function=fn), calls)
        # The slow call ran its whole second before its timeout.
        self.assertEqual(self.value(samples, 'nimbus_invocation_duration_seconds_bucket', function=slow, le='0.5'), 0)
        self.assertEqual(self.value(samples, 'nimbus_invocation_duration_seconds_bucket', function=slow, le='2.5'), 1)
        # Each cold start's sandbox phase is observed once.
        self.assertEqual(self.value(samples, 'nimbus_init_duration_seconds_count', function=ok, phase='sandbox'), 1)

    def test_throttle_by_waiting_over_reserved_concurrency(self):
        slow, _ = self.new_function(uniq('mwait'), fn_files(bootstrap('while next; do sleep 1; respond "{}"; done')),
                                    timeout=5)
        self.put_concurrency(slow, 1)
        res = {}

        def first():
            res['first'] = self.c.invoke(slow)
        import threading
        t = threading.Thread(target=first)
        t.start()
        self.assertTrue(wait_for(lambda: self.value(parse_page(self.page())[0], 'nimbus_concurrent_executions',
                                                    function=slow, version='$LATEST') == 1, 10))
        st, h, body = self.c.invoke(slow)
        self.assertEqual(st, 429, body)
        t.join(15)
        self.assertEqual(res['first'][0], 200)
        samples, _ = parse_page(self.page())
        self.assertEqual(self.value(samples, 'nimbus_throttles_total', function=slow, version='$LATEST',
                                    reason='reserved_concurrency'), 1)
        self.assertEqual(self.outcomes(samples, slow)['throttle'], 1)
        self.assertEqual(self.outcomes(samples, slow)['success'], 1)

    def test_histograms_are_cumulative_and_count_is_inf_bucket(self):
        fn, _ = self.new_function(uniq('mhist'), fn_files(ECHO))
        for _ in range(5):
            self.invoke_ok(fn)
        samples, typed = parse_page(self.page())
        hists = [n for n, k in typed.items() if k == 'histogram']
        self.assertIn('nimbus_invocation_duration_seconds', hists)
        self.assertIn('nimbus_init_duration_seconds', hists)
        self.assertIn('nimbus_store_write_duration_seconds', hists)
        checked = 0
        for h in hists:
            series = {}
            for n, l, v in samples:
                if n == h + '_bucket':
                    key = tuple(sorted((k, x) for k, x in l.items() if k != 'le'))
                    series.setdefault(key, []).append((l['le'], v))
            for key, buckets in series.items():
                les = [float(le) for le, _ in buckets]
                self.assertEqual(buckets[-1][0], '+Inf')
                self.assertEqual(les, sorted(les))
                counts = [v for _, v in buckets]
                self.assertEqual(counts, sorted(counts), '%s %r not cumulative' % (h, key))
                count = [v for n, l, v in samples if n == h + '_count'
                         and tuple(sorted(l.items())) == key]
                self.assertEqual(count, [counts[-1]], '%s %r' % (h, key))
                checked += 1
        self.assertGreater(checked, 5)
        self.assertEqual(self.value(samples, 'nimbus_invocation_duration_seconds_count', function=fn), 5)
        self.assertGreater(self.value(samples, 'nimbus_invocation_duration_seconds_sum', function=fn), 0)

    def test_daemon_figures(self):
        samples, typed = parse_page(self.page())
        rss = self.value(samples, 'process_resident_memory_bytes')
        self.assertGreater(rss, 1 << 20)
        fds = self.value(samples, 'process_open_fds')
        if not self.server.wrapper:
            # Counted at the scrape; a connection or two may come and go around it.
            self.assertLessEqual(abs(fds - len(os.listdir('/proc/%d/fd' % self.server.proc.pid))), 3)
        self.assertGreater(fds, 3)
        self.assertGreaterEqual(self.value(samples, 'nimbus_http_open_connections'), 1)
        acc = self.value(samples, 'nimbus_http_connections_total')
        samples, _ = parse_page(self.page())
        self.assertEqual(self.value(samples, 'nimbus_http_connections_total'), acc + 1)
        self.assertEqual(typed['nimbus_http_connections_total'], 'counter')
        self.assertEqual(typed['process_open_fds'], 'gauge')

    def test_promtool_accepts_the_page(self):
        promtool = shutil.which('promtool') or '/usr/bin/promtool'
        if not os.path.exists(promtool):
            self.skipTest('promtool not installed (scripts/deps.sh installs prometheus)')
        fn, _ = self.new_function(uniq('mprom'), fn_files(ECHO))
        self.invoke_ok(fn)
        page = self.page()
        r = subprocess.run([promtool, 'check', 'metrics'], input=page.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode()[:3000])
        self.assertEqual(r.stdout.decode().strip(), '', 'lint problems: %s' % r.stdout.decode()[:3000])


class PrometheusScrapeTest(MetricsTestCase):
    """A real Prometheus server (Debian's), started by the test on its own port and data
    directory, scrapes the daemon every second; its query API returns our series."""

    def setUp(self):
        super().setUp()
        self.prom = shutil.which('prometheus') or '/usr/bin/prometheus'
        if not os.path.exists(self.prom):
            self.skipTest('prometheus not installed (scripts/deps.sh installs it)')
        self.dir = tempfile.mkdtemp(prefix='nimbus-prom-')
        self.port = free_port()
        cfg = os.path.join(self.dir, 'prometheus.yml')
        with open(cfg, 'w') as f:
            f.write('global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n'
                    'scrape_configs:\n  - job_name: nimbus\n    static_configs:\n'
                    '      - targets: ["%s:%d"]\n' % (self.server.host, self.server.port))
        self.log = open(os.path.join(self.dir, 'prometheus.log'), 'wb')
        self.proc = subprocess.Popen([self.prom, '--config.file=' + cfg,
                                      '--web.listen-address=127.0.0.1:%d' % self.port,
                                      '--storage.tsdb.path=' + os.path.join(self.dir, 'data')],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def tearDown(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        super().tearDown()

    def query(self, q):
        url = 'http://127.0.0.1:%d/api/v1/query?%s' % (self.port, urllib.parse.urlencode({'query': q}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            return None

    def prom_log(self):
        with open(os.path.join(self.dir, 'prometheus.log'), 'rb') as f:
            return f.read()[-3000:].decode(errors='replace')

    def test_prometheus_scrapes_our_series(self):
        fn, _ = self.new_function(uniq('mscrape'), fn_files(ECHO))
        for _ in range(2):
            self.invoke_ok(fn)
        q = 'nimbus_invocations_total{function="%s",outcome="success"}' % fn

        def scraped():
            doc = self.query(q)
            if not doc or doc.get('status') != 'success' or not doc['data']['result']:
                return None
            return doc['data']['result']
        # Prometheus' first scrape comes within a second of its start; the wait only bounds a
        # machine that is very slow, the test's answer does not depend on it.
        res = wait_for(scraped, timeout=90, interval=0.5)
        self.assertTrue(res, 'no series from Prometheus; its log: %s' % self.prom_log())
        self.assertEqual(len(res), 1, res)
        self.assertEqual(res[0]['metric']['version'], '$LATEST')
        self.assertEqual(res[0]['metric']['job'], 'nimbus')
        self.assertEqual(res[0]['value'][1], '2')
        self.invoke_ok(fn)
        self.assertTrue(wait_for(lambda: (scraped() or [{'value': [0, '']}])[0]['value'][1] == '3', 90, 0.5),
                        'the third call never reached Prometheus: %r' % scraped())
        # Its target is healthy: every scrape parsed.
        up = self.query('up{job="nimbus"}')
        self.assertEqual(up['data']['result'][0]['value'][1], '1', up)
        hist = self.query('sum(nimbus_invocation_duration_seconds_count{function="%s"})' % fn)
        self.assertEqual(hist['data']['result'][0]['value'][1], '3', hist)


class LogFormatTest(unittest.TestCase):
    """`nimbus serve --log-format json`: every line the daemon logs (stderr) is one JSON
    object with time, level and msg; text stays the default."""

    def test_json_log_lines(self):
        from nimbus_testlib import nimbus_bin
        s = Server(['--log-format', 'json', '--insecure-no-sandbox', '--sandbox-pool', '0']).start()
        try:
            c = s.client()
            st, h, doc, raw = c.create_function(uniq('jlog'), fn_files(ECHO))
            self.assertEqual(st, 201, raw[:300])
        finally:
            rc = s.terminate()
            s.cleanup()
        self.assertEqual(rc, 0, s.stderr_text()[-2000:])
        lines = [l for l in s.stderr_text().splitlines() if l]
        # At least the no-sandbox warning and the signal's line.
        self.assertGreaterEqual(len(lines), 2, lines)
        for line in lines:
            doc = json.loads(line)   # a line that is not JSON fails here
            self.assertEqual(list(doc)[:2], ['time', 'level'], line)
            self.assertRegex(doc['time'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
            self.assertIn(doc['level'], ('debug', 'info', 'warn', 'error'))
            self.assertIsInstance(doc['msg'], str)
        levels = {json.loads(l)['level'] for l in lines}
        self.assertIn('warn', levels)
        self.assertIn('info', levels)
        self.assertTrue(any('insecure-no-sandbox' in json.loads(l)['msg'] for l in lines), lines)
        self.assertTrue(any('received' in json.loads(l)['msg'] for l in lines), lines)
        r = subprocess.run([nimbus_bin(), 'serve', '--log-format', 'yaml'], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.decode().strip(), "nimbus serve: --log-format wants text or json, got 'yaml'")

    def test_text_is_the_default(self):
        s = Server(['--insecure-no-sandbox', '--sandbox-pool', '0']).start()
        try:
            pass
        finally:
            rc = s.terminate()
            s.cleanup()
        self.assertEqual(rc, 0)
        lines = [l for l in s.stderr_text().splitlines() if l]
        self.assertTrue(lines)
        for line in lines:
            self.assertTrue(line.startswith('nimbus'), line)
            self.assertFalse(line.startswith('{'), line)
