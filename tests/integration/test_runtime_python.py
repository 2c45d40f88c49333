"""The Python runtime (python3.11 / python3): every behaviour docs/runtimes.md asks for,
each one a real CreateFunction + Invoke through the daemon, running
runtimes/python/bootstrap.py under /usr/bin/python3 -S."""

import base64
import json
import os
import re
import time

from nimbus_testlib import REPO, ServerTestCase, decode_log_result, dir_files, function_arn, uniq, wait_for

TAIL = {'X-Amz-Log-Type': 'Tail'}


def src(text):
    """Dedent a handler source written inline (first line decides)."""
    lines = text.strip('\n').split('\n')
    pad = len(lines[0]) - len(lines[0].lstrip())
    return '\n'.join(line[pad:] for line in lines) + '\n'



ECHO = src('''
    def handler(event, context):
        return event
''')

FAILING = src('''
    class MyError(Exception):
        pass

    def handler(event, context):
        if event.get('kind') == 'custom':
            raise MyError('custom failure')
        if event.get('kind') == 'marshal':
            return {'a set': {1, 2}}
        helper()

    def helper():
        raise ValueError("boom")
''')

CONTEXT = src('''
    import os
    import sys
    import time

    def handler(event, context):
        r1 = context.get_remaining_time_in_millis()
        time.sleep(0.2)
        r2 = context.get_remaining_time_in_millis()
        cc = context.client_context
        return {
            'function_name': context.function_name,
            'function_version': context.function_version,
            'invoked_function_arn': context.invoked_function_arn,
            'memory_limit_in_mb': context.memory_limit_in_mb,
            'memory_is_int': isinstance(context.memory_limit_in_mb, int),
            'aws_request_id': context.aws_request_id,
            'log_group_name': context.log_group_name,
            'log_stream_name': context.log_stream_name,
            'r1': r1,
            'r2': r2,
            'trace': os.environ.get('_X_AMZN_TRACE_ID'),
            'identity_id': context.identity.cognito_identity_id,
            'identity_pool': context.identity.cognito_identity_pool_id,
            'client_context': None if cc is None else {
                'custom': cc.custom,
                'env': cc.env,
                'installation_id': cc.client and cc.client.installation_id,
                'app_title': cc.client and cc.client.app_title,
            },
            'cwd': os.getcwd(),
            'task_root': os.environ.get('LAMBDA_TASK_ROOT'),
            'sys_path': sys.path,
            'handler_env': os.environ.get('_HANDLER'),
        }
''')

STATE = src('''
    import os
    IMPORTS = globals().get('IMPORTS', 0) + 1
    CALLS = 0

    def handler(event, context):
        global CALLS
        CALLS += 1
        return {'calls': CALLS, 'imports': IMPORTS, 'pid': os.getpid()}
''')

LOGS = src('''
    import logging
    import sys

    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger('app.child')

    def handler(event, context):
        rid = context.aws_request_id
        print('print-line', rid)
        print('stderr-line', rid, file=sys.stderr)
        logging.warning('root-warning %s', rid)
        log.info('child-info %s', rid)
        logging.debug('debug-is-filtered')
        print(event.get('text', ''))
        print('no-newline-at-end', end='')
        return {'ok': True}
''')

SLEEPER = src('''
    import time
    CALLS = 0

    def handler(event, context):
        global CALLS
        CALLS += 1
        if event.get('sleep'):
            print('going to sleep', flush=True)
            time.sleep(event['sleep'])
        return {'calls': CALLS}
''')

CONCURRENT = src('''
    import logging
    import os
    import threading
    import time

    seen = threading.local()

    class Capture(logging.Handler):
        # Added after the runtime's handler: the record already has its request id.
        def emit(self, record):
            seen.rid = getattr(record, 'aws_request_id', None)

    logging.getLogger().addHandler(Capture())

    def handler(event, context):
        start = time.time()
        time.sleep(event.get('sleep', 1.0))
        logging.warning('done %s', context.aws_request_id)
        return {'pid': os.getpid(), 'start': start, 'end': time.time(),
                'thread': threading.get_ident(), 'rid': context.aws_request_id,
                'logged_rid': getattr(seen, 'rid', None)}
''')


class PythonRuntimeTest(ServerTestCase):

    def pyfn(self, files, handler='app.handler', runtime='python3.11', **kw):
        if isinstance(files, str):
            files = {'app.py': files}
        name, _ = self.new_function(uniq('py'), files, runtime=runtime, handler=handler, **kw)
        return name

    def function_log(self, name):
        st, _, body, raw = self.c.api('GET', '/nimbus/v1/functions/%s/logs?limit=1000' % name)
        self.assertEqual(st, 200, raw[:300])
        return '\n'.join(e.get('message', '') for e in body.get('events', []))

    def invoke_json(self, name, payload=b'{}', headers=None):
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload)
        h, body = self.invoke_ok(name, payload, headers)
        try:
            return h, json.loads(body)
        except ValueError:
            self.fail('response is not JSON: %r' % body[:300])

    def invoke_error(self, name, payload=b'{}', want_type=None, headers=None):
        st, h, body = self.c.invoke(name, payload, headers)
        self.assertEqual(st, 200, body[:500])
        return h, self.assertFunctionError(h, body, want_type)

    # ------------------------------------------------------------ success

    def test_success_json_values_round_trip(self):
        name = self.pyfn(ECHO)
        for payload in ('{"a": 1, "b": [true, false, null], "c": {"d": 1.5}}', '"a string"', '[1, 2, 3]',
                        '42', '-0.25', 'null', '{}', '  {"padded": true}  \n'):
            with self.subTest(payload=payload):
                h, body = self.invoke_ok(name, payload)
                self.assertEqual(json.loads(body), json.loads(payload))
                self.assertTrue(h.get('content-type', '').startswith('application/json'), h)

    def test_python3_alias_runtime(self):
        name = self.pyfn(ECHO, runtime='python3')
        _, doc = self.invoke_json(name, {'alias': True})
        self.assertEqual(doc, {'alias': True})

    def test_return_str_and_none_are_json(self):
        name = self.pyfn(src('''
            def handler(event, context):
                return None if event.get('none') else 'plain text'
        '''))
        _, body = self.invoke_ok(name, '{}')
        self.assertEqual(body, b'"plain text"')
        _, body = self.invoke_ok(name, '{"none": true}')
        self.assertEqual(body, b'null')

    def test_decimal_result_serialises_like_lambda(self):
        name = self.pyfn(src('''
            from decimal import Decimal
            def handler(event, context):
                return {'int': Decimal('7'), 'frac': Decimal('2.5')}
        '''))
        _, doc = self.invoke_json(name)
        self.assertEqual(doc, {'int': 7, 'frac': 2.5})

    # ------------------------------------------------------------ errors

    def test_handler_error_typed_with_message_request_id_and_stack(self):
        name = self.pyfn(FAILING)
        h, doc = self.invoke_error(name, '{}', 'ValueError')
        self.assertEqual(doc['errorMessage'], 'boom')
        self.assertEqual(doc['requestId'], h.get('x-amzn-requestid'))
        stack = doc['stackTrace']
        self.assertIsInstance(stack, list)
        self.assertEqual(len(stack), 2, 'only the user frames, runtime frames dropped: %r' % stack)
        self.assertRegex(stack[0], r'^  File "[^"]*/app\.py", line 9, in handler\n    helper\(\)\n$')
        self.assertRegex(stack[1], r'^  File "[^"]*/app\.py", line 12, in helper\n    raise ValueError\("boom"\)\n$')
        for frame in stack:
            self.assertNotIn('_nimbus_runtime', frame)
            self.assertNotIn('bootstrap.py', frame)

    def test_handler_error_custom_type_and_log(self):
        name = self.pyfn(FAILING)
        h, doc = self.invoke_error(name, '{"kind": "custom"}', 'MyError', headers=TAIL)
        self.assertEqual(doc['errorMessage'], 'custom failure')
        log = decode_log_result(h).decode('utf-8', 'replace')
        self.assertIn('[ERROR] MyError: custom failure', log)
        self.assertIn('Traceback (most recent call last):', log)

    def test_unserialisable_result_is_marshal_error(self):
        name = self.pyfn(FAILING)
        _, doc = self.invoke_error(name, '{"kind": "marshal"}', 'Runtime.MarshalError')
        self.assertEqual(doc['errorMessage'], 'Unable to marshal response: Object of type set is not JSON serializable')

    def test_error_then_success_on_the_same_instance(self):
        name = self.pyfn(src('''
            import os
            def handler(event, context):
                if event.get('fail'):
                    raise KeyError('missing')
                return os.getpid()
        '''))
        _, pid1 = self.invoke_json(name)
        _, doc = self.invoke_error(name, '{"fail": 1}', 'KeyError')
        self.assertEqual(doc['errorMessage'], "'missing'")
        _, pid2 = self.invoke_json(name)
        self.assertEqual(pid1, pid2, 'a handler exception must not end the instance')

    def test_sys_exit_in_handler_ends_the_instance(self):
        name = self.pyfn(STATE.replace("    CALLS += 1\n", "    CALLS += 1\n    if event.get('exit'):\n"
                                       "        raise SystemExit(3)\n"))
        _, first = self.invoke_json(name)
        self.invoke_error(name, '{"exit": true}', 'Runtime.ExitError')
        _, after = self.invoke_json(name)
        self.assertEqual(after['calls'], 1, 'a fresh instance after the exit')
        self.assertNotEqual(after['pid'], first['pid'])

    # ------------------------------------------------------------ init errors

    def assertInitError(self, name, want_type, want_message=None, message_re=None):
        for attempt in range(2):    # every cold start reports it again
            h, doc = self.invoke_error(name, '{}', want_type, headers=TAIL)
            if want_message is not None:
                self.assertEqual(doc['errorMessage'], want_message)
            if message_re is not None:
                self.assertRegex(doc['errorMessage'], message_re)
            self.assertIsInstance(doc.get('stackTrace'), list, doc)
            self.assertEqual(doc.get('requestId'), '', 'no call owns an init error (as on Lambda)')
        return h, doc

    def test_init_error_missing_module(self):
        name = self.pyfn(ECHO, handler='nothere.handler')
        self.assertInitError(name, 'Runtime.ImportModuleError',
                             "Unable to import module 'nothere': No module named 'nothere'")
        # Init output comes before any call is the instance's: it is in the
        # function's log (not necessarily in the call's tail).
        want = "[ERROR] Runtime.ImportModuleError: Unable to import module 'nothere': No module named 'nothere'"
        self.assertTrue(wait_for(lambda: want in self.function_log(name)),
                        '%r not in the function log:\n%s' % (want, self.function_log(name)))

    def test_init_error_missing_dependency(self):
        name = self.pyfn(src('''
            import not_a_real_module_xyz
            def handler(event, context):
                return 1
        '''))
        self.assertInitError(name, 'Runtime.ImportModuleError',
                             "Unable to import module 'app': No module named 'not_a_real_module_xyz'")

    def test_init_error_handler_not_found(self):
        name = self.pyfn(ECHO, handler='app.nope')
        self.assertInitError(name, 'Runtime.HandlerNotFound', "Handler 'nope' missing on module 'app'")

    def test_init_error_syntax_error(self):
        name = self.pyfn('def handler(event, context)\n    return 1\n')
        _, doc = self.assertInitError(name, 'Runtime.UserCodeSyntaxError',
                                      message_re=r"^Syntax error in module 'app': ")
        self.assertEqual(len(doc['stackTrace']), 1, doc)
        self.assertRegex(doc['stackTrace'][0], r'^  File "[^"]*/app\.py" Line 1\n    def handler')

    def test_init_error_malformed_handler(self):
        name = self.pyfn(ECHO, handler='app')
        self.assertInitError(name, 'Runtime.MalformedHandlerName',
                             "Bad handler 'app': not enough values to unpack (expected 2, got 1)")

    def test_init_error_exception_at_module_level(self):
        name = self.pyfn(src('''
            def setup():
                raise RuntimeError('init failed')
            setup()
            def handler(event, context):
                return 1
        '''))
        _, doc = self.assertInitError(name, 'RuntimeError', 'init failed')
        self.assertTrue(any('app.py' in f and 'in setup' in f for f in doc['stackTrace']), doc)

    # ------------------------------------------------------------ timeout

    def test_timeout_then_next_call_works(self):
        name = self.pyfn(SLEEPER, timeout=1)
        t0 = time.monotonic()
        h, doc = self.invoke_error(name, '{"sleep": 5}', 'Sandbox.Timedout', headers=TAIL)
        self.assertLess(time.monotonic() - t0, 4.0)
        self.assertIn('Task timed out after 1.00 seconds', doc.get('errorMessage', ''))
        log = decode_log_result(h).decode('utf-8', 'replace')
        self.assertIn('going to sleep', log, 'output before the kill belongs to the call')
        _, doc = self.invoke_json(name, '{}')
        self.assertEqual(doc, {'calls': 1}, 'a fresh instance after the timeout')

    # ------------------------------------------------------------ context

    def test_context_values(self):
        name = self.pyfn(CONTEXT, memory=256, timeout=5)
        h, doc = self.invoke_json(name)
        self.assertEqual(doc['function_name'], name)
        self.assertEqual(doc['function_version'], '$LATEST')
        self.assertEqual(doc['invoked_function_arn'], function_arn(name))
        self.assertEqual(doc['memory_limit_in_mb'], 256)
        self.assertTrue(doc['memory_is_int'])
        self.assertEqual(doc['aws_request_id'], h.get('x-amzn-requestid'))
        self.assertEqual(doc['log_group_name'], '/aws/lambda/' + name)
        self.assertRegex(doc['log_stream_name'], r'^\d{4}/\d\d/\d\d/\[\$LATEST\]\S+$')
        self.assertIsNone(doc['client_context'])
        self.assertIsNone(doc['identity_id'])
        self.assertIsNone(doc['identity_pool'])
        self.assertEqual(doc['handler_env'], 'app.handler')

    def test_remaining_time_falls_during_the_call(self):
        name = self.pyfn(CONTEXT, timeout=3)
        _, doc = self.invoke_json(name)
        r1, r2 = doc['r1'], doc['r2']
        self.assertGreater(r1, 2000, doc)
        self.assertLessEqual(r1, 3000, doc)
        self.assertGreater(r2, 0, doc)
        self.assertGreaterEqual(r1 - r2, 180, 'slept 200 ms between the readings: %r' % doc)
        self.assertLess(r1 - r2, 1500, doc)

    def test_trace_id_set_per_call(self):
        name = self.pyfn(CONTEXT)
        _, a = self.invoke_json(name)
        _, b = self.invoke_json(name)
        for doc in (a, b):
            self.assertRegex(doc['trace'] or '', r'^Root=1-[0-9a-f]{8}-[0-9a-f]{24}')
        self.assertNotEqual(a['trace'], b['trace'])

    def test_client_context_delivered(self):
        name = self.pyfn(CONTEXT)
        cc = {'custom': {'foo': 'bar'}, 'env': {'platform': 'nimbus-test'},
              'client': {'installation_id': 'inst-1', 'app_title': 'Tester'}}
        hdr = {'X-Amz-Client-Context': base64.b64encode(json.dumps(cc).encode()).decode()}
        _, doc = self.invoke_json(name, '{}', hdr)
        self.assertEqual(doc['client_context'], {'custom': {'foo': 'bar'}, 'env': {'platform': 'nimbus-test'},
                                                 'installation_id': 'inst-1', 'app_title': 'Tester'})
        hdr = {'X-Amz-Client-Context': base64.b64encode(b'{"custom":{"foo":"bar"}}').decode()}
        _, doc = self.invoke_json(name, '{}', hdr)
        self.assertEqual(doc['client_context'], {'custom': {'foo': 'bar'}, 'env': None,
                                                 'installation_id': None, 'app_title': None})

    def test_task_root_and_sys_path(self):
        name = self.pyfn(CONTEXT)
        _, doc = self.invoke_json(name)
        path = doc['sys_path']
        self.assertEqual(path[0], doc['task_root'], 'the task root comes first: %r' % path)
        self.assertEqual(os.path.realpath(doc['cwd']), os.path.realpath(doc['task_root']))
        self.assertIn('/usr/lib/python3/dist-packages', path)
        stdlib = [i for i, p in enumerate(path) if re.match(r'^/usr/lib/python3\.\d+$', p)]
        self.assertTrue(stdlib, path)
        self.assertGreater(path.index('/usr/lib/python3/dist-packages'), stdlib[0], 'dist-packages last')
        runtime_dir = os.path.join(REPO, 'runtimes', 'python')
        self.assertNotIn(runtime_dir, [os.path.realpath(p) for p in path], 'runtime dir hidden from user code')

    def test_debian_dist_packages_importable(self):
        if not os.path.isdir('/usr/lib/python3/dist-packages/yaml'):
            self.skipTest('python3-yaml is not installed on this host')
        name = self.pyfn(src('''
            import yaml
            def handler(event, context):
                return yaml.safe_load('a: [1, 2]')
        '''))
        _, doc = self.invoke_json(name)
        self.assertEqual(doc, {'a': [1, 2]})

    # ------------------------------------------------------------ handler forms

    def test_handler_in_sub_package(self):
        files = {
            'pkg/__init__.py': '',
            'pkg/sub/__init__.py': 'LOADED = True\n',
            'pkg/sub/helper.py': 'def greet(n):\n    return "hi " + n\n',
            'pkg/sub/mod.py': src('''
                from . import helper
                from pkg.sub import LOADED
                def handler(event, context):
                    return {'msg': helper.greet(event['n']), 'loaded': LOADED, 'module': __name__}
            '''),
            'nspkg/plain.py': 'def handler(event, context):\n    return {"ns": __name__}\n',
        }
        for handler in ('pkg/sub/mod.handler', 'pkg.sub.mod.handler'):
            with self.subTest(handler=handler):
                name = self.pyfn(files, handler=handler)
                _, doc = self.invoke_json(name, {'n': 'there'})
                self.assertEqual(doc, {'msg': 'hi there', 'loaded': True, 'module': 'pkg.sub.mod'})
        name = self.pyfn(files, handler='nspkg/plain.handler')
        _, doc = self.invoke_json(name)
        self.assertEqual(doc, {'ns': 'nspkg.plain'}, 'a folder without __init__.py works too')

    # ------------------------------------------------------------ state

    def test_state_kept_across_warm_calls(self):
        name = self.pyfn(STATE)
        docs = [self.invoke_json(name)[1] for _ in range(3)]
        self.assertEqual([d['calls'] for d in docs], [1, 2, 3])
        self.assertEqual({d['imports'] for d in docs}, {1}, 'the module is imported once')
        self.assertEqual(len({d['pid'] for d in docs}), 1)

    # ------------------------------------------------------------ payloads

    def test_six_mb_payload_echoed(self):
        name = self.pyfn(ECHO, timeout=20, memory=512)
        event = {'data': 'x' * (6 * 1024 * 1024 - 256), 'n': 1}
        payload = json.dumps(event, separators=(',', ':'))
        self.assertLess(len(payload), 6 * 1024 * 1024)
        h, body = self.invoke_ok(name, payload, timeout=60)
        self.assertEqual(json.loads(body), event)

    def test_unicode_round_trip(self):
        name = self.pyfn(src('''
            def handler(event, context):
                s = event['s']
                print('log:', s)
                return {'s': s, 'len': len(s), 'upper': s.upper(), 'raw': 'ünï 😀 漢字'}
        '''))
        s = 'héllo wörld 😀 漢字 한국어 🇯🇵 \u0000 end'
        payload = json.dumps({'s': s}, ensure_ascii=False).encode('utf-8')
        h, body = self.invoke_ok(name, payload, TAIL)
        doc = json.loads(body)
        self.assertEqual(doc['s'], s)
        self.assertEqual(doc['len'], len(s))
        self.assertEqual(doc['upper'], s.upper())
        self.assertEqual(doc['raw'], 'ünï 😀 漢字')
        self.assertIn('log: héllo wörld 😀 漢字', decode_log_result(h).decode('utf-8'))

    def test_binary_result_is_byte_exact(self):
        name = self.pyfn(src('''
            def handler(event, context):
                data = bytes(range(256)) * event.get('times', 1)
                return bytearray(data) if event.get('bytearray') else data
        '''))
        h, body = self.invoke_ok(name, '{}')
        self.assertEqual(body, bytes(range(256)))
        self.assertEqual(h.get('content-type'), 'application/octet-stream')
        h, body = self.invoke_ok(name, '{"bytearray": true, "times": 1000}')
        self.assertEqual(body, bytes(range(256)) * 1000)

    # ------------------------------------------------------------ logs

    def test_print_and_logging_in_the_call_log(self):
        name = self.pyfn(LOGS)
        for _ in range(2):     # cold, then warm
            h, body = self.invoke_ok(name, '{"text": "event text ✓"}', TAIL)
            rid = h.get('x-amzn-requestid')
            log = decode_log_result(h).decode('utf-8', 'replace')
            self.assertIn('print-line %s' % rid, log)
            self.assertIn('stderr-line %s' % rid, log)
            self.assertIn('event text ✓', log)
            # printed without a final newline just before returning: still this call's
            self.assertIn('no-newline-at-end', log)
            self.assertLess(log.index('no-newline-at-end'), log.index('END RequestId'))
            ts = r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z'
            self.assertRegex(log, r'(?m)^\[WARNING\]\t%s\t%s\troot-warning %s$' % (ts, re.escape(rid), re.escape(rid)))
            self.assertRegex(log, r'(?m)^\[INFO\]\t%s\t%s\tchild-info %s$' % (ts, re.escape(rid), re.escape(rid)))
            self.assertNotIn('debug-is-filtered', log)
            self.assertLess(log.index('print-line'), log.index('END RequestId'))

    # ------------------------------------------------------------ concurrency

    def test_instance_concurrency_overlaps_on_one_instance(self):
        n = 4
        name = self.pyfn(CONCURRENT, timeout=10, extra={'InstanceConcurrency': n})
        self.invoke_json(name, {'sleep': 0})    # warm: the instance exists and serves
        elapsed, calls = self.invoke_together(name, ['{"sleep": 1.0}'] * n)
        for h, doc in calls:
            self.assertEqual(doc['rid'], h.get('x-amzn-requestid'))
            self.assertEqual(doc['logged_rid'], doc['rid'], 'logging request id is per thread')
        docs = [doc for h, doc in calls]
        self.assertEqual(len({d['thread'] for d in docs}), n, 'one puller thread per call')
        self.assertOverlappedOnOneInstance(docs, elapsed, 2.5)

    # ------------------------------------------------------------ shipped files

    def test_example_python_hello_deploys_and_answers(self):
        files = dir_files(os.path.join(REPO, 'examples', 'python-hello'))
        self.assertIn('app.py', files)
        name = self.pyfn(files, handler='app.handler')
        h, doc = self.invoke_json(name, {'name': 'Ada'}, TAIL)
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['calls'], 1)
        self.assertIn('greeting Ada', decode_log_result(h).decode())
        _, doc = self.invoke_json(name, {})
        self.assertEqual((doc['message'], doc['calls']), ('Hello, world!', 2))

    def test_init_template_deploys_and_answers(self):
        files = dir_files(os.path.join(REPO, 'templates', 'python'))
        files = {k: (data.replace(b'{{NAME}}', b'tmpl'), mode) for k, (data, mode) in files.items()}
        name = self.pyfn(files, handler='app.handler')
        h, doc = self.invoke_json(name, {'name': 'Ada'})
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['request_id'], h.get('x-amzn-requestid'))
