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
