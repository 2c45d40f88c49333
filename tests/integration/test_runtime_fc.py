"""Alibaba FC HTTP-server runtime (provided.fc): the function is an HTTP server Nimbus calls.

docs/design.md, "FC custom runtime": ./bootstrap starts a server on 0.0.0.0:$FC_SERVER_PORT
(FC's CAPort, function field "HttpPort", default 9000; Nimbus gives each
instance its own port while instances share the network). Nimbus waits for
the port (a server that never listens is a clear error within the start-up
timeout: 10 s, or the call's own deadline when the function's Timeout is
shorter), POSTs /initialize once per instance when "Initializer" is true,
POSTs /invoke per call (body = the event; x-fc-request-id and the other
x-fc-* headers), treats `x-fc-status: 404` or an HTTP status >= 400 as a
function error, and GETs /pre-stop before reclaiming an instance.
FcConformance runs the shared runtime conformance suite (runtime_conformance.py) with the
test server below; FcRuntimeTest holds what only FC's contract has: the x-fc-* headers, the
initializer, x-fc-status and HTTP statuses as errors, a server that never listens or dies,
/pre-stop, and the fc-hello example (`nimbus init --template fc`).
"""

import base64
import json
import time
import urllib.parse

from nimbus_testlib import ServerTestCase, dir_files, init_template, uniq, wait_for
from runtime_conformance import ENV_NAMES, ConformanceSuite

RUNTIME = 'provided.fc'

BOOTSTRAP = '#!/bin/sh\nexec /usr/bin/python3 -u server.py\n'

# The test server: ops chosen by the event's "op" (those of the conformance suite, and
# "echo": the server's state and what it was sent).
SERVER = r'''
import json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {'calls': 0, 'inits': 0, 'counts': 0}
ENV_NAMES = @ENV_NAMES@
print('init-marker', flush=True)


class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def reply(self, status, data, fc_status=None, ctype='application/json'):
        if not isinstance(data, bytes):
            data = json.dumps(data).encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        if fc_status is not None:
            self.send_header('x-fc-status', str(fc_status))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n) if n else b''
        if self.path == '/initialize':
            with LOCK:
                STATE['inits'] += 1
            print('initialize called pid=%d' % os.getpid(), flush=True)
            if os.environ.get('INIT_FAIL'):
                return self.reply(500, {'errorType': 'InitBroken', 'errorMessage': 'initializer failed'}, 404)
            return self.reply(200, {'ok': True}, 200)
        if self.path != '/invoke':
            return self.reply(400, {'errorType': 'BadPath', 'errorMessage': self.path}, 404)
        ev = json.loads(body) if body else {}
        op = ev.get('op') if isinstance(ev, dict) else None
        with LOCK:
            STATE['calls'] += 1
            calls, inits = STATE['calls'], STATE['inits']
        rid = self.headers.get('x-fc-request-id', '')
        print('fc-test-log op=%s rid=%s' % (op, rid), flush=True)
        if op == 'fail404':
            return self.reply(404, {'errorType': 'HandlerError', 'errorMessage': 'failed with 404'}, 404)
        if op == 'fail500':
            return self.reply(500, {'errorType': 'ServerError', 'errorMessage': 'failed with 500'})
        if op == 'fcstatus404':
            return self.reply(200, {'errorType': 'StatusError', 'errorMessage': 'x-fc-status only'}, 404)
        if op == 'raw':
            return self.reply(200, body, 200, 'application/octet-stream')
        if op == 'count':
            with LOCK:
                STATE['counts'] += 1
                n = STATE['counts']
            return self.reply(200, {'calls': n, 'pid': os.getpid(), 'rid': rid}, 200)
        if op == 'fail':
            return self.reply(404, {'errorType': 'HandlerError', 'errorMessage': 'failed with 404'}, 404)
        if op == 'exit':
            sys.stdout.flush()
            os._exit(3)
        if op == 'drop':        # hang up on this call and live on
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if op == 'sleep':
            print('going to sleep', flush=True)
            time.sleep(ev['secs'])
            return self.reply(200, 'slept', 200)
        if op == 'env':
            return self.reply(200, {k: os.environ.get(k) for k in ENV_NAMES}, 200)
        if op == 'binary':
            return self.reply(200, bytes(range(256)), 200, 'application/octet-stream')
        if op == 'log':
            print('out-line', rid, flush=True)
            print('err-line', rid, file=sys.stderr, flush=True)
            return self.reply(200, 'logged', 200)
        if op == 'concurrent':
            start = time.time()
            time.sleep(1)
            return self.reply(200, {'pid': os.getpid(), 'start': start, 'end': time.time(), 'rid': rid}, 200)
        if op != 'echo':        # anything else: the event, byte for byte
            return self.reply(200, body, 200)
        start = time.time()
        self.reply(200, {
            'requestId': rid, 'calls': calls, 'inits': inits, 'pid': os.getpid(),
            'headers': {k.lower(): v for k, v in self.headers.items() if k.lower().startswith('x-fc-')},
            'contentType': self.headers.get('Content-Type'), 'event': ev,
            'start': start, 'end': time.time(), 'port': int(os.environ.get('FC_SERVER_PORT', '0')),
        }, 200)

    def do_GET(self):
        if self.path == '/pre-stop':
            print('pre-stop-marker pid=%d calls=%d' % (os.getpid(), STATE['calls']), flush=True)
            return self.reply(200, {'ok': True}, 200)
        self.reply(404, {'errorType': 'BadPath', 'errorMessage': self.path}, 404)

    def log_message(self, *a):
        pass


signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
srv = ThreadingHTTPServer(('0.0.0.0', int(os.environ.get('FC_SERVER_PORT') or 9000)), H)
srv.daemon_threads = True
srv.serve_forever()
'''.replace('@ENV_NAMES@', repr(ENV_NAMES))


def server_files():
    return {'bootstrap': (BOOTSTRAP, 0o755), 'server.py': SERVER}



class FcConformance(ConformanceSuite, ServerTestCase):
    RUNTIME = RUNTIME
    HANDLER = 'index.handler'
    MAIN = server_files()
    DEPLOY = {'extra': {'HttpPort': 9000, 'Initializer': True}}
    BYTE_EXACT = True
    ERROR_TYPE = 'HandlerError'
    ERROR_MESSAGE = 'failed with 404'
    STACK_KEY = None             # the error document is the server's answer, as it is
    NO_CONTEXT = 'FC gives the context as x-fc-* request headers (FcRuntimeTest.test_success_with_fc_headers)'
    NO_HANDLER = "the bootstrap starts the function's own HTTP server: no module or handler to look up"
    UNSUPPORTED = {
        'string_and_null_results': 'the server sends the response bytes itself: there is no value to serialise',
        'unicode_strings': 'the server answers with bytes',
        'context_values': NO_CONTEXT,
        'deadline_is_epoch_ms': NO_CONTEXT,
        'trace_id_set_per_call': NO_CONTEXT,
        'client_context_delivered': NO_CONTEXT,
        'init_error_missing_module': NO_HANDLER,
        'init_error_missing_dependency': NO_HANDLER,
        'init_error_handler_not_found': NO_HANDLER,
        'init_error_syntax_error': NO_HANDLER,
        'init_error_malformed_handler': NO_HANDLER,
        'init_error_every_call_until_fixed': NO_HANDLER,
    }
    INIT_ERRORS = {
        'raised_at_init': {'deploy': {'env': {'INIT_FAIL': '1'}}, 'type': 'InitBroken',
                           'message': 'initializer failed'},
    }


class FcRuntimeTest(ServerTestCase):

    def deploy(self, files=None, initializer=True, prefix='fc', extra=None, **kw):
        x = {'HttpPort': 9000, 'Initializer': initializer}
        x.update(extra or {})
        name, _ = self.new_function(uniq(prefix), files or server_files(), runtime=RUNTIME,
                                    handler='index.handler', extra=x, **kw)
        return name

    def call_json(self, name, event, headers=None, timeout=60):
        h, body = self.invoke_ok(name, json.dumps(event), headers, timeout)
        try:
            return h, json.loads(body)
        except ValueError:
            self.fail('result is not JSON: %r' % body[:300])

    def function_log_text(self, name, needles, timeout=5.0):
        """All stored log lines of the function; waits until every needle is there."""
        path = '/nimbus/v1/functions/%s/logs' % urllib.parse.quote(name)
        text = ''

        def ready():
            nonlocal text
            st, h, body, raw = self.c.api('GET', path)
            self.assertEqual(st, 200, raw[:300])
            text = '\n'.join(e.get('message', '') for e in body.get('events', []))
            return all(n in text for n in needles)
        wait_for(ready, timeout, 0.2)
        return text

    def test_server_that_drops_a_call_and_lives_on_is_replaced(self):
        # The connection closes without an answer while the process keeps
        # running: the call fails with Runtime.ConnectionError and the
        # instance, no longer trusted, is replaced for the next call.
        name = self.deploy()
        h, before = self.call_json(name, {'op': 'count'})
        st, h, body = self.c.invoke(name, json.dumps({'op': 'drop'}).encode())
        self.assertEqual(st, 200, body)
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled')
        doc = json.loads(body)
        self.assertEqual(doc['errorType'], 'Runtime.ConnectionError', doc)
        self.assertEqual(doc['errorMessage'], "RequestId: %s Error: the function's HTTP server closed the "
                         "connection without a complete response" % h['x-amzn-requestid'])
        h, after = self.call_json(name, {'op': 'count'})
        self.assertEqual(after['calls'], 1, 'a fresh instance after the dropped call: %r' % after)
        self.assertNotEqual(after['pid'], before['pid'])

    # ------------------------------------------------------------ success

    def test_success_with_fc_headers(self):
        name = self.deploy(memory=256)
        h, doc = self.call_json(name, {'op': 'echo', 'x': [1, 'two']})
        rid = h['x-amzn-requestid']
        self.assertEqual(doc['event'], {'op': 'echo', 'x': [1, 'two']})
        self.assertEqual(doc['requestId'], rid)
        fc = doc['headers']
        self.assertEqual(fc.get('x-fc-request-id'), rid)
        self.assertEqual(fc.get('x-fc-function-name'), name)
        self.assertEqual(fc.get('x-fc-function-memory'), '256')
        self.assertEqual(fc.get('x-fc-function-handler'), 'index.handler')
        self.assertEqual(fc.get('x-fc-control-path'), '/invoke')
        self.assertEqual(doc['contentType'], 'application/octet-stream')
        self.assertGreater(doc['port'], 0)

    def test_body_bytes_round_trip(self):
        name = self.deploy()
        ev = json.dumps({'op': 'raw', 's': 'héllo 😀 中文', 'pad': 'z' * 100000}, ensure_ascii=False).encode()
        h, body = self.invoke_ok(name, ev)
        self.assertEqual(body, ev)

    def test_initializer_called_once_per_instance_and_state_kept(self):
        name = self.deploy()
        docs = [self.call_json(name, {'op': 'echo', 'i': i})[1] for i in range(3)]
        self.assertEqual([d['inits'] for d in docs], [1, 1, 1], docs)
        self.assertEqual([d['calls'] for d in docs], [1, 2, 3], docs)
        self.assertEqual(len({d['pid'] for d in docs}), 1, docs)

    def test_no_initializer_when_not_asked(self):
        name = self.deploy(initializer=False)
        h, doc = self.call_json(name, {'op': 'echo'})
        self.assertEqual(doc['inits'], 0)

    def test_initializer_failure_is_a_function_error(self):
        name = self.deploy(env={'INIT_FAIL': '1'})
        t0 = time.monotonic()
        st, h, body = self.c.invoke(name, b'{"op":"echo"}')
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body[:300])
        self.assertLess(time.monotonic() - t0, 5.0)

    # ------------------------------------------------------------ errors

    def test_x_fc_status_404_alone_is_a_function_error(self):
        name = self.deploy()
        st, h, body = self.c.invoke(name, b'{"op":"fcstatus404"}')
        self.assertEqual(st, 200, body[:300])
        self.assertFunctionError(h, body, 'StatusError')

    def test_http_500_is_a_function_error(self):
        name = self.deploy()
        st, h, body = self.c.invoke(name, b'{"op":"fail500"}')
        self.assertEqual(st, 200, body[:300])
        doc = self.assertFunctionError(h, body, 'ServerError')
        self.assertEqual(doc['errorMessage'], 'failed with 500')
        # The instance still serves.
        h, doc = self.call_json(name, {'op': 'echo'})
        self.assertEqual(doc['calls'], 2)

    def test_server_that_never_listens_is_a_clear_error(self):
        # Assumed start-up timeout: 10 s, or the call's deadline when the
        # function's Timeout is shorter (here 2 s).
        files = {'bootstrap': ('#!/bin/sh\necho "not listening"\nexec sleep 60\n', 0o755)}
        name = self.deploy(files, timeout=2)
        t0 = time.monotonic()
        st, h, body = self.c.invoke(name, b'{}')
        elapsed = time.monotonic() - t0
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body[:300])
        doc = json.loads(body)
        self.assertIn(doc.get('errorType'), ('FunctionNotStarted', 'Runtime.InitError'), doc)
        self.assertIn("http server cannot be started", doc.get('errorMessage', ''), doc)
        self.assertLess(elapsed, 6.0)

    def test_server_that_dies_during_initialize_leaves_the_daemon_healthy(self):
        # Listens but never accepts, then exits: the /initialize request is in flight when the
        # instance ends. (A probe's connection once outlived the daemon's state for the instance:
        # a use-after-free ASan caught in CI when the probe timer and the exit met in one loop
        # turn; that timing is not reproducible on demand, this path is.)
        files = {'bootstrap': ('#!/usr/bin/python3\nimport os, socket, time\n'
                               's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n'
                               's.bind(("0.0.0.0", int(os.environ["FC_SERVER_PORT"]))); s.listen(8)\n'
                               'time.sleep(0.3)\nos._exit(1)\n', 0o755)}
        name = self.deploy(files, timeout=5)
        for _ in range(3):
            st, h, body = self.c.invoke(name, b'{}')
            self.assertEqual(st, 200, body[:300])
            self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body[:300])
        self.assertTrue(self.server.alive(), self.server.describe_death())
        h, doc = self.call_json(self.deploy(), {'op': 'echo'})
        self.assertEqual(doc['calls'], 1)

    # ------------------------------------------------------------ pre-stop

    def test_pre_stop_called_when_instance_reclaimed(self):
        name = self.deploy()
        h, doc = self.call_json(name, {'op': 'echo'})
        pid = doc['pid']
        # Changing the configuration retires the idle instance.
        st, hh, body, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                       {'Description': 'reclaim the old instance'})
        self.assertEqual(st, 200, raw[:300])
        marker = 'pre-stop-marker pid=%d' % pid
        text = self.function_log_text(name, [marker])
        self.assertIn(marker, text)
        # The new configuration gets a new instance (and its own /initialize).
        h, doc2 = self.call_json(name, {'op': 'echo'})
        self.assertNotEqual(doc2['pid'], pid)
        self.assertEqual((doc2['inits'], doc2['calls']), (1, 1))

    # ------------------------------------------------------------ example

    def test_example_fc_hello_deploys_and_answers(self):
        files = dir_files(init_template('fc-hello', 'fc'))
        self.assertIn('bootstrap', files)
        name = self.deploy(files, prefix='fc-hello')
        h, doc = self.call_json(name, {'name': 'Ada'}, {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['requestId'], h['x-amzn-requestid'])
        self.assertEqual(doc['headers'].get('x-fc-function-name'), name)
        self.assertEqual(doc['initializeCalls'], 1)
        tail = base64.b64decode(h['x-amz-log-result']).decode('utf-8', 'replace')
        self.assertIn('FC Invoke Start RequestId: %s' % h['x-amzn-requestid'], tail)
        self.assertIn('greeting Ada', tail)
        h, doc2 = self.call_json(name, {})
        self.assertEqual(doc2['message'], 'Hello, world!')
        self.assertEqual(doc2['calls'], doc['calls'] + 1)
        st, h, body = self.c.invoke(name, json.dumps({'name': 'fail'}))
        self.assertEqual(st, 200, body[:300])
        err = self.assertFunctionError(h, body, 'ValueError')
        self.assertIn("refusing to greet 'fail'", err['errorMessage'])
