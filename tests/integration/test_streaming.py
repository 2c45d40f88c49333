"""Response streaming end to end: InvokeWithResponseStream through the AWS SDK for
JavaScript v3 (tests/integration/js), against a custom runtime that streams with raw
HTTP from bash (chunked /response in Lambda's streaming mode, error trailers) and a
Node.js function wrapped in awslambda.streamifyResponse.

Each function writes chunk 1, sleeps 1 s, writes chunk 2: the first PayloadChunk must
reach the SDK before the function ends. Also: InvokeComplete last, a mid-stream error
as ErrorCode/ErrorDetails, the same functions through the buffered Invoke (the whole
body), the streamed size cap (--max-stream-bytes) and the buffered one (6 MB), a client
that disconnects mid-stream (the next call is fine), the log tail, Invoke's errors.
(Debian's AWS CLI, v1, has no invoke-with-response-stream command.)
"""

import base64
import json
import os
import subprocess
import time
import unittest

from nimbus_testlib import PRELUDE, ServerTestCase, uniq

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, 'js')
SDK = os.path.join(JS, 'node_modules', '@aws-sdk', 'client-lambda')
CAP = 1000000

# A custom runtime: curl for /next, bash's /dev/tcp for a streamed /response.
STREAM_SH = '#!/bin/bash\n' + PRELUDE + r'''
export LC_ALL=C
BIG=$(head -c 65536 /dev/zero | tr '\0' a)
open_stream() {
  exec 3<>"/dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API##*:}"
  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: rt\r\n' "$REQ_ID" >&3
  printf 'Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n' >&3
  printf 'Content-Type: text/plain\r\nTrailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n' >&3
}
chunk() { printf '%x\r\n%s\r\n' "${#1}" "$1" >&3; }
close_stream() {  # close_stream [TRAILER-LINES]
  printf '0\r\n%s\r\n' "$1" >&3
  IFS= read -r status <&3
  echo "runtime got: $status" >&2
  exec 3>&-
}
while next; do
  open_stream
  case $EVENT in
    *fail*)
      chunk partial
      body=$(printf '{"errorType":"Custom.Broken","errorMessage":"went wrong midway"}' | base64 -w0)
      close_stream "Lambda-Runtime-Function-Error-Type: Custom.Broken"$'\r\n'"Lambda-Runtime-Function-Error-Body: $body"$'\r\n' ;;
    *big*)
      n=${EVENT//[^0-9]/}
      for ((i = 0; i < n; i++)); do chunk "$BIG" 2>/dev/null || break; done
      close_stream 2>/dev/null ;;
    *)
      chunk chunk1; sleep 1; chunk chunk2; close_stream ;;
  esac
done
'''

NODE_JS = r'''
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
exports.handler = awslambda.streamifyResponse(async (event, stream, context) => {
    stream.setContentType('text/plain');
    console.log('streaming for', context.awsRequestId);
    if (event.op === 'fail') {
        stream.write('partial');
        await sleep(200);
        throw new Error('boom');
    }
    if (event.op === 'http') {
        stream = awslambda.HttpResponseStream.from(stream, { statusCode: 201, headers: { 'x-a': 'b' } });
        stream.end('body');
        return;
    }
    stream.write('chunk1');
    await sleep(1000);
    stream.write('chunk2');
    stream.end();
});
'''


@unittest.skipUnless(os.path.isdir(SDK), 'the AWS SDK for JavaScript is not installed (scripts/deps.sh installs it)')
class StreamingTest(ServerTestCase):
    server_args = ('--max-stream-bytes', str(CAP))

    @classmethod
    def class_setup(cls):
        cls.shell = uniq('streamsh')
        st, _, doc, raw = cls.c.create_function(cls.shell, {'bootstrap': (STREAM_SH, 0o755)}, timeout=10)
        assert st == 201, raw
        cls.node = uniq('streamnode')
        st, _, doc, raw = cls.c.create_function(cls.node, {'index.js': NODE_JS}, runtime='nodejs20.x',
                                                handler='index.handler', timeout=10)
        assert st == 201, raw

    def sdk(self, fn, payload, *flags):
        t0 = time.monotonic()
        p = subprocess.run(['/usr/bin/node', os.path.join(JS, 'stream_client.js'), self.c.url, fn,
                            json.dumps(payload)] + list(flags), capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        out['wall'] = time.monotonic() - t0
        return out

    @staticmethod
    def payload(out):
        return b''.join(base64.b64decode(e['data']) for e in out['events'] if e['type'] == 'PayloadChunk')

    def assert_streamed_two(self, fn):
        out = self.sdk(fn, {'op': 'two'})
        self.assertNotIn('error', out)
        self.assertEqual(out['statusCode'], 200)
        self.assertEqual(out['executedVersion'], '$LATEST')
        self.assertEqual(out['contentType'], 'application/vnd.amazon.eventstream')
        self.assertEqual(self.payload(out), b'chunk1chunk2')
        ev = out['events']
        self.assertEqual(ev[-1]['type'], 'InvokeComplete', ev)
        self.assertEqual([e['type'] for e in ev].count('InvokeComplete'), 1)
        self.assertNotIn('ErrorCode', ev[-1])
        first = next(e for e in ev if e['type'] == 'PayloadChunk')
        # chunk1 came about a second before the function ended (the last event).
        self.assertEqual(base64.b64decode(first['data']), b'chunk1')
        self.assertGreaterEqual(ev[-1]['t'] - first['t'], 800, ev)

    def test_custom_runtime_chunks_arrive_before_the_function_ends(self):
        self.assert_streamed_two(self.shell)

    def test_node_streamify_response_chunks_arrive_before_the_function_ends(self):
        self.assert_streamed_two(self.node)

    def test_buffered_invoke_of_a_streaming_function_gets_the_whole_body(self):
        for fn in (self.shell, self.node):
            st, h, raw = self.c.invoke(fn, json.dumps({'op': 'two'}))
            self.assertEqual(st, 200, raw)
            self.assertNotIn('x-amz-function-error', h)
            self.assertEqual(raw, b'chunk1chunk2')
            # Invoke answers application/json whatever the runtime's type.
            self.assertEqual(h['content-type'], 'application/json')

    def test_mid_stream_error_from_trailers(self):
        out = self.sdk(self.shell, {'op': 'fail'})
        self.assertEqual(self.payload(out), b'partial')
        done = out['events'][-1]
        self.assertEqual(done['type'], 'InvokeComplete')
        self.assertEqual(done['ErrorCode'], 'Custom.Broken')
        self.assertEqual(done['ErrorDetails'], 'went wrong midway')
        # Buffered: the error document, as a function error.
        st, h, raw = self.c.invoke(self.shell, json.dumps({'op': 'fail'}))
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', raw)
        self.assertEqual(json.loads(raw), {'errorType': 'Custom.Broken', 'errorMessage': 'went wrong midway'})

    def test_node_handler_that_throws_midway(self):
        out = self.sdk(self.node, {'op': 'fail'})
        self.assertEqual(self.payload(out), b'partial')
        done = out['events'][-1]
        self.assertEqual((done['type'], done['ErrorCode'], done['ErrorDetails']), ('InvokeComplete', 'Error', 'boom'))

    def test_node_http_response_stream_prelude(self):
        st, h, raw = self.c.invoke(self.node, json.dumps({'op': 'http'}))
        self.assertEqual(h['content-type'], 'application/json')
        prelude, _, body = raw.partition(b'\0' * 8)
        self.assertEqual(json.loads(prelude), {'statusCode': 201, 'headers': {'x-a': 'b'}})
        self.assertEqual(body, b'body')

    def test_streamed_size_cap(self):
        out = self.sdk(self.shell, {'op': 'big', 'n': CAP // 65536 + 4})
        done = out['events'][-1]
        self.assertEqual(done['type'], 'InvokeComplete')
        self.assertEqual(done['ErrorCode'], 'Function.ResponseSizeTooLarge')
        self.assertIn('(%d bytes)' % CAP, done['ErrorDetails'])
        self.assertLessEqual(len(self.payload(out)), CAP)
        # Within the cap: every byte.
        out = self.sdk(self.shell, {'op': 'big', 'n': 3})
        self.assertEqual(self.payload(out), b'a' * 3 * 65536)
        self.assertNotIn('ErrorCode', out['events'][-1])

    def test_buffered_invoke_over_6mb_is_a_function_error(self):
        st, h, raw = self.c.invoke(self.shell, json.dumps({'op': 'big', 'n': 100}))
        self.assertEqual(st, 200)
        doc = json.loads(raw)
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled')
        self.assertEqual(doc['errorType'], 'Function.ResponseSizeTooLarge')
        self.assertIn('exceeded maximum allowed payload size (6291556 bytes)', doc['errorMessage'])

    def test_client_that_disconnects_mid_stream_does_not_hurt_the_daemon(self):
        out = self.sdk(self.shell, {'op': 'two'}, 'abort-after-first')
        self.assertTrue(out.get('aborted'), out)
        self.assertLess(out['wall'], 5)
        time.sleep(1.5)   # the function finishes unobserved
        self.assertTrue(self.server.alive())
        self.assert_streamed_two(self.shell)

    def test_log_tail_in_invoke_complete(self):
        out = self.sdk(self.node, {'op': 'two'}, 'tail')
        log = base64.b64decode(out['events'][-1]['LogResult']).decode()
        self.assertIn('START RequestId:', log)
        self.assertIn('streaming for', log)
        self.assertIn('REPORT RequestId:', log)

    def test_unknown_function_is_invokes_404(self):
        out = self.sdk('no-such-function', {})
        self.assertEqual(out['error']['name'], 'ResourceNotFoundException', out)
        self.assertEqual(out['error']['status'], 404)


if __name__ == '__main__':
    unittest.main()
