"""HTTP/1.1 layer seen from outside: keep-alive, pipelining, chunked bodies, limits."""

import json
import time

from nimbus_testlib import (RawHttp, ServerTestCase, bootstrap, chunked, fn_files, request_bytes,
                            send_streaming_and_read, uniq)

SLOW_ECHO = bootstrap('while next; do sleep 1; respond_file "$T/ev"; done')


class HttpTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.names = []
        for _ in range(3):
            name = uniq('http')
            st, h, body, raw = cls.c.create_function(name, fn_files(bootstrap(
                'while next; do respond_file "$T/ev"; done')))
            if st != 201:
                raise AssertionError('CreateFunction -> %s %r' % (st, raw[:300]))
            cls.names.append(name)
        cls.echo = cls.names[0]

    def raw(self, timeout=15):
        return RawHttp(self.server.host, self.server.port, timeout=timeout)

    def get_fn(self, name):
        return request_bytes('GET', '/2015-03-31/functions/%s' % name)

    def invoke_req(self, name, body, headers=None):
        h = {'Content-Type': 'application/json'}
        h.update(headers or {})
        return request_bytes('POST', '/2015-03-31/functions/%s/invocations' % name, body, h)

    def test_keep_alive_three_requests_one_connection(self):
        with self.raw() as r:
            r.send(self.get_fn(self.echo))
            st, h, body = r.read_response()
            self.assertEqual(st, 200, body[:300])
            self.assertEqual(json.loads(body)['Configuration']['FunctionName'], self.echo)
            r.send(self.invoke_req(self.echo, b'{"k":1}'))
            st, h, body = r.read_response()
            self.assertEqual(st, 200, body[:300])
            self.assertEqual(body, b'{"k":1}')
            r.send(request_bytes('GET', '/2015-03-31/functions/'))
            st, h, body = r.read_response()
            self.assertEqual(st, 200, body[:300])
            self.assertIn('Functions', json.loads(body))

    def test_pipelined_three_gets_answered_in_order(self):
        with self.raw() as r:
            order = [self.names[2], self.names[0], self.names[1]]
            r.send(b''.join(self.get_fn(n) for n in order))
            got = []
            for _ in order:
                st, h, body = r.read_response()
                self.assertEqual(st, 200, body[:300])
                got.append(json.loads(body)['Configuration']['FunctionName'])
            self.assertEqual(got, order)

    def test_pipelined_slow_invoke_then_get_answered_in_order(self):
        name = uniq('slowecho')
        self.new_function(name, fn_files(SLOW_ECHO), timeout=10)
        with self.raw(timeout=30) as r:
            r.send(self.invoke_req(name, b'{"first":true}') + self.get_fn(self.echo))
            st1, h1, b1 = r.read_response()
            st2, h2, b2 = r.read_response()
            self.assertEqual((st1, b1), (200, b'{"first":true}'))
            self.assertEqual(st2, 200, b2[:300])
            self.assertEqual(json.loads(b2)['Configuration']['FunctionName'], self.echo)

    def test_chunked_request_body_on_invoke(self):
        payload = json.dumps({'data': 'x' * 5000, 'n': list(range(50))}).encode()
        with self.raw() as r:
            r.send(self.invoke_req(self.echo, chunked(payload, [1, 7, 100, 4096]),
                                   {'Transfer-Encoding': 'chunked'}))
            st, h, body = r.read_response()
            self.assertEqual(st, 200, body[:300])
            self.assertEqual(body, payload)

    def test_chunked_request_body_with_trailers_on_invoke(self):
        payload = b'{"trailers":"yes","pad":"' + b'p' * 3000 + b'"}'
        with self.raw() as r:
            r.send(self.invoke_req(self.echo, chunked(payload, [10, 1000], {'X-Checksum': 'abc', 'X-Other': '1'}),
                                   {'Transfer-Encoding': 'chunked', 'Trailer': 'X-Checksum, X-Other'}))
            st, h, body = r.read_response()
            self.assertEqual(st, 200, body[:300])
            self.assertEqual(body, payload)

    def test_chunked_invoke_then_second_request_on_same_connection(self):
        with self.raw() as r:
            r.send(self.invoke_req(self.echo, chunked(b'{"a":1}', [3]), {'Transfer-Encoding': 'chunked'}))
            st, h, body = r.read_response()
            self.assertEqual((st, body), (200, b'{"a":1}'))
            r.send(self.get_fn(self.echo))
            st, h, body = r.read_response()
            self.assertEqual(st, 200, body[:300])

    def test_huge_header_gets_431(self):
        req = (b'GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 100000 + b'\r\n\r\n')
        with self.raw() as r:
            try:
                r.send(req)
            except (BrokenPipeError, ConnectionResetError):
                pass
            st, h, body = r.read_response_tolerant()
            self.assertEqual(st, 431, body[:300])

    def test_body_too_large_gets_413(self):
        head = (b'POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: x\r\n'
                b'Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n' % self.echo.encode())
        st, h, body = send_streaming_and_read(self.server.host, self.server.port, head, 100000000)
        self.assertEqual(st, 413, body[:300])

    def test_chunked_body_too_large_gets_413(self):
        head = (b'POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: x\r\n'
                b'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' % self.echo.encode())
        r = RawHttp(self.server.host, self.server.port, timeout=30)
        try:
            r.send(head)
            piece = b'a' * 65536
            frame = b'%x\r\n' % len(piece) + piece + b'\r\n'
            try:
                for _ in range(8 * 1024 * 1024 // len(piece)):   # 8 MiB in chunks
                    r.send(frame)
                r.send(b'0\r\n\r\n')
            except (BrokenPipeError, ConnectionResetError):
                pass
            st, h, body = r.read_response_tolerant()
            self.assertEqual(st, 413, body[:300])
        finally:
            r.close()

    def test_garbage_request_line_gets_400(self):
        with self.raw() as r:
            r.send(b'THIS IS NOT HTTP AT ALL\r\n\r\n')
            st, h, body = r.read_response_tolerant()
            self.assertEqual(st, 400, body[:300])

    def test_binary_garbage_gets_400(self):
        with self.raw() as r:
            r.send(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + bytes(range(256)) + b'\r\n\r\n')
            st, h, body = r.read_response_tolerant()
            self.assertEqual(st, 400, body[:300])

    def test_connection_close_request_is_answered_then_closed(self):
        with self.raw() as r:
            r.send(request_bytes('GET', '/2015-03-31/functions/%s' % self.echo, headers={'Connection': 'close'}))
            st, h, body = r.read_response()
            self.assertEqual(st, 200, body[:300])
            self.assertTrue(r.at_eof(5), 'server kept the connection open after Connection: close')

    def test_server_still_serves_after_bad_requests(self):
        for bad in (b'GARBAGE\r\n\r\n', b'GET / HTTP/1.1\r\nX: ' + b'a' * 100000 + b'\r\n\r\n'):
            with self.raw() as r:
                try:
                    r.send(bad)
                    r.read_response_tolerant()
                except (AssertionError, OSError, EOFError):
                    pass
        time.sleep(0.1)
        with self.raw() as r:
            r.send(self.get_fn(self.echo))
            st, h, body = r.read_response()
            self.assertEqual(st, 200, body[:300])

    def test_expect_100_continue_on_invoke(self):
        payload = b'{"expect":"continue"}'
        with self.raw() as r:
            head = (b'POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: x\r\n'
                    b'Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n'
                    % (self.echo.encode(), len(payload)))
            r.send(head)
            r.sock.settimeout(3)
            line = r._take_line()
            self.assertEqual(line, b'HTTP/1.1 100 Continue')
            while r._take_line():
                pass
            r.sock.settimeout(15)
            r.send(payload)
            st, h, body = r.read_response()
            self.assertEqual((st, body), (200, payload))

    def test_keep_alive_survives_error_responses(self):
        with self.raw() as r:
            r.send(request_bytes('GET', '/2015-03-31/functions/%s' % uniq('nosuch')))
            st, h, body = r.read_response()
            self.assertEqual(st, 404, body[:300])
            r.send(self.invoke_req(self.echo, b'not json{'))
            st, h, body = r.read_response()
            self.assertEqual(st, 400, body[:300])
            r.send(self.invoke_req(self.echo, b'{"after":"errors"}'))
            st, h, body = r.read_response()
            self.assertEqual((st, body), (200, b'{"after":"errors"}'))

    def test_client_disconnect_during_invoke_leaves_function_usable(self):
        name = uniq('disc')
        self.new_function(name, fn_files(SLOW_ECHO), timeout=10)
        with self.raw() as r:
            r.send(self.invoke_req(name, b'{"abandoned":true}'))
            time.sleep(0.3)
        st, h, body = self.c.invoke(name, b'{"next":true}', timeout=30)
        self.assertEqual((st, body), (200, b'{"next":true}'))
        self.assertNotIn('x-amz-function-error', h)

    def test_partial_request_then_close_does_not_hurt_server(self):
        with self.raw() as r:
            r.send(b'POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"par'
                   % self.echo.encode())
        with self.raw() as r:
            r.send(b'GET /2015-03-31/functi')
        with self.raw() as r:
            r.send(self.get_fn(self.echo))
            st, h, body = r.read_response()
            self.assertEqual(st, 200, body[:300])
