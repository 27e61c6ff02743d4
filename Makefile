# The two commands of the README, and a few helpers.
#   make run    install what is missing, build, run a local simulation on
#               config/default.toml (fetching the files it needs if missing)
#   make test   install what is missing, build, run the doctest suite (ctest)
# Variables: BUILD (build folder), ARGS (extra `emnist simulate` arguments),
# DATA (data directory), CMAKE_ARGS (e.g. -DEMNIST_ARCH=portable).
BUILD ?= build
DATA ?= $(or $(EMNIST_DIR),data/emnist)
ARGS ?=
CMAKE_ARGS ?=
JOBS ?= $(shell nproc)

.PHONY: all deps configure build run test bench sanitize tsan fuzz image-test clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/emnist simulate --fetch-missing --config config/default.toml \
	  --data $(DATA) $(ARGS)

test: build
	scripts/run-tests.sh $(BUILD)

bench: build
	@WITH_BENCH=1 scripts/install-deps.sh
	bench/simulate_vs_torch.py --emnist $(BUILD)/emnist $(ARGS)

# The suite under AddressSanitizer and UBSan, as CI runs it (.ci/run).
sanitize:
	$(MAKE) test BUILD=build-asan \
	  CMAKE_ARGS="-DEMNIST_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"

# Our own threads (memcached store, HTTP server, router) under
# ThreadSanitizer, as CI runs them: only their test program is built.
tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Release -DEMNIST_TSAN=ON
	cmake --build build-tsan --target emnist_thread_tests -j $(JOBS)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  scripts/run-tests.sh build-tsan -L tsan

# Every parser of outside input under libFuzzer, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# functions/Dockerfile built with podman (no registry) and a job run end to
# end in containers: setup, two trains, memcached, Prometheus.
image-test:
	scripts/image-test.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
