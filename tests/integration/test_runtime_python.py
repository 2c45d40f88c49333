"""The Python runtime (python3.11 / python3): runtimes/python/bootstrap.py under
/usr/bin/python3 -S, deployed and invoked for real.

PythonConformance runs the shared runtime conformance suite (runtime_conformance.py) with
Python's function code; PythonRuntimeTest holds what only Python has: its traceback frames,
Decimal and marshal errors, the logging module's format, sys.path, packages and handler forms,
and the shipped example and template."""

import base64
import json
import os
import re
import unittest

from nimbus_testlib import (REPO, TAIL, HeldRuntimeApi, ServerTestCase, decode_log_result, dir_files, function_log_text,
                            init_template, src, uniq, wait_for)
from runtime_conformance import ENV_NAMES, ConformanceSuite, op

MAIN = src('''
    import json
    import logging
    import os
    import sys
    import threading
    import time

    IMPORTS = globals().get('IMPORTS', 0) + 1
    CALLS = 0
    print('init-marker', flush=True)

    seen = threading.local()

    class Capture(logging.Handler):
        # Added after the runtime's handler: the record already has its request id.
        def emit(self, record):
            seen.rid = getattr(record, 'aws_request_id', None)

    logging.getLogger().addHandler(Capture())

    class MyError(Exception):
        pass

    ENV_NAMES = %r

    def client_context(cc):
        if cc is None:
            return None
        return {'custom': cc.custom, 'env': cc.env, 'client': cc.client and {
            'installation_id': cc.client.installation_id, 'app_title': cc.client.app_title}}

    def handler(event, context):
        global CALLS
        op = event.get('op') if isinstance(event, dict) else None
        rid = context.aws_request_id
        if op == 'count':
            CALLS += 1
            return {'calls': CALLS, 'pid': os.getpid(), 'rid': rid, 'imports': IMPORTS}
        if op == 'fail':
            raise MyError('custom failure')
        if op == 'exit':
            raise SystemExit(3)
        if op == 'sleep':
            print('going to sleep', flush=True)
            time.sleep(event['secs'])
            return 'slept'
        if op == 'context':
            r1 = context.get_remaining_time_in_millis()
            time.sleep(0.2)
            r2 = context.get_remaining_time_in_millis()
            return {
                'function_name': context.function_name, 'function_version': context.function_version,
                'invoked_function_arn': context.invoked_function_arn, 'memory': context.memory_limit_in_mb,
                'request_id': rid, 'log_group_name': context.log_group_name,
                'log_stream_name': context.log_stream_name, 'r1': r1, 'r2': r2,
                'trace': os.environ.get('_X_AMZN_TRACE_ID'), 'handler': os.environ.get('_HANDLER'),
                'cwd': os.getcwd(), 'task_root': os.environ.get('LAMBDA_TASK_ROOT'),
                'exec_env': os.environ.get('AWS_EXECUTION_ENV'),
                'client_context': client_context(context.client_context),
                'identity_id': context.identity.cognito_identity_id,
                'identity_pool': context.identity.cognito_identity_pool_id,
            }
        if op == 'env':
            return {k: os.environ.get(k) for k in ENV_NAMES}
        if op == 'binary':
            return bytes(range(256))
        if op == 'log':
            print('out-line', rid)
            print('err-line', rid, file=sys.stderr)
            return 'logged'
        if op == 'concurrent':
            start = time.time()
            time.sleep(1.0)
            logging.warning('done %%s', rid)
            return {'pid': os.getpid(), 'start': start, 'end': time.time(), 'rid': rid,
                    'thread': threading.get_ident(), 'logged_rid': getattr(seen, 'rid', None)}
        if op == 'string':
            return 'plain text'
        if op == 'null':
            return None
        if op == 'unicode':
            s = event['s']
            print('log:', s)
            return {'s': s, 'len': len(s), 'upper': s.upper(), 'raw': 'ünï 😀 漢字'}
        return event
''')

ECHO = src('''
    def handler(event, context):
        return event
''')


def python_main():
    return {'app.py': MAIN % (ENV_NAMES,)}


class PythonConformance(ConformanceSuite, ServerTestCase):
    RUNTIME = 'python3.11'
    HANDLER = 'app.handler'
    MAIN = python_main()
    JSON_SEPARATORS = (', ', ': ')     # json.dumps' defaults, as Lambda's
    ERROR_TYPE = 'MyError'
    ERROR_MESSAGE = 'custom failure'
    EXEC_ENV = 'AWS_Lambda_python3.11'
    PRESTARTED = True
    UNSUPPORTED = {
        'deadline_is_epoch_ms': "the context object gives the remaining time only (as Lambda's)",
    }
    INIT_ERRORS = {
        'missing_module': {'handler': 'nothere.handler', 'type': 'Runtime.ImportModuleError',
                           'message': "Unable to import module 'nothere': No module named 'nothere'"},
        'missing_dependency': {'files': {'app.py': 'import not_a_real_module_xyz\n'
                                                   'def handler(event, context):\n    return 1\n'},
                               'type': 'Runtime.ImportModuleError',
                               'message': "Unable to import module 'app': No module named 'not_a_real_module_xyz'"},
        'handler_not_found': {'handler': 'app.nope', 'type': 'Runtime.HandlerNotFound',
                              'message': "Handler 'nope' missing on module 'app'"},
        'syntax_error': {'files': {'app.py': 'def handler(event, context)\n    return 1\n'},
                         'type': 'Runtime.UserCodeSyntaxError', 'message_re': r"^Syntax error in module 'app': "},
        'malformed_handler': {'handler': 'app', 'type': 'Runtime.MalformedHandlerName',
                              'message': "Bad handler 'app': not enough values to unpack (expected 2, got 1)"},
        'raised_at_init': {'files': {'app.py': src('''
                               def setup():
                                   raise RuntimeError('init failed')
                               setup()
                               def handler(event, context):
                                   return 1
                           ''')}, 'type': 'RuntimeError', 'message': 'init failed'},
    }

    def check_state(self, docs):
        self.assertEqual({d['imports'] for d in docs}, {1}, 'the module is imported once')

    def check_handler_error(self, h, doc, tail):
        self.assertEqual(doc['requestId'], h.get('x-amzn-requestid'))
        self.assertIn('[ERROR] MyError: custom failure', tail)
        self.assertIn('Traceback (most recent call last):', tail)

    def check_init_error(self, kind, name, h, doc):
        # The runtime posts it before any call exists (requestId ""); the call that got it is named.
        self.assertEqual(doc.get('requestId'), h.get('x-amzn-requestid'))
        if kind == 'missing_module':
            # Init output comes before any call is the instance's: it is in the
            # function's log (not necessarily in the call's tail).
            want = "[ERROR] Runtime.ImportModuleError: Unable to import module 'nothere': No module named 'nothere'"
            self.assertTrue(wait_for(lambda: want in function_log_text(self.c, name)),
                            '%r not in the function log:\n%s' % (want, function_log_text(self.c, name)))
        if kind == 'syntax_error':
            self.assertEqual(len(doc['stackTrace']), 1, doc)
            self.assertRegex(doc['stackTrace'][0], r'^  File "[^"]*/app\.py" Line 1\n    def handler')
        if kind == 'raised_at_init':
            self.assertTrue(any('app.py' in f and 'in setup' in f for f in doc['stackTrace']), doc)

    def check_context(self, h, doc, name):
        self.assertIsNone(doc['identity_id'])
        self.assertIsNone(doc['identity_pool'])

    def check_concurrent(self, calls, name):
        for h, doc in calls:
            self.assertEqual(doc['logged_rid'], doc['rid'], 'logging request id is per thread')
        self.assertEqual(len({d['thread'] for h, d in calls}), self.CONCURRENCY, 'one puller thread per call')


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


class PythonRuntimeTest(ServerTestCase):

    def pyfn(self, files, handler='app.handler', runtime='python3.11', **kw):
        if isinstance(files, str):
            files = {'app.py': files}
        name, _ = self.new_function(uniq('py'), files, runtime=runtime, handler=handler, **kw)
        return name

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

    # ------------------------------------------------------------ results

    def test_python3_alias_runtime(self):
        name = self.pyfn(ECHO, runtime='python3')
        _, doc = self.invoke_json(name, {'alias': True})
        self.assertEqual(doc, {'alias': True})

    def test_decimal_result_serialises_like_lambda(self):
        name = self.pyfn(src('''
            from decimal import Decimal
            def handler(event, context):
                return {'int': Decimal('7'), 'frac': Decimal('2.5')}
        '''))
        _, doc = self.invoke_json(name)
        self.assertEqual(doc, {'int': 7, 'frac': 2.5})

    def test_bytearray_result_is_raw(self):
        name = self.pyfn(src('''
            def handler(event, context):
                return bytearray(bytes(range(256)) * 1000)
        '''))
        h, body = self.invoke_ok(name, '{}')
        self.assertEqual(body, bytes(range(256)) * 1000)
        # Invoke answers application/json whatever the runtime posted, as Lambda does.
        self.assertEqual(h.get('content-type'), 'application/json')

    # ------------------------------------------------------------ errors

    def test_handler_error_stack_has_only_the_user_frames(self):
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

    def test_unserialisable_result_is_marshal_error(self):
        name = self.pyfn(FAILING)
        _, doc = self.invoke_error(name, '{"kind": "marshal"}', 'Runtime.MarshalError')
        self.assertEqual(doc['errorMessage'], 'Unable to marshal response: Object of type set is not JSON serializable')

    def test_key_error_message_is_its_repr(self):
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

    # ------------------------------------------------------------ context

    def test_client_context_fields_missing_are_none(self):
        name = self.pyfn(python_main())
        hdr = {'X-Amz-Client-Context': base64.b64encode(b'{"custom":{"foo":"bar"}}').decode()}
        _, doc = self.invoke_json(name, op('context'), hdr)
        self.assertEqual(doc['client_context'], {'custom': {'foo': 'bar'}, 'env': None, 'client': None})

    def test_task_root_and_sys_path(self):
        name = self.pyfn(src('''
            import os
            import sys
            def handler(event, context):
                return {'cwd': os.getcwd(), 'task_root': os.environ.get('LAMBDA_TASK_ROOT'), 'sys_path': sys.path}
        '''))
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

    # ------------------------------------------------------------ shipped files

    def test_example_python_hello_deploys_and_answers(self):
        files = dir_files(init_template('python-hello', 'python'))
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


class PythonRuntimePipeliningTest(unittest.TestCase):
    """The Python runtime sends its next /next right behind each /response or /error, in one
    write, without waiting for the 202 (the daemon then sends the 202 with the next event)."""

    def setUp(self):
        self.api = HeldRuntimeApi(self)
        self.api.write('app.py', 'def handler(event, context):\n'
                                 '    if event.get("fail"):\n'
                                 '        raise ValueError("asked to")\n'
                                 '    return {"got": event}\n')
        self.api.start(['/usr/bin/python3', '-S', os.path.join(REPO, 'runtimes', 'python', 'bootstrap.py')],
                       {'_HANDLER': 'app.handler'})

    def tearDown(self):
        self.api.close()

    def test_next_goes_out_behind_the_response_without_waiting_for_202(self):
        self.api.check_pipelining(lambda n: {'got': {'n': n}}, 'ValueError', 'asked to')
