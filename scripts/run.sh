#!/bin/sh
# `make run`: start Nimbus on its defaults, deploy the examples, say how to
# call them, then stay in the foreground until Ctrl-C.
# NIMBUS_LISTEN (HOST:PORT, default 127.0.0.1:8080; port 0 picks a free one)
# and NIMBUS_DATA (default ./data) choose the address and the data dir.
set -u
BUILD=${1:-build}
BIN_DIR=$(cd "$BUILD" && pwd)
NIMBUS="$BIN_DIR/nimbus"
LISTEN=${NIMBUS_LISTEN:-127.0.0.1:8080}
DATA=${NIMBUS_DATA:-data}
LOG=$(mktemp)
"$NIMBUS" serve --listen "$LISTEN" --data-dir "$DATA" >"$LOG" 2>&1 &
PID=$!
TAIL=
trap 'kill -TERM $PID $TAIL 2>/dev/null; wait $PID; rm -f "$LOG"; exit 0' INT TERM
i=0
until grep -q "listening on" "$LOG"; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 $PID 2>/dev/null; then
    echo "nimbus failed to start:" >&2; cat "$LOG" >&2; exit 1
  fi
  sleep 0.1
done
cat "$LOG"
# Where it really listens (port 0 is a free port; 0.0.0.0 is reached on loopback).
ENDPOINT=$(sed -n 's|^nimbus: listening on \(http://[^ ]*\).*|\1|p' "$LOG" | head -n 1 |
           sed 's|//0\.0\.0\.0:|//127.0.0.1:|')
DATA_ABS=$(cd "$DATA" && pwd)
export NIMBUS_ENDPOINT="$ENDPOINT"
# One example per runtime: hello-shell and echo are in examples/; one more per
# template, <T>-hello, made fresh under the build dir by `nimbus init` (the
# source tree holds only the templates).
EX="$BUILD/examples"
made() {   # made NAME TEMPLATE: the example NAME from the template, in $EX/NAME
  rm -rf "${EX:?}/$1"
  mkdir -p "$EX"
  "$NIMBUS" init "$1" --template "$2" --dir "$EX/$1" >/dev/null
}
"$NIMBUS" deploy hello examples/hello-shell --runtime provided --handler function.handler
"$NIMBUS" deploy echo examples/echo --runtime provided --handler echo.handler
made python-hello python && "$NIMBUS" deploy python-hello "$EX/python-hello" --runtime python3.11 --handler app.handler
made node-hello node && "$NIMBUS" deploy node-hello "$EX/node-hello" --runtime nodejs20.x --handler index.handler
made bash-hello bash && "$NIMBUS" deploy bash-hello "$EX/bash-hello" --runtime bash --handler function.handler
# A sanitized build's library links only dynamically, with the sanitizers.
if grep -q '^NIMBUS_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  set -- STATIC= "CFLAGS=-O1 -g -fsanitize=address,undefined" LDFLAGS=-fsanitize=address,undefined
  C_ENV="--env ASAN_OPTIONS=detect_leaks=0"
else
  set --
  C_ENV=
fi
if made c-hello c &&
   make -s -C "$EX/c-hello" NIMBUS_RUNTIME_DIR="$(cd "$BUILD" && pwd)" "$@" >"$EX/c-hello.log" 2>&1; then
  "$NIMBUS" deploy c-hello "$EX/c-hello" --runtime provided --handler bootstrap $C_ENV
else
  tail -n 5 "$EX/c-hello.log" >&2 2>/dev/null
  echo "(c-hello not built: see $EX/c-hello.log and $EX/c-hello/Makefile)" >&2
fi
made scf-hello scf && "$NIMBUS" deploy scf-hello "$EX/scf-hello" --runtime provided.scf --handler index.main_handler
made fc-hello fc && "$NIMBUS" deploy fc-hello "$EX/fc-hello" --runtime provided.fc --handler index.handler \
  --http-port 9000 --initializer
cat <<MSG

Nimbus is running on $ENDPOINT (data in $DATA_ABS). In your own shell:
  export PATH="$BIN_DIR:\$PATH"
  export NIMBUS_ENDPOINT=$ENDPOINT
then try:
  nimbus invoke hello --payload '{"name":"Ada"}' --log
  curl -s -X POST $ENDPOINT/2015-03-31/functions/hello/invocations -d '{"name":"Ada"}'
  nimbus invoke python-hello --payload '{"name":"Ada"}'     (also node-hello, bash-hello,
  nimbus invoke c-hello --payload '{"name":"Ada"}'           c-hello, scf-hello, fc-hello, echo)
  nimbus list
  nimbus instances hello
  nimbus logs hello --follow
The *-hello functions' files are in $(cd "$EX" && pwd) (made by \`nimbus init NAME --template T\`).
Ctrl-C stops it.
MSG
tail -n +2 -f "$LOG" &
TAIL=$!
wait $PID
kill $TAIL 2>/dev/null
rm -f "$LOG"
