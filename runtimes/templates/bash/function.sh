# {{NAME}} — a Nimbus function in bash (runtime bash, handler function.handler).
#
#   nimbus deploy {{NAME}} . --runtime bash --handler function.handler
#   nimbus invoke {{NAME}} --payload '{"name":"Ada"}'
#
# This file is sourced once per instance; then `handler` runs for each call
# with the event (JSON) as "$1" (and on stdin). What it prints on stdout is
# the response; stderr goes to the call's log; a non-zero status fails the
# call. Variables set here or by the handler survive warm calls.

CALLS=0

handler() {
    CALLS=$((CALLS + 1))
    local name
    name=$(printf '%s' "$1" | sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p')
    echo "{{NAME}}: call $CALLS, request $AWS_REQUEST_ID" >&2
    printf '{"message":"Hello, %s!","calls":%d,"remaining_ms":%s}' "${name:-world}" "$CALLS" "$(remaining_ms)"
}
