"""A function URL on an Alibaba FC HTTP function (runtime provided.fc): the platform forwards the
client's whole HTTP request — method, path, query, headers, body — to the instance's own server
with `x-fc-control-path: /http-invoke` and the common x-fc-* headers, and the server's status,
headers and body go back to the client unchanged (FC's HTTP trigger, as docs/triggers.md says).
Driven with curl on the FunctionUrl exactly as the API returns it."""

import json
import subprocess

from nimbus_testlib import ServerTestCase, uniq

BOOTSTRAP = '#!/bin/sh\nexec /usr/bin/python3 -u server.py\n'

# A web function in FC's style (seed 001's server.py): routes of its own, its own statuses.
SERVER = r'''
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer


class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def answer(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n) if n else b''
        if self.path.startswith('/teapot'):
            data = b'short and stout'
            self.send_response(418)
            self.send_header('Content-Type', 'text/plain')
            self.send_header('X-Pot', 'yes')
            self.send_header('Set-Cookie', 'a=1')
            self.send_header('Set-Cookie', 'b=2')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        seen = {'method': self.command, 'path': self.path, 'body': body.decode('latin-1'),
                'headers': {k.lower(): v for k, v in self.headers.items()}}
        data = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *a):
        pass


HTTPServer(('0.0.0.0', int(os.environ['FC_SERVER_PORT'])), H).serve_forever()
'''


def curl(url, *args):
    """(status, {lower-case header: [values]}, body bytes) of one curl request."""
    p = subprocess.run(['curl', '-sS', '-i', '--max-time', '30'] + list(args) + [url],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError('curl %s failed: %s' % (url, p.stderr.decode()))
    head, _, body = p.stdout.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return int(lines[0].split()[1]), headers, body


class FcHttpTriggerTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.fn = uniq('fcweb')
        st, h, body, raw = cls.c.create_function(
            cls.fn, {'bootstrap': (BOOTSTRAP, 0o755), 'server.py': SERVER}, runtime='provided.fc',
            handler='index.handler', timeout=10)
        assert st == 201, raw
        st, h, body, raw = cls.c.api('POST', '/2021-10-31/functions/%s/url' % cls.fn, {'AuthType': 'NONE'})
        assert st == 201, raw
        cls.url = body['FunctionUrl']

    def test_the_whole_request_reaches_the_server(self):
        st, h, body = curl(self.url + 'invoke/deep?x=1&y=two', '-X', 'PUT', '-H', 'Content-Type: text/csv',
                           '-H', 'X-Custom: hello', '-H', 'Cookie: k=v', '--data-binary', 'a,b\n1,2\n')
        self.assertEqual(st, 200, body)
        seen = json.loads(body)
        self.assertEqual(seen['method'], 'PUT')
        self.assertEqual(seen['path'], '/invoke/deep?x=1&y=two')
        self.assertEqual(seen['body'], 'a,b\n1,2\n')
        hd = seen['headers']
        self.assertEqual(hd['content-type'], 'text/csv')
        self.assertEqual(hd['x-custom'], 'hello')
        self.assertEqual(hd['cookie'], 'k=v')
        self.assertEqual(hd['x-fc-control-path'], '/http-invoke')
        self.assertEqual(hd['x-fc-function-name'], self.fn)
        self.assertTrue(hd.get('x-fc-request-id'), hd)
        # The host the client called, not the instance's address.
        self.assertIn('.lambda-url.', hd['host'])
        # The answer carries the same request id the server was given.
        self.assertEqual(h['x-amzn-requestid'][0], hd['x-fc-request-id'])

    def test_status_headers_and_body_come_back_unchanged(self):
        st, h, body = curl(self.url + 'teapot')
        self.assertEqual(st, 418)
        self.assertEqual(body, b'short and stout')
        self.assertEqual(h['content-type'], ['text/plain'])
        self.assertEqual(h['x-pot'], ['yes'])
        self.assertEqual(h['set-cookie'], ['a=1', 'b=2'])

    def test_get_without_body_and_forged_fc_headers_dropped(self):
        st, h, body = curl(self.url, '-H', 'x-fc-function-name: forged')
        self.assertEqual(st, 200, body)
        seen = json.loads(body)
        self.assertEqual(seen['method'], 'GET')
        self.assertEqual(seen['path'], '/')
        self.assertEqual(seen['body'], '')
        self.assertEqual(seen['headers']['x-fc-function-name'], self.fn)
