"""The shell runtime (bash): runtimes/bash/bootstrap.sh, deployed and invoked for real.

Covers what every runtime must do (success, handler error, init errors, timeout,
context, warm state, 6 MB, unicode, binary, logs, per-instance concurrency)
plus what is particular to shell: the event on stdin as well as in "$1",
stdout byte-exact (trailing newlines, NUL bytes), `exit` and errexit inside a
handler, a file sourced at the top level (its `declare`s are global), the
Content-Type override, sub-folder handlers and the examples/bash-hello function.
"""

import base64
import json
import os
import time
import urllib.parse

from nimbus_testlib import REPO, ServerTestCase, dir_files, function_arn, uniq, wait_for

RUNTIME = 'bash'
BINARY = bytes(range(256))

# One file, one dispatcher: the op comes from the event.
MAIN_SH = r'''
COUNT=0
declare -A SEEN=()          # sourced at the top level: a global, not a local
echo "bash-init-marker $$" >&2

_field() {  # _field JSON NAME -> $FIELD (string or number value)
    FIELD=
    if [[ $1 =~ \"$2\"[[:space:]]*:[[:space:]]*\"?([^\",}]*) ]]; then FIELD=${BASH_REMATCH[1]}; fi
}

main() {
    _field "$1" op; local op=$FIELD
    case $op in
        echo-arg) printf '%s' "$1" ;;
        echo-stdin) cat ;;
        same-input) local in; in=$(cat); [[ $in == "$1" ]] && printf true || printf false ;;
        count)
            COUNT=$((COUNT + 1)); SEEN[$AWS_REQUEST_ID]=1
            printf '{"count":%d,"seen":%d,"pid":%d}' "$COUNT" "${#SEEN[@]}" $$ ;;
        fail) echo "first line" >&2; echo "bad input: $AWS_REQUEST_ID" >&2; return 3 ;;
        fail-silent) return 5 ;;
        exit) echo "leaving now" >&2; exit 7 ;;
        errexit) set -e; false; echo unreachable ;;
        sleep) _field "$1" secs; sleep "$FIELD"; printf '"slept"' ;;
        context)
            local r1 r2
            r1=$(remaining_ms); sleep 0.2; r2=$(remaining_ms)
            printf '{"functionName":"%s","version":"%s","arn":"%s","memory":"%s","requestId":"%s",' \
                "$AWS_LAMBDA_FUNCTION_NAME" "$AWS_LAMBDA_FUNCTION_VERSION" "$LAMBDA_INVOKED_FUNCTION_ARN" \
                "$AWS_LAMBDA_FUNCTION_MEMORY_SIZE" "$AWS_REQUEST_ID"
            printf '"logGroup":"%s","logStream":"%s","r1":%d,"r2":%d,"deadline":%s,"now":%s,' \
                "$AWS_LAMBDA_LOG_GROUP_NAME" "$AWS_LAMBDA_LOG_STREAM_NAME" "$r1" "$r2" \
                "$LAMBDA_DEADLINE_MS" "$(( ${EPOCHREALTIME/./} / 1000 ))"
            printf '"trace":"%s","handler":"%s","taskRoot":"%s","cwd":"%s","execEnv":"%s"}' \
                "$_X_AMZN_TRACE_ID" "$_HANDLER" "$LAMBDA_TASK_ROOT" "$PWD" "${AWS_EXECUTION_ENV:-}" ;;
        env-child)
            sh -c 'printf "{\"rid\":\"%s\",\"deadline\":\"%s\",\"trace\":\"%s\"}" \
                "$AWS_REQUEST_ID" "$LAMBDA_DEADLINE_MS" "$_X_AMZN_TRACE_ID"' ;;
        binary) cat "$LAMBDA_TASK_ROOT/bytes.bin"; LAMBDA_RESPONSE_CONTENT_TYPE=application/octet-stream ;;
        newlines) printf 'a\n\n\n' ;;
        nul) printf 'x\0y\0' ;;
        empty) ;;
        log)
            echo "log-line-one $AWS_REQUEST_ID" >&2
            echo "log-line-two" >&2
            printf '"logged"' ;;
        concurrent)
            local s=$EPOCHREALTIME
            sleep 1
            printf '{"pid":%d,"puller":%d,"start":%s,"end":%s,"rid":"%s"}' \
                $$ $BASHPID "$s" "$EPOCHREALTIME" "$AWS_REQUEST_ID" ;;
        *) echo "unknown op '$op'" >&2; return 2 ;;
    esac
}
'''


def main_files():
    return {'main.sh': MAIN_SH, 'bytes.bin': BINARY}



# One full CPU under the sandbox's quota (see class_setup).
SHELL_MEMORY = 1769

class BashRuntimeTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.main = uniq('bash-main')
        # Shell runtimes spend their CPU spawning curl: give the test functions a
        # whole CPU (1769 MB, as Lambda) so the sandbox's CPU quota does not turn
        # behaviour tests into CPU-starvation tests.
        st, h, body, raw = cls.c.create_function(cls.main, main_files(), runtime=RUNTIME,
                                                 handler='main.main', timeout=10, memory=SHELL_MEMORY)
        if st != 201:
            raise AssertionError('CreateFunction -> %s %r' % (st, raw[:300]))

    # -- helpers
    def deploy(self, files, handler='main.main', prefix='bash', **kw):
        kw.setdefault('memory', SHELL_MEMORY)
        name, _ = self.new_function(uniq(prefix), files, runtime=RUNTIME, handler=handler, **kw)
        return name

    def call(self, name, event, headers=None, timeout=60):
        payload = event if isinstance(event, (bytes, str)) else json.dumps(event)
        return self.invoke_ok(name, payload, headers, timeout)

    def call_json(self, name, event, headers=None):
        h, body = self.call(name, event, headers)
        try:
            return h, json.loads(body)
        except ValueError:
            self.fail('result is not JSON: %r' % body[:300])

    def call_error(self, name, event, want_type):
        st, h, body = self.c.invoke(name, json.dumps(event), {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(st, 200, body[:300])
        return h, self.assertFunctionError(h, body, want_type)

    def tail_of(self, h):
        v = h.get('x-amz-log-result')
        self.assertIsNotNone(v, 'no X-Amz-Log-Result: %r' % h)
        return base64.b64decode(v).decode('utf-8', 'replace')

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

    # ------------------------------------------------------------ success

    def test_success_event_in_arg_is_the_response(self):
        h, body = self.call(self.main, {'op': 'echo-arg', 'x': [1, 2, {'y': None}]})
        self.assertEqual(json.loads(body), {'op': 'echo-arg', 'x': [1, 2, {'y': None}]})
        self.assertEqual(h.get('content-type'), 'application/json')

    def test_event_on_stdin_equals_arg(self):
        ev = json.dumps({'op': 'same-input', 'v': 'abc'})
        h, body = self.call(self.main, ev)
        self.assertEqual(body, b'true')
        h, body = self.call(self.main, json.dumps({'op': 'echo-stdin', 'k': 1}))
        self.assertEqual(json.loads(body), {'op': 'echo-stdin', 'k': 1})

    def test_stdout_byte_exact_trailing_newlines_and_nul(self):
        h, body = self.call(self.main, {'op': 'newlines'})
        self.assertEqual(body, b'a\n\n\n')
        h, body = self.call(self.main, {'op': 'nul'})
        self.assertEqual(body, b'x\x00y\x00')

    def test_empty_output_is_empty_response(self):
        h, body = self.call(self.main, {'op': 'empty'})
        self.assertEqual(body, b'')

    def test_state_kept_across_warm_calls(self):
        name = self.deploy(main_files())
        docs = [self.call_json(name, {'op': 'count'})[1] for _ in range(3)]
        self.assertEqual([d['count'] for d in docs], [1, 2, 3])
        # SEEN was declared with `declare -A` in the file: still a global array.
        self.assertEqual([d['seen'] for d in docs], [1, 2, 3])
        self.assertEqual(len({d['pid'] for d in docs}), 1, docs)

    def test_subfolder_handler(self):
        files = {'lib/util.sh': 'greet() { printf \'"from lib %s"\' "$_HANDLER"; }\n'}
        name = self.deploy(files, handler='lib/util.greet')
        h, body = self.call(name, {})
        self.assertEqual(json.loads(body), 'from lib lib/util.greet')

    def test_strict_mode_file_works(self):
        # `set -euo pipefail` in the file applies to the runtime's shell too.
        files = {'main.sh': '''set -euo pipefail
N=0
main() {
    N=$((N + 1))
    if [[ $1 == *fail* ]]; then echo "strict failure" >&2; false; fi
    printf '{"n":%d,"left":%d}' "$N" "$(bash -c remaining_ms)"
}
'''}
        name = self.deploy(files)
        docs = [self.call_json(name, {})[1] for _ in range(2)]
        self.assertEqual([d['n'] for d in docs], [1, 2])
        self.assertGreater(docs[0]['left'], 0)
        h, doc = self.call_error(name, {'fail': 1}, 'Function.ExitStatus1')
        self.assertEqual(doc['errorMessage'], 'strict failure')
        self.assertEqual(self.call_json(name, {})[1]['n'], 1, 'errexit ends the instance')

    # ------------------------------------------------------------ errors

    def test_handler_error_typed_with_last_stderr_line(self):
        h, doc = self.call_error(self.main, {'op': 'fail'}, 'Function.ExitStatus3')
        self.assertEqual(doc['errorMessage'], 'bad input: %s' % h['x-amzn-requestid'])
        self.assertIsInstance(doc.get('stackTrace'), list)
        # The stderr went to the call's log as well.
        tail = self.tail_of(h)
        self.assertIn('first line', tail)
        self.assertIn('bad input: %s' % h['x-amzn-requestid'], tail)

    def test_handler_error_without_stderr_says_exit_status(self):
        h, doc = self.call_error(self.main, {'op': 'fail-silent'}, 'Function.ExitStatus5')
        self.assertEqual(doc['errorMessage'], 'exit status 5')

    def test_error_then_success_same_instance(self):
        name = self.deploy(main_files())
        d1 = self.call_json(name, {'op': 'count'})[1]
        self.call_error(name, {'op': 'fail'}, 'Function.ExitStatus3')
        d2 = self.call_json(name, {'op': 'count'})[1]
        self.assertEqual((d1['count'], d2['count']), (1, 2))
        self.assertEqual(d1['pid'], d2['pid'])

    def test_exit_in_handler_is_an_error_then_fresh_instance(self):
        name = self.deploy(main_files())
        d1 = self.call_json(name, {'op': 'count'})[1]
        h, doc = self.call_error(name, {'op': 'exit'}, 'Function.ExitStatus7')
        self.assertEqual(doc['errorMessage'], 'leaving now')
        d2 = self.call_json(name, {'op': 'count'})[1]
        self.assertEqual(d2['count'], 1, 'state survived an exit: %r' % d2)
        self.assertNotEqual(d1['pid'], d2['pid'])

    def test_errexit_in_handler_is_an_error(self):
        name = self.deploy(main_files())
        h, doc = self.call_error(name, {'op': 'errexit'}, 'Function.ExitStatus1')
        self.assertEqual(doc['errorMessage'], 'exit status 1')
        self.call_json(name, {'op': 'count'})

    # ------------------------------------------------------------ init errors

    def test_init_error_missing_file(self):
        name = self.deploy(main_files(), handler='nosuch.main')
        h, doc = self.call_error(name, {}, 'Runtime.ImportModuleError')
        self.assertIn("Unable to import module 'nosuch'", doc['errorMessage'])

    def test_init_error_missing_function(self):
        name = self.deploy(main_files(), handler='main.nosuch')
        h, doc = self.call_error(name, {}, 'Runtime.HandlerNotFound')
        self.assertEqual(doc['errorMessage'], "Handler 'nosuch' missing on module 'main'")

    def test_init_error_syntax_error(self):
        name = self.deploy({'main.sh': 'main() {\n  if then fi\n}\n'})
        h, doc = self.call_error(name, {}, 'Runtime.UserCodeSyntaxError')
        self.assertIn('syntax error', doc['errorMessage'])
        self.assertIn("module 'main'", doc['errorMessage'])

    def test_init_error_file_returns_non_zero(self):
        files = {'main.sh': 'echo "config missing: DB_URL" >&2\nreturn 1\nmain() { :; }\n'}
        name = self.deploy(files)
        h, doc = self.call_error(name, {}, 'Runtime.ImportModuleError')
        self.assertEqual(doc['errorMessage'], "Unable to import module 'main': config missing: DB_URL")

    def test_init_error_file_exits(self):
        name = self.deploy({'main.sh': 'exit 4\n'})
        h, doc = self.call_error(name, {}, 'Runtime.ImportModuleError')
        self.assertIn('status 4', doc['errorMessage'])

    def test_init_error_malformed_handler(self):
        name = self.deploy(main_files(), handler='nodot')
        h, doc = self.call_error(name, {}, 'Runtime.MalformedHandlerName')
        self.assertIn("Bad handler 'nodot'", doc['errorMessage'])

    def test_init_error_every_call_until_fixed(self):
        name = self.deploy(main_files(), handler='main.nosuch')
        for _ in range(2):
            self.call_error(name, {}, 'Runtime.HandlerNotFound')
        st, h, body, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                      {'Handler': 'main.main'})
        self.assertEqual(st, 200, raw[:300])
        self.call_json(name, {'op': 'count'})

    # ------------------------------------------------------------ timeout

    def test_timeout_then_next_call_works(self):
        name = self.deploy(main_files(), timeout=1)
        t0 = time.monotonic()
        st, h, body = self.c.invoke(name, json.dumps({'op': 'sleep', 'secs': 5}))
        elapsed = time.monotonic() - t0
        self.assertEqual(st, 200, body[:300])
        doc = self.assertFunctionError(h, body, 'Sandbox.Timedout')
        self.assertIn('Task timed out after 1.00 seconds', doc['errorMessage'])
        self.assertLess(elapsed, 4.0)
        h, body = self.call(name, {'op': 'sleep', 'secs': 0})
        self.assertEqual(body, b'"slept"')

    # ------------------------------------------------------------ context

    def test_context_values(self):
        h, doc = self.call_json(self.main, {'op': 'context'})
        rid = h['x-amzn-requestid']
        self.assertEqual(doc['functionName'], self.main)
        self.assertEqual(doc['version'], '$LATEST')
        self.assertEqual(doc['arn'], function_arn(self.main))
        self.assertEqual(doc['memory'], str(SHELL_MEMORY))
        self.assertEqual(doc['requestId'], rid)
        self.assertEqual(doc['logGroup'], '/aws/lambda/%s' % self.main)
        self.assertTrue(doc['logStream'])
        self.assertTrue(doc['trace'].startswith('Root='), doc['trace'])
        self.assertEqual(doc['handler'], 'main.main')
        self.assertEqual(doc['cwd'], doc['taskRoot'])
        self.assertEqual(doc['execEnv'], 'AWS_Lambda_bash')
        # Remaining time: at most the timeout, and it falls while the call runs.
        self.assertLessEqual(doc['r1'], 10000)
        self.assertGreater(doc['r1'], 8000)
        self.assertGreaterEqual(doc['r1'] - doc['r2'], 150, doc)
        self.assertLess(doc['r1'] - doc['r2'], 2000, doc)
        self.assertLess(abs(doc['deadline'] - doc['now'] - doc['r2']), 300, doc)

    def test_context_exported_to_child_processes(self):
        h, doc = self.call_json(self.main, {'op': 'env-child'})
        self.assertEqual(doc['rid'], h['x-amzn-requestid'])
        self.assertTrue(doc['deadline'].isdigit(), doc)
        self.assertTrue(doc['trace'].startswith('Root='), doc)

    # ------------------------------------------------------------ payloads

    def test_6mb_payload_echoed(self):
        for op in ('echo-stdin', 'echo-arg'):
            pad = 'x' * (6 * 1000 * 1000 - 40)
            ev = json.dumps({'op': op, 'pad': pad}).encode()
            h, body = self.call(self.main, ev, timeout=60)
            self.assertEqual(len(body), len(ev), op)
            self.assertEqual(body, ev, op)

    def test_unicode_round_trip(self):
        ev = json.dumps({'op': 'echo-arg', 's': 'héllo 😀 中文 ✓'}, ensure_ascii=False).encode()
        h, body = self.call(self.main, ev)
        self.assertEqual(body, ev)
        self.assertEqual(json.loads(body)['s'], 'héllo 😀 中文 ✓')

    def test_binary_result_bytes_0_to_255(self):
        h, body = self.call(self.main, {'op': 'binary'})
        self.assertEqual(body, BINARY)
        self.assertEqual(h.get('content-type'), 'application/octet-stream')

    # ------------------------------------------------------------ logs

    def test_stderr_in_log_tail(self):
        h, body = self.call(self.main, {'op': 'log'}, {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(body, b'"logged"')
        tail = self.tail_of(h)
        rid = h['x-amzn-requestid']
        self.assertIn('log-line-one %s' % rid, tail)
        self.assertIn('log-line-two', tail)
        self.assertLess(tail.index('log-line-one'), tail.index('END RequestId: %s' % rid))

    def test_init_output_in_function_log(self):
        name = self.deploy(main_files())
        self.call(name, {'op': 'count'})
        text = self.function_log_text(name, ['bash-init-marker'])
        self.assertIn('bash-init-marker', text)

    # ------------------------------------------------------------ concurrency

    def test_instance_concurrency_overlaps_on_one_instance(self):
        n = 3
        name = self.deploy(main_files(), extra={'InstanceConcurrency': n}, timeout=20)
        self.call(name, {'op': 'count'})       # cold start out of the way
        elapsed, calls = self.invoke_together(name, [json.dumps({'op': 'concurrent', 'i': i}) for i in range(n)])
        for h, doc in calls:
            self.assertEqual(doc['rid'], h['x-amzn-requestid'])
        docs = [doc for h, doc in calls]
        # Each call on its own puller (a background subshell).
        self.assertEqual(len({d['puller'] for d in docs}), n, docs)
        self.assertOverlappedOnOneInstance(docs, elapsed, 2.5)

    # ------------------------------------------------------------ example

    def test_example_bash_hello_deploys_and_answers(self):
        files = dir_files(os.path.join(REPO, 'examples', 'bash-hello'))
        self.assertIn('function.sh', files)
        name = self.deploy(files, handler='function.handler', prefix='bash-hello')
        h, doc = self.call_json(name, {'name': 'Ada'}, {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['requestId'], h['x-amzn-requestid'])
        self.assertGreater(doc['remainingMs'], 0)
        self.assertIn('greeting Ada', self.tail_of(h))
        h, doc2 = self.call_json(name, {})
        self.assertEqual(doc2['message'], 'Hello, world!')
        self.assertEqual(doc2['calls'], doc['calls'] + 1)
