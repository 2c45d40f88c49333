#!/bin/sh
# Build the HTTP server's libFuzzer target and run it.
#   tests/fuzz/build.sh [seconds]     (default 30)
# Output goes to build-fuzz/: the binary, the growing corpus, and any crash
# reproducer (crash-*), which `build-fuzz/fuzz_http <file>` replays.
set -eu
SECS=${1:-30}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/build-fuzz
OBJ=$OUT/obj
LLHTTP=/usr/share/llhttp
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$OBJ" "$OUT/corpus_http"

# Ours, with the project's warnings.
for f in tests/fuzz/fuzz_http.c src/io/http.c src/io/http_msg.c src/io/loop.c src/base/err.c; do
  clang -g -O1 -std=gnu11 $SAN -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
    -I"$ROOT/src" -I/usr/share/include/llhttp \
    -c "$ROOT/$f" -o "$OBJ/$(basename "$f" .c).o"
done
# llhttp is third-party: no warning flags, but instrumented so the fuzzer
# sees its branches. Prefixed: it has an http.c of its own.
for f in api http llhttp; do
  clang -g -O1 $SAN -w -I/usr/share/include/llhttp -c "$LLHTTP/$f.c" -o "$OBJ/llhttp_$f.o"
done
clang $SAN "$OBJ"/*.o -lpthread -o "$OUT/fuzz_http"

# A few seeds so the run starts from real requests.
seed() { printf "$2" >"$OUT/corpus_http/seed_$1"; }
seed get    '\000GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n'
seed post   '\001POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n'
seed chunk  '\002POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n'
seed expect '\003POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc'
seed pipe   '\004GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.0\r\n\r\n'
seed small  '\005POST /s HTTP/1.1\r\nContent-Length: 40\r\n\r\n0123456789012345678901234567890123456789'

# The spawner protocol's decoders: one pure file of ours, run first.
mkdir -p "$OUT/corpus_spawner_proto"
clang -g -O1 -std=gnu11 $SAN -Wall -Wextra -Werror -Wshadow -I"$ROOT/src" "$ROOT/tests/fuzz/fuzz_spawner_proto.c" \
  "$ROOT/src/sandbox/spawner_proto.c" -o "$OUT/fuzz_spawner_proto"
(cd "$OUT" && ./fuzz_spawner_proto -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 corpus_spawner_proto)

cd "$OUT"
exec ./fuzz_http -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 corpus_http
