# Front door. `make` builds build/nimbus; `make test`, `make run`, `make bench`.
# Every target first makes sure the Debian packages are there (idempotent).
BUILD      ?= build
ASAN_BUILD ?= build-asan
CLANG_BUILD ?= build-clang
CMAKE_GEN  := -G Ninja

.PHONY: all deps build asan clang test unit integration run bench clean fuzz

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

bench: build
	@sh bench/run.sh $(BUILD)
	@/usr/bin/python3 bench/runtimes.py $(BUILD)
	@/usr/bin/python3 bench/sandbox.py $(BUILD)
	@/usr/bin/python3 bench/burst.py $(BUILD)
	@/usr/bin/python3 bench/async.py $(BUILD)
	@/usr/bin/python3 bench/timer.py $(BUILD)
	@/usr/bin/python3 bench/url.py $(BUILD)

# libFuzzer targets (HTTP parsing, ZIP extraction, function JSON, the spawner protocol), each for
# FUZZ_SECONDS: `make fuzz FUZZ_SECONDS=60`. `make test` runs their seeds and a few seconds each.
FUZZ_SECONDS ?= 30
fuzz: deps
	@sh tests/fuzz/build.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(CLANG_BUILD)
