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

# The suite under ThreadSanitizer, as CI runs it: the actors, the stores,
# the HTTP server, serve and the CLI. CAF's libcaf_core is built with
# ThreadSanitizer first (from Debian's source, into CAF_TSAN; once).
# TSAN_SKIP: tests that run code the others run too, many times over, to
# measure time or accuracy (twenty jobs beside busy neighbours; the
# shipped config to 0.75; one replica twice, for determinism; six train
# processes to 0.75, each instrumented): 519, 216 and 116 s under
# ThreadSanitizer on two cores for the first three, where the whole suite
# took 18 minutes. And the pause test, whose replicas must fill the
# store's backlog (64 pushes) within a 3 s outage: instrumented, they
# pushed 25 each, and its hold is tested step by step in TSan by
# `memcached_store: a paused server holds the push past the backlog`.
# They run in `make test` and `make sanitize`.
CAF_TSAN ?= build-caf-tsan
TSAN_SKIP ?= ^contention: |^cli: config/default.toml as shipped|^simulation: one replica is deterministic|^deployed shape: six train processes|^memcached job: a server paused past timeout_ms
tsan: deps
	scripts/build-caf-tsan.sh $(CAF_TSAN)
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Release -DEMNIST_TSAN=ON \
	  -DCAF_INCLUDE_DIR=$(CURDIR)/$(CAF_TSAN)/include \
	  -DCAF_CORE_LIBRARY=$(CURDIR)/$(CAF_TSAN)/lib/libcaf_core.so
	cmake --build build-tsan --target emnist_tests emnist -j $(JOBS)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  scripts/run-tests.sh build-tsan -E "$(TSAN_SKIP)"

# Every parser of outside input under libFuzzer, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# functions/Dockerfile built with podman (no registry) and a job run end to
# end in containers: setup, two trains, memcached, Prometheus.
image-test:
	scripts/image-test.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan build-caf-tsan build-fuzz
