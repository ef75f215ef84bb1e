# The README's two commands. Both install what they need (scripts/deps).
#   make demo   build, then run `imsec demo`
#   make test   build twice (release with -Werror; clang with ASan+UBSan and
#               libFuzzer) and run every test: unit, vectors, CLI, lint,
#               end to end, fuzz smoke runs; the daemon lab tests (label
#               lab: attack/*.py, e2e/*.py) once, in the sanitizer tree
#   make deb    build, then a Debian package in build/ (scripts/mkdeb)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
SANBUILD ?= build-san
CMAKE_FLAGS ?=

.PHONY: all deps build san demo test bench deb format clean

all: build

deps:
	@scripts/deps

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMSEC_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

san: deps
	CC=clang cmake -S . -B $(SANBUILD) -DCMAKE_BUILD_TYPE=Debug -DIMSEC_WERROR=ON \
	  -DIMSEC_SANITIZE=ON -DIMSEC_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(SANBUILD) -j $(JOBS)

demo: build
	./$(BUILD)/imsec demo

test: build san
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) --label-exclude 'fuzz|lab'
	ctest --test-dir $(SANBUILD) --output-on-failure -j $(JOBS)

# A Debian package of the release build (scripts/mkdeb): the .deb in
# $(BUILD)/, checked with lintian.
deb: build
	@deb=$$(scripts/mkdeb $(BUILD)) && echo "$$deb" && \
	  { ! command -v lintian >/dev/null || lintian --fail-on error "$$deb"; }

bench:
	@scripts/deps --with bench
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DIMSEC_BENCH=ON -DIMSEC_TESTS=OFF >/dev/null
	cmake --build build-bench -j $(JOBS)
	@echo "benchmarks built in build-bench/tests/bench; see docs/BENCHMARKS.md"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(SANBUILD) build-bench
