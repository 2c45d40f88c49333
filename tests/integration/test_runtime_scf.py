"""Tencent SCF custom runtime (provided.scf): the function's own bootstrap on SCF's API.

docs/design.md, "SCF runtime API": the API at http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT
with no version prefix; no event before POST /runtime/init/ready; GET
/runtime/invocation/next gives the event with its id in the `Request_Id`
header (the same event again if asked twice within a call); POST
/runtime/invocation/response or /error with no id in the path.
Bootstraps here are shell + curl, as in Tencent's documentation.
ScfConformance runs the shared runtime conformance suite (runtime_conformance.py) with one
bootstrap that dispatches on the event's op; ScfRuntimeTest holds what only SCF's API has
(init/ready, /next asked twice) and the scf-hello example (`nimbus init
--template scf`).
"""

import base64
import json
import os
import shutil
import tempfile
import time

from nimbus_testlib import ServerTestCase, dir_files, init_template, uniq
from runtime_conformance import ENV_NAMES, ConformanceSuite

RUNTIME = 'provided.scf'

# Shell prelude for SCF bootstraps.
#   ready           POST /runtime/init/ready
#   next            GET /next; sets REQ_ID (Request_Id header) and EVENT; raw event in "$T/ev"
#   respond STR     POST STR to /runtime/invocation/response
#   fail STR        POST STR to /runtime/invocation/error
#   now_ms          wall clock in epoch ms
SCF_PRELUDE = r'''
API="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
hdr() { grep -i "^$1:" "$2" | head -n 1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r'; }
now_ms() { date +%s%3N; }
ready() { curl -sS -o /dev/null -X POST -d ' ' "$API/init/ready"; }
next() {
  : > "$T/ev"; : > "$T/h"
  curl -sS -D "$T/h" -o "$T/ev" "$API/invocation/next" || return 1
  REQ_ID=$(hdr Request_Id "$T/h")
  EVENT=$(cat "$T/ev")
}
respond() {
  printf '%s' "$1" > "$T/out"
  curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$T/out" \
    "$API/invocation/response"
}
fail() {
  printf '%s' "$1" > "$T/out"
  curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$T/out" \
    "$API/invocation/error"
}
'''


def scf_bootstrap(body):
    return '#!/bin/bash\n%s\n%s\n' % (SCF_PRELUDE, body)


ERROR_DOC = '{"errorMessage":"scf boom","errorType":"ScfError","stackTrace":["at handler"]}'

# The conformance suite's function: the op comes from the event.
MAIN = scf_bootstrap(r"""
CALLS=0
field() {  # field NAME -> the string or number value of NAME in $EVENT
  if [[ $EVENT =~ \"$1\"[[:space:]]*:[[:space:]]*\"?([^\",}]*) ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}
respond_file() {
  curl -sS -o /dev/null -X POST -H "Content-Type: ${2:-application/json}" --data-binary @"$1" \
    "$API/invocation/response"
}
echo "init-marker $$" >&2
ready
while next; do
  case $(field op) in
    count) CALLS=$((CALLS+1)); respond "{\"calls\":$CALLS,\"pid\":$$,\"rid\":\"$REQ_ID\"}" ;;
    fail) fail 'ERROR_DOC' ;;
    exit) exit 3 ;;
    sleep) echo "going to sleep" >&2; sleep "$(field secs)"; respond '"slept"' ;;
    env)
      out='{"_":0'
      for k in ENV_NAMES; do
        if [[ -v $k ]]; then out+=",\"$k\":\"${!k}\""; else out+=",\"$k\":null"; fi
      done
      respond "$out}" ;;
    binary) respond_file bytes.bin application/octet-stream ;;
    log) echo "out-line $REQ_ID"; echo "err-line $REQ_ID" >&2; respond '"logged"' ;;
    *) respond_file "$T/ev" ;;     # the event, byte for byte
  esac
done""".replace('ERROR_DOC', ERROR_DOC).replace('ENV_NAMES', ' '.join(ENV_NAMES)))

INIT_ERROR = scf_bootstrap(r"""
printf '%s' '{"errorType":"ScfInitError","errorMessage":"config missing: DB_URL","stackTrace":[]}' > "$T/out"
curl -sS -o /dev/null -X POST --data-binary @"$T/out" "$API/init/error"
exit 1""")


def main_files():
    return {'bootstrap': (MAIN, 0o755), 'bytes.bin': bytes(range(256))}


class ScfConformance(ConformanceSuite, ServerTestCase):
    RUNTIME = RUNTIME
    HANDLER = 'index.main_handler'
    MAIN = main_files()
    # The shell+curl bootstraps spend their CPU spawning curl: a whole CPU
    # (1769 MB) keeps the sandbox's quota out of these behaviour tests.
    DEPLOY = {'memory': 1769}
    BYTE_EXACT = True
    ERROR_TYPE = 'ScfError'
    ERROR_MESSAGE = 'scf boom'
    NO_CONTEXT = "SCF's API gives the event and its Request_Id only: no context, deadline or trace"
    NO_HANDLER = 'the bootstrap is the function\'s own program: no module or handler for a runtime to look up'
    UNSUPPORTED = {
        'string_and_null_results': 'the bootstrap posts the response bytes itself: there is no value to serialise',
        'unicode_strings': 'the bootstrap sees bytes',
        'context_values': NO_CONTEXT,
        'deadline_is_epoch_ms': NO_CONTEXT,
        'trace_id_set_per_call': NO_CONTEXT,
        'client_context_delivered': NO_CONTEXT,
        'instance_concurrency_overlaps_on_one_instance':
            'an SCF instance serves one call at a time: its answer\'s path names no call',
        'init_error_missing_module': NO_HANDLER,
        'init_error_missing_dependency': NO_HANDLER,
        'init_error_handler_not_found': NO_HANDLER,
        'init_error_syntax_error': NO_HANDLER,
        'init_error_malformed_handler': NO_HANDLER,
        'init_error_every_call_until_fixed': NO_HANDLER,
    }
    INIT_ERRORS = {
        'raised_at_init': {'files': {'bootstrap': (INIT_ERROR, 0o755)}, 'type': 'ScfInitError',
                           'message': 'config missing: DB_URL'},
    }

    def check_handler_error(self, h, doc, tail):
        self.assertEqual(doc, json.loads(ERROR_DOC))


# Asks for an event before it is ready (in the background), then takes a
# second to initialise; the event must not come before init/ready.
GATED = scf_bootstrap(r'''
START=$(now_ms)
( curl -sS -D "$T/h1" -o "$T/ev1" "$API/invocation/next"; now_ms > "$T/got1" ) &
BG=$!
sleep 1
READY_AT=$(now_ms)
ready
wait $BG
if [ -n "$(hdr Request_Id "$T/h1")" ]; then
  EARLY=true; GOT_AT=$(cat "$T/got1"); REQ_ID=$(hdr Request_Id "$T/h1")
else
  EARLY=false; next; GOT_AT=$(now_ms)
fi
respond "{\"start\":$START,\"readyAt\":$READY_AT,\"gotAt\":$GOT_AT,\"early\":$EARLY,\"rid\":\"$REQ_ID\"}"
while next; do respond '"warm"'; done''')

# Never says it is ready: it must never get an event (it would leave a mark).
NEVER_READY = scf_bootstrap(r'''
while true; do
  curl -sS -D "$T/h" -o "$T/ev" "$API/invocation/next" || exit 1
  if [ -n "$(hdr Request_Id "$T/h")" ]; then echo got-event >> "$MARK"; fi
  sleep 0.1
done''')

# /next twice within one call: the same event and the same id both times.
TWICE = scf_bootstrap(r'''
ready
while next; do
  ID1=$REQ_ID; cp "$T/ev" "$T/ev1"
  next
  if cmp -s "$T/ev" "$T/ev1"; then SAME=true; else SAME=false; fi
  respond "{\"same\":$SAME,\"id1\":\"$ID1\",\"id2\":\"$REQ_ID\"}"
done''')



class ScfRuntimeTest(ServerTestCase):

    def deploy(self, script, prefix='scf', **kw):
        # The shell+curl bootstraps spend their CPU spawning curl: a whole CPU
        # (1769 MB) keeps the sandbox's quota out of these behaviour tests.
        kw.setdefault('memory', 1769)
        name, _ = self.new_function(uniq(prefix), {'bootstrap': (script, 0o755)}, runtime=RUNTIME,
                                    handler='index.main_handler', **kw)
        return name

    def call_json(self, name, event, headers=None, timeout=60):
        h, body = self.invoke_ok(name, json.dumps(event), headers, timeout)
        try:
            return h, json.loads(body)
        except ValueError:
            self.fail('result is not JSON: %r' % body[:300])

    # ------------------------------------------------------------ init/ready

    def test_no_event_before_init_ready(self):
        name = self.deploy(GATED, timeout=10)
        t0 = time.monotonic()
        h, doc = self.call_json(name, {})
        elapsed = time.monotonic() - t0
        self.assertEqual(doc['rid'], h['x-amzn-requestid'])
        self.assertGreaterEqual(doc['readyAt'] - doc['start'], 900, doc)
        self.assertGreaterEqual(doc['gotAt'], doc['readyAt'], 'event delivered before init/ready: %r' % doc)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 6.0)
        # Warm now: no wait.
        t0 = time.monotonic()
        h, body = self.invoke_ok(name, b'{}')
        self.assertEqual(body, b'"warm"')
        self.assertLess(time.monotonic() - t0, 0.9)

    def test_never_ready_gets_no_event(self):
        tmp = tempfile.mkdtemp(prefix='nimbus-scf-')
        try:
            mark = os.path.join(tmp, 'mark')
            name = self.deploy(NEVER_READY, timeout=2, env={'MARK': mark})
            t0 = time.monotonic()
            st, h, body = self.c.invoke(name, b'{}')
            elapsed = time.monotonic() - t0
            self.assertEqual(st, 200, body[:300])
            self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body[:300])
            self.assertLess(elapsed, 8.0)
            self.assertFalse(os.path.exists(mark), 'a runtime that never posted init/ready got an event')
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------ /next twice

    def test_repeat_next_within_a_call_returns_same_event(self):
        name = self.deploy(TWICE)
        for i in range(2):
            h, doc = self.call_json(name, {'i': i, 'pad': 'p' * 1000})
            self.assertTrue(doc['same'], doc)
            self.assertEqual(doc['id1'], h['x-amzn-requestid'])
            self.assertEqual(doc['id2'], h['x-amzn-requestid'])

    # ------------------------------------------------------------ example

    def test_example_scf_hello_deploys_and_answers(self):
        files = dir_files(init_template('scf-hello', 'scf'))
        self.assertIn('bootstrap', files)
        name, _ = self.new_function(uniq('scf-hello'), files, runtime=RUNTIME, handler='index.main_handler')
        h, doc = self.call_json(name, {'name': 'Ada'}, {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(doc['message'], 'Hello, Ada!')
        self.assertEqual(doc['requestId'], h['x-amzn-requestid'])
        self.assertIn('greeting Ada', base64.b64decode(h['x-amz-log-result']).decode('utf-8', 'replace'))
        h, doc2 = self.call_json(name, {})
        self.assertEqual(doc2['message'], 'Hello, world!')
        self.assertEqual(doc2['calls'], doc['calls'] + 1)
        st, h, body = self.c.invoke(name, json.dumps({'name': 'fail'}))
        self.assertEqual(st, 200, body[:300])
        err = self.assertFunctionError(h, body, 'HandlerError')
        self.assertIn('status 3', err['errorMessage'])
