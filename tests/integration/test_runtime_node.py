"""The Node.js runtime (nodejs20.x): runtimes/node/bootstrap.js, deployed and invoked for real.

Covers what every runtime must do (success, handler error, init errors, timeout,
context, warm state, 6 MB, unicode, binary, logs, per-instance concurrency)
plus the Node-specific module and handler forms: CommonJS (.js, .cjs), ES
modules (.mjs, "type":"module"), sub-folders, node_modules, async, promise,
callback (with and without callbackWaitsForEmptyEventLoop), legacy
context.succeed, unhandled rejections and uncaught exceptions, and the
examples/node-hello function.
"""

import base64
import json
import os
import re
import time

from nimbus_testlib import REPO, ServerTestCase, dir_files, function_arn, uniq

RUNTIME = 'nodejs20.x'

LOG_LINE = r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t%s\t%s\t%s'


def log_line_re(rid, level, msg):
    return re.compile(LOG_LINE % (re.escape(rid), level, re.escape(msg)), re.M)



SLEEP_JS = 'const sleep = (ms) => new Promise((r) => setTimeout(r, ms));\n'

MAIN_CJS = SLEEP_JS + r'''
let counter = 0;
exports.handler = async (event, context) => {
  switch (event.op) {
    case 'echo': return event.data;
    case 'count': counter += 1; return { counter, pid: process.pid };
    case 'throw': { const e = new TypeError('bad input: ' + event.why); throw e; }
    case 'throw-string': throw 'plain string';
    case 'custom-error': {
      class ValidationError extends Error {}
      const e = new ValidationError('custom failure');
      e.name = 'ValidationError';
      throw e;
    }
    case 'context': {
      const r1 = context.getRemainingTimeInMillis();
      await sleep(200);
      const r2 = context.getRemainingTimeInMillis();
      return {
        functionName: context.functionName, functionVersion: context.functionVersion,
        invokedFunctionArn: context.invokedFunctionArn, memoryLimitInMB: context.memoryLimitInMB,
        awsRequestId: context.awsRequestId, logGroupName: context.logGroupName,
        logStreamName: context.logStreamName, clientContext: context.clientContext === undefined ? 'absent' : context.clientContext,
        waits: context.callbackWaitsForEmptyEventLoop, r1, r2,
        envName: process.env.AWS_LAMBDA_FUNCTION_NAME, taskRoot: process.env.LAMBDA_TASK_ROOT,
        cwd: process.cwd(), handlerEnv: process.env._HANDLER, traceId: process.env._X_AMZN_TRACE_ID || null,
      };
    }
    case 'sleep': await sleep(event.ms); return 'slept';
    case 'unicode': return { s: event.s, codePoints: [...event.s].length, upper: event.s.toUpperCase() };
    case 'binary': return Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    case 'uint8': return new Uint8Array([0, 255, 10, 13, 0]);
    case 'undefined': return undefined;
    case 'string': return 'just a string';
    case 'log':
      console.log('log line', event.tag);
      console.info('info line %d', 42);
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
    case 'concurrent': {
      const start = Date.now();
      console.log('start', event.i);
      await sleep(1000);
      console.log('end', event.i);
      return { pid: process.pid, start, end: Date.now(), i: event.i, rid: context.awsRequestId };
    }
    default: return { got: event };
  }
};
'''


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

    def function_log_text(self, name, wanted, timeout=5.0):
        """All log messages of `name` (logs API), polled until each regex in `wanted` matches."""
        end = time.monotonic() + timeout
        while True:
            st, h, body, raw = self.c.api('GET', '/nimbus/v1/functions/%s/logs?limit=10000' % name)
            self.assertEqual(st, 200, raw[:300])
            text = '\n'.join(e.get('message', '') for e in body.get('events', []))
            if all(re.search(w, text) for w in wanted) or time.monotonic() > end:
                return text
            time.sleep(0.1)

    def tail_of(self, h):
        v = h.get('x-amz-log-result')
        self.assertIsNotNone(v, 'no X-Amz-Log-Result: %r' % h)
        return base64.b64decode(v).decode('utf-8', 'replace')

    # ------------------------------------------------------------ success

    def test_success_commonjs_async_handler(self):
        h, doc = self.call_json(self.main, {'op': 'echo', 'data': {'a': [1, 2, {'b': None}], 'ok': True}})
        self.assertEqual(doc, {'a': [1, 2, {'b': None}], 'ok': True})

    def test_undefined_result_is_null_and_string_result_is_json(self):
        h, body = self.call(self.main, {'op': 'undefined'})
        self.assertEqual(body, b'null')
        h, body = self.call(self.main, {'op': 'string'})
        self.assertEqual(body, b'"just a string"')

    def test_state_kept_across_warm_calls(self):
        h, a = self.call_json(self.main, {'op': 'count'})
        h, b = self.call_json(self.main, {'op': 'count'})
        h, c = self.call_json(self.main, {'op': 'count'})
        self.assertEqual(a['pid'], b['pid'])
        self.assertEqual(b['pid'], c['pid'])
        self.assertEqual(b['counter'], a['counter'] + 1)
        self.assertEqual(c['counter'], a['counter'] + 2)

    # ------------------------------------------------------------ errors

    def test_handler_error_typed_with_message_and_trace(self):
        h, doc = self.call_error(self.main, {'op': 'throw', 'why': 'x<0'}, 'TypeError')
        self.assertEqual(doc['errorMessage'], 'bad input: x<0')
        trace = doc.get('trace')
        self.assertIsInstance(trace, list, doc)
        self.assertEqual(trace[0], 'TypeError: bad input: x<0')
        self.assertTrue(any('index.js' in line for line in trace), trace)

    def test_custom_error_name_is_error_type(self):
        h, doc = self.call_error(self.main, {'op': 'custom-error'}, 'ValidationError')
        self.assertEqual(doc['errorMessage'], 'custom failure')

    def test_thrown_string_reported_as_lambda_does(self):
        h, doc = self.call_error(self.main, {'op': 'throw-string'}, 'string')
        self.assertEqual(doc['errorMessage'], 'plain string')

    def test_error_then_success_same_instance(self):
        h, a = self.call_json(self.main, {'op': 'count'})
        self.call_error(self.main, {'op': 'throw', 'why': 'again'}, 'TypeError')
        h, b = self.call_json(self.main, {'op': 'count'})
        self.assertEqual(a['pid'], b['pid'], 'a handled error must not restart the instance')

    def test_error_logged_as_invoke_error(self):
        st, h, body = self.c.invoke(self.main, json.dumps({'op': 'throw', 'why': 'logged'}),
                                    {'X-Amz-Log-Type': 'Tail'})
        rid = h['x-amzn-requestid']
        want = LOG_LINE % (re.escape(rid), 'ERROR', r'Invoke Error \t\{"errorType":"TypeError","errorMessage":"bad input: logged"')
        self.assertRegex(self.function_log_text(self.main, [want]), want)

    def test_unhandled_rejection_fails_the_call_then_next_call_works(self):
        name = self.deploy({'index.js': MAIN_CJS})
        h, before = self.call_json(name, {'op': 'count'})
        h, doc = self.call_error(name, {'op': 'unhandled-rejection'}, 'Runtime.UnhandledPromiseRejection')
        self.assertIn('RangeError: nobody catches me', doc['errorMessage'])
        h, after = self.call_json(name, {'op': 'count'})
        self.assertNotEqual(before['pid'], after['pid'], 'the runtime must exit after an unhandled rejection')
        self.assertEqual(after['counter'], 1)

    def test_uncaught_exception_fails_the_call_then_next_call_works(self):
        name = self.deploy({'index.js': MAIN_CJS})
        h, doc = self.call_error(name, {'op': 'uncaught'}, 'EvalError')
        self.assertEqual(doc['errorMessage'], 'thrown from a timer')
        h, after = self.call_json(name, {'op': 'count'})
        self.assertEqual(after['counter'], 1)

    # ------------------------------------------------------------ init errors

    def test_init_error_missing_module(self):
        name = self.deploy({'other.js': 'exports.handler = async () => 1;'}, handler='index.handler')
        h, doc = self.call_error(name, {}, 'Runtime.ImportModuleError')
        self.assertIn("Error: Cannot find module 'index'", doc['errorMessage'])

    def test_init_error_missing_dependency(self):
        name = self.deploy({'index.js': "const x = require('no-such-package-xyz');\nexports.handler = async () => x;"})
        h, doc = self.call_error(name, {}, 'Runtime.ImportModuleError')
        self.assertIn("Cannot find module 'no-such-package-xyz'", doc['errorMessage'])

    def test_init_error_handler_not_exported(self):
        name = self.deploy({'index.js': 'exports.other = async () => 1;'})
        h, doc = self.call_error(name, {}, 'Runtime.HandlerNotFound')
        self.assertEqual(doc['errorMessage'], 'index.handler is undefined or not exported')

    def test_init_error_handler_not_exported_esm(self):
        name = self.deploy({'index.mjs': 'export const other = async () => 1;'})
        h, doc = self.call_error(name, {}, 'Runtime.HandlerNotFound')
        self.assertEqual(doc['errorMessage'], 'index.handler is undefined or not exported')

    def test_init_error_syntax_error_commonjs(self):
        name = self.deploy({'index.js': 'exports.handler = async () => { return {;\n'})
        h, doc = self.call_error(name, {}, 'Runtime.UserCodeSyntaxError')
        self.assertTrue(doc['errorMessage'].startswith('SyntaxError: '), doc)

    def test_init_error_syntax_error_esm(self):
        name = self.deploy({'index.mjs': 'export const handler = async () => { return {;\n'})
        h, doc = self.call_error(name, {}, 'Runtime.UserCodeSyntaxError')
        self.assertTrue(doc['errorMessage'].startswith('SyntaxError: '), doc)

    def test_init_error_malformed_handler_name(self):
        name = self.deploy({'index.js': 'exports.handler = async () => 1;'}, handler='index')
        h, doc = self.call_error(name, {}, 'Runtime.MalformedHandlerName')
        self.assertIn('Bad handler', doc['errorMessage'])

    def test_init_error_thrown_at_module_top_level(self):
        name = self.deploy({'index.js': "throw new Error('config missing');\n"})
        h, doc = self.call_error(name, {}, 'Error')
        self.assertEqual(doc['errorMessage'], 'config missing')
        self.assertIsInstance(doc.get('trace'), list)

    def test_init_error_every_call_until_fixed(self):
        name = self.deploy({'index.js': 'exports.other = 1;'})
        self.call_error(name, {}, 'Runtime.HandlerNotFound')
        self.call_error(name, {}, 'Runtime.HandlerNotFound')

    # ------------------------------------------------------------ timeout

    def test_timeout_then_next_call_works(self):
        name = self.deploy({'index.js': MAIN_CJS}, timeout=1)
        t0 = time.monotonic()
        st, h, body = self.c.invoke(name, json.dumps({'op': 'sleep', 'ms': 5000}))
        elapsed = time.monotonic() - t0
        self.assertEqual(st, 200, body[:300])
        doc = self.assertFunctionError(h, body, 'Sandbox.Timedout')
        self.assertIn('Task timed out after 1.00 seconds', doc['errorMessage'])
        self.assertLess(elapsed, 4.0)
        h, body = self.call(name, {'op': 'sleep', 'ms': 10})
        self.assertEqual(body, b'"slept"')

    # ------------------------------------------------------------ context

    def test_context_values(self):
        st, h, body = self.c.invoke(self.main, json.dumps({'op': 'context'}))
        self.assertEqual(st, 200, body[:300])
        self.assertNotIn('x-amz-function-error', h, body[:500])
        doc = json.loads(body)
        self.assertEqual(doc['functionName'], self.main)
        self.assertEqual(doc['envName'], self.main)
        self.assertEqual(doc['functionVersion'], '$LATEST')
        self.assertEqual(doc['invokedFunctionArn'], function_arn(self.main))
        self.assertEqual(doc['memoryLimitInMB'], '128')     # a string, as in Lambda
        self.assertEqual(doc['awsRequestId'], h.get('x-amzn-requestid'))
        self.assertEqual(doc['logGroupName'], '/aws/lambda/' + self.main)
        self.assertRegex(doc['logStreamName'], r'^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-zA-Z]+$')
        self.assertEqual(doc['clientContext'], 'absent')
        self.assertIs(doc['waits'], True)
        self.assertEqual(doc['handlerEnv'], 'index.handler')
        self.assertEqual(os.path.realpath(doc['cwd']), os.path.realpath(doc['taskRoot']))
        # Timeout 30 s: remaining time starts near it and falls while the call runs.
        self.assertLessEqual(doc['r1'], 30000)
        self.assertGreater(doc['r1'], 25000)
        self.assertGreaterEqual(doc['r1'] - doc['r2'], 180, doc)
        self.assertLess(doc['r1'] - doc['r2'], 2000, doc)

    def test_context_client_context_parsed(self):
        cc = {'client': {'installation_id': 'inst-1', 'app_title': 'T\u00e9st'}, 'custom': {'k': 'v'},
              'env': {'platform': 'linux'}}
        hdr = base64.b64encode(json.dumps(cc).encode()).decode()
        h, doc = self.call_json(self.main, {'op': 'context'}, {'X-Amz-Client-Context': hdr})
        self.assertEqual(doc['clientContext'], cc)

    # ------------------------------------------------------------ payloads

    def test_6mb_payload_echoed(self):
        data = 'x' * (6 * 1024 * 1024 - 200)
        payload = json.dumps({'op': 'echo', 'data': data})
        self.assertLessEqual(len(payload), 6 * 1024 * 1024)
        h, body = self.call(self.main, payload, timeout=120)
        self.assertEqual(len(body), len(data) + 2)
        self.assertEqual(body, json.dumps(data).encode())

    def test_unicode_round_trip(self):
        s = 'h\u00e9llo \U0001F600 \U0001F30D \u4e2d\u6587 \u65e5\u672c\u8a9e \u0444'
        h, doc = self.call_json(self.main, json.dumps({'op': 'unicode', 's': s}, ensure_ascii=False).encode())
        self.assertEqual(doc['s'], s)
        self.assertEqual(doc['codePoints'], len(s))
        self.assertEqual(doc['upper'], s.upper())

    def test_binary_result_bytes_0_to_255(self):
        h, body = self.call(self.main, {'op': 'binary'})
        self.assertEqual(body, bytes(range(256)))
        self.assertEqual(h.get('content-type'), 'application/octet-stream')

    def test_uint8array_result_raw(self):
        h, body = self.call(self.main, {'op': 'uint8'})
        self.assertEqual(body, b'\x00\xff\n\r\x00')

    # ------------------------------------------------------------ logs

    def test_console_output_in_log_tail_lambda_format(self):
        tag = uniq('tag')
        h, body = self.call(self.main, {'op': 'log', 'tag': tag}, {'X-Amz-Log-Type': 'Tail'})
        rid = h['x-amzn-requestid']
        tail = self.tail_of(h)
        self.assertRegex(tail, log_line_re(rid, 'INFO', 'log line ' + tag))
        self.assertRegex(tail, log_line_re(rid, 'INFO', 'info line 42'))
        self.assertRegex(tail, log_line_re(rid, 'WARN', 'warn line'))
        self.assertRegex(tail, log_line_re(rid, 'ERROR', "error line { k: 'v' }"))
        self.assertRegex(tail, log_line_re(rid, 'INFO', 'multi\rline'))
        self.assertIn('raw stdout ' + tag, tail)
        self.assertIn('raw stderr ' + tag, tail)
        # Output precedes END: it was written before the answer was posted.
        self.assertLess(tail.index('log line ' + tag), tail.index('END RequestId: ' + rid))

    def test_init_output_in_function_log(self):
        # Before any call (as Lambda), so the request id field reads "undefined".
        name = self.deploy({'index.js': "console.log('initialising module');\n"
                                        "exports.handler = async () => 'ok';"})
        self.call(name, {})
        want = LOG_LINE % ('undefined', 'INFO', 'initialising module')
        self.assertRegex(self.function_log_text(name, [want]), want)

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
        self.assertRegex(self.function_log_text(name, [want]), want)

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

    # ------------------------------------------------------------ concurrency

    def test_instance_concurrency_overlaps_on_one_instance(self):
        n = 4
        name = self.deploy({'index.js': MAIN_CJS}, extra={'InstanceConcurrency': n}, timeout=20)
        self.call(name, {'op': 'count'})       # cold start out of the way
        elapsed, calls = self.invoke_together(name, [json.dumps({'op': 'concurrent', 'i': i}) for i in range(n)],
                                              {'X-Amz-Log-Type': 'Tail'})
        for h, doc in calls:
            self.assertEqual(doc['rid'], h['x-amzn-requestid'])
        docs = [doc for h, doc in calls]
        # Overlapping calls share the instance's output: each line must carry its own call's id.
        wanted = [log_line_re(d['rid'], 'INFO', '%s %d' % (what, d['i'])).pattern
                  for d in docs for what in ('start', 'end')]
        text = self.function_log_text(name, wanted)
        for w in wanted:
            self.assertRegex(text, w)
        self.assertOverlappedOnOneInstance(docs, elapsed, 2.5)

    # ------------------------------------------------------------ example

    def test_example_node_hello_deploys_and_answers(self):
        files = dir_files(os.path.join(REPO, 'examples', 'node-hello'))
        self.assertIn('index.mjs', files)
        name = self.deploy(files, handler='index.handler', prefix='node-hello')
        h, doc = self.call_json(name, {'name': 'Ada'}, {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['requestId'], h['x-amzn-requestid'])
        want = LOG_LINE % (re.escape(h['x-amzn-requestid']), 'INFO', 'greeting Ada')
        self.assertRegex(self.function_log_text(name, [want]), want)
        h, doc2 = self.call_json(name, {})
        self.assertEqual(doc2['message'], 'Hello, world!')
        self.assertEqual(doc2['calls'], doc['calls'] + 1)

    def test_template_node_deploys_and_answers(self):
        files = dir_files(os.path.join(REPO, 'templates', 'node'))
        name = self.deploy(files, handler='index.handler', prefix='node-tpl')
        h, doc = self.call_json(name, {'name': 'Grace'})
        self.assertEqual(doc['message'], 'Hello, Grace!')
        self.assertEqual(doc['requestId'], h['x-amzn-requestid'])
