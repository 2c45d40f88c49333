"""The runtime conformance suite: every behaviour a Nimbus runtime owes its functions, written
once, run by every runtime.

A runtime's test file (test_runtime_<lang>.py) defines one adapter class,

    class PythonConformance(ConformanceSuite, ServerTestCase):
        RUNTIME = 'python3.11'
        HANDLER = 'app.handler'
        MAIN = {'app.py': ...}
        ...

which supplies that runtime's function code; the behaviours below deploy it and call it for
real. A behaviour the runtime cannot have is named in UNSUPPORTED with the reason, and its
test is reported as skipped with that reason; one it should have but fails today is named in
KNOWN_BUGS, skipped with "KNOWN BUG" and the bug, until the bug is fixed. Checks that are the runtime's own form of a
shared behaviour (a stack trace's shape, a log line's format) are the adapter's `check_*`
hooks, called at the end of the behaviour's test.

The MAIN function answers according to the event (op first, compact JSON, so a runtime may
read it with a prefix match):

    anything not an object with a known "op"   the event itself is the result (the payload's
                                                own bytes when BYTE_EXACT)
    {"op":"count"}      {"calls": calls served by this instance, "pid": its pid, "rid": request id}
    {"op":"fail"}       a handler error: ERROR_TYPE / ERROR_MESSAGE ("{rid}" = the request id)
    {"op":"exit"}       the process exits with status 3 during the call
    {"op":"sleep","secs":S}   logs "going to sleep" (flushed), sleeps S seconds, returns "slept"
    {"op":"context"}    the context: function_name, function_version, invoked_function_arn,
                        memory, request_id, log_group_name, log_stream_name, r1 and r2 (remaining
                        ms read before and after a 200 ms sleep), trace (_X_AMZN_TRACE_ID),
                        handler (_HANDLER), cwd, task_root (LAMBDA_TASK_ROOT), exec_env
                        (AWS_EXECUTION_ENV or null), client_context (parsed, or
                        NO_CLIENT_CONTEXT), and deadline_ms / now_ms (epoch ms) where the
                        runtime exposes the deadline
    {"op":"env"}        {NAME: value or null} for every name of ENV_NAMES
    {"op":"binary"}     the bytes 0..255 as application/octet-stream
    {"op":"log"}        "out-line <rid>" on the runtime's log channel (stdout, or stderr where
                        stdout is the result), "err-line <rid>" on stderr; returns "logged"
    {"op":"concurrent"} sleeps 1 s; {"pid", "start", "end" (epoch seconds or ms), "rid"}
    {"op":"string"} / {"op":"null"}   the string "plain text" / no value (runtimes that
                        serialise a returned value)
    {"op":"unicode","s":S}   {"s": S, "len": S's code points, "upper": S upper-cased, "raw":
                        'ünï 😀 漢字' from the source}, and logs "log: S"
and writes "init-marker" to its log while it initialises (before any call).

INIT_ERRORS maps a kind (missing_module, missing_dependency, handler_not_found, syntax_error,
malformed_handler, raised_at_init) to a deployment that fails to initialise that way:
{'files': ..., 'handler': ..., 'type': ..., 'message': exact text | 'message_re': regex}.
"""

import base64
import json
import time

from nimbus_testlib import TAIL, function_arn, function_log_text, instances_of, tail_text, uniq, wait_for

# Sent to {"op":"env"}; MY_VAR is the function's own variable.
ENV_NAMES = ('MY_VAR', 'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_VERSION',
             'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME',
             'AWS_REGION', 'AWS_DEFAULT_REGION', 'LAMBDA_TASK_ROOT', '_HANDLER', 'TZ', 'LANG', 'PATH')
MY_VAR = 'a b=c ✓ 1'

UNICODE = 'héllo wörld 😀 漢字 한국어 🇯🇵 \u0444 \u0000 end'
LOG_STREAM_RE = r'^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-zA-Z]+$'


def op(name, **kw):
    """An event for MAIN: {"op": name, ...} as compact JSON, op first."""
    d = {'op': name}
    d.update(kw)
    return json.dumps(d, separators=(',', ':'), ensure_ascii=False)


class ConformanceSuite:
    """Mixed into a ServerTestCase by each runtime's adapter (see the module's text)."""

    RUNTIME = None
    HANDLER = None
    MAIN = None                  # files of the function described above
    DEPLOY = {}                  # more create_function arguments for every function
    UNSUPPORTED = {}             # behaviour (test name without "test_") -> why not
    KNOWN_BUGS = {}              # behaviour -> the bug that fails it now (skipped, named, until fixed)
    BYTE_EXACT = False           # the result is the handler's bytes: an echo keeps the payload's
    JSON_SEPARATORS = None       # how the runtime serialises a value (json.dumps' separators), if it does
    RESULT_CONTENT_TYPE = 'application/json'
    ERROR_TYPE = None
    ERROR_MESSAGE = None
    STACK_KEY = 'stackTrace'     # where the error document has its trace (None: it has none)
    EXIT_ERROR_TYPE = 'Runtime.ExitError'
    EXIT_ERROR_MESSAGE = 'RequestId: {rid} Error: Runtime exited with error: exit status 3'
    INIT_ERRORS = {}
    CONTEXT_MEMORY = 256
    MEMORY_TYPE = int            # the type the context's memory size has in the language
    NO_CLIENT_CONTEXT = None
    EXEC_ENV = None
    INIT_OUTPUT_IN_FIRST_TAIL = False   # init output is the first call's (it comes after the call)
    PRESTARTED = False           # with the sandbox, a cold start takes a runtime started ahead
    CONCURRENCY = 4

    # ------------------------------------------------------------ adapter hooks

    def check_state(self, docs):
        """More checks of the three {"op":"count"} answers."""

    def check_handler_error(self, h, doc, tail):
        """The runtime's own form of its handler error: trace shape, log lines."""

    def check_init_error(self, kind, name, h, doc):
        """The runtime's own form of an init error document."""

    def check_context(self, h, doc, name):
        """More checks of the {"op":"context"} answer."""

    def check_concurrent(self, calls, name):
        """More checks of the overlapping calls: [(headers, doc)]."""

    # ------------------------------------------------------------ helpers

    def setUp(self):
        super().setUp()
        behaviour = self._testMethodName[len('test_'):]
        if behaviour in self.UNSUPPORTED:
            self.skipTest('%s: %s' % (self.RUNTIME, self.UNSUPPORTED[behaviour]))
        if behaviour in self.KNOWN_BUGS:
            self.skipTest('%s: KNOWN BUG: %s' % (self.RUNTIME, self.KNOWN_BUGS[behaviour]))

    def deploy(self, files=None, handler=None, **kw):
        args = dict(self.DEPLOY)
        for k in ('env', 'extra'):      # merged with the adapter's
            if kw.get(k) and args.get(k):
                kw[k] = dict(args[k], **kw[k])
        args.update(kw)
        name, _ = self.new_function(uniq(self.RUNTIME.replace('.', '')), files if files is not None else self.MAIN,
                                    runtime=self.RUNTIME, handler=handler or self.HANDLER, **args)
        return name

    def call(self, name, payload, headers=None, timeout=60):
        return self.invoke_ok(name, payload, headers, timeout)

    def call_json(self, name, payload, headers=None, timeout=60):
        h, body = self.call(name, payload, headers, timeout)
        try:
            return h, json.loads(body)
        except ValueError:
            self.fail('result is not JSON: %r' % body[:500])

    def call_error(self, name, payload, want_type, headers=None, timeout=60):
        st, h, body = self.c.invoke(name, payload, headers, timeout)
        self.assertEqual(st, 200, body[:500])
        return h, self.assertFunctionError(h, body, want_type)

    def count(self, name):
        return self.call_json(name, op('count'))

    def assertEcho(self, payload, body):
        """The result of echoing `payload`: its bytes, or (a runtime that parses and serialises)
        the same JSON value."""
        if isinstance(payload, str):
            payload = payload.encode()
        if self.BYTE_EXACT:
            self.assertEqual(len(body), len(payload))
            self.assertTrue(body == payload, 'echo differs: %r... vs %r...' % (body[:200], payload[:200]))
        else:
            self.assertEqual(json.loads(body), json.loads(payload))

    def cold_start(self, name, payload):
        """Retire the function's instances (a configuration change does), call again: the answer
        and the serving instance's sandbox phases."""
        st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                     {'Description': uniq('retire')})
        self.assertEqual(st, 200, raw[:300])
        h, doc = self.call_json(name, payload)
        insts = [i for i in instances_of(self.c, name) if i['State'] == 'Ready' and i['CallsServed']]
        self.assertTrue(insts, instances_of(self.c, name))
        return doc, insts[-1].get('SandboxPhases') or {}

    # ------------------------------------------------------------ results

    def test_echo_json_values(self):
        name = self.deploy()
        for payload in ('{"a": 1, "b": [true, false, null], "c": {"d": 1.5}}', '"a string"', '[1, 2, 3]',
                        '42', '-0.25', 'null', '{}', '  {"padded": true}  \n', '{"hello": "world", "n": [1, 2, 3]}'):
            with self.subTest(payload=payload):
                h, body = self.call(name, payload)
                self.assertEcho(payload, body)
                self.assertEqual(h.get('content-type'), self.RESULT_CONTENT_TYPE, h)

    def test_string_and_null_results(self):
        name = self.deploy()
        _, body = self.call(name, op('string'))
        self.assertEqual(body, b'"plain text"')
        _, body = self.call(name, op('null'))
        self.assertEqual(body, b'null')

    def test_binary_result_is_byte_exact(self):
        name = self.deploy()
        h, body = self.call(name, op('binary'))
        self.assertEqual(body, bytes(range(256)))
        # Invoke answers application/json whatever the runtime posted, as Lambda does.
        self.assertEqual(h.get('content-type'), 'application/json')

    def test_six_mb_payload_echoed(self):
        name = self.deploy(timeout=30, memory=max(512, self.DEPLOY.get('memory', 0)))
        event = {'data': ''.join('%08x' % i for i in range(786432))[:6 * 1024 * 1024 - 256], 'n': 1}
        payload = json.dumps(event, separators=(',', ':')).encode()
        self.assertLess(len(payload), 6 * 1024 * 1024)
        self.assertGreater(len(payload), 6_000_000)
        h, body = self.call(name, payload, timeout=120)
        self.assertEcho(payload, body)
        if self.JSON_SEPARATORS:
            self.assertTrue(body == json.dumps(event, separators=self.JSON_SEPARATORS).encode(),
                            'not serialised as the language does')
        # and the instance carries on
        _, doc = self.count(name)
        self.assertEqual(doc['calls'], 1)

    def test_unicode_round_trip(self):
        name = self.deploy()
        payload = json.dumps({'s': UNICODE}, ensure_ascii=False).encode()
        h, body = self.call(name, payload)
        self.assertEcho(payload, body)
        self.assertEqual(json.loads(body)['s'], UNICODE)

    def test_unicode_strings(self):
        name = self.deploy()
        h, doc = self.call_json(name, op('unicode', s=UNICODE).encode(), TAIL)
        self.assertEqual(doc['s'], UNICODE)
        self.assertEqual(doc['len'], len(UNICODE))
        self.assertEqual(doc['upper'], UNICODE.upper())
        self.assertEqual(doc['raw'], 'ünï 😀 漢字')
        self.assertIn('log: ' + UNICODE[:UNICODE.index('\u0000')], tail_text(h))

    # ------------------------------------------------------------ state

    def test_state_kept_across_warm_calls(self):
        name = self.deploy()
        calls = [self.count(name) for _ in range(3)]
        docs = [doc for h, doc in calls]
        self.assertEqual([d['calls'] for d in docs], [1, 2, 3])
        self.assertEqual(len({d['pid'] for d in docs}), 1, docs)
        for h, doc in calls:
            self.assertEqual(doc['rid'], h['x-amzn-requestid'])
        self.assertEqual(len({d['rid'] for d in docs}), 3, docs)
        self.check_state(docs)

    # ------------------------------------------------------------ handler errors

    def test_handler_error_then_success_on_the_same_instance(self):
        name = self.deploy()
        _, before = self.count(name)
        h, doc = self.call_error(name, op('fail'), self.ERROR_TYPE, TAIL)
        rid = h['x-amzn-requestid']
        self.assertEqual(doc['errorMessage'], self.ERROR_MESSAGE.format(rid=rid))
        if self.STACK_KEY:
            self.assertIsInstance(doc.get(self.STACK_KEY), list, doc)
        self.check_handler_error(h, doc, tail_text(h))
        _, after = self.count(name)
        self.assertEqual(after['pid'], before['pid'], 'a handler error must not end the instance')
        self.assertEqual((before['calls'], after['calls']), (1, 2))

    def test_exit_in_handler_ends_the_instance(self):
        name = self.deploy()
        _, before = self.count(name)
        h, doc = self.call_error(name, op('exit'), self.EXIT_ERROR_TYPE)
        if self.EXIT_ERROR_MESSAGE is not None:
            self.assertEqual(doc['errorMessage'], self.EXIT_ERROR_MESSAGE.format(rid=h['x-amzn-requestid']))
        _, after = self.count(name)
        self.assertEqual(after['calls'], 1, 'a fresh instance after the exit: %r' % after)
        self.assertNotEqual(after['pid'], before['pid'])

    # ------------------------------------------------------------ init errors

    def assertInitError(self, kind):
        spec = self.INIT_ERRORS[kind]
        name = self.deploy(spec.get('files'), spec.get('handler'), **spec.get('deploy', {}))
        for attempt in range(2):     # every cold start reports it again
            h, doc = self.call_error(name, b'{}', spec['type'], TAIL)
            if 'message' in spec:
                self.assertEqual(doc['errorMessage'], spec['message'])
            if 'message_re' in spec:
                self.assertRegex(doc['errorMessage'], spec['message_re'])
            if self.STACK_KEY:
                self.assertIsInstance(doc.get(self.STACK_KEY), list, doc)
            self.check_init_error(kind, name, h, doc)
        return name, doc

    def test_init_error_missing_module(self):
        self.assertInitError('missing_module')

    def test_init_error_missing_dependency(self):
        self.assertInitError('missing_dependency')

    def test_init_error_handler_not_found(self):
        self.assertInitError('handler_not_found')

    def test_init_error_syntax_error(self):
        self.assertInitError('syntax_error')

    def test_init_error_malformed_handler(self):
        self.assertInitError('malformed_handler')

    def test_init_error_raised_at_init(self):
        self.assertInitError('raised_at_init')

    def test_init_error_every_call_until_fixed(self):
        name = self.deploy(handler=self.INIT_ERRORS['handler_not_found']['handler'])
        for _ in range(2):
            self.call_error(name, b'{}', 'Runtime.HandlerNotFound')
        st, h, body, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                      {'Handler': self.HANDLER})
        self.assertEqual(st, 200, raw[:300])
        _, doc = self.count(name)
        self.assertEqual(doc['calls'], 1)

    # ------------------------------------------------------------ timeout

    def test_timeout_then_next_call_works(self):
        name = self.deploy(timeout=1)
        t0 = time.monotonic()
        h, doc = self.call_error(name, op('sleep', secs=5), 'Sandbox.Timedout', TAIL)
        self.assertLess(time.monotonic() - t0, 4.0)
        self.assertIn('Task timed out after 1.00 seconds', doc.get('errorMessage', ''))
        self.assertIn('going to sleep', tail_text(h), 'output before the kill belongs to the call')
        _, doc = self.count(name)
        self.assertEqual(doc['calls'], 1, 'a fresh instance after the timeout')
        _, body = self.call(name, op('sleep', secs=0))
        self.assertEqual(body, b'"slept"')

    # ------------------------------------------------------------ context

    def test_context_values(self):
        name = self.deploy(memory=self.CONTEXT_MEMORY, timeout=7)
        h, doc = self.call_json(name, op('context'))
        self.assertEqual(doc['function_name'], name)
        self.assertEqual(doc['function_version'], '$LATEST')
        self.assertEqual(doc['invoked_function_arn'], function_arn(name))
        self.assertIsInstance(doc['memory'], self.MEMORY_TYPE)
        self.assertEqual(doc['memory'], self.MEMORY_TYPE(self.CONTEXT_MEMORY))
        self.assertEqual(doc['request_id'], h.get('x-amzn-requestid'))
        self.assertRegex(doc['request_id'], r'^[0-9a-f-]{36}$')
        self.assertEqual(doc['log_group_name'], '/aws/lambda/' + name)
        self.assertRegex(doc['log_stream_name'], LOG_STREAM_RE)
        self.assertEqual(doc['client_context'], self.NO_CLIENT_CONTEXT)
        self.assertEqual(doc['handler'], self.HANDLER)
        self.assertEqual(doc['cwd'], doc['task_root'])
        self.assertEqual(doc['exec_env'], self.EXEC_ENV)
        # Remaining time: at most the timeout, near it at the start, falling while the call runs.
        r1, r2 = doc['r1'], doc['r2']
        self.assertLessEqual(r1, 7000, doc)
        self.assertGreater(r1, 6000, doc)
        self.assertGreater(r2, 0, doc)
        self.assertGreaterEqual(r1 - r2, 190, 'slept 200 ms between the readings: %r' % doc)
        self.assertLess(r1 - r2, 1500, doc)
        self.check_context(h, doc, name)

    def test_deadline_is_epoch_ms(self):
        name = self.deploy(timeout=7)
        h, doc = self.call_json(name, op('context'))
        self.assertLess(abs(doc['deadline_ms'] - doc['now_ms'] - doc['r2']), 300, doc)

    def test_trace_id_set_per_call(self):
        name = self.deploy()
        _, a = self.call_json(name, op('context'))
        _, b = self.call_json(name, op('context'))
        for doc in (a, b):
            self.assertRegex(doc['trace'] or '', r'^Root=1-[0-9a-f]{8}-[0-9a-f]{24}')
        self.assertNotEqual(a['trace'], b['trace'])

    def test_client_context_delivered(self):
        name = self.deploy()
        cc = {'client': {'installation_id': 'inst-1', 'app_title': 'T\u00e9st caf\u00e9'}, 'custom': {'k': 'v'},
              'env': {'platform': 'linux'}}
        hdr = {'X-Amz-Client-Context': base64.b64encode(json.dumps(cc).encode()).decode()}
        _, doc = self.call_json(name, op('context'), hdr)
        self.assertEqual(doc['client_context'], cc)

    def test_environment_variables(self):
        name = self.deploy(env={'MY_VAR': MY_VAR})
        _, doc = self.call_json(name, op('env'))
        memory = self.DEPLOY.get('memory', 128)
        self.assertEqual(doc['MY_VAR'], MY_VAR)
        self.assertEqual(doc['AWS_LAMBDA_FUNCTION_NAME'], name)
        self.assertEqual(doc['AWS_LAMBDA_FUNCTION_VERSION'], '$LATEST')
        self.assertEqual(doc['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'], str(memory))
        self.assertEqual(doc['AWS_LAMBDA_LOG_GROUP_NAME'], '/aws/lambda/' + name)
        self.assertRegex(doc['AWS_LAMBDA_LOG_STREAM_NAME'], LOG_STREAM_RE)
        self.assertEqual(doc['AWS_REGION'], 'us-east-1')
        self.assertEqual(doc['AWS_DEFAULT_REGION'], 'us-east-1')
        self.assertTrue(doc['LAMBDA_TASK_ROOT'], doc)
        self.assertEqual(doc['_HANDLER'], self.HANDLER)
        self.assertEqual(doc['TZ'], ':UTC')
        self.assertEqual(doc['LANG'], 'en_US.UTF-8')
        self.assertIn('/usr/bin', doc['PATH'].split(':'))
        # a warm call sees the same
        _, again = self.call_json(name, op('env'))
        self.assertEqual(again, doc)

    # ------------------------------------------------------------ logs

    def test_logs_reach_the_call_tail(self):
        name = self.deploy()
        for _ in range(2):      # cold, then warm
            h, body = self.call(name, op('log'), TAIL)
            self.assertEqual(body, b'"logged"')
            rid = h['x-amzn-requestid']
            tail = tail_text(h)
            for line in ('out-line %s' % rid, 'err-line %s' % rid):
                self.assertIn(line, tail)
                # written before the answer was posted
                self.assertLess(tail.index(line), tail.index('END RequestId: %s' % rid))

    def test_init_output_in_function_log(self):
        name = self.deploy()
        h, _ = self.call(name, op('count'), TAIL)
        if self.INIT_OUTPUT_IN_FIRST_TAIL:
            self.assertIn('init-marker', tail_text(h))
        text = function_log_text(self.c, name, ['init-marker'])
        self.assertIn('init-marker', text)

    # ------------------------------------------------------------ concurrency

    def test_instance_concurrency_overlaps_on_one_instance(self):
        n = self.CONCURRENCY
        name = self.deploy(timeout=20, extra={'InstanceConcurrency': n})
        # Cold: the calls that start the instance all run on it.
        elapsed, calls = self.invoke_together(name, [op('concurrent', i=i) for i in range(n)])
        self.assertOverlappedOnOneInstance([doc for h, doc in calls], elapsed, 2.8)
        # Warm: at once.
        elapsed, calls = self.invoke_together(name, [op('concurrent', i=i) for i in range(n)], TAIL)
        for h, doc in calls:
            self.assertEqual(doc['rid'], h['x-amzn-requestid'])
        self.assertOverlappedOnOneInstance([doc for h, doc in calls], elapsed, 2.5)
        self.check_concurrent(calls, name)

    # ------------------------------------------------------------ started ahead

    def test_cold_starts_prestarted_or_not(self):
        if not self.server_sandboxed():
            self.skipTest('runtimes are started ahead only in the sandbox')
        name = self.deploy(env={'MY_VAR': MY_VAR})
        self.call_json(name, op('env'))
        if self.PRESTARTED:
            # The spawner starts one ahead after the runtime's first cold start; the next cold
            # start of the function takes it.
            got = {}

            def prestarted():
                got['doc'], got['phases'] = self.cold_start(name, op('env'))
                return got['phases'].get('Prestarted')
            self.assertTrue(wait_for(prestarted, timeout=15, interval=0.5), got)
        else:
            for _ in range(2):
                got = dict(zip(('doc', 'phases'), self.cold_start(name, op('env'))))
                self.assertFalse(got['phases'].get('Prestarted'), got)
        # Either way the function had its own environment, code and working directory.
        doc = got['doc']
        self.assertEqual((doc['MY_VAR'], doc['AWS_LAMBDA_FUNCTION_NAME'], doc['_HANDLER']),
                         (MY_VAR, name, self.HANDLER))
        _, state = self.count(name)
        self.assertEqual(state['calls'], 1)

    def server_sandboxed(self):
        return '--insecure-no-sandbox' not in self.server.cmd
