# The handler of {{NAME}} (index.main_handler; sourced once by ./bootstrap).
# $1 is the event (JSON); print the result on stdout; a non-zero status is
# an error. Variables kept here survive warm calls.
CALLS=0

main_handler() {
    CALLS=$((CALLS + 1))
    local name=world
    if [[ $1 =~ \"name\"[[:space:]]*:[[:space:]]*\"([^\"\\]*)\" ]]; then
        name=${BASH_REMATCH[1]}
    fi
    if [[ $name == fail ]]; then
        echo "refusing to greet '$name'" >&2
        return 3
    fi
    echo "greeting $name" >&2
    printf '{"message":"Hello, %s!","calls":%d,"requestId":"%s"}' "$name" "$CALLS" "$REQUEST_ID"
}
