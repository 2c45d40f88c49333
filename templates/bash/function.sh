# {{NAME}} — a Nimbus function in bash (runtime bash, handler function.handler).
#
#   nimbus deploy {{NAME}} . --runtime bash --handler function.handler
#   nimbus invoke {{NAME}} --payload '{"name":"Ada"}' --log
#
# The runtime sources this file once per instance, then runs `handler` for
# each call with the event (JSON) as "$1" and on stdin. stdout is the
# response (byte for byte), stderr is the call's log, a non-zero status is
# the error. Variables set here or by the handler survive warm calls.
# Per call: $AWS_REQUEST_ID, $LAMBDA_DEADLINE_MS and `remaining_ms`.

CALLS=0

handler() {
    CALLS=$((CALLS + 1))
    local name=world
    if [[ $1 =~ \"name\"[[:space:]]*:[[:space:]]*\"([^\"\\]*)\" ]]; then
        name=${BASH_REMATCH[1]}
    fi
    echo "greeting $name (call $CALLS on this instance)" >&2
    printf '{"message":"Hello, %s!","calls":%d,"requestId":"%s","remainingMs":%s}\n' \
        "$name" "$CALLS" "$AWS_REQUEST_ID" "$(remaining_ms)"
}
