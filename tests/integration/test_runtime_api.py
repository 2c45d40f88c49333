"""Runtime API as seen by a bootstrap: each bootstrap probes the API with curl and
reports what it saw inside its response (base64-wrapped so any answer survives)."""

import base64
import json
import os
import re
import time

from nimbus_testlib import ServerTestCase, bootstrap, fn_files, function_arn, function_log_text, uniq

# Events understood by PROBER:
#   "headers"          -> {"id","deadline","arn","ctype"} of this /next
#   "wrong_id"         -> POST /response for another id; reports it
#   "wrong_id_error"   -> POST /error for another id; reports it
#   "double"           -> answers "first", then POSTs a second /response (result kept for "report")
#   "resp_after_error" -> POSTs /error then /response (kept for "report")
#   "error_after_resp" -> POSTs /response then /error (kept for "report")
#   "big"              -> POSTs a 6,291,557-byte /response (kept for "report")
#   "max_ok"           -> POSTs a 6,291,556-byte /response (exactly the limit)
#   "init_error"       -> POST /init/error after /next; reports it
#   "unknown_path"     -> GET two unknown paths; reports both
#   "report"           -> {"first":..,"first_body":..,"second":..,"second_body":..} of the last kept probes
PROBER = bootstrap(r'''
report() { respond "{\"status\":\"$P_STATUS\",\"body\":\"$P_BODY\"}"; }
keep1() { S1=$P_STATUS; B1=$P_BODY; }
keep2() { S2=$P_STATUS; B2=$P_BODY; }
S1=none; B1=; S2=none; B2=
while next; do
  case "$EVENT" in
  '"headers"')
    respond "{\"id\":\"$REQ_ID\",\"deadline\":\"$(hdr Lambda-Runtime-Deadline-Ms)\",\"arn\":\"$(hdr Lambda-Runtime-Invoked-Function-Arn)\",\"ctype\":\"$(hdr Content-Type)\"}" ;;
  '"wrong_id"')
    probe -X POST -H 'Content-Type: application/json' --data-binary '"x"' "$API/invocation/00000000-0000-0000-0000-000000000000/response"
    report ;;
  '"wrong_id_error"')
    probe -X POST -H 'Content-Type: application/json' --data-binary '{"errorMessage":"m","errorType":"T"}' "$API/invocation/not-a-request-id/error"
    report ;;
  '"double"')
    probe -X POST -H 'Content-Type: application/json' --data-binary '"first"' "$API/invocation/$REQ_ID/response"; keep1
    probe -X POST -H 'Content-Type: application/json' --data-binary '"second"' "$API/invocation/$REQ_ID/response"; keep2 ;;
  '"resp_after_error"')
    probe -X POST -H 'Content-Type: application/json' --data-binary '{"errorMessage":"m","errorType":"T"}' "$API/invocation/$REQ_ID/error"; keep1
    probe -X POST -H 'Content-Type: application/json' --data-binary '"late"' "$API/invocation/$REQ_ID/response"; keep2 ;;
  '"error_after_resp"')
    probe -X POST -H 'Content-Type: application/json' --data-binary '"answered"' "$API/invocation/$REQ_ID/response"; keep1
    probe -X POST -H 'Content-Type: application/json' --data-binary '{"errorMessage":"m","errorType":"T"}' "$API/invocation/$REQ_ID/error"; keep2 ;;
  '"big"')
    head -c 6291555 /dev/zero | tr '\0' a > "$T/big.tmp"; { printf '"'; cat "$T/big.tmp"; printf '"'; } > "$T/big"
    probe -X POST -H 'Content-Type: application/json' --data-binary @"$T/big" "$API/invocation/$REQ_ID/response"; keep1
    S2=size-$(wc -c < "$T/big"); B2= ;;
  '"max_ok"')
    head -c 6291554 /dev/zero | tr '\0' b > "$T/big.tmp"; { printf '"'; cat "$T/big.tmp"; printf '"'; } > "$T/max"
    respond_file "$T/max" ;;
  '"init_error"')
    probe -X POST -H 'Lambda-Runtime-Function-Error-Type: Runtime.Late' -H 'Content-Type: application/json' --data-binary '{"errorMessage":"late","errorType":"Runtime.Late"}' "$API/init/error"
    report ;;
  '"unknown_path"')
    probe "$API/no/such/path"; U1=$P_STATUS
    probe "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/bogus"; U2=$P_STATUS
    respond "{\"a\":\"$U1\",\"b\":\"$U2\"}" ;;
  '"report"')
    respond "{\"first\":\"$S1\",\"first_body\":\"$B1\",\"second\":\"$S2\",\"second_body\":\"$B2\"}" ;;
  *)
    respond '"unknown event"' ;;
  esac
done''')

ENV_PROBE = bootstrap(r'''
while next; do
  respond "{\"env\":\"$(env | base64 -w0)\",\"cwd\":\"$(pwd | base64 -w0)\",\"data\":\"$(cat data.txt | base64 -w0)\"}"
done''')


def b64j(s):
    """Decode a base64 field and parse it as JSON (None if empty)."""
    raw = base64.b64decode(s)
    return json.loads(raw) if raw.strip() else None


class RuntimeApiTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.headers_fn = uniq('rapi-hdr')
        st, h, body, raw = cls.c.create_function(cls.headers_fn, fn_files(PROBER), timeout=5)
        if st != 201:
            raise AssertionError('CreateFunction -> %s %r' % (st, raw[:300]))

    def prober(self, timeout=5):
        name, _ = self.new_function(uniq('rapi'), fn_files(PROBER), timeout=timeout)
        return name

    def call(self, name, event, timeout=60):
        h, body = self.invoke_ok(name, json.dumps(event).encode(), timeout=timeout)
        try:
            return h, json.loads(body)
        except ValueError:
            self.fail('bootstrap answer is not JSON: %r' % body[:300])

    # ---- /next headers

    def test_next_request_id_matches_caller_request_id(self):
        h, got = self.call(self.headers_fn, 'headers')
        self.assertTrue(got['id'], got)
        self.assertEqual(got['id'], h.get('x-amzn-requestid'))

    def test_next_deadline_is_now_plus_timeout(self):
        t0 = time.time() * 1000
        h, got = self.call(self.headers_fn, 'headers')
        t1 = time.time() * 1000
        self.assertRegex(got['deadline'], r'^\d{13}$')
        deadline = int(got['deadline'])
        self.assertGreaterEqual(deadline, t0 + 5000 - 2000, got)
        self.assertLessEqual(deadline, t1 + 5000 + 2000, got)

    def test_next_invoked_function_arn(self):
        h, got = self.call(self.headers_fn, 'headers')
        self.assertEqual(got['arn'], function_arn(self.headers_fn))

    def test_next_content_type_application_json(self):
        h, got = self.call(self.headers_fn, 'headers')
        self.assertEqual(got['ctype'], 'application/json')

    def test_next_gives_distinct_request_ids(self):
        ids = {self.call(self.headers_fn, 'headers')[1]['id'] for _ in range(3)}
        self.assertEqual(len(ids), 3)

    # ---- /response and /error state machine

    def test_response_with_wrong_request_id_400_invalid_request_id(self):
        h, got = self.call(self.headers_fn, 'wrong_id')
        self.assertEqual(got['status'], '400', got)
        self.assertEqual(b64j(got['body'])['errorType'], 'InvalidRequestID')

    def test_error_with_wrong_request_id_400_invalid_request_id(self):
        h, got = self.call(self.headers_fn, 'wrong_id_error')
        self.assertEqual(got['status'], '400', got)
        self.assertEqual(b64j(got['body'])['errorType'], 'InvalidRequestID')

    def test_first_response_accepted_202_status_ok(self):
        name = self.prober()
        st, h, body = self.c.invoke(name, b'"double"')
        self.assertEqual((st, body), (200, b'"first"'))
        h, rep = self.call(name, 'report')
        self.assertEqual(rep['first'], '202', rep)
        self.assertEqual(b64j(rep['first_body']), {'status': 'OK'})

    def test_second_response_same_id_403_invalid_state_transition(self):
        name = self.prober()
        st, h, body = self.c.invoke(name, b'"double"')
        self.assertEqual((st, body), (200, b'"first"'))
        h, rep = self.call(name, 'report')
        self.assertEqual(rep['second'], '403', rep)
        self.assertEqual(b64j(rep['second_body'])['errorType'], 'InvalidStateTransition')

    def test_response_after_error_403_invalid_state_transition(self):
        name = self.prober()
        st, h, body = self.c.invoke(name, b'"resp_after_error"')
        self.assertEqual(st, 200)
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled')
        h, rep = self.call(name, 'report')
        self.assertEqual(rep['first'], '202', rep)
        self.assertEqual(rep['second'], '403', rep)
        self.assertEqual(b64j(rep['second_body'])['errorType'], 'InvalidStateTransition')

    def test_error_after_response_403_invalid_state_transition(self):
        name = self.prober()
        st, h, body = self.c.invoke(name, b'"error_after_resp"')
        self.assertEqual((st, body), (200, b'"answered"'))
        self.assertNotIn('x-amz-function-error', h)
        h, rep = self.call(name, 'report')
        self.assertEqual(rep['second'], '403', rep)
        self.assertEqual(b64j(rep['second_body'])['errorType'], 'InvalidStateTransition')

    # ---- response size limit

    def test_oversized_response_caller_gets_response_size_too_large(self):
        name = self.prober(timeout=30)
        st, h, body = self.c.invoke(name, b'"big"', timeout=60)
        self.assertEqual(st, 200, body[:300])
        self.assertFunctionError(h, body, 'Function.ResponseSizeTooLarge')

    def test_oversized_response_runtime_gets_413(self):
        name = self.prober(timeout=30)
        self.c.invoke(name, b'"big"', timeout=60)
        h, rep = self.call(name, 'report')
        self.assertEqual(rep['second'], 'size-6291557', 'bootstrap built the wrong size: %r' % rep)
        self.assertEqual(rep['first'], '413',
                         '%r (first=none means the instance state was lost after the oversize response)' % rep)

    def test_response_of_exactly_limit_accepted(self):
        name = self.prober(timeout=30)
        h, body = self.invoke_ok(name, b'"max_ok"', timeout=60)
        self.assertEqual(len(body), 6291556)
        self.assertEqual(body, b'"' + b'b' * 6291554 + b'"')

    # ---- misc

    def test_init_error_after_next_403(self):
        h, got = self.call(self.headers_fn, 'init_error')
        self.assertEqual(got['status'], '403', got)

    def test_unknown_runtime_path_404(self):
        h, got = self.call(self.headers_fn, 'unknown_path')
        self.assertEqual(got, {'a': '404', 'b': '404'})


# A runtime that pipelines (HTTP/1.1): each /response goes out with the next /next right behind
# it, in one write. It reports, in its next answer, what came back for the previous /response and
# how long after its write the first byte of it arrived.
PIPELINER = r"""#!/usr/bin/python3
import json, os, socket, time
host, port = os.environ['AWS_LAMBDA_RUNTIME_API'].rsplit(':', 1)
s = socket.create_connection((host, int(port)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
NEXT = b'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rt\r\n\r\n'
buf = b''

def more():
    global buf
    d = s.recv(65536)
    if not d:
        raise SystemExit('runtime API closed the connection')
    buf += d

def response():
    global buf
    while b'\r\n\r\n' not in buf:
        more()
    head, _, buf = buf.partition(b'\r\n\r\n')
    lines = head.decode().split('\r\n')
    hdrs = dict((k.strip().lower(), v.strip()) for k, v in (l.split(':', 1) for l in lines[1:]))
    n = int(hdrs.get('content-length', '0'))
    while len(buf) < n:
        more()
    body, buf = buf[:n], buf[n:]
    return int(lines[0].split()[1]), hdrs, body

s.sendall(NEXT)
seen = {}
status, hdrs, body = response()
while True:
    rid = hdrs['lambda-runtime-aws-request-id']
    out = json.dumps({'event': json.loads(body), 'seen': seen}).encode()
    s.sendall(b'POST /2018-06-01/runtime/invocation/' + rid.encode() + b'/response HTTP/1.1\r\n'
              b'Host: rt\r\nContent-Type: application/json\r\nContent-Length: ' +
              str(len(out)).encode() + b'\r\n\r\n' + out + NEXT)
    t0 = time.monotonic()
    more()
    waited = time.monotonic() - t0
    st, h, b = response()
    status, hdrs, body = response()
    seen = {'status': st, 'body': b.decode(), 'waited_s': waited, 'next_status': status}
"""


class PipelinedRuntimeTest(ServerTestCase):
    """HTTP/1.1 pipelining on the Runtime API: a runtime that sends its next /next right behind
    its /response is served both, and its 202 travels with the next event (one write, one wake-up
    of the runtime per call) instead of waking it on its own."""

    def test_pipelined_next_gets_202_then_the_next_event(self):
        name, _ = self.new_function(uniq('rapi-pipe'), {'bootstrap': (PIPELINER, 0o755)}, timeout=10)
        h, body = self.invoke_ok(name, b'{"n": 1}')
        first = json.loads(body)
        self.assertEqual(first, {'event': {'n': 1}, 'seen': {}})
        # The first call is finished and reported before the 202 reaches the runtime.
        text = function_log_text(self.c, name, ['REPORT RequestId: ' + h['x-amzn-requestid']])
        self.assertIn('REPORT RequestId: ' + h['x-amzn-requestid'], text)
        time.sleep(0.6)
        h2, body2 = self.invoke_ok(name, b'{"n": 2}')
        second = json.loads(body2)
        self.assertEqual(second['event'], {'n': 2})
        seen = second['seen']
        self.assertEqual(seen['status'], 202, seen)
        self.assertEqual(json.loads(seen['body']), {'status': 'OK'})
        self.assertEqual(seen['next_status'], 200, seen)
        # Nothing came back for the first /response until the second event did: the runtime was
        # not woken for the 202 alone.
        self.assertGreaterEqual(seen['waited_s'], 0.5, seen)
        self.assertNotEqual(h['x-amzn-requestid'], h2['x-amzn-requestid'])

    def test_many_pipelined_calls_each_answered_once(self):
        name, _ = self.new_function(uniq('rapi-pipe'), {'bootstrap': (PIPELINER, 0o755)}, timeout=10)
        for i in range(20):
            h, body = self.invoke_ok(name, json.dumps({'i': i}).encode())
            doc = json.loads(body)
            self.assertEqual(doc['event'], {'i': i})
            if i:
                self.assertEqual(doc['seen']['status'], 202)
                self.assertEqual(doc['seen']['next_status'], 200)


class RuntimeEnvironmentTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.name = uniq('envprobe')
        st, h, body, raw = cls.c.create_function(
            cls.name, fn_files(ENV_PROBE, {'data.txt': b'data-file-contents\n'}), handler='my.handler',
            memory=256, env={'USER_VAR': 'plain', 'WITH_EQ': 'a=b==c', 'EMPTY_LOOKING': 'x y'})
        if st != 201:
            raise AssertionError('CreateFunction -> %s %r' % (st, raw[:300]))
        cls._seen = None

    def seen(self):
        if type(self)._seen is None:
            h, body = self.invoke_ok(self.name)
            doc = json.loads(body)
            env = {}
            for line in base64.b64decode(doc['env']).decode().splitlines():
                k, sep, v = line.partition('=')
                if sep:
                    env[k] = v
            type(self)._seen = (env, base64.b64decode(doc['cwd']).decode().strip(),
                                base64.b64decode(doc['data']))
        return type(self)._seen

    def test_env_runtime_api_is_loopback_host_port(self):
        env, cwd, data = self.seen()
        self.assertRegex(env.get('AWS_LAMBDA_RUNTIME_API', ''), r'^127\.0\.0\.1:\d+$')

    def test_env_handler(self):
        env, cwd, data = self.seen()
        self.assertEqual(env.get('_HANDLER'), 'my.handler')

    def test_env_task_root_is_working_directory(self):
        env, cwd, data = self.seen()
        self.assertTrue(env.get('LAMBDA_TASK_ROOT'), env)
        self.assertEqual(os.path.normpath(cwd), os.path.normpath(env['LAMBDA_TASK_ROOT']))

    def test_working_directory_contains_function_code(self):
        env, cwd, data = self.seen()
        self.assertEqual(data, b'data-file-contents\n')

    def test_env_function_name_version_memory(self):
        env, cwd, data = self.seen()
        self.assertEqual(env.get('AWS_LAMBDA_FUNCTION_NAME'), self.name)
        self.assertEqual(env.get('AWS_LAMBDA_FUNCTION_VERSION'), '$LATEST')
        self.assertEqual(env.get('AWS_LAMBDA_FUNCTION_MEMORY_SIZE'), '256')

    def test_env_log_group_and_stream(self):
        env, cwd, data = self.seen()
        self.assertEqual(env.get('AWS_LAMBDA_LOG_GROUP_NAME'), '/aws/lambda/' + self.name)
        self.assertTrue(env.get('AWS_LAMBDA_LOG_STREAM_NAME'), env)

    def test_env_region(self):
        env, cwd, data = self.seen()
        self.assertTrue(re.match(r'^[a-z]{2}(-gov)?-[a-z]+-\d$', env.get('AWS_REGION', '')), env.get('AWS_REGION'))

    def test_env_user_vars_including_equals_sign_intact(self):
        env, cwd, data = self.seen()
        self.assertEqual(env.get('USER_VAR'), 'plain')
        self.assertEqual(env.get('WITH_EQ'), 'a=b==c')
        self.assertEqual(env.get('EMPTY_LOOKING'), 'x y')
