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

.PHONY: all deps configure build run test bench sanitize tsan fuzz clean

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

# The actor, store and serve tests under ThreadSanitizer, as CI runs them.
tsan:
	$(MAKE) build BUILD=build-tsan \
	  CMAKE_ARGS="-DEMNIST_TSAN=ON -DCMAKE_BUILD_TYPE=Release"
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  scripts/run-tests.sh build-tsan -R "$(TSAN_TESTS)"
TSAN_TESTS ?= ^(job runner|memcached job|memcached_store|memory_store|simulation|serve|router|http_server|contention)

# Every parser of outside input under libFuzzer, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
