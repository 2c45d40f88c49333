"""{{NAME}}: the HTTP server of an FC-style function (standard library only).

Nimbus starts ./bootstrap, waits for this server to listen on
0.0.0.0:$FC_SERVER_PORT (default 9000, FC's CAPort; Nimbus gives each
instance its own), then calls:
  POST /initialize  once per instance when the function sets "Initializer": true
  POST /invoke      per call: body = the event bytes, headers x-fc-request-id,
                    x-fc-function-name, x-fc-function-memory, ... The reply
                    body is the result; a failure is status 404 with
                    `x-fc-status: 404` (any status >= 400 is one too)
  GET  /pre-stop    before the instance is reclaimed
What it prints (stdout or stderr) is the function's log.
"""
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {'calls': 0, 'initialize_calls': 0}


def fc_headers(headers):
    """The x-fc-* request headers, names lower-cased."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith('x-fc-')}


class Handler(BaseHTTPRequestHandler):
    # Keep-alive: Nimbus reuses its connection to the server.
    protocol_version = 'HTTP/1.1'

    def read_body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n else b''

    def reply(self, status, obj, fc_status=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        if fc_status is not None:
            self.send_header('x-fc-status', str(fc_status))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.read_body()
        rid = self.headers.get('x-fc-request-id', '')
        if self.path == '/initialize':
            print('FC Initialize Start RequestId: %s' % rid, flush=True)
            with LOCK:
                STATE['initialize_calls'] += 1
                n = STATE['initialize_calls']
            print('FC Initialize End RequestId: %s' % rid, flush=True)
            return self.reply(200, {'initialized': True, 'initializeCalls': n}, 200)
        if self.path != '/invoke':
            return self.reply(404, {'errorType': 'NotFound', 'errorMessage': 'no route %s' % self.path}, 404)
        print('FC Invoke Start RequestId: %s' % rid, flush=True)
        try:
            event = json.loads(body) if body else {}
            name = event.get('name', 'world') if isinstance(event, dict) else 'world'
            if name == 'fail':
                raise ValueError("refusing to greet '%s'" % name)
            with LOCK:
                STATE['calls'] += 1
                calls, inits = STATE['calls'], STATE['initialize_calls']
            print('greeting %s' % name, flush=True)
            result = {'message': 'Hello, %s!' % name, 'calls': calls, 'initializeCalls': inits,
                      'pid': os.getpid(), 'requestId': rid, 'headers': fc_headers(self.headers),
                      'contentType': self.headers.get('Content-Type', '')}
            status = 200
        except Exception as e:   # a function error for the caller
            print('error: %s' % e, file=sys.stderr, flush=True)
            result = {'errorMessage': str(e), 'errorType': type(e).__name__}
            status = 404
        print('FC Invoke End RequestId: %s' % rid, flush=True)
        self.reply(status, result, status)

    def do_GET(self):
        if self.path in ('/pre-stop', '/pre-freeze'):
            with LOCK:
                calls = STATE['calls']
            print('{{NAME}} %s: pid %d, %d calls served' % (self.path[1:], os.getpid(), calls), flush=True)
            return self.reply(200, {'ok': True}, 200)
        self.reply(404, {'errorType': 'NotFound', 'errorMessage': 'no route %s' % self.path}, 404)

    def log_message(self, fmt, *args):
        pass   # no access log: the call's log stays the function's own lines


def main():
    port = int(os.environ.get('FC_SERVER_PORT') or 9000)
    server = ThreadingHTTPServer(('0.0.0.0', port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    print('{{NAME}}: listening on 0.0.0.0:%d' % port, flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main()
