"""A function URL on an Alibaba FC HTTP function (runtime provided.fc): the platform forwards the
client's whole HTTP request — method, path, query, headers, body — to the instance's own server
with `x-fc-control-path: /http-invoke` and the common x-fc-* headers, and the server's status,
headers and body go back to the client unchanged (FC's HTTP trigger, as docs/triggers.md says).
Driven with curl on the FunctionUrl exactly as the API returns it. Also the command line of
function URLs: `nimbus url create|get|delete` and `nimbus deploy --url`."""

import json
import os
import shutil
import subprocess
import tempfile

from nimbus_testlib import ServerTestCase, run_cli, uniq

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


class UrlCliTest(ServerTestCase):
    """`nimbus url create|get|delete` and `nimbus deploy --url`, as a user types them."""

    def cli(self, *args):
        return run_cli(list(args) + ['--endpoint', self.c.url])

    def setUp(self):
        super().setUp()
        self.src = tempfile.mkdtemp(prefix='nimbus-it-urlcli-')
        with open(os.path.join(self.src, 'app.py'), 'w') as f:
            f.write('def handler(event, context):\n    return {"statusCode": 200, "body": "hi " + event["rawPath"]}\n')

    def tearDown(self):
        shutil.rmtree(self.src, ignore_errors=True)
        super().tearDown()

    def test_deploy_with_url_prints_a_url_that_answers(self):
        name = uniq('clidep')
        p = self.cli('deploy', name, self.src, '--runtime', 'python3.11', '--handler', 'app.handler', '--url')
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.decode().splitlines()
        url = [l.split(' ', 1)[1] for l in lines if l.startswith('url: ')]
        self.assertEqual(len(url), 1, lines)
        st, h, body = curl(url[0] + 'there')
        self.assertEqual((st, body), (200, b'hi /there'))
        # Again: the same URL, not a second one.
        p = self.cli('deploy', name, self.src, '--runtime', 'python3.11', '--handler', 'app.handler', '--url')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('url: ' + url[0], p.stdout.decode())

    def test_url_create_get_delete(self):
        name = uniq('cliurl')
        p = self.cli('deploy', name, self.src, '--runtime', 'python3.11', '--handler', 'app.handler')
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli('url', 'create', name, '--cors-origin', 'https://example.com')
        self.assertEqual(p.returncode, 0, p.stderr)
        url = p.stdout.decode().strip()
        self.assertRegex(url, r'^http://[a-z0-9]{32}\.lambda-url\.[a-z0-9-]+\.localhost:\d+/$')
        p = self.cli('url', 'get', name, '--json')
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual(doc['FunctionUrl'], url)
        self.assertEqual(doc['Cors']['AllowOrigins'], ['https://example.com'])
        # A second one is Lambda's conflict, said in one line.
        p = self.cli('url', 'create', name)
        self.assertEqual(p.returncode, 1)
        self.assertIn('ResourceConflictException', p.stderr.decode())
        self.assertEqual(len(p.stderr.decode().strip().splitlines()), 1)
        p = self.cli('url', 'delete', name)
        self.assertEqual(p.returncode, 0, p.stderr)
        st, h, body = curl(url)
        self.assertEqual(st, 404)
        p = self.cli('url', 'get', name)
        self.assertEqual(p.returncode, 1)
        self.assertIn('ResourceNotFoundException', p.stderr.decode())

    def test_bad_command_lines(self):
        for args, msg in ((['url'], 'missing create, get or delete'), (['url', 'list', 'x'], 'unknown action'),
                          (['url', 'create'], 'missing NAME'),
                          (['url', 'create', 'x', '--invoke-mode', 'FAST'], 'BUFFERED or RESPONSE_STREAM'),
                          (['url', 'get', 'x', '--cors-origin', 'o'], 'are for create')):
            p = self.cli(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(msg, p.stderr.decode())
