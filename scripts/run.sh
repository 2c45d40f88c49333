#!/bin/sh
# `make run`: start Nimbus on its defaults, deploy the examples, say how to
# call them, then stay in the foreground until Ctrl-C.
set -u
BUILD=${1:-build}
NIMBUS="$BUILD/nimbus"
LISTEN=${NIMBUS_LISTEN:-127.0.0.1:8080}
DATA=${NIMBUS_DATA:-data}
ENDPOINT="http://$LISTEN"
LOG=$(mktemp)
"$NIMBUS" serve --listen "$LISTEN" --data-dir "$DATA" >"$LOG" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID; rm -f "$LOG"; exit 0' INT TERM
i=0
until grep -q "listening on" "$LOG"; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 $PID 2>/dev/null; then
    echo "nimbus failed to start:" >&2; cat "$LOG" >&2; exit 1
  fi
  sleep 0.1
done
cat "$LOG"
export NIMBUS_ENDPOINT="$ENDPOINT"
# One example per runtime. The *-hello ones are made from templates/ (the
# same files `nimbus init NAME --template T` writes; see scripts/examples.sh).
"$NIMBUS" deploy hello examples/hello-shell --runtime provided --handler function.handler
"$NIMBUS" deploy echo examples/echo --runtime provided --handler echo.handler
"$NIMBUS" deploy python-hello examples/python-hello --runtime python3.11 --handler app.handler
"$NIMBUS" deploy node-hello examples/node-hello --runtime nodejs20.x --handler index.handler
"$NIMBUS" deploy bash-hello examples/bash-hello --runtime bash --handler function.handler
if make -s -C examples/c-hello NIMBUS_RUNTIME_DIR="$(cd "$BUILD" && pwd)" >/dev/null; then
  "$NIMBUS" deploy c-hello examples/c-hello --runtime provided --handler bootstrap
else
  echo "(c-hello not built: see examples/c-hello/Makefile)" >&2
fi
"$NIMBUS" deploy scf-hello examples/scf-hello --runtime provided.scf --handler index.main_handler
"$NIMBUS" deploy fc-hello examples/fc-hello --runtime provided.fc --handler index.handler \
  --http-port 9000 --initializer
cat <<MSG

Nimbus is running on $ENDPOINT (data in $DATA). Try:
  $NIMBUS invoke hello --payload '{"name":"Ada"}' --log
  curl -s -X POST $ENDPOINT/2015-03-31/functions/hello/invocations -d '{"name":"Ada"}'
  $NIMBUS invoke python-hello --payload '{"name":"Ada"}'     (also node-hello, bash-hello,
  $NIMBUS invoke c-hello --payload '{"name":"Ada"}'           c-hello, scf-hello, fc-hello, echo)
  $NIMBUS list
  $NIMBUS instances hello
  $NIMBUS logs hello --follow
(NIMBUS_ENDPOINT=$ENDPOINT is the default endpoint.) Ctrl-C stops it.
MSG
tail -n +2 -f "$LOG" &
TAIL=$!
wait $PID
kill $TAIL 2>/dev/null
rm -f "$LOG"
