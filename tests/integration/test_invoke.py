"""Invoke API: payloads, headers, limits, log tail, memory reporting, function errors."""

import base64
import json
import re

from nimbus_testlib import (COUNTER, ServerTestCase, bootstrap, decode_log_result, echo_files,
                            fn_files, report_re, send_streaming_and_read, uniq)

BINARY = bytes(range(256))

BINARY_BOOTSTRAP = bootstrap('''
while next; do
  printf '%%s' '%s' | base64 -d > "$T/bin"
  respond_file "$T/bin" application/octet-stream
done''' % base64.b64encode(BINARY).decode())

LOGGING_BOOTSTRAP = bootstrap('''
while next; do
  echo "stdout-line-from-function $REQ_ID"
  echo "stderr-line-from-function" >&2
  respond '{"ok":true}'
done''')

NOISY_BOOTSTRAP = bootstrap('''
while next; do
  i=0
  while [ $i -lt 200 ]; do echo "noisy line $i padding padding padding padding padding"; i=$((i+1)); done
  respond '{"ok":true}'
done''')

BIG_MEMORY_BOOTSTRAP = '''#!/bin/bash
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  REQ_ID=$(curl -sS -D - -o /dev/null "$API/invocation/next" | grep -i '^lambda-runtime-aws-request-id:' | cut -d: -f2- | tr -d ' \\r')
  [ -n "$REQ_ID" ] || exit 1
  x=$(head -c 60000000 /dev/zero | tr '\\0' a)
  curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary "{\\"len\\":${#x}}" "$API/invocation/$REQ_ID/response"
  unset x
done
'''

ERROR_BOOTSTRAP = bootstrap('''
while next; do
  printf '%s' '{"errorMessage":"boom","errorType":"MyError"}' > "$T/err"
  if [ "$EVENT" = '{"with_header":true}' ]; then
    curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' \\
      -H 'Lambda-Runtime-Function-Error-Type: MyError' --data-binary @"$T/err" "$API/invocation/$REQ_ID/error"
  else
    curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' \\
      --data-binary @"$T/err" "$API/invocation/$REQ_ID/error"
  fi
done''')

MAX_MEM_RE = re.compile(r'Max Memory Used: (\d+) MB')


class InvokeTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.echo = uniq('echo')
        st, h, body, raw = cls.c.create_function(cls.echo, echo_files(), timeout=30)
        if st != 201:
            raise AssertionError('CreateFunction -> %s %r' % (st, raw[:300]))

    # ---- payloads

    def test_json_payload_echoed_byte_exact(self):
        payload = b'{"hello": "world",  "n":[1,2,3], "nested":{"a":null,"b":true}}'
        h, body = self.invoke_ok(self.echo, payload)
        self.assertEqual(body, payload)

    def test_unicode_payload_echoed_byte_exact(self):
        payload = json.dumps({'text': 'h\u00e9llo \U0001F30D \u65e5\u672c\u8a9e \u2713 \U0001F600'},
                             ensure_ascii=False).encode('utf-8')
        h, body = self.invoke_ok(self.echo, payload)
        self.assertEqual(body, payload)

    def test_binary_response_bytes_0_to_255_exact(self):
        name, _ = self.new_function(uniq('binary'), fn_files(BINARY_BOOTSTRAP))
        h, body = self.invoke_ok(name)
        self.assertEqual(body, BINARY)

    def test_binary_response_answered_as_lambda_does(self):
        # Lambda's Invoke answers application/json whatever the runtime
        # posted (the bytes stay exact); only a function URL passes a type on.
        name, _ = self.new_function(uniq('binary-ct'), fn_files(BINARY_BOOTSTRAP))
        h, body = self.invoke_ok(name)
        self.assertEqual(body, BINARY)
        self.assertEqual(h.get('content-type'), 'application/json')

    def test_payload_near_6mb_echoed_intact(self):
        payload = b'"' + b'a' * 5999998 + b'"'
        h, body = self.invoke_ok(self.echo, payload, timeout=120)
        self.assertEqual(len(body), len(payload))
        self.assertEqual(body, payload)

    def test_empty_body_accepted(self):
        st, h, body = self.c.invoke(self.echo, b'')
        self.assertEqual(st, 200, body[:300])
        self.assertNotIn('x-amz-function-error', h, body[:300])

    def test_executed_version_header_latest(self):
        h, body = self.invoke_ok(self.echo)
        self.assertEqual(h.get('x-amz-executed-version'), '$LATEST')

    def test_request_id_header_present(self):
        h, body = self.invoke_ok(self.echo)
        self.assertRegex(h.get('x-amzn-requestid', ''), r'^[0-9a-fA-F-]{16,}$')

    # ---- invocation types and errors

    def test_dry_run_204_and_function_does_not_run(self):
        name, _ = self.new_function(uniq('dryrun'), fn_files(COUNTER))
        st, h, body = self.c.invoke(name, b'{}', {'X-Amz-Invocation-Type': 'DryRun'})
        self.assertEqual(st, 204, body[:300])
        self.assertEqual(body, b'')
        h, body = self.invoke_ok(name)
        self.assertEqual(body, b'1', 'the DryRun reached the function')

    def test_explicit_request_response_type_works(self):
        h, body = self.invoke_ok(self.echo, b'{"t":1}', {'X-Amz-Invocation-Type': 'RequestResponse'})
        self.assertEqual(body, b'{"t":1}')

    def test_body_over_6mb_413(self):
        n = 6291457
        head = (b'POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: x\r\n'
                b'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n' % (self.echo.encode(), n))
        st, h, body = send_streaming_and_read(self.server.host, self.server.port, head, n)
        self.assertEqual(st, 413, body[:300])

    def test_body_of_exactly_6mib_accepted(self):
        payload = b'"' + b'c' * (6291456 - 2) + b'"'
        h, body = self.invoke_ok(self.echo, payload, timeout=120)
        self.assertEqual(len(body), 6291456)
        self.assertEqual(body, payload)

    def test_non_json_body_400_invalid_request_content(self):
        st, h, body = self.c.invoke(self.echo, b'not json{')
        self.assertJsonError(st, h, body, 400, 'InvalidRequestContentException')

    def test_unknown_function_404(self):
        st, h, body = self.c.invoke(uniq('nosuch'), b'{}')
        self.assertJsonError(st, h, body, 404, 'ResourceNotFoundException')
        self.assertIn('Message', json.loads(body))

    def test_function_error_without_error_type_header(self):
        name, _ = self.new_function(uniq('fnerr'), fn_files(ERROR_BOOTSTRAP))
        st, h, body = self.c.invoke(name, b'{"with_header":false}')
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', h)
        self.assertEqual(body, b'{"errorMessage":"boom","errorType":"MyError"}')

    def test_function_error_with_error_type_header(self):
        name, _ = self.new_function(uniq('fnerr-h'), fn_files(ERROR_BOOTSTRAP))
        st, h, body = self.c.invoke(name, b'{"with_header":true}')
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', h)
        self.assertEqual(body, b'{"errorMessage":"boom","errorType":"MyError"}')

    def test_function_error_then_success_on_same_function(self):
        script = bootstrap('''
while next; do
  if [ "$EVENT" = '"fail"' ]; then
    curl -sS -o /dev/null -X POST --data-binary '{"errorMessage":"x","errorType":"E"}' "$API/invocation/$REQ_ID/error"
  else
    respond '"fine"'
  fi
done''')
        name, _ = self.new_function(uniq('errthenok'), fn_files(script))
        st, h, body = self.c.invoke(name, b'"fail"')
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body)
        h, body = self.invoke_ok(name, b'"ok"')
        self.assertEqual(body, b'"fine"')

    # ---- log tail

    def _tail(self, name, memory=128):
        st, h, body = self.c.invoke(name, b'{}', {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(st, 200, body[:300])
        log = decode_log_result(h)
        rid = h.get('x-amzn-requestid')
        self.assertTrue(rid, 'no x-amzn-RequestId header')
        return log, rid

    def test_log_tail_has_start_end_report_for_request_id(self):
        name, _ = self.new_function(uniq('tail'), fn_files(LOGGING_BOOTSTRAP))
        log, rid = self._tail(name)
        text = log.decode('utf-8', 'replace')
        self.assertIn('START RequestId: %s Version: $LATEST' % rid, text)
        self.assertIn('END RequestId: %s' % rid, text)
        self.assertRegex(text, report_re(rid, 128))

    def test_log_tail_contains_function_stdout_and_stderr(self):
        name, _ = self.new_function(uniq('tail-out'), fn_files(LOGGING_BOOTSTRAP))
        log, rid = self._tail(name)
        text = log.decode('utf-8', 'replace')
        self.assertIn('stdout-line-from-function %s' % rid, text)
        self.assertIn('stderr-line-from-function', text)
        self.assertLess(text.index('START RequestId'), text.index('stdout-line-from-function'))
        self.assertLess(text.index('stdout-line-from-function'), text.index('END RequestId'))

    def test_log_tail_cold_call_has_init_duration_warm_call_not(self):
        name, _ = self.new_function(uniq('tail-init'), fn_files(LOGGING_BOOTSTRAP))
        log, rid = self._tail(name)
        report = [ln for ln in log.decode().splitlines() if ln.startswith('REPORT')]
        self.assertEqual(len(report), 1, log)
        self.assertRegex(report[0], r'Init Duration: \d+\.\d\d ms')
        log, rid = self._tail(name)
        report = [ln for ln in log.decode().splitlines() if ln.startswith('REPORT')]
        self.assertEqual(len(report), 1, log)
        self.assertRegex(report[0], report_re(rid, 128))
        self.assertNotIn('Init Duration', report[0])

    def test_log_tail_at_most_4096_bytes_and_keeps_report(self):
        name, _ = self.new_function(uniq('tail-big'), fn_files(NOISY_BOOTSTRAP))
        log, rid = self._tail(name)
        self.assertLessEqual(len(log), 4096)
        self.assertGreater(len(log), 3000, 'tail should be the last 4 KB, not a few lines')
        self.assertRegex(log.decode('utf-8', 'replace'), report_re(rid, 128))
        self.assertIn('noisy line 199', log.decode('utf-8', 'replace'))

    def test_log_tail_absent_without_log_type(self):
        h, body = self.invoke_ok(self.echo)
        self.assertNotIn('x-amz-log-result', h)

    def test_log_tail_memory_size_matches_configuration(self):
        name, _ = self.new_function(uniq('tail-mem'), fn_files(LOGGING_BOOTSTRAP), memory=256)
        log, rid = self._tail(name)
        self.assertRegex(log.decode('utf-8', 'replace'), report_re(rid, 256))

    # ---- Max Memory Used

    def test_max_memory_used_reflects_60mb_allocation(self):
        name, _ = self.new_function(uniq('bigmem'), fn_files(BIG_MEMORY_BOOTSTRAP), memory=512, timeout=60)
        st, h, body = self.c.invoke(name, b'{}', {'X-Amz-Log-Type': 'Tail'}, timeout=90)
        self.assertEqual(st, 200, body[:300])
        self.assertNotIn('x-amz-function-error', h, body[:300])
        self.assertEqual(body, b'{"len":60000000}')
        text = decode_log_result(h).decode('utf-8', 'replace')
        m = MAX_MEM_RE.search(text)
        self.assertTrue(m, text)
        used = int(m.group(1))
        self.assertGreaterEqual(used, 50, text)
        self.assertLess(used, 512, text)

    def test_max_memory_used_without_log_tail_in_the_stored_report(self):
        # Without X-Amz-Log-Type: Tail the caller is answered before END and REPORT are
        # written: the stored REPORT still has the call's own peak, and one query made right
        # after the answer (no polling) already finds it.
        name, _ = self.new_function(uniq('bigmem-notail'), fn_files(BIG_MEMORY_BOOTSTRAP), memory=512, timeout=60)
        for _ in range(2):   # the second on a warm instance, its peak reset for the call
            st, h, body = self.c.invoke(name, b'{}', timeout=90)
            self.assertEqual(st, 200, body[:300])
            self.assertEqual(body, b'{"len":60000000}')
            self.assertNotIn('x-amz-log-result', h)
            rid = h.get('x-amzn-requestid')
            self.assertTrue(rid, h)
            path = '/nimbus/v1/functions/%s/logs?request_id=%s' % (name, rid)
            st, _, logs, raw = self.c.api('GET', path)
            self.assertEqual(st, 200, raw[:300])
            msgs = [e.get('message', '') for e in logs.get('events', [])]
            reports = [m for m in msgs if m.startswith('REPORT RequestId: %s' % rid)]
            self.assertEqual(len(reports), 1, msgs)
            self.assertTrue(any(m.startswith('END RequestId: %s' % rid) for m in msgs), msgs)
            m = MAX_MEM_RE.search(reports[0])
            self.assertTrue(m, reports[0])
            self.assertGreaterEqual(int(m.group(1)), 50, reports[0])
            self.assertLess(int(m.group(1)), 512, reports[0])

    def test_max_memory_used_trivial_function_below_configured(self):
        name, _ = self.new_function(uniq('smallmem'), fn_files(LOGGING_BOOTSTRAP), memory=128)
        log, rid = self._tail(name)
        text = log.decode('utf-8', 'replace')
        m = MAX_MEM_RE.search(text)
        self.assertTrue(m, text)
        self.assertLess(int(m.group(1)), 128, text)
        self.assertGreater(int(m.group(1)), 0, text)
