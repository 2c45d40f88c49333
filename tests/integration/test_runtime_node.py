"""The Node.js runtime (nodejs20.x): runtimes/node/bootstrap.js, deployed and invoked for real.

NodeConformance runs the shared runtime conformance suite (runtime_conformance.py) with a
CommonJS async handler; NodeRuntimeTest holds what only Node has: thrown non-errors, unhandled
rejections and uncaught exceptions, console's log format, the module forms (CommonJS .js/.cjs,
ES modules .mjs and "type":"module", sub-folders, node_modules), the handler forms (promise,
callback with and without callbackWaitsForEmptyEventLoop, legacy context.succeed), and the
node-hello example (`nimbus init --template node`) and the template's files. NodePrestartedTest:
cold starts on a runtime started ahead (warmed up before its call) with ESM, CommonJS and init errors.
"""

import json
import os
import re
import time
import unittest

from nimbus_testlib import (REPO, TAIL, ServerTestCase, dir_files, function_log_text, init_template, instances_of,
                            tail_text, uniq, wait_for)
from runtime_conformance import ENV_NAMES, ConformanceSuite

RUNTIME = 'nodejs20.x'

LOG_LINE = r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t%s\t%s\t%s'


def log_line_re(rid, level, msg):
    return re.compile(LOG_LINE % (re.escape(rid), level, re.escape(msg)), re.M)


SLEEP_JS = 'const sleep = (ms) => new Promise((r) => setTimeout(r, ms));\n'

MAIN_CJS = SLEEP_JS + r'''
const ENV_NAMES = %s;
let calls = 0;
console.log('init-marker');
exports.handler = async (event, context) => {
  const op = event !== null && typeof event === 'object' ? event.op : undefined;
  const rid = context.awsRequestId;
  switch (op) {
    case 'count': calls += 1; return { calls, pid: process.pid, rid };
    case 'fail': throw new TypeError('bad input: x<0');
    case 'exit': process.exit(3);
    case 'sleep': console.log('going to sleep'); await sleep(event.secs * 1000); return 'slept';
    case 'context': {
      const r1 = context.getRemainingTimeInMillis();
      await sleep(200);
      const r2 = context.getRemainingTimeInMillis();
      return {
        function_name: context.functionName, function_version: context.functionVersion,
        invoked_function_arn: context.invokedFunctionArn, memory: context.memoryLimitInMB,
        request_id: rid, log_group_name: context.logGroupName, log_stream_name: context.logStreamName,
        r1, r2, trace: process.env._X_AMZN_TRACE_ID || null, handler: process.env._HANDLER || null,
        cwd: process.cwd(), task_root: process.env.LAMBDA_TASK_ROOT || null,
        exec_env: process.env.AWS_EXECUTION_ENV || null,
        client_context: context.clientContext === undefined ? 'absent' : context.clientContext,
        waits: context.callbackWaitsForEmptyEventLoop, envName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      };
    }
    case 'env': return Object.fromEntries(ENV_NAMES.map((k) => [k, k in process.env ? process.env[k] : null]));
    case 'binary': return Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    case 'log': console.log('out-line', rid); process.stderr.write('err-line ' + rid + '\n'); return 'logged';
    case 'concurrent': {
      const start = Date.now();
      console.log('start', event.i);
      await sleep(1000);
      console.log('end', event.i);
      return { pid: process.pid, start, end: Date.now(), i: event.i, rid };
    }
    case 'string': return 'plain text';
    case 'null': return undefined;
    case 'unicode': {
      console.log('log:', event.s);
      return { s: event.s, len: [...event.s].length, upper: event.s.toUpperCase(), raw: 'ünï 😀 漢字' };
    }
    // Node's own
    case 'throw-string': throw 'plain string';
    case 'custom-error': {
      class ValidationError extends Error {}
      const e = new ValidationError('custom failure');
      e.name = 'ValidationError';
      throw e;
    }
    case 'uint8': return new Uint8Array([0, 255, 10, 13, 0]);
    case 'console':
      console.log('log line', event.tag);
      console.info('info line %%d', 42);
      console.warn('warn line');
      console.error('error line', { k: 'v' });
      console.log('multi\nline');
      process.stdout.write('raw stdout ' + event.tag + '\n');
      process.stderr.write('raw stderr ' + event.tag + '\n');
      return 'logged';
    case 'unhandled-rejection':
      Promise.reject(new RangeError('nobody catches me'));
      await sleep(300);
      return 'should not be the answer';
    case 'uncaught':
      setTimeout(() => { throw new EvalError('thrown from a timer'); }, 10);
      await sleep(300);
      return 'should not be the answer';
    default: return event;
  }
};
''' % json.dumps(list(ENV_NAMES))


class NodeConformance(ConformanceSuite, ServerTestCase):
    RUNTIME = RUNTIME
    HANDLER = 'index.handler'
    MAIN = {'index.js': MAIN_CJS}
    JSON_SEPARATORS = (',', ':')        # JSON.stringify
    ERROR_TYPE = 'TypeError'
    ERROR_MESSAGE = 'bad input: x<0'
    STACK_KEY = 'trace'
    MEMORY_TYPE = str            # a string, as in Lambda
    NO_CLIENT_CONTEXT = 'absent'
    EXEC_ENV = 'AWS_Lambda_nodejs20.x'
    PRESTARTED = True
    UNSUPPORTED = {
        'deadline_is_epoch_ms': "the context object gives the remaining time only (as Lambda's)",
    }
    INIT_ERRORS = {
        'missing_module': {'files': {'other.js': 'exports.handler = async () => 1;'},
                           'type': 'Runtime.ImportModuleError', 'message': "Error: Cannot find module 'index'"},
        'missing_dependency': {'files': {'index.js': "const x = require('no-such-package-xyz');\n"
                                                     "exports.handler = async () => x;"},
                               'type': 'Runtime.ImportModuleError',
                               'message_re': r"^Error: Cannot find module 'no-such-package-xyz'"},
        'handler_not_found': {'handler': 'index.nope', 'type': 'Runtime.HandlerNotFound',
                              'message': 'index.nope is undefined or not exported'},
        'syntax_error': {'files': {'index.js': 'exports.handler = async () => { return {;\n'},
                         'type': 'Runtime.UserCodeSyntaxError', 'message_re': r'^SyntaxError: '},
        'malformed_handler': {'handler': 'index', 'type': 'Runtime.MalformedHandlerName',
                              'message': 'Bad handler index'},
        'raised_at_init': {'files': {'index.js': "throw new Error('config missing');\n"},
                           'type': 'Error', 'message': 'config missing'},
    }

    def check_handler_error(self, h, doc, tail):
        trace = doc['trace']
        self.assertEqual(trace[0], 'TypeError: bad input: x<0')
        self.assertTrue(any('index.js' in line for line in trace), trace)
        want = LOG_LINE % (re.escape(h['x-amzn-requestid']), 'ERROR',
                           r'Invoke Error \t\{"errorType":"TypeError","errorMessage":"bad input: x<0"')
        self.assertRegex(tail, want)

    def check_context(self, h, doc, name):
        self.assertEqual(doc['envName'], name)
        self.assertIs(doc['waits'], True)

    def check_concurrent(self, calls, name):
        # Overlapping calls share the instance's output: each line must carry its own call's id.
        docs = [doc for h, doc in calls]
        wanted = [log_line_re(d['rid'], 'INFO', '%s %d' % (what, d['i'])).pattern
                  for d in docs for what in ('start', 'end')]
        text = function_log_text(self.c, name, wanted, regex=True)
        for w in wanted:
            self.assertRegex(text, w)


class NodeRuntimeTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.main = uniq('node-main')
        st, h, body, raw = cls.c.create_function(cls.main, {'index.js': MAIN_CJS}, runtime=RUNTIME,
                                                 handler='index.handler', timeout=30)
        if st != 201:
            raise AssertionError('CreateFunction -> %s %r' % (st, raw[:300]))

    # ------------------------------------------------------------ helpers

    def deploy(self, files, handler='index.handler', timeout=10, prefix='node', **kw):
        name, _ = self.new_function(uniq(prefix), files, runtime=RUNTIME, handler=handler,
                                    timeout=timeout, **kw)
        return name

    def call(self, name, event, headers=None, timeout=60):
        payload = event if isinstance(event, (bytes, str)) else json.dumps(event)
        return self.invoke_ok(name, payload, headers, timeout)

    def call_json(self, name, event, headers=None, timeout=60):
        h, body = self.call(name, event, headers, timeout)
        try:
            return h, json.loads(body)
        except ValueError:
            self.fail('result is not JSON: %r' % body[:500])

    def call_error(self, name, event, want_type, timeout=60):
        st, h, body = self.c.invoke(name, json.dumps(event), timeout=timeout)
        self.assertEqual(st, 200, body[:500])
        return h, self.assertFunctionError(h, body, want_type)

    # ------------------------------------------------------------ errors

    def test_custom_error_name_is_error_type(self):
        h, doc = self.call_error(self.main, {'op': 'custom-error'}, 'ValidationError')
        self.assertEqual(doc['errorMessage'], 'custom failure')

    def test_thrown_string_reported_as_lambda_does(self):
        h, doc = self.call_error(self.main, {'op': 'throw-string'}, 'string')
        self.assertEqual(doc['errorMessage'], 'plain string')

    def test_error_logged_as_invoke_error_in_the_function_log(self):
        st, h, body = self.c.invoke(self.main, json.dumps({'op': 'fail'}), TAIL)
        rid = h['x-amzn-requestid']
        want = LOG_LINE % (re.escape(rid), 'ERROR', r'Invoke Error \t\{"errorType":"TypeError","errorMessage":"bad input: x<0"')
        self.assertRegex(function_log_text(self.c, self.main, [want], regex=True), want)

    def test_unhandled_rejection_fails_the_call_then_next_call_works(self):
        name = self.deploy({'index.js': MAIN_CJS})
        h, before = self.call_json(name, {'op': 'count'})
        h, doc = self.call_error(name, {'op': 'unhandled-rejection'}, 'Runtime.UnhandledPromiseRejection')
        self.assertIn('RangeError: nobody catches me', doc['errorMessage'])
        h, after = self.call_json(name, {'op': 'count'})
        self.assertNotEqual(before['pid'], after['pid'], 'the runtime must exit after an unhandled rejection')
        self.assertEqual(after['calls'], 1)

    def test_uncaught_exception_fails_the_call_then_next_call_works(self):
        name = self.deploy({'index.js': MAIN_CJS})
        h, doc = self.call_error(name, {'op': 'uncaught'}, 'EvalError')
        self.assertEqual(doc['errorMessage'], 'thrown from a timer')
        h, after = self.call_json(name, {'op': 'count'})
        self.assertEqual(after['calls'], 1)

    # ------------------------------------------------------------ init errors (ES modules)

    def test_init_error_handler_not_exported_esm(self):
        name = self.deploy({'index.mjs': 'export const other = async () => 1;'})
        h, doc = self.call_error(name, {}, 'Runtime.HandlerNotFound')
        self.assertEqual(doc['errorMessage'], 'index.handler is undefined or not exported')

    def test_init_error_syntax_error_esm(self):
        name = self.deploy({'index.mjs': 'export const handler = async () => { return {;\n'})
        h, doc = self.call_error(name, {}, 'Runtime.UserCodeSyntaxError')
        self.assertTrue(doc['errorMessage'].startswith('SyntaxError: '), doc)

    # ------------------------------------------------------------ results

    def test_uint8array_result_raw(self):
        h, body = self.call(self.main, {'op': 'uint8'})
        self.assertEqual(body, b'\x00\xff\n\r\x00')

    # ------------------------------------------------------------ logs

    def test_console_output_in_log_tail_lambda_format(self):
        tag = uniq('tag')
        h, body = self.call(self.main, {'op': 'console', 'tag': tag}, TAIL)
        rid = h['x-amzn-requestid']
        tail = tail_text(h)
        self.assertRegex(tail, log_line_re(rid, 'INFO', 'log line ' + tag))
        self.assertRegex(tail, log_line_re(rid, 'INFO', 'info line 42'))
        self.assertRegex(tail, log_line_re(rid, 'WARN', 'warn line'))
        self.assertRegex(tail, log_line_re(rid, 'ERROR', "error line { k: 'v' }"))
        self.assertRegex(tail, log_line_re(rid, 'INFO', 'multi\rline'))
        self.assertIn('raw stdout ' + tag, tail)
        self.assertIn('raw stderr ' + tag, tail)
        # Output precedes END: it was written before the answer was posted.
        self.assertLess(tail.index('log line ' + tag), tail.index('END RequestId: ' + rid))

    def test_init_output_in_function_log_has_no_request_id(self):
        # Before any call (as Lambda), so the request id field reads "undefined".
        name = self.deploy({'index.js': "console.log('initialising module');\n"
                                        "exports.handler = async () => 'ok';"})
        self.call(name, {})
        want = LOG_LINE % ('undefined', 'INFO', 'initialising module')
        self.assertRegex(function_log_text(self.c, name, [want], regex=True), want)

    # ------------------------------------------------------------ module forms

    def test_commonjs_cjs_extension(self):
        name = self.deploy({'app.cjs': "exports.run = async (e) => ({ kind: typeof module, e });"},
                           handler='app.run')
        h, doc = self.call_json(name, {'x': 1})
        self.assertEqual(doc, {'kind': 'object', 'e': {'x': 1}})

    def test_esm_mjs_with_top_level_await(self):
        name = self.deploy({'index.mjs': "import { createHash } from 'node:crypto';\n"
                                         "const ready = await Promise.resolve('tla');\n"
                                         "export const handler = async (event) => ({ ready, "
                                         "h: createHash('sha256').update(event.s).digest('hex'), "
                                         "esm: typeof require === 'undefined' });"})
        h, doc = self.call_json(name, {'s': 'abc'})
        self.assertEqual(doc, {'ready': 'tla', 'esm': True,
                               'h': 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'})

    def test_esm_type_module_package(self):
        name = self.deploy({'package.json': json.dumps({'name': 'fn', 'type': 'module'}),
                            'index.js': "import { greet } from './lib/greet.js';\n"
                                        "export async function handler(event) { return { msg: greet(event.name), "
                                        "esm: typeof require === 'undefined' }; }",
                            'lib/greet.js': "export const greet = (n) => `hi ${n}`;"})
        h, doc = self.call_json(name, {'name': 'ada'})
        self.assertEqual(doc, {'msg': 'hi ada', 'esm': True})

    def test_commonjs_js_without_type_module_uses_require(self):
        name = self.deploy({'package.json': json.dumps({'name': 'fn'}),
                            'index.js': "const path = require('path');\n"
                                        "exports.handler = async () => ({ cjs: typeof require, "
                                        "base: path.basename(__filename) });"})
        h, doc = self.call_json(name, {})
        self.assertEqual(doc, {'cjs': 'function', 'base': 'index.js'})

    def test_subfolder_handler(self):
        name = self.deploy({'src/handlers/app.js': "const u = require('../util');\n"
                                                    "exports.main = async (e) => u.twice(e.n);",
                            'src/util.js': 'exports.twice = (n) => n * 2;'},
                           handler='src/handlers/app.main')
        h, body = self.call(name, {'n': 21})
        self.assertEqual(body, b'42')

    def test_subfolder_esm_handler(self):
        name = self.deploy({'src/app.mjs': 'export const handler = async (e) => ({ sub: true, n: e.n });'},
                           handler='src/app.handler')
        h, doc = self.call_json(name, {'n': 7})
        self.assertEqual(doc, {'sub': True, 'n': 7})

    def test_nested_property_handler(self):
        name = self.deploy({'index.js': 'exports.api = { v1: { get: async () => "nested" } };'},
                           handler='index.api.v1.get')
        h, body = self.call(name, {})
        self.assertEqual(body, b'"nested"')

    def test_node_modules_dependency(self):
        name = self.deploy({'index.js': "const lib = require('tiny-lib');\nexports.handler = async () => lib.answer();",
                            'node_modules/tiny-lib/package.json': json.dumps({'name': 'tiny-lib', 'main': 'main.js'}),
                            'node_modules/tiny-lib/main.js': 'exports.answer = () => ({ from: "node_modules" });'})
        h, doc = self.call_json(name, {})
        self.assertEqual(doc, {'from': 'node_modules'})

    # ------------------------------------------------------------ handler forms

    def test_promise_returning_non_async_handler(self):
        name = self.deploy({'index.js': "exports.handler = (e) => new Promise((r) => setTimeout(() => r({ p: e.v }), 20));"})
        h, doc = self.call_json(name, {'v': 5})
        self.assertEqual(doc, {'p': 5})

    def test_rejected_promise_is_handler_error(self):
        name = self.deploy({'index.js': "exports.handler = () => Promise.reject(new SyntaxError('late parse'));"})
        h, doc = self.call_error(name, {}, 'SyntaxError')
        self.assertEqual(doc['errorMessage'], 'late parse')

    def test_callback_handler_success(self):
        name = self.deploy({'index.js': "exports.handler = function (event, context, callback) {\n"
                                        "  setTimeout(() => callback(null, { cb: event.v, id: context.awsRequestId }), 10);\n};"})
        h, doc = self.call_json(name, {'v': 'yes'})
        self.assertEqual(doc, {'cb': 'yes', 'id': h['x-amzn-requestid']})

    def test_callback_handler_error(self):
        name = self.deploy({'index.js': "exports.handler = (event, context, callback) => callback(new URIError('cb failed'));"})
        h, doc = self.call_error(name, {}, 'URIError')
        self.assertEqual(doc['errorMessage'], 'cb failed')

    def test_sync_handler_throwing(self):
        name = self.deploy({'index.js': "exports.handler = (event, context, callback) => { throw new Error('sync boom'); };"})
        h, doc = self.call_error(name, {}, 'Error')
        self.assertEqual(doc['errorMessage'], 'sync boom')

    def test_callback_waits_for_empty_event_loop(self):
        # Default true: the answer waits for the pending timer, whose output is in this call's log.
        name = self.deploy({'index.js': "exports.handler = (event, context, callback) => {\n"
                                        "  setTimeout(() => console.log('timer after callback'), 400);\n"
                                        "  callback(null, 'answered');\n};"})
        self.call(name, {})      # cold start out of the measurement
        t0 = time.monotonic()
        h, body = self.call(name, {}, {'X-Amz-Log-Type': 'Tail'})
        elapsed = time.monotonic() - t0
        self.assertEqual(body, b'"answered"')
        self.assertGreaterEqual(elapsed, 0.35)
        want = LOG_LINE % (re.escape(h['x-amzn-requestid']), 'INFO', 'timer after callback')
        self.assertRegex(function_log_text(self.c, name, [want], regex=True), want)

    def test_callback_does_not_wait_when_disabled(self):
        name = self.deploy({'index.js': "let t = null;\n"
                                        "exports.handler = (event, context, callback) => {\n"
                                        "  context.callbackWaitsForEmptyEventLoop = false;\n"
                                        "  if (!t) t = setInterval(() => {}, 100000);\n"
                                        "  callback(null, 'fast');\n};"})
        self.call(name, {})
        t0 = time.monotonic()
        h, body = self.call(name, {})
        self.assertEqual(body, b'"fast"')
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_legacy_context_succeed_and_fail(self):
        name = self.deploy({'index.js': "exports.handler = (event, context) => {\n"
                                        "  if (event.fail) context.fail(new Error('legacy fail'));\n"
                                        "  else context.succeed({ legacy: true });\n};"})
        h, doc = self.call_json(name, {})
        self.assertEqual(doc, {'legacy': True})
        h, doc = self.call_error(name, {'fail': True}, 'Error')
        self.assertEqual(doc['errorMessage'], 'legacy fail')

    def test_sync_handler_without_callback_answers_null_when_idle(self):
        # As Lambda: a non-async handler's return value is ignored; null once the loop is empty.
        name = self.deploy({'index.js': "exports.handler = (event) => 'ignored';"})
        h, body = self.call(name, {})
        self.assertEqual(body, b'null')

    # ------------------------------------------------------------ example

    def test_example_node_hello_deploys_and_answers(self):
        files = dir_files(init_template('node-hello', 'node'))
        self.assertIn('index.mjs', files)
        name = self.deploy(files, handler='index.handler', prefix='node-hello')
        h, doc = self.call_json(name, {'name': 'Ada'}, {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['requestId'], h['x-amzn-requestid'])
        want = LOG_LINE % (re.escape(h['x-amzn-requestid']), 'INFO', 'greeting Ada')
        self.assertRegex(function_log_text(self.c, name, [want], regex=True), want)
        h, doc2 = self.call_json(name, {})
        self.assertEqual(doc2['message'], 'Hello, world!')
        self.assertEqual(doc2['calls'], doc['calls'] + 1)

    def test_template_node_deploys_and_answers(self):
        files = dir_files(os.path.join(REPO, 'templates', 'node'))
        name = self.deploy(files, handler='index.handler', prefix='node-tpl')
        h, doc = self.call_json(name, {'name': 'Grace'})
        self.assertEqual(doc['message'], 'Hello, Grace!')
        self.assertEqual(doc['requestId'], h['x-amzn-requestid'])


class NodePrestartedTest(ServerTestCase):
    """Cold starts on a runtime started ahead (runtimes/node/prestart.js): it warmed its HTTP client,
    the ESM loader and the log format before its call, and must still load every handler form and
    report init errors as Lambda does (docs/runtimes.md, "Started ahead of the call")."""
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest('runtimes are started ahead only in the root sandbox')
        super().setUpClass()

    @classmethod
    def class_setup(cls):
        # The spawner starts a Node runtime ahead once Node has had a cold start.
        name = uniq('node-primer')
        st, h, body, raw = cls.c.create_function(name, {'index.js': 'exports.handler = async () => 1;\n'},
                                                 runtime=RUNTIME, handler='index.handler')
        if st != 201 or cls.c.invoke(name, b'{}')[0] != 200:
            raise AssertionError('primer function failed: %s %r' % (st, raw[:300]))

    def waiting_node(self):
        """A Node runtime started ahead, still waiting under an init that has not had its request
        (a root one) of this server."""
        from test_sandbox import comm, inits_of, parent_of, status_ids
        for init in inits_of(self.server):
            if status_ids(int(init))['Uid'] != '0':
                continue
            if any(comm(k) == 'node' for k in os.listdir('/proc') if k.isdigit() and parent_of(k) == int(init)):
                return True
        return False

    def first_call(self, files, handler):
        """Deploy; make its first call (a cold start) once a Node runtime waits started ahead, the
        only one there is, so the cold start takes it. (name, status, headers, body)."""
        name, _ = self.new_function(uniq('node-pre'), files, runtime=RUNTIME, handler=handler, timeout=10)
        self.assertTrue(wait_for(self.waiting_node, timeout=20, interval=0.2), 'no Node runtime started ahead')
        st, h, body = self.c.invoke(name, b'{"k":"v"}', {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(st, 200, body)
        return name, h, body

    def assertPrestarted(self, name):
        insts = [i for i in instances_of(self.c, name) if i.get('SandboxPhases')]
        self.assertTrue(insts and insts[-1]['SandboxPhases'].get('Prestarted'), insts)

    def test_esm_handler_after_prestart(self):
        name, h, body = self.first_call(
            {'index.mjs': "import { basename } from 'node:path';\n"
                          "const at = await Promise.resolve(basename(import.meta.url));\n"
                          "console.log('esm', at);\n"
                          "export const handler = async (e, ctx) => ({ e, at, tz: process.env.TZ,\n"
                          "  offset: new Date().getTimezoneOffset(), rid: ctx.awsRequestId });\n"},
            'index.handler')
        self.assertNotIn('x-amz-function-error', h, body)
        self.assertPrestarted(name)
        doc = json.loads(body)
        self.assertEqual((doc['e'], doc['at'], doc['tz'], doc['offset'], doc['rid']),
                         ({'k': 'v'}, 'index.mjs', ':UTC', 0, h['x-amzn-requestid']))
        want = LOG_LINE % ('undefined', 'INFO', 'esm index.mjs')
        self.assertRegex(function_log_text(self.c, name, [want], regex=True), want)

    def test_commonjs_callback_handler_after_prestart(self):
        name, h, body = self.first_call(
            {'index.js': "exports.handler = (e, ctx, cb) => { console.log('cjs %d', 7);\n"
                         "  cb(null, { e, fn: ctx.functionName, env: process.env.AWS_LAMBDA_FUNCTION_NAME,\n"
                         "    stale: Object.keys(process.env).filter((k) => k.startsWith('_NIMBUS')) }); };\n"},
            'index.handler')
        self.assertNotIn('x-amz-function-error', h, body)
        self.assertPrestarted(name)
        doc = json.loads(body)
        self.assertEqual((doc['e'], doc['fn'], doc['env'], doc['stale']), ({'k': 'v'}, name, name, []))
        self.assertRegex(tail_text(h), LOG_LINE % (re.escape(h['x-amzn-requestid']), 'INFO', 'cjs 7'))

    def test_import_error_after_prestart(self):
        name, h, body = self.first_call(
            {'index.mjs': "import x from 'no-such-package-xyz';\nexport const handler = async () => x;\n"},
            'index.handler')
        doc = self.assertFunctionError(h, body, 'Runtime.ImportModuleError')
        self.assertIn("Cannot find package 'no-such-package-xyz'", doc['errorMessage'])

    def test_handler_not_found_after_prestart(self):
        name, h, body = self.first_call({'index.js': 'exports.other = async () => 1;\n'}, 'index.handler')
        doc = self.assertFunctionError(h, body, 'Runtime.HandlerNotFound')
        self.assertEqual(doc['errorMessage'], 'index.handler is undefined or not exported')
