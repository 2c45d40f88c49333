"""Function URLs with InvokeMode RESPONSE_STREAM: the chunks a function streams reach the HTTP
client as they come (chunked transfer encoding), not when the function ends. A Node.js function
with awslambda.streamifyResponse and awslambda.HttpResponseStream.from (the prelude gives the
status, headers and cookies: Lambda's HTTP integration response), a plain stream (its content
type, status 200), a malformed prelude (502), an error mid-stream (the stream ends), and the same
function on a BUFFERED URL (the whole body at once). Read with a raw socket so that the arrival
time of each chunk is seen."""

import json
import socket
import time
import urllib.parse

from nimbus_testlib import ServerTestCase, uniq

NODE_JS = r'''
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
exports.handler = awslambda.streamifyResponse(async (event, stream, context) => {
    const path = event.rawPath;
    if (path === '/plain') {
        stream.setContentType('text/plain');
        stream.write('first ');
        await sleep(1000);
        stream.end('second');
        return;
    }
    if (path === '/bad') {
        stream.setContentType('application/vnd.awslambda.http-integration-response');
        stream.end('not json at all' + '\0'.repeat(8) + 'body');
        return;
    }
    if (path === '/fail') {
        stream.setContentType('text/plain');
        stream.write('partial ');
        await sleep(200);
        throw new Error('boom');
    }
    stream = awslambda.HttpResponseStream.from(stream, {
        statusCode: 201, headers: { 'content-type': 'text/html', 'x-streamed': 'yes' }, cookies: ['s=1', 't=2'] });
    stream.write('<p>chunk1</p>');
    await sleep(1000);
    stream.write('<p>chunk2</p>');
    stream.end();
});
'''


def read_chunked(host, port, path, headers):
    """GET `path`; returns (status, {name: [values]}, [(seconds since the request, chunk bytes)])."""
    s = socket.create_connection((host, port), timeout=30)
    req = 'GET %s HTTP/1.1\r\n' % path + ''.join('%s: %s\r\n' % kv for kv in headers.items()) + '\r\n'
    t0 = time.monotonic()
    s.sendall(req.encode())
    f = s.makefile('rb')
    status = int(f.readline().split()[1])
    hdrs = {}
    while True:
        line = f.readline().decode('latin-1').rstrip('\r\n')
        if not line:
            break
        k, _, v = line.partition(':')
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    chunks = []
    if hdrs.get('transfer-encoding') == ['chunked']:
        while True:
            size = int(f.readline().split(b';')[0], 16)
            if size == 0:
                f.readline()
                break
            data = f.read(size)
            f.readline()
            chunks.append((time.monotonic() - t0, data))
    else:
        n = int(hdrs.get('content-length', ['0'])[0])
        chunks.append((time.monotonic() - t0, f.read(n)))
    s.close()
    return status, hdrs, chunks


class UrlStreamTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.fn = uniq('urlstream')
        st, _, doc, raw = cls.c.create_function(cls.fn, {'index.js': NODE_JS}, runtime='nodejs20.x',
                                                handler='index.handler', timeout=10)
        assert st == 201, raw
        st, _, doc, raw = cls.c.api('POST', '/2015-03-31/functions/%s/aliases' % cls.fn,
                                    {'Name': 'buffered', 'FunctionVersion': '$LATEST'})
        assert st == 201, raw
        st, _, doc, raw = cls.c.api('POST', '/2021-10-31/functions/%s/url' % cls.fn,
                                    {'AuthType': 'NONE', 'InvokeMode': 'RESPONSE_STREAM'})
        assert st == 201, raw
        cls.stream_url = doc['FunctionUrl']
        st, _, doc, raw = cls.c.api('POST', '/2021-10-31/functions/%s/url?Qualifier=buffered' % cls.fn,
                                    {'AuthType': 'NONE'})
        assert st == 201, raw
        cls.buffered_url = doc['FunctionUrl']

    def get(self, url, path):
        host = urllib.parse.urlsplit(url).hostname
        return read_chunked('127.0.0.1', urllib.parse.urlsplit(self.c.url).port, path, {'Host': host})

    def test_prelude_gives_status_headers_cookies_and_chunks_arrive_as_they_come(self):
        st, h, chunks = self.get(self.stream_url, '/page')
        self.assertEqual(st, 201)
        self.assertEqual(h['content-type'], ['text/html'])
        self.assertEqual(h['x-streamed'], ['yes'])
        self.assertEqual(h['set-cookie'], ['s=1', 't=2'])
        self.assertTrue(h.get('x-amzn-requestid'), h)
        self.assertEqual(b''.join(c for _, c in chunks), b'<p>chunk1</p><p>chunk2</p>')
        first = next(t for t, c in chunks if b'chunk1' in c)
        last = chunks[-1][0]
        # The function sleeps 1 s between its chunks: the first was read long before the end.
        self.assertGreater(last - first, 0.7, chunks)

    def test_plain_stream_has_its_content_type(self):
        st, h, chunks = self.get(self.stream_url, '/plain')
        self.assertEqual(st, 200)
        self.assertEqual(h['content-type'], ['text/plain'])
        self.assertEqual(b''.join(c for _, c in chunks), b'first second')
        self.assertGreater(chunks[-1][0] - chunks[0][0], 0.7, chunks)

    def test_malformed_prelude_is_502(self):
        st, h, chunks = self.get(self.stream_url, '/bad')
        self.assertEqual(st, 502)

    def test_error_mid_stream_ends_the_stream_and_the_next_call_works(self):
        st, h, chunks = self.get(self.stream_url, '/fail')
        self.assertEqual(st, 200)
        self.assertTrue(b''.join(c for _, c in chunks).startswith(b'partial'))
        st, h, chunks = self.get(self.stream_url, '/plain')
        self.assertEqual(st, 200)

    def test_buffered_url_of_the_same_function_gets_it_whole(self):
        st, h, chunks = self.get(self.buffered_url, '/page')
        self.assertEqual(st, 201, chunks)
        self.assertNotEqual(h.get('transfer-encoding'), ['chunked'])
        self.assertEqual(h['x-streamed'], ['yes'])
        self.assertEqual(chunks[0][1], b'<p>chunk1</p><p>chunk2</p>')
