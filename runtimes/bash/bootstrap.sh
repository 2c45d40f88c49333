#!/bin/bash
# runtimes/bash/bootstrap.sh — Nimbus' shell runtime (runtime id `bash`), run by
# the daemon as `/bin/bash bootstrap.sh` in the task root. It speaks the Lambda
# Runtime API with curl.
#
# Handler `file.function` (_HANDLER): `$LAMBDA_TASK_ROOT/file.sh` is sourced
# once, at the top level of this shell, then each call runs
#     function "$EVENT" < event-file > out-file
# in this same shell (no subshell), so variables the handler sets survive warm
# calls. What the function prints on stdout is the response, byte for byte
# (sent as application/json unless the handler sets LAMBDA_RESPONSE_CONTENT_TYPE
# during the call). Its stderr is the call's log: it passes straight through to
# the instance's stderr (through tee, which also keeps a copy so a failure can
# quote its last line; the answer waits for tee, at most 1 s more when a
# background process the handler started still holds stderr). A non-zero status (return/exit N, or errexit tripping)
# is the error {"errorMessage": <last stderr line, or "exit status N">,
# "errorType": "Function.ExitStatus<N>", "stackTrace": []}. A function that
# calls `exit` also ends this runtime after the error is posted; the next call
# starts a fresh instance. So does any failure when the file turned on
# `set -e` (errexit ends the shell, as it would a script): the runtime's own
# code is safe under `set -euo pipefail`, the handler keeps those semantics.
#
# Per call the handler sees (exported): AWS_REQUEST_ID, _X_AMZN_TRACE_ID,
# LAMBDA_DEADLINE_MS (epoch ms), LAMBDA_INVOKED_FUNCTION_ARN, and when given
# LAMBDA_CLIENT_CONTEXT / LAMBDA_COGNITO_IDENTITY (JSON); plus the shell
# function `remaining_ms`, which prints the milliseconds left.
#
# Init failures go to /runtime/init/error, then exit 1: a malformed handler
# (Runtime.MalformedHandlerName), a missing file, a file that returns non-zero
# or exits while sourced (Runtime.ImportModuleError), a syntax error
# (Runtime.UserCodeSyntaxError), no such shell function (Runtime.HandlerNotFound).
#
# AWS_LAMBDA_MAX_CONCURRENCY=N (N > 1): N pullers, each a background subshell
# forked after the file was sourced, each with its own connection and files.
# State kept across calls is then per puller: a variable a call sets is seen
# only by later calls on the same puller.
#
# One curl per call: it posts the answer and then long-polls /next on the same
# connection. Header parsing, JSON escaping and timing are bash builtins.
#
# Owns: its own temporary files (created, opened and unlinked at start, used
# through /dev/fd so a killed instance leaves nothing behind). Must never:
# run the handler in a subshell (state would be lost), capture stdout with
# $(...) (it strips trailing newlines and NULs), or declare `local`s in the
# function that calls the handler (the handler's assignments would land in
# them instead of in global scope). Everything of ours is named _nimbus_*.

_nimbus_api="http://${AWS_LAMBDA_RUNTIME_API:-127.0.0.1:9001}/2018-06-01/runtime"
_nimbus_phase=init      # init | idle | call | done: what the EXIT trap must report
_nimbus_seq=0           # calls served by this puller; tags tee's "finished" note

# The instance's own stdout/stderr, kept to restore them in the EXIT trap
# when `exit` happens inside a redirected call.
exec {_nimbus_stdout}>&1 {_nimbus_stderr}>&2

# $1 as a JSON string literal (quotes included), into _nimbus_js. No forks.
_nimbus_json_str() {
    _nimbus_js=$1
    _nimbus_js=${_nimbus_js//\\/\\\\}
    _nimbus_js=${_nimbus_js//\"/\\\"}
    _nimbus_js=${_nimbus_js//$'\n'/\\n}
    _nimbus_js=${_nimbus_js//$'\r'/\\r}
    _nimbus_js=${_nimbus_js//$'\t'/\\t}
    _nimbus_js=\"${_nimbus_js//[[:cntrl:]]/?}\"
}

# Per puller: four unlinked files reached through /dev/fd/N (each open of
# that path is a fresh file description, so `>` truncates and reads start at
# 0) and a pipe tee writes "done <seq>" to.
_nimbus_open_files() {
    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-bash.XXXXXX") || return 1
    exec {_nimbus_ev}<>"$d/event" {_nimbus_hd}<>"$d/headers" {_nimbus_out}<>"$d/out" \
         {_nimbus_err}<>"$d/err"
    rm -rf "$d"
    exec {_nimbus_note}<> <(:)
    _nimbus_evp=/dev/fd/$_nimbus_ev
    _nimbus_hdp=/dev/fd/$_nimbus_hd
    _nimbus_outp=/dev/fd/$_nimbus_out
    _nimbus_errp=/dev/fd/$_nimbus_err
}

# Wait until tee of call $1 has passed on everything (so the log lines land in
# this call, before its END), but at most 1 s: a background process the
# handler started may hold its stderr open for ever.
_nimbus_wait_tee() {
    while IFS= read -r -t 1 -u "$_nimbus_note" _nimbus_x; do
        if [[ $_nimbus_x == "$1" ]]; then return 0; fi
    done
    return 1
}

# The last non-empty line of the captured stderr, into _nimbus_last ("" if
# none); the last line bash wrote about a syntax error, into _nimbus_syntax.
_nimbus_last_err() {
    _nimbus_last= _nimbus_syntax=
    while IFS= read -r _nimbus_x || [[ -n $_nimbus_x ]]; do
        _nimbus_x=${_nimbus_x%$'\r'}
        if [[ -n $_nimbus_x ]]; then _nimbus_last=$_nimbus_x; fi
        if [[ $_nimbus_x == *"syntax error"* ]]; then _nimbus_syntax=$_nimbus_x; fi
    done < <(tail -n 5 "$_nimbus_errp" 2>/dev/null)
}

_nimbus_init_fail() {   # type message
    printf '[ERROR] %s: %s\n' "$1" "$2" >&"$_nimbus_stderr"
    _nimbus_json_str "$2"
    _nimbus_phase=done
    curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' \
        -H "Lambda-Runtime-Function-Error-Type: $1" \
        --data-binary "{\"errorMessage\":$_nimbus_js,\"errorType\":\"$1\",\"stackTrace\":[]}" \
        "$_nimbus_api/init/error" >&"$_nimbus_stderr" 2>&1
    exit 1
}

# Exported, so bash scripts the handler runs can call it too.
remaining_ms() {
    local now=${EPOCHREALTIME//[!0-9]/}
    printf '%s\n' $(( ${LAMBDA_DEADLINE_MS:-0} - now / 1000 ))
}
export -f remaining_ms

# Reads the headers of the last /next into the call's variables; false if the
# answer had no request id (not an event).
_nimbus_read_headers() {
    AWS_REQUEST_ID= _X_AMZN_TRACE_ID= LAMBDA_DEADLINE_MS= LAMBDA_INVOKED_FUNCTION_ARN=
    unset LAMBDA_CLIENT_CONTEXT LAMBDA_COGNITO_IDENTITY
    while IFS= read -r _nimbus_x; do
        _nimbus_x=${_nimbus_x%$'\r'}
        _nimbus_v=${_nimbus_x#*:}
        _nimbus_v=${_nimbus_v#"${_nimbus_v%%[! ]*}"}
        case ${_nimbus_x,,} in
            lambda-runtime-aws-request-id:*) AWS_REQUEST_ID=$_nimbus_v ;;
            lambda-runtime-deadline-ms:*) LAMBDA_DEADLINE_MS=$_nimbus_v ;;
            lambda-runtime-invoked-function-arn:*) LAMBDA_INVOKED_FUNCTION_ARN=$_nimbus_v ;;
            lambda-runtime-trace-id:*) _X_AMZN_TRACE_ID=$_nimbus_v ;;
            lambda-runtime-client-context:*) export LAMBDA_CLIENT_CONTEXT=$_nimbus_v ;;
            lambda-runtime-cognito-identity:*) export LAMBDA_COGNITO_IDENTITY=$_nimbus_v ;;
        esac
    done < "$_nimbus_hdp"
    export AWS_REQUEST_ID _X_AMZN_TRACE_ID LAMBDA_DEADLINE_MS LAMBDA_INVOKED_FUNCTION_ARN
    [[ -n $AWS_REQUEST_ID ]]
}

# One curl: post the previous call's answer (args "$@", if any) and then long
# poll /next on the same connection. Leaves the event in $_nimbus_evp.
_nimbus_post_and_next() {
    : > "$_nimbus_evp"
    : > "$_nimbus_hdp"
    if (( $# )); then
        curl -sS -o /dev/null -H 'Expect:' "$@" --next \
            -sS -D "$_nimbus_hdp" -o "$_nimbus_evp" "$_nimbus_api/invocation/next"
    else
        curl -sS -D "$_nimbus_hdp" -o "$_nimbus_evp" "$_nimbus_api/invocation/next"
    fi
}

# The error document for exit status $1 of the current call, into _nimbus_doc.
_nimbus_error_doc() {
    _nimbus_last_err
    _nimbus_json_str "${_nimbus_last:-exit status $1}"
    _nimbus_etype="Function.ExitStatus$1"
    _nimbus_doc="{\"errorMessage\":$_nimbus_js,\"errorType\":\"$_nimbus_etype\",\"stackTrace\":[]}"
}

_nimbus_on_exit() {
    _nimbus_rc=$?
    if [[ $_nimbus_phase == call ]]; then
        # `exit` (or errexit) inside the handler: answer the call, then go.
        _nimbus_phase=done
        exec 1>&"$_nimbus_stdout" 2>&"$_nimbus_stderr"
        _nimbus_wait_tee "$_nimbus_seq" || :
        if (( _nimbus_rc == 0 )); then
            curl -sS -o /dev/null -H 'Expect:' -X POST \
                -H "Content-Type: ${LAMBDA_RESPONSE_CONTENT_TYPE:-application/json}" \
                --data-binary @"$_nimbus_outp" "$_nimbus_api/invocation/$AWS_REQUEST_ID/response"
        else
            _nimbus_error_doc "$_nimbus_rc"
            curl -sS -o /dev/null -H 'Expect:' -X POST -H 'Content-Type: application/json' \
                -H "Lambda-Runtime-Function-Error-Type: $_nimbus_etype" --data-binary "$_nimbus_doc" \
                "$_nimbus_api/invocation/$AWS_REQUEST_ID/error"
        fi
    elif [[ $_nimbus_phase == init ]]; then
        exec 1>&"$_nimbus_stdout" 2>&"$_nimbus_stderr"
        _nimbus_init_fail Runtime.ImportModuleError \
            "Unable to import module '$_nimbus_file': exited with status $_nimbus_rc while being sourced"
    fi
}

# One puller: serve calls until the API goes away. Declares no `local`s (see
# the header comment).
_nimbus_serve() {
    if [[ ${1:-} == --own-files ]]; then _nimbus_open_files || exit 1; fi
    _nimbus_phase=idle
    _nimbus_fails=0
    set -- # the first poll has no answer to post
    while :; do
        _nimbus_post_and_next "$@" || :
        if ! _nimbus_read_headers; then
            # Not an event (API error, connection lost): as the C++ client,
            # give up after three in a row.
            _nimbus_fails=$((_nimbus_fails + 1))
            if (( _nimbus_fails >= 3 )); then _nimbus_phase=done; exit 1; fi
            read -r -t 0.1 -u "$_nimbus_note" _nimbus_x || :
            set --
            continue
        fi
        _nimbus_fails=0
        EVENT=$(<"$_nimbus_evp")
        unset LAMBDA_RESPONSE_CONTENT_TYPE
        _nimbus_seq=$((_nimbus_seq + 1))
        _nimbus_phase=call
        "$_nimbus_fn" "$EVENT" < "$_nimbus_evp" > "$_nimbus_outp" \
            2> >(tee "$_nimbus_errp" >&"$_nimbus_stderr"; echo "$_nimbus_seq" >&"$_nimbus_note")
        _nimbus_rc=$?
        _nimbus_phase=idle
        _nimbus_wait_tee "$_nimbus_seq" || :
        if (( _nimbus_rc == 0 )); then
            set -- -X POST -H "Content-Type: ${LAMBDA_RESPONSE_CONTENT_TYPE:-application/json}" \
                --data-binary @"$_nimbus_outp" "$_nimbus_api/invocation/$AWS_REQUEST_ID/response"
        else
            _nimbus_error_doc "$_nimbus_rc"
            set -- -X POST -H 'Content-Type: application/json' \
                -H "Lambda-Runtime-Function-Error-Type: $_nimbus_etype" --data-binary "$_nimbus_doc" \
                "$_nimbus_api/invocation/$AWS_REQUEST_ID/error"
        fi
    done
}

# ---------------------------------------------------------------- init

_nimbus_handler=${_HANDLER:-}
_nimbus_file=${_nimbus_handler%.*}
_nimbus_fn=${_nimbus_handler##*.}
if [[ $_nimbus_handler != *.* || -z $_nimbus_file || -z $_nimbus_fn ]]; then
    _nimbus_init_fail Runtime.MalformedHandlerName \
        "Bad handler '$_nimbus_handler': not enough values to unpack (expected 2, got 1)"
fi
_nimbus_path=${LAMBDA_TASK_ROOT:-$PWD}/$_nimbus_file.sh
if [[ ! -f $_nimbus_path || ! -r $_nimbus_path ]]; then
    _nimbus_init_fail Runtime.ImportModuleError \
        "Unable to import module '$_nimbus_file': No such file or directory: $_nimbus_file.sh"
fi

trap _nimbus_on_exit EXIT
# Sourced at the top level (not in a function) so its `declare`s are global.
# stderr passes through tee, which keeps a copy to tell a syntax error from
# other failures. (A background process started here that keeps stderr open
# costs the 1 s grace of _nimbus_wait_tee, once.)
_nimbus_open_files || _nimbus_init_fail Runtime.Unknown "cannot create temporary files"
source "$_nimbus_path" 2> >(tee "$_nimbus_errp" >&"$_nimbus_stderr"; echo 0 >&"$_nimbus_note")
_nimbus_rc=$?
_nimbus_wait_tee 0 || :
if (( _nimbus_rc != 0 )); then
    _nimbus_last_err
    # bash stops a sourced file at a syntax error with status 2 and says so.
    if (( _nimbus_rc == 2 )) && [[ -n $_nimbus_syntax ]]; then
        _nimbus_init_fail Runtime.UserCodeSyntaxError \
            "Syntax error in module '$_nimbus_file': $_nimbus_syntax"
    fi
    _nimbus_init_fail Runtime.ImportModuleError \
        "Unable to import module '$_nimbus_file': ${_nimbus_last:-sourcing returned status $_nimbus_rc}"
fi
if ! declare -F -- "$_nimbus_fn" > /dev/null; then
    _nimbus_init_fail Runtime.HandlerNotFound "Handler '$_nimbus_fn' missing on module '$_nimbus_file'"
fi
_nimbus_phase=idle

_nimbus_n=${AWS_LAMBDA_MAX_CONCURRENCY:-1}
if [[ $_nimbus_n =~ ^[0-9]+$ ]] && (( _nimbus_n > 1 )); then
    # Each puller opens its own files; ours were only for sourcing.
    for ((_nimbus_i = 0; _nimbus_i < _nimbus_n; _nimbus_i++)); do
        ( trap _nimbus_on_exit EXIT; _nimbus_serve --own-files ) &
    done
    # One puller gone (exit in a handler, API lost): the instance is done.
    wait -n
    _nimbus_rc=$?
    kill $(jobs -p) 2>/dev/null
    _nimbus_phase=done
    exit "$_nimbus_rc"
fi
_nimbus_serve
