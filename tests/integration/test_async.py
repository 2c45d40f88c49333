"""Asynchronous invocation end to end, against a real `nimbus serve`: events accepted (202) and
run later, in order behind a reserved concurrency, retried exactly MaximumRetryAttempts times,
aged out without running, their Lambda invocation records at function and HTTP destinations,
dead letters (a deleted function, redrive, purge), the `nimbus invoke --async`, `nimbus events`
and `nimbus dlq` commands, and no accepted event lost across a kill -9 of the server.

Lambda's retry waits (60 s, then 120 s) and throttle backoff are shrunk by
`--async-retry-scale 0.001`. The maximum event age is not scaled: its smallest legal value is
60 s, so the age test arms its event when the class's server starts (held by a reserved
concurrency of 0, so it can never run) and is the class's last test: its minute passes while
the other tests run.

What a function did is read from what only the server writes: its START/END/REPORT lines (one
set per attempt) and the lines it printed, through the logs API, and the invocation records the
server POSTs to a small HTTP server in this process (`Hook`, loopback). A function inside its
sandbox cannot reach this process's loopback, so nothing is counted from inside it.
"""

import base64
import http.client
import http.server
import json
import os
import re
import threading
import time
import urllib.parse

from nimbus_testlib import (ECHO, Server, ServerTestCase, bootstrap, fn_files, function_arn,
                            function_log_text, native_echo_bytes, run_cli, uniq, wait_for)

SCALE_ARGS = ('--async-retry-scale', '0.001')
UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
UNFINISHED = ('queued', 'running', 'retrying')

# Prints one line per run, holds its instance a moment (so later events must wait), echoes.
SLOW_ECHO = bootstrap('while next; do echo "RUN $REQ_ID"; sleep 0.2; respond_file "$T/ev"; done')

# Every call fails with an Unhandled function error.
FAIL = bootstrap(r'''
while next; do
  echo "ATTEMPT $REQ_ID"
  printf '{"errorType":"Boom","errorMessage":"always fails"}' > "$T/err"
  curl -sS -o /dev/null -X POST -H 'Lambda-Runtime-Function-Error-Type: Unhandled' \
    --data-binary @"$T/err" "$API/invocation/$REQ_ID/error"
done''')

# A destination function: prints the record it was given (base64, one line) and succeeds.
RECORDER = bootstrap('while next; do echo "RECORD $(base64 -w0 < "$T/ev")"; respond "{}"; done')


def paced_echo():
    """(files, environment) of an echo function that holds each call 20 ms: the native echo
    bootstrap built beside the binary under test when there is one (cheap on CPU, so the pace is
    its own), else the shell echo (curl per call: slower, and its pace is the machine's)."""
    native = native_echo_bytes()
    if native:
        return {'bootstrap': (native, 0o755)}, {'ECHO_HOLD_MS': '20'}
    return fn_files(ECHO), None


class Hook:
    """An HTTP destination on loopback in this process: keeps every POSTed JSON body."""

    def __init__(self):
        self.records = []
        self.cond = threading.Condition()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_POST(self):
                n = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(n)
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {'unparsable': body.decode('utf-8', 'replace')}
                with hook.cond:
                    hook.records.append((self.path, doc))
                    hook.cond.notify_all()
                self.send_response(200)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *a):
                pass

        class Quiet(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass        # a connection the killed server left half-open is no error of the test

        self.httpd = Quiet(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path='/'):
        return 'http://127.0.0.1:%d%s' % (self.httpd.server_address[1], path)

    def at(self, path):
        with self.cond:
            return [d for p, d in self.records if p == path]

    def wait(self, path, n, timeout):
        """The records POSTed to `path` once there are at least n (or when `timeout` passes)."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [d for p, d in self.records if p == path]
                left = end - time.monotonic()
                if len(got) >= n or left <= 0:
                    return got
                self.cond.wait(min(left, 0.5))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class AsyncHelpers:
    """Calls of the async APIs; `self.c` is the server's client."""

    def invoke_async(self, name, payload=b'{}', headers=None):
        h = {'X-Amz-Invocation-Type': 'Event'}
        h.update(headers or {})
        st, hd, body = self.c.invoke(name, payload, h)
        self.assertEqual(st, 202, 'async invoke %s -> %s %r' % (name, st, body[:300]))
        self.assertEqual(body, b'', 'a 202 has an empty body')
        rid = hd.get('x-amzn-requestid', '')
        self.assertRegex(rid, UUID_RE, 'headers: %r' % hd)
        return rid

    def put_config(self, name, doc, qualifier=None):
        path = '/2019-09-25/functions/%s/event-invoke-config' % name
        if qualifier:
            path += '?Qualifier=' + qualifier
        st, h, body, raw = self.c.api('PUT', path, doc)
        self.assertEqual(st, 200, 'PutFunctionEventInvokeConfig -> %s %r' % (st, raw[:300]))
        return body

    def set_reserved(self, name, n):
        st, h, body, raw = self.c.api('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                      {'ReservedConcurrentExecutions': n})
        self.assertEqual(st, 200, 'PutFunctionConcurrency -> %s %r' % (st, raw[:300]))

    def events(self, name, state=None):
        """Every event of `name` (all pages), oldest first."""
        out, marker = [], None
        while True:
            q = {'limit': '100'}
            if state:
                q['state'] = state
            if marker:
                q['after'] = marker
            path = '/nimbus/v1/functions/%s/events?%s' % (name, urllib.parse.urlencode(q))
            st, h, body, raw = self.c.api('GET', path)
            self.assertEqual(st, 200, 'GET %s -> %s %r' % (path, st, raw[:300]))
            out += body['Events']
            marker = body.get('NextMarker')
            if not marker:
                return out

    def event(self, name, rid):
        st, h, body, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events/%s' % (name, rid))
        self.assertEqual(st, 200, 'GET event %s -> %s %r' % (rid, st, raw[:300]))
        return body

    def wait_state(self, name, rid, states, timeout=30):
        """The event once its State is one of `states`; fails with its last view otherwise."""
        last = [None]

        def done():
            last[0] = self.event(name, rid)
            return last[0]['State'] in states
        if not wait_for(done, timeout, 0.1):
            self.fail('event %s never reached %s: %r' % (rid, states, last[0]))
        return last[0]

    def dead_letters(self, name):
        st, h, body, raw = self.c.api('GET', '/nimbus/v1/functions/%s/dlq?limit=100' % name)
        self.assertEqual(st, 200, 'GET dlq -> %s %r' % (st, raw[:300]))
        return body['DeadLetters']

    def log_lines(self, name, wanted=(), timeout=5.0):
        return function_log_text(self.c, name, wanted, timeout).split('\n')

    def starts(self, name, rid, want=None, timeout=5.0):
        """How many attempts (START lines) event `rid` had, polled until `want` when given."""
        needle = 'START RequestId: %s ' % rid
        n = [0]

        def count():
            n[0] = sum(1 for line in self.log_lines(name, timeout=0) if line.startswith(needle))
            return want is None or n[0] >= want
        wait_for(count, timeout, 0.2)
        return n[0]

    def recorded(self, name, timeout=20):
        """The invocation records a RECORDER function was given (decoded)."""
        out = []
        for line in self.log_lines(name, ['RECORD '], timeout):
            m = re.search(r'RECORD (\S+)', line)
            if m:
                out.append(json.loads(base64.b64decode(m.group(1))))
        return out

    def assertRecord(self, rec, rid, fn, condition, count):
        """Lambda's invocation record for event `rid` of function `fn`."""
        self.assertEqual(rec.get('version'), '1.0', rec)
        self.assertRegex(rec.get('timestamp', ''), r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$', rec)
        ctx = rec.get('requestContext', {})
        self.assertEqual(ctx.get('requestId'), rid, rec)
        self.assertEqual(ctx.get('functionArn'), function_arn(fn) + ':$LATEST', rec)
        self.assertEqual(ctx.get('condition'), condition, rec)
        self.assertEqual(ctx.get('approximateInvokeCount'), count, rec)
        return rec


class AsyncTest(AsyncHelpers, ServerTestCase):
    server_args = SCALE_ARGS

    @classmethod
    def class_setup(cls):
        cls.hook = Hook()
        # The age test's event, armed now so its minute passes while the other tests run.
        cls.aged_fn = uniq('aged')
        st, h, body, raw = cls.c.create_function(cls.aged_fn, fn_files(ECHO))
        if st != 201:
            raise AssertionError('create %s -> %s %r' % (cls.aged_fn, st, raw[:300]))
        for method, path, doc in (
                ('PUT', '/2017-10-31/functions/%s/concurrency' % cls.aged_fn, {'ReservedConcurrentExecutions': 0}),
                ('PUT', '/2019-09-25/functions/%s/event-invoke-config' % cls.aged_fn,
                 {'MaximumEventAgeInSeconds': 60, 'MaximumRetryAttempts': 2,
                  'DestinationConfig': {'OnFailure': {'Destination': cls.hook.url('/aged')}}})):
            st, h, body, raw = cls.c.api(method, path, doc)
            if st != 200:
                raise AssertionError('%s %s -> %s %r' % (method, path, st, raw[:300]))
        st, h, raw = cls.c.invoke(cls.aged_fn, b'{"old":true}', {'X-Amz-Invocation-Type': 'Event'})
        if st != 202:
            raise AssertionError('async invoke %s -> %s %r' % (cls.aged_fn, st, raw[:300]))
        cls.aged_id = h.get('x-amzn-requestid')
        cls.aged_at = time.monotonic()

    @classmethod
    def tearDownClass(cls):
        hook = getattr(cls, 'hook', None)
        if hook:
            hook.close()
        super().tearDownClass()

    # -- accept and deliver

    def test_accepted_three_ways_and_each_runs(self):
        name, _ = self.new_function(code=fn_files(ECHO))
        self.put_config(name, {'DestinationConfig': {'OnSuccess': {'Destination': self.hook.url('/three')}}})
        rid = self.invoke_async(name, b'{"way":"event"}')
        st, h, body = self.c.invoke(name, b'{"way":"fc"}', {'x-fc-invocation-type': 'Async'})
        self.assertEqual(st, 202, body[:300])
        fc_id = h.get('x-amzn-requestid', '')
        self.assertRegex(fc_id, UUID_RE, h)
        st, h, body = self.c.request('POST', '/2014-11-13/functions/%s/invoke-async/' % name,
                                     b'{"way":"legacy"}', {'Content-Type': 'application/json'})
        self.assertEqual(st, 202, body[:300])
        self.assertEqual(json.loads(body), {'Status': 202})
        recs = self.hook.wait('/three', 3, 30)
        self.assertEqual(sorted(r['requestPayload']['way'] for r in recs), ['event', 'fc', 'legacy'], recs)
        by_way = {r['requestPayload']['way']: r for r in recs}
        self.assertRecord(by_way['event'], rid, name, 'Success', 1)
        self.assertRecord(by_way['fc'], fc_id, name, 'Success', 1)
        self.assertEqual(by_way['event']['responsePayload'], {'way': 'event'})
        for r in recs:
            rc = r['requestContext']['requestId']
            ev = self.wait_state(name, rc, ('succeeded',))
            self.assertEqual(ev['Attempts'], 1, ev)
            self.assertEqual(self.starts(name, rc, 1), 1)

    def test_events_beyond_reserved_concurrency_of_one_wait_and_run_in_order(self):
        name, _ = self.new_function(code=fn_files(SLOW_ECHO))
        self.set_reserved(name, 1)
        ids = [self.invoke_async(name, json.dumps({'n': i}).encode()) for i in range(6)]
        # Six calls of 0.2 s cannot have run in the time six accepts take: they wait, not throttled.
        waiting = [e for e in self.events(name) if e['State'] == 'queued']
        self.assertGreaterEqual(len(waiting), 3, 'events should wait in the queue: %r' % self.events(name))
        for rid in ids:
            ev = self.wait_state(name, rid, ('succeeded',), timeout=60)
            self.assertEqual(ev['Attempts'], 1, ev)
            self.assertEqual(json.loads(ev['Result']), json.loads(ev['Payload']), ev)
        self.assertEqual([e['RequestId'] for e in self.events(name)], ids, 'listed oldest first')
        # One at a time and in order: START i, END i, START i+1, ...
        lines = self.log_lines(name, ['END RequestId: %s' % ids[-1]])
        seq = []
        for line in lines:
            m = re.match(r'(START|END) RequestId: (\S+)', line)
            if m and m.group(2) in ids:
                seq.append((m.group(1), m.group(2)))
        want = [(kind, rid) for rid in ids for kind in ('START', 'END')]
        self.assertEqual(seq, want, 'events must run one at a time, in the order they were accepted')

    def test_idempotency_key_makes_one_event(self):
        name, _ = self.new_function(code=fn_files(ECHO))
        key = {'X-Nimbus-Idempotency-Key': 'order-%s' % uniq('k')}
        first = self.invoke_async(name, b'{"n":1}', key)
        second = self.invoke_async(name, b'{"n":1}', key)
        self.assertEqual(second, first, 'the same key names the first event')
        other = self.invoke_async(name, b'{"n":1}')
        self.assertNotEqual(other, first)
        self.wait_state(name, first, ('succeeded',))
        self.wait_state(name, other, ('succeeded',))
        self.assertEqual(self.starts(name, first, 1), 1, 'one event, one run')
        self.assertEqual(len(self.events(name)), 2)

    # -- retries, destinations

    def test_failing_function_runs_one_plus_retries_and_its_record_reaches_the_url(self):
        name, _ = self.new_function(code=fn_files(FAIL))
        self.put_config(name, {'DestinationConfig': {'OnFailure': {'Destination': self.hook.url('/fail')}}})
        t0 = time.monotonic()
        rid = self.invoke_async(name, b'{"job":7}')
        recs = self.hook.wait('/fail', 1, 30)
        took = time.monotonic() - t0
        self.assertEqual(len(recs), 1, 'one failure record: %r' % recs)
        rec = self.assertRecord(recs[0], rid, name, 'RetriesExhausted', 3)
        self.assertLess(took, 20, 'the 60 s and 120 s retry waits must follow --async-retry-scale')
        self.assertEqual(rec['requestPayload'], {'job': 7})
        self.assertEqual(rec['responseContext'].get('statusCode'), 200, rec)
        self.assertEqual(rec['responseContext'].get('executedVersion'), '$LATEST', rec)
        self.assertEqual(rec['responseContext'].get('functionError'), 'Unhandled', rec)
        self.assertEqual(rec['responsePayload'].get('errorType'), 'Boom', rec)
        # Exactly 1 + MaximumRetryAttempts (default 2) calls, each with its own START/END/REPORT.
        time.sleep(0.5)
        text = function_log_text(self.c, name)
        for kind in ('START', 'END', 'REPORT'):
            self.assertEqual(len(re.findall(r'^%s RequestId: %s' % (kind, rid), text, re.M)), 3,
                             '%s lines of %s:\n%s' % (kind, rid, text[-3000:]))
        self.assertEqual(text.count('ATTEMPT %s' % rid), 3, text[-3000:])
        ev = self.event(name, rid)
        self.assertEqual(ev['State'], 'failed', ev)
        self.assertEqual(ev['Attempts'], 3, ev)
        self.assertEqual([a['N'] for a in ev['AttemptsDetail']], [1, 2, 3], ev)
        self.assertTrue(all(a['ErrorType'] for a in ev['AttemptsDetail']), ev)
        self.assertIn('Boom', ev['LastError'], ev)
        self.assertEqual(self.dead_letters(name), [], 'a failure the destination took is no dead letter')

    def test_no_retries_and_failure_record_to_a_function(self):
        name, _ = self.new_function(code=fn_files(FAIL))
        sink, _ = self.new_function(code=fn_files(RECORDER))
        self.put_config(name, {'MaximumRetryAttempts': 0,
                               'DestinationConfig': {'OnFailure': {'Destination': function_arn(sink)}}})
        rid = self.invoke_async(name, b'{"once":true}')
        recs = self.recorded(sink)
        self.assertEqual(len(recs), 1, recs)
        rec = self.assertRecord(recs[0], rid, name, 'RetriesExhausted', 1)
        self.assertEqual(rec['requestPayload'], {'once': True})
        self.assertEqual(rec['responseContext'].get('functionError'), 'Unhandled', rec)
        self.assertEqual(self.starts(name, rid), 1, 'MaximumRetryAttempts 0: one call only')
        # The record reached the sink as an event of its own.
        origins = [e.get('Origin', '') for e in self.events(sink)]
        self.assertEqual(len(origins), 1, origins)
        self.assertTrue(origins[0].startswith('destination'), origins)

    def test_success_record_reaches_an_on_success_function(self):
        name, _ = self.new_function(code=fn_files(ECHO))
        sink, _ = self.new_function(code=fn_files(RECORDER))
        self.put_config(name, {'DestinationConfig': {'OnSuccess': {'Destination': function_arn(sink)}}})
        rid = self.invoke_async(name, b'{"k":"v"}')
        recs = self.recorded(sink)
        self.assertEqual(len(recs), 1, recs)
        rec = self.assertRecord(recs[0], rid, name, 'Success', 1)
        self.assertEqual(rec['requestPayload'], {'k': 'v'})
        self.assertEqual(rec['responseContext'].get('statusCode'), 200, rec)
        self.assertEqual(rec['responseContext'].get('executedVersion'), '$LATEST', rec)
        self.assertNotIn('functionError', rec['responseContext'], rec)
        self.assertEqual(rec['responsePayload'], {'k': 'v'})
        ev = self.wait_state(name, rid, ('succeeded',))
        self.assertTrue(ev.get('Destination'), 'the event says where its outcome went: %r' % ev)

    # -- dead letters

    def make_dead_letters(self, n):
        """A function whose events fail at once (no retries, no destination): n dead letters."""
        name, _ = self.new_function(code=fn_files(FAIL))
        self.put_config(name, {'MaximumRetryAttempts': 0})
        ids = [self.invoke_async(name, json.dumps({'dl': i}).encode()) for i in range(n)]
        for rid in ids:
            self.wait_state(name, rid, ('dead',))
        return name, ids

    def test_failure_without_destination_is_a_dead_letter(self):
        name, ids = self.make_dead_letters(2)
        dl = self.dead_letters(name)
        self.assertEqual([d['RequestId'] for d in dl], ids)
        self.assertEqual([json.loads(d['Payload']) for d in dl], [{'dl': 0}, {'dl': 1}])
        self.assertTrue(all(d['State'] == 'dead' and 'Boom' in d['LastError'] for d in dl), dl)

    def test_redrive_runs_dead_letters_again_with_new_ids(self):
        name, ids = self.make_dead_letters(3)
        st, h, body, raw = self.c.update_code(name, fn_files(ECHO))
        self.assertEqual(st, 200, raw[:300])
        st, h, body, raw = self.c.api('POST', '/nimbus/v1/functions/%s/dlq/redrive' % name, {'RequestId': ids[0]})
        self.assertEqual((st, body), (200, {'Redriven': 1}), raw[:300])
        self.assertEqual([d['RequestId'] for d in self.dead_letters(name)], ids[1:])
        st, h, body, raw = self.c.api('POST', '/nimbus/v1/functions/%s/dlq/redrive' % name, {})
        self.assertEqual((st, body), (200, {'Redriven': 2}), raw[:300])
        self.assertEqual(self.dead_letters(name), [])
        redriven = [e for e in self.events(name) if e['RequestId'] not in ids]
        self.assertEqual(len(redriven), 3, self.events(name))
        for e in redriven:
            self.assertEqual(e.get('Origin'), 'redrive', e)
            ev = self.wait_state(name, e['RequestId'], ('succeeded',))
            self.assertEqual(json.loads(ev['Result']), json.loads(ev['Payload']))
        self.assertEqual(sorted(json.loads(self.event(name, e['RequestId'])['Payload'])['dl'] for e in redriven),
                         [0, 1, 2], 'each dead letter ran again with its own payload')

    def test_purge_empties_the_dead_letter_list(self):
        name, ids = self.make_dead_letters(3)
        st, h, body, raw = self.c.api('DELETE', '/nimbus/v1/functions/%s/dlq' % name)
        self.assertEqual((st, body), (200, {'Purged': 3}), raw[:300])
        self.assertEqual(self.dead_letters(name), [])
        st, h, body, raw = self.c.api('DELETE', '/nimbus/v1/functions/%s/dlq' % name)
        self.assertEqual((st, body), (200, {'Purged': 0}), raw[:300])

    def test_events_of_a_function_deleted_meanwhile_fail_to_the_dead_letter_list(self):
        name, _ = self.new_function(code=fn_files(ECHO))
        self.set_reserved(name, 0)       # nothing runs: the events wait
        ids = [self.invoke_async(name, b'{"orphan":%d}' % i) for i in range(2)]
        st, h, raw = self.c.request('DELETE', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 204, raw[:300])
        # The dead letters stay under the name; a function made again under it shows them.
        self.new_function(name, fn_files(ECHO))
        dl = []

        def dead():
            dl[:] = self.dead_letters(name)
            return len(dl) == 2
        self.assertTrue(wait_for(dead, 10), 'dead letters: %r' % dl)
        self.assertEqual([d['RequestId'] for d in dl], ids)
        for d in dl:
            self.assertEqual(d['State'], 'dead', d)
            self.assertTrue(d['LastError'], 'a dead letter says why: %r' % d)
            self.assertEqual(d['Attempts'], 0, 'it never ran: %r' % d)
        self.assertEqual(function_log_text(self.c, name).count('START RequestId'), 0)

    def test_unknown_function_is_404_and_nothing_is_queued(self):
        name = uniq('nosuch')
        st, h, raw = self.c.invoke(name, b'{}', {'X-Amz-Invocation-Type': 'Event'})
        self.assertJsonError(st, h, raw, 404, 'ResourceNotFoundException')
        self.new_function(name, fn_files(ECHO))
        self.assertEqual(self.events(name), [], 'the refused event must not wait for a later function')

    # -- the CLI against the real server

    def cli(self, *args, timeout=30):
        return run_cli(list(args) + ['--endpoint', self.c.url], timeout=timeout)

    def assertCliOk(self, p):
        self.assertEqual(p.returncode, 0, 'stdout %r stderr %r' % (p.stdout[-500:], p.stderr[-500:]))
        self.assertEqual(p.stderr, b'')
        return p.stdout.decode()

    def assertCliError(self, p, *needles):
        self.assertEqual(p.returncode, 1, 'stdout %r stderr %r' % (p.stdout[-500:], p.stderr[-500:]))
        self.assertEqual(p.stdout, b'')
        err = p.stderr.decode()
        self.assertEqual(err.count('\n'), 1, 'one error line: %r' % err)
        for n in needles:
            self.assertIn(n, err)
        return err

    def test_cli_invoke_async_prints_the_request_id_only(self):
        name, _ = self.new_function(code=fn_files(ECHO))
        out = self.assertCliOk(self.cli('invoke', name, '--async', '--payload', '{"cli":1}'))
        rid = out.rstrip('\n')
        self.assertEqual(out, rid + '\n')
        self.assertRegex(rid, UUID_RE)
        ev = self.wait_state(name, rid, ('succeeded',))
        self.assertEqual(json.loads(ev['Payload']), {'cli': 1})
        # The same idempotency key prints the first event's id again.
        a = self.assertCliOk(self.cli('invoke', name, '--async', '--idempotency-key', 'cli-key-1'))
        b = self.assertCliOk(self.cli('invoke', name, '--async', '--idempotency-key', 'cli-key-1'))
        self.assertEqual(a, b)
        self.assertNotEqual(a, out)
        self.assertCliError(self.cli('invoke', uniq('nosuch'), '--async'), 'nimbus invoke: ',
                            'ResourceNotFoundException')

    def test_cli_events_table_show_and_paging(self):
        name, _ = self.new_function(code=fn_files(ECHO))
        done = [self.invoke_async(name, b'{"ok":1}') for _ in range(2)]
        for rid in done:
            self.wait_state(name, rid, ('succeeded',))
        self.set_reserved(name, 0)
        held = [self.invoke_async(name, b'{"held":%d}' % i) for i in range(130)]   # two pages of 100
        out = self.assertCliOk(self.cli('events', name))
        lines = out.rstrip('\n').split('\n')
        self.assertEqual(re.split(r'\s{2,}', lines[0]), ['REQUEST ID', 'STATE', 'ATTEMPTS', 'AGE', 'LAST ERROR'])
        self.assertEqual([line.split()[0] for line in lines[1:]], done + held, 'every page, oldest first')
        first = lines[1].split()
        self.assertEqual(first[1:3], ['succeeded', '1'], lines[1])
        self.assertRegex(first[3], r'^\d+(s|m\d\ds)$', lines[1])
        self.assertEqual(first[4:], ['-'], 'a success has no last error: %r' % lines[1])
        self.assertIn(lines[-1].split()[1], ('queued', 'retrying'))
        # --state filters on the server; --limit stops early; --json is the API's objects.
        out = self.assertCliOk(self.cli('events', name, '--state', 'succeeded'))
        self.assertEqual([line.split()[0] for line in out.rstrip('\n').split('\n')[1:]], done)
        out = self.assertCliOk(self.cli('events', name, '--limit', '120'))
        self.assertEqual(len(out.rstrip('\n').split('\n')), 121)
        docs = json.loads(self.assertCliOk(self.cli('events', name, '--json')))
        self.assertEqual([d['RequestId'] for d in docs], done + held)
        self.assertEqual(docs[0]['State'], 'succeeded')
        # One event: its fields and attempts.
        out = self.assertCliOk(self.cli('events', name, done[0]))
        self.assertRegex(out, r'(?m)^RequestId +%s$' % done[0])
        self.assertRegex(out, r'(?m)^State +succeeded$')
        self.assertRegex(out, r'(?m)^Payload +\{"ok":1\}$')
        self.assertRegex(out, r'(?m)^ATTEMPT +STARTED +DURATION +ERROR$')
        self.assertRegex(out, r'(?m)^1 +\d{4}-\d\d-\d\dT\S+ +\d+\.\d\d ms +-$')
        doc = json.loads(self.assertCliOk(self.cli('events', name, done[0], '--json')))
        self.assertEqual(doc['RequestId'], done[0])
        self.assertEqual(len(doc['AttemptsDetail']), 1)
        # Cancel a waiting one; a finished one cannot be.
        out = self.assertCliOk(self.cli('events', 'cancel', name, held[0]))
        self.assertEqual(out, 'cancelled %s\n' % held[0])
        self.assertEqual(self.event(name, held[0])['State'], 'cancelled')
        self.assertCliError(self.cli('events', 'cancel', name, done[0]), 'ResourceConflictException')
        self.assertCliError(self.cli('events', name, '00000000-0000-4000-8000-000000000000'),
                            'ResourceNotFoundException')
        self.assertCliError(self.cli('events', uniq('nosuch')), 'ResourceNotFoundException')
        st, h, raw = self.c.request('DELETE', '/2015-03-31/functions/%s' % name)   # the held ones end
        self.assertEqual(st, 204, raw[:300])

    def test_cli_dlq_list_redrive_purge(self):
        name, ids = self.make_dead_letters(3)
        out = self.assertCliOk(self.cli('dlq', 'list', name))
        lines = out.rstrip('\n').split('\n')
        self.assertEqual(re.split(r'\s{2,}', lines[0]), ['REQUEST ID', 'ATTEMPTS', 'AGE', 'LAST ERROR'])
        self.assertEqual([line.split()[0] for line in lines[1:]], ids)
        self.assertTrue(all('Boom' in line for line in lines[1:]), out)
        docs = json.loads(self.assertCliOk(self.cli('dlq', 'list', name, '--json')))
        self.assertEqual([d['RequestId'] for d in docs], ids)
        st, h, body, raw = self.c.update_code(name, fn_files(ECHO))   # a redriven one now succeeds
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(self.assertCliOk(self.cli('dlq', 'redrive', name, '--id', ids[0])), 'redriven 1\n')
        self.assertEqual(self.assertCliOk(self.cli('dlq', 'purge', name)), 'purged 2\n')
        self.assertEqual(self.assertCliOk(self.cli('dlq', 'list', name)).count('\n'), 1, 'the header only')
        self.assertEqual(self.assertCliOk(self.cli('dlq', 'redrive', name)), 'redriven 0\n')
        self.assertCliError(self.cli('dlq', 'list', uniq('nosuch')), 'ResourceNotFoundException')

    # -- age (last: its event was armed when the server started)

    def test_zz_event_older_than_its_maximum_age_fails_without_running(self):
        name, rid = self.aged_fn, self.aged_id
        left = 60 + 15 - (time.monotonic() - self.aged_at)
        recs = self.hook.wait('/aged', 1, max(left, 1))
        self.assertEqual(len(recs), 1, 'no EventAgeExceeded record %.0f s after the accept: %r'
                         % (time.monotonic() - self.aged_at, self.event(name, rid)))
        self.assertGreaterEqual(time.monotonic() - self.aged_at, 59, 'failed before its maximum age')
        rec = self.assertRecord(recs[0], rid, name, 'EventAgeExceeded', 0)
        self.assertEqual(rec['requestPayload'], {'old': True})
        ev = self.event(name, rid)
        self.assertEqual((ev['State'], ev['Attempts']), ('failed', 0), ev)
        self.assertEqual(function_log_text(self.c, name).count('START RequestId'), 0, 'it never ran')


class AsyncCrashTest(AsyncHelpers, ServerTestCase):
    """kill -9 of `nimbus serve` with 1,000 events queued or running, then a restart on the same
    data directory: every accepted request id reaches the destination at least once."""

    server_args = SCALE_ARGS
    N = 1000

    def accept_many(self, name, n, conns=8):
        ids, errors, lock = [], [], threading.Lock()

        def worker(k):
            c = http.client.HTTPConnection(self.server.host, self.server.port, timeout=30)
            try:
                for i in range(k, n, conns):
                    c.request('POST', '/2015-03-31/functions/%s/invocations' % name, body=b'{"i":%d}' % i,
                              headers={'X-Amz-Invocation-Type': 'Event', 'Content-Type': 'application/json'})
                    r = c.getresponse()
                    r.read()
                    with lock:
                        if r.status == 202:
                            ids.append(r.getheader('x-amzn-RequestId'))
                        else:
                            errors.append(r.status)
            except Exception as e:       # reported below
                with lock:
                    errors.append(repr(e))
            finally:
                c.close()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [], 'every accept must answer 202')
        return ids

    def test_kill_9_with_1000_events_loses_none(self):
        hook = Hook()
        self.addCleanup(hook.close)
        code, env = paced_echo()
        name, _ = self.new_function(code=code, env=env)
        # Four at a time, 20 ms each: most of the thousand are still queued when the server dies.
        self.set_reserved(name, 4)
        self.put_config(name, {'DestinationConfig': {'OnSuccess': {'Destination': hook.url('/ok')}}})
        ids = self.accept_many(name, self.N)
        self.assertEqual(len(set(ids)), self.N)
        hook.wait('/ok', 20, 60)      # some have run; others are running right now
        old = self.server
        old.kill()                    # SIGKILL of its whole process group
        before = {r['requestContext']['requestId'] for r in hook.at('/ok')}
        self.assertLess(len(before), self.N, 'every event ran before the kill: the test proved nothing')

        again = Server(self.server_args, data_dir=old.data_dir, base_dir=old.base).start()
        again.own_base = True         # its stop removes the first server's temp dir
        type(self).server = again
        self.c = again.client()
        type(self).c = self.c

        def all_delivered():
            got = {r['requestContext']['requestId'] for r in hook.at('/ok')}
            return set(ids) <= got
        wait_for(all_delivered, 180, 0.5)
        got = {r['requestContext']['requestId'] for r in hook.at('/ok')}
        missing = set(ids) - got
        self.assertEqual(missing, set(), '%d of %d accepted events never delivered (%d before the kill)'
                         % (len(missing), self.N, len(before)))
        self.assertTrue(all(r['requestContext']['condition'] == 'Success' for r in hook.at('/ok')))
        for state in UNFINISHED:
            self.assertEqual(self.events(name, state), [], 'nothing left %s' % state)


if __name__ == '__main__':
    import unittest
    unittest.main()
