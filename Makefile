# Front door. `make` builds build/nimbus; `make test`, `make run`, `make bench`,
# `make install` (PREFIX, DESTDIR), `make deb`.
# Every target first makes sure the Debian packages are there (idempotent).
BUILD      ?= build
ASAN_BUILD ?= build-asan
CLANG_BUILD ?= build-clang
CMAKE_GEN  := -G Ninja

.PHONY: all deps build asan clang test unit integration run bench clean fuzz install deb soak

all: build

deps:
	@sh scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DNIMBUS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD)

# Warning-free on clang too: built (not run) as part of `make test`.
clang: deps
	@CC=clang cmake -S . -B $(CLANG_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(CLANG_BUILD)

test: build clang asan
	@sh scripts/test.sh $(ASAN_BUILD)

unit: asan
	@$(ASAN_BUILD)/unit_tests

integration: asan
	@NIMBUS_BIN=$(ASAN_BUILD)/nimbus /usr/bin/python3 tests/integration/run.py

run: build
	@sh scripts/run.sh $(BUILD)

# The binary, runtimes, templates, C SDK, man page, completions, systemd unit
# and settings file under $(DESTDIR)$(PREFIX) (packaging/, CMakeLists.txt).
PREFIX ?= /usr/local
install: build
	@DESTDIR="$(if $(DESTDIR),$(abspath $(DESTDIR)))" cmake --install $(BUILD) --prefix "$(PREFIX)"

# A Debian package of the same under /usr: $(BUILD)/nimbus_<version>_<arch>.deb.
deb: build
	@cd $(BUILD) && rm -f nimbus_*.deb && cpack -G DEB >cpack.log 2>&1 || { cat cpack.log >&2; exit 1; }
	@ls -1 $(CURDIR)/$(BUILD)/nimbus_*.deb

# Each benchmark adds its target rows to $(BUILD)/bench-summary.tsv (bench/nimbus_bench.py); one
# that fails is noted and the others still run; the summary table is printed last (exit 1 when a
# benchmark failed). A new benchmark is one more line before the table.
bench: build
	@/usr/bin/python3 bench/nimbus_bench.py reset $(BUILD)
	@sh bench/run.sh $(BUILD) || echo bench/run.sh >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/runtimes.py $(BUILD) || echo bench/runtimes.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/sandbox.py $(BUILD) || echo bench/sandbox.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/burst.py $(BUILD) || echo bench/burst.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/density.py $(BUILD) || echo bench/density.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/async.py $(BUILD) || echo bench/async.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/timer.py $(BUILD) || echo bench/timer.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/url.py $(BUILD) || echo bench/url.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/metrics.py $(BUILD) || echo bench/metrics.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/sigv4.py $(BUILD) || echo bench/sigv4.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/egress.py $(BUILD) || echo bench/egress.py >>$(BUILD)/bench-failed.txt
	@/usr/bin/python3 bench/nimbus_bench.py table $(BUILD)

# The soak (bench/soak.py): mixed load for SOAK_SECONDS (default 300), a table of the daemon's
# RSS, fds, threads and store size over time; fails on sustained growth. Not in `make test`.
soak: build
	@/usr/bin/python3 bench/soak.py $(BUILD)

# libFuzzer targets (HTTP parsing, the Runtime API, ZIP extraction, function JSON, the spawner
# protocol, schedules, URL responses), each for
# FUZZ_SECONDS: `make fuzz FUZZ_SECONDS=60`. `make test` runs their seeds and a few seconds each.
FUZZ_SECONDS ?= 30
fuzz: deps
	@sh tests/fuzz/build.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(CLANG_BUILD)
