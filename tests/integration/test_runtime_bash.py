"""The shell runtime (bash): runtimes/bash/bootstrap.sh, deployed and invoked for real.

BashConformance runs the shared runtime conformance suite (runtime_conformance.py) with one
shell file whose `main` dispatches on the event's op; BashRuntimeTest holds what is particular
to shell: the event on stdin as well as in "$1", stdout byte-exact (trailing newlines, NUL
bytes), errexit inside a handler, a file that exits while sourced, `set -euo pipefail` files,
the context exported to child processes, sub-folder handlers and the bash-hello
example (`nimbus init --template bash`).
"""

import json

from nimbus_testlib import TAIL, ServerTestCase, dir_files, init_template, tail_text, uniq
from runtime_conformance import ENV_NAMES, ConformanceSuite

RUNTIME = 'bash'
BINARY = bytes(range(256))

# One file, one dispatcher: the op comes from the event.
MAIN_SH = r'''
CALLS=0
declare -A SEEN=()          # sourced at the top level: a global, not a local
echo "init-marker $$" >&2

_field() {  # _field JSON NAME -> $FIELD (string or number value)
    FIELD=
    if [[ $1 =~ \"$2\"[[:space:]]*:[[:space:]]*\"?([^\",}]*) ]]; then FIELD=${BASH_REMATCH[1]}; fi
}

main() {
    _field "$1" op; local op=$FIELD
    case $op in
        count)
            CALLS=$((CALLS + 1)); SEEN[$AWS_REQUEST_ID]=1
            printf '{"calls":%d,"seen":%d,"pid":%d,"rid":"%s"}' "$CALLS" "${#SEEN[@]}" $$ "$AWS_REQUEST_ID" ;;
        fail) echo "first line" >&2; echo "bad input: $AWS_REQUEST_ID" >&2; return 3 ;;
        exit) echo "leaving now" >&2; exit 3 ;;
        sleep) echo "going to sleep" >&2; _field "$1" secs; sleep "$FIELD"; printf '"slept"' ;;
        context)
            local r1 r2
            r1=$(remaining_ms); sleep 0.2; r2=$(remaining_ms)
            printf '{"function_name":"%s","function_version":"%s","invoked_function_arn":"%s","memory":"%s",' \
                "$AWS_LAMBDA_FUNCTION_NAME" "$AWS_LAMBDA_FUNCTION_VERSION" "$LAMBDA_INVOKED_FUNCTION_ARN" \
                "$AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
            printf '"request_id":"%s","log_group_name":"%s","log_stream_name":"%s","r1":%d,"r2":%d,' \
                "$AWS_REQUEST_ID" "$AWS_LAMBDA_LOG_GROUP_NAME" "$AWS_LAMBDA_LOG_STREAM_NAME" "$r1" "$r2"
            printf '"deadline_ms":%s,"now_ms":%s,"client_context":%s,' \
                "$LAMBDA_DEADLINE_MS" "$(( ${EPOCHREALTIME/./} / 1000 ))" "${LAMBDA_CLIENT_CONTEXT:-null}"
            printf '"trace":"%s","handler":"%s","task_root":"%s","cwd":"%s","exec_env":"%s"}' \
                "$_X_AMZN_TRACE_ID" "$_HANDLER" "$LAMBDA_TASK_ROOT" "$PWD" "${AWS_EXECUTION_ENV:-}" ;;
        env)
            local k sep='{'
            for k in ENV_NAMES; do
                if [[ -v $k ]]; then printf '%s"%s":"%s"' "$sep" "$k" "${!k}"; else printf '%s"%s":null' "$sep" "$k"; fi
                sep=,
            done
            printf '}' ;;
        binary) cat "$LAMBDA_TASK_ROOT/bytes.bin"; LAMBDA_RESPONSE_CONTENT_TYPE=application/octet-stream ;;
        log)
            # stdout is the result: the log is stderr
            echo "out-line $AWS_REQUEST_ID" >&2
            echo "err-line $AWS_REQUEST_ID" >&2
            printf '"logged"' ;;
        concurrent)
            local s=$EPOCHREALTIME
            sleep 1
            printf '{"pid":%d,"puller":%d,"start":%s,"end":%s,"rid":"%s"}' \
                $$ $BASHPID "$s" "$EPOCHREALTIME" "$AWS_REQUEST_ID" ;;
        # the shell's own
        echo-arg) printf '%s' "$1" ;;
        same-input) local in; in=$(cat); [[ $in == "$1" ]] && printf true || printf false ;;
        fail-silent) return 5 ;;
        errexit) set -e; false; echo unreachable ;;
        env-child)
            sh -c 'printf "{\"rid\":\"%s\",\"deadline\":\"%s\",\"trace\":\"%s\"}" \
                "$AWS_REQUEST_ID" "$LAMBDA_DEADLINE_MS" "$_X_AMZN_TRACE_ID"' ;;
        newlines) printf 'a\n\n\n' ;;
        nul) printf 'x\0y\0' ;;
        empty) ;;
        *) cat ;;       # anything else: the event, byte for byte
    esac
}
'''.replace('ENV_NAMES', ' '.join(ENV_NAMES))


def main_files():
    return {'main.sh': MAIN_SH, 'bytes.bin': BINARY}


# One full CPU under the sandbox's quota: shell runtimes spend their CPU spawning curl, so a
# whole CPU (1769 MB, as Lambda) keeps the CPU quota from turning behaviour tests into
# CPU-starvation tests.
SHELL_MEMORY = 1769


class BashConformance(ConformanceSuite, ServerTestCase):
    RUNTIME = RUNTIME
    HANDLER = 'main.main'
    MAIN = main_files()
    DEPLOY = {'memory': SHELL_MEMORY}
    BYTE_EXACT = True
    ERROR_TYPE = 'Function.ExitStatus3'
    ERROR_MESSAGE = 'bad input: {rid}'       # the last line on stderr
    EXIT_ERROR_TYPE = 'Function.ExitStatus3'
    EXIT_ERROR_MESSAGE = 'leaving now'
    CONTEXT_MEMORY = SHELL_MEMORY
    MEMORY_TYPE = str
    EXEC_ENV = 'AWS_Lambda_bash'
    UNSUPPORTED = {
        'string_and_null_results': 'the handler prints the response bytes itself: there is no value to serialise',
        'unicode_strings': 'the handler sees bytes: lengths and case mapping are the locale\'s, not the runtime\'s',
    }
    INIT_ERRORS = {
        'missing_module': {'handler': 'nosuch.main', 'type': 'Runtime.ImportModuleError',
                           'message': "Unable to import module 'nosuch': No such file or directory: nosuch.sh"},
        'missing_dependency': {'files': {'main.sh': 'source "$LAMBDA_TASK_ROOT/lib/missing.sh" || return\nmain() { :; }\n'},
                               'type': 'Runtime.ImportModuleError',
                               'message_re': r"^Unable to import module 'main': .*missing\.sh: No such file or directory$"},
        'handler_not_found': {'handler': 'main.nosuch', 'type': 'Runtime.HandlerNotFound',
                              'message': "Handler 'nosuch' missing on module 'main'"},
        'syntax_error': {'files': {'main.sh': 'main() {\n  if then fi\n}\n'}, 'type': 'Runtime.UserCodeSyntaxError',
                         'message_re': r"^Syntax error in module 'main': .*syntax error"},
        'malformed_handler': {'handler': 'nodot', 'type': 'Runtime.MalformedHandlerName',
                              'message': "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"},
        'raised_at_init': {'files': {'main.sh': 'echo "config missing: DB_URL" >&2\nreturn 1\nmain() { :; }\n'},
                           'type': 'Runtime.ImportModuleError',
                           'message': "Unable to import module 'main': config missing: DB_URL"},
    }

    def check_state(self, docs):
        # SEEN was declared with `declare -A` in the file: still a global array.
        self.assertEqual([d['seen'] for d in docs], [1, 2, 3])

    def check_handler_error(self, h, doc, tail):
        # The stderr went to the call's log as well.
        self.assertIn('first line', tail)
        self.assertIn('bad input: %s' % h['x-amzn-requestid'], tail)

    def check_concurrent(self, calls, name):
        # Each call on its own puller (a background subshell).
        self.assertEqual(len({d['puller'] for h, d in calls}), self.CONCURRENCY, calls)


class BashRuntimeTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.main = uniq('bash-main')
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
        st, h, body = self.c.invoke(name, json.dumps(event), TAIL)
        self.assertEqual(st, 200, body[:300])
        return h, self.assertFunctionError(h, body, want_type)

    # ------------------------------------------------------------ the event and the result

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

    def test_6mb_event_in_arg_whole(self):
        pad = 'x' * (6 * 1000 * 1000 - 40)
        ev = json.dumps({'op': 'echo-arg', 'pad': pad}).encode()
        h, body = self.call(self.main, ev, timeout=60)
        self.assertEqual(len(body), len(ev))
        self.assertEqual(body, ev)

    def test_stdout_byte_exact_trailing_newlines_and_nul(self):
        h, body = self.call(self.main, {'op': 'newlines'})
        self.assertEqual(body, b'a\n\n\n')
        h, body = self.call(self.main, {'op': 'nul'})
        self.assertEqual(body, b'x\x00y\x00')

    def test_empty_output_is_empty_response(self):
        h, body = self.call(self.main, {'op': 'empty'})
        self.assertEqual(body, b'')

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

    def test_handler_error_without_stderr_says_exit_status(self):
        h, doc = self.call_error(self.main, {'op': 'fail-silent'}, 'Function.ExitStatus5')
        self.assertEqual(doc['errorMessage'], 'exit status 5')
        self.assertEqual(doc['stackTrace'], [])

    def test_errexit_in_handler_is_an_error(self):
        name = self.deploy(main_files())
        h, doc = self.call_error(name, {'op': 'errexit'}, 'Function.ExitStatus1')
        self.assertEqual(doc['errorMessage'], 'exit status 1')
        self.call_json(name, {'op': 'count'})

    def test_init_error_file_exits(self):
        name = self.deploy({'main.sh': 'exit 4\n'})
        h, doc = self.call_error(name, {}, 'Runtime.ImportModuleError')
        self.assertIn('status 4', doc['errorMessage'])

    # ------------------------------------------------------------ context

    def test_context_exported_to_child_processes(self):
        h, doc = self.call_json(self.main, {'op': 'env-child'})
        self.assertEqual(doc['rid'], h['x-amzn-requestid'])
        self.assertTrue(doc['deadline'].isdigit(), doc)
        self.assertTrue(doc['trace'].startswith('Root='), doc)

    # ------------------------------------------------------------ example

    def test_example_bash_hello_deploys_and_answers(self):
        files = dir_files(init_template('bash-hello', 'bash'))
        self.assertIn('function.sh', files)
        name = self.deploy(files, handler='function.handler', prefix='bash-hello')
        h, doc = self.call_json(name, {'name': 'Ada'}, TAIL)
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['requestId'], h['x-amzn-requestid'])
        self.assertGreater(doc['remainingMs'], 0)
        self.assertIn('greeting Ada', tail_text(h))
        h, doc2 = self.call_json(name, {})
        self.assertEqual(doc2['message'], 'Hello, world!')
        self.assertEqual(doc2['calls'], doc['calls'] + 1)
