"""Misbehaving runtimes (issue 17, item 12): a bootstrap that answers twice, posts for ids
that are not its call's, never asks for work, exits in the middle of a call, floods /next,
or sends garbage to its Runtime API. The caller gets Lambda's answer (the first response,
or a function error naming what happened), and the daemon stays healthy: alive, no
sanitizer report, health "ok", a normal invoke of another function works."""

import json
import threading
import time

import abuse_lib
from nimbus_testlib import bootstrap, fn_files, uniq, wait_for, instances_of

ANSWERS_TWICE = bootstrap(r'''
while next; do
  respond '"first"'
  respond '"second"'
  curl -sS -o /dev/null -X POST --data-binary '"third"' "$API/invocation/$REQ_ID/error"
done''')

# Answers for ids that are not its call's, then its own call.
WRONG_IDS = bootstrap(r'''
while next; do
  for bad in 00000000-0000-0000-0000-000000000000 nope "$REQ_ID-x" "x$REQ_ID" %2e%2e %00 \
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; do
    curl -sS -o /dev/null -X POST --data-binary '"evil"' "$API/invocation/$bad/response"
    curl -sS -o /dev/null -X POST --data-binary '{}' "$API/invocation/$bad/error"
  done
  respond "\"ok $REQ_ID\""
done''')

NEVER_NEXT = bootstrap('sleep 60')

EXITS_MID_CALL = bootstrap('next; printf "half an answer and gone\\n"; exit 3')

# Twenty /next at once on a single-slot instance (one is parked, the rest refused, or
# given the running call again); the events some of them got are answered, then an
# ordinary loop.
FLOODS_NEXT = bootstrap(r'''
i=0
while [ $i -lt 20 ]; do curl -sS -D "$T/h$i" -o "$T/e$i" -m 5 "$API/invocation/next" & i=$((i+1)); done
wait
i=0
while [ $i -lt 20 ]; do
  REQ_ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$T/h$i" | head -n 1 | cut -d: -f2- | tr -d ' \r')
  [ -n "$REQ_ID" ] && respond_file "$T/e$i"
  i=$((i+1))
done
while next; do respond_file "$T/ev"; done''')

# Garbage at its own Runtime API, then serves normally.
GARBAGE_API = bootstrap(r'''
HOSTPORT=${AWS_LAMBDA_RUNTIME_API}
for path in "/2018-06-01/runtime/invocation/next/../../init/error" "/2018-06-01/runtime/%00" \
            "/2018-06-01/runtime/invocation//response" "/2018-06-01/runtime/invocation/next?x=1"; do
  curl -sS -o /dev/null -m 2 -X POST --data-binary x "http://$HOSTPORT$path"
done
curl -sS -o /dev/null -m 2 -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)" "$API/invocation/next"
curl -sS -o /dev/null -m 2 -X POST -H 'Transfer-Encoding: chunked' --data-binary x "$API/ping"
while next; do respond_file "$T/ev"; done''')

# A huge error document and a huge error type header for its call.
HUGE_ERROR = bootstrap(r'''
while next; do
  head -c 7000000 /dev/zero | tr '\0' a > "$T/big"
  curl -sS -o /dev/null -X POST -H "Lambda-Runtime-Function-Error-Type: $(head -c 4000 /dev/zero | tr '\0' E)" \
    --data-binary @"$T/big" "$API/invocation/$REQ_ID/error"
done''')


class MisbehavingRuntimeTest(abuse_lib.AbuseTestCase):

    def tearDown(self):
        if type(self).server is not None and type(self).server.alive():
            self.assertHealthy()
        super().tearDown()

    def deploy(self, script, timeout=3):
        name, _ = self.new_function(uniq('bad-rt'), fn_files(script), timeout=timeout, memory=512)
        return name

    def test_answers_twice_caller_gets_the_first(self):
        fn = self.deploy(ANSWERS_TWICE)
        for _ in range(3):
            h, body = self.invoke_ok(fn)
            self.assertEqual(body, b'"first"')

    def test_posts_for_unknown_ids_change_nothing(self):
        fn = self.deploy(WRONG_IDS)
        st, h, body = self.c.invoke(fn, b'{}', timeout=30)
        self.assertEqual(st, 200, body)
        self.assertNotIn('x-amz-function-error', h, body)
        self.assertEqual(json.loads(body), 'ok ' + h['x-amzn-requestid'])

    def test_never_calls_next_times_out_and_is_not_reused(self):
        fn = self.deploy(NEVER_NEXT, timeout=1)
        for _ in range(2):
            st, h, body = self.c.invoke(fn, b'{}', timeout=60)
            self.assertEqual(st, 200, body)
            self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body)
            self.assertIn(json.loads(body).get('errorType'), ('Sandbox.Timedout', 'Runtime.Unknown'), body)
        self.assertTrue(wait_for(lambda: not instances_of(self.c, fn), 15), 'an instance that never served stays')

    def test_exits_mid_call(self):
        fn = self.deploy(EXITS_MID_CALL)
        for _ in range(3):   # each call a fresh instance, each ends the same way
            st, h, body = self.c.invoke(fn, b'{}', timeout=30)
            self.assertEqual(st, 200, body)
            self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body)
            self.assertEqual(json.loads(body).get('errorType'), 'Runtime.ExitError', body)

    def test_floods_next(self):
        fn = self.deploy(FLOODS_NEXT, timeout=10)
        for i in range(3):
            h, body = self.invoke_ok(fn, b'{"n":%d}' % i, timeout=30)
            self.assertEqual(json.loads(body), {'n': i})

    def test_garbage_at_its_runtime_api(self):
        fn = self.deploy(GARBAGE_API, timeout=10)
        h, body = self.invoke_ok(fn, b'{"g":1}', timeout=30)
        self.assertEqual(json.loads(body), {'g': 1})

    def test_huge_error_document(self):
        fn = self.deploy(HUGE_ERROR, timeout=10)
        st, h, body = self.c.invoke(fn, b'{}', timeout=30)
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body[:300])
        # an error document is a response: over 6 MB the caller is told the size, not given it
        self.assertLess(len(body), 4096, body[:300])
        self.assertEqual(json.loads(body).get('errorType'), 'Function.ResponseSizeTooLarge', body[:300])

    def test_many_misbehaving_calls_at_once(self):
        """All of the above at the same time, several calls each."""
        fns = [self.deploy(s, timeout=5) for s in (ANSWERS_TWICE, WRONG_IDS, EXITS_MID_CALL, FLOODS_NEXT)]
        res = abuse_lib.parallel(lambda f: self.c.invoke(f, b'{}', timeout=60), [(f,) for f in fns for _ in range(4)])
        for r in res:
            self.assertIsInstance(r, tuple, r)
            self.assertEqual(r[0], 200, r)
