"""Per-call logs: the logs API and `nimbus logs` (by request id, and --follow)."""

import json
import signal
import subprocess
import threading
import time
import urllib.parse

from nimbus_testlib import ServerTestCase, bootstrap, fn_files, nimbus_bin, report_re, run_cli, uniq

LOGGER = bootstrap('''
while next; do
  echo "function-says-hello $REQ_ID"
  echo "function-stderr-line $REQ_ID" >&2
  respond '{"logged":true}'
done''')


class LogsTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.fn = uniq('logs')
        st, h, body, raw = cls.c.create_function(cls.fn, fn_files(LOGGER))
        if st != 201:
            raise AssertionError('CreateFunction -> %s %r' % (st, raw[:300]))

    def call(self):
        h, body = self.invoke_ok(self.fn)
        rid = h.get('x-amzn-requestid')
        self.assertTrue(rid, 'no x-amzn-RequestId')
        return rid

    def fetch(self, rid, want_report=True, timeout=5.0):
        """Logs of one call; waits (polling) until its REPORT line is there."""
        path = '/nimbus/v1/functions/%s/logs?request_id=%s' % (self.fn, urllib.parse.quote(rid))
        end = time.monotonic() + timeout
        while True:
            st, h, body, raw = self.c.api('GET', path)
            self.assertEqual(st, 200, raw[:500])
            self.assertIsInstance(body, dict, raw[:500])
            msgs = [e.get('message', '') for e in body.get('events', [])]
            if not want_report or any(m.startswith('REPORT') for m in msgs) or time.monotonic() > end:
                return body
            time.sleep(0.2)

    def test_logs_api_by_request_id_has_start_output_end_report(self):
        rid = self.call()
        body = self.fetch(rid)
        msgs = [e['message'] for e in body['events']]
        text = '\n'.join(msgs)
        idx = {}
        for key, needle in (('start', 'START RequestId: %s Version: $LATEST' % rid),
                            ('out', 'function-says-hello %s' % rid),
                            ('err', 'function-stderr-line %s' % rid),
                            ('end', 'END RequestId: %s' % rid)):
            hits = [i for i, m in enumerate(msgs) if needle in m]
            self.assertTrue(hits, '%r not in logs:\n%s' % (needle, text))
            idx[key] = hits[0]
        reports = [i for i, m in enumerate(msgs) if report_re(rid, 128).search(m)]
        self.assertTrue(reports, 'no REPORT line for %s in logs:\n%s' % (rid, text))
        self.assertLess(idx['start'], idx['out'])
        self.assertLess(idx['out'], idx['end'])
        self.assertLess(idx['end'], reports[0])

    def test_logs_api_event_fields_and_last_id(self):
        rid = self.call()
        body = self.fetch(rid)
        self.assertIn('lastId', body)
        self.assertTrue(body['events'])
        for e in body['events']:
            for k in ('id', 'timestamp', 'requestId', 'message'):
                self.assertIn(k, e, e)
            self.assertEqual(e['requestId'], rid, e)
        ids = [e['id'] for e in body['events']]
        self.assertEqual(len(set(map(str, ids))), len(ids), 'event ids are not unique: %r' % ids)

    def test_logs_api_filters_by_request_id(self):
        rid1 = self.call()
        rid2 = self.call()
        body = self.fetch(rid1)
        text = json.dumps(body)
        self.assertIn(rid1, text)
        self.assertNotIn(rid2, text)

    def test_cli_logs_by_request_id_prints_lines(self):
        rid = self.call()
        self.fetch(rid)          # wait until the server has the whole call
        p = run_cli(['logs', self.fn, '--request-id', rid, '--endpoint', self.c.url])
        out = p.stdout.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('START RequestId: %s' % rid, out)
        self.assertIn('function-says-hello %s' % rid, out)
        self.assertIn('END RequestId: %s' % rid, out)
        self.assertIn('REPORT RequestId: %s' % rid, out)

    def test_cli_logs_follow_prints_line_of_later_call(self):
        proc = subprocess.Popen([nimbus_bin(), 'logs', self.fn, '--follow', '--endpoint', self.c.url],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = []
        errs = []
        lock = threading.Lock()

        def reader(stream, sink):
            for line in iter(stream.readline, b''):
                with lock:
                    sink.append(line.decode('utf-8', 'replace'))

        threads = [threading.Thread(target=reader, args=(proc.stdout, lines), daemon=True),
                   threading.Thread(target=reader, args=(proc.stderr, errs), daemon=True)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            self.assertIsNone(proc.poll(), '`nimbus logs --follow` exited early (%s): %s'
                              % (proc.returncode, ''.join(errs)))
            rid = self.call()
            needle = 'function-says-hello %s' % rid
            end = time.monotonic() + 15
            found = False
            while time.monotonic() < end and not found:
                with lock:
                    found = any(needle in ln for ln in lines)
                if not found:
                    time.sleep(0.1)
            with lock:
                seen = ''.join(lines[-20:])
            self.assertTrue(found, '%r not printed by --follow within 15 s; stdout tail:\n%s\nstderr:\n%s'
                            % (needle, seen, ''.join(errs)))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(5)
                stopped = True
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                stopped = False
            for t in threads:
                t.join(2)
        self.assertTrue(stopped, '`nimbus logs --follow` ignored SIGINT for 5 s')
