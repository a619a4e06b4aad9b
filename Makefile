# The two commands of the README: `make run` and `make test`. Both install what they need.
SWIFT ?= swift
BENCH_FLAGS ?=

.PHONY: setup build release test run bench sim clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# Without --parallel, so XCTest and Swift Testing print the summaries CI reads.
test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

run: release
	scripts/run-local.sh

bench: release
	.build/release/wallet bench --accounts 1000000 --transfers 10000000 --distribution uniform $(BENCH_FLAGS)
	.build/release/wallet bench --accounts 1000000 --transfers 10000000 --distribution zipf $(BENCH_FLAGS)

# The Raft simulator over more seeds than `make test` runs: `make sim SEEDS=5000 [SEED_START=1]`.
# A failing seed prints the one command that replays it.
SEEDS ?= 2000
SEED_START ?= 1
sim: setup
	$(SWIFT) build --build-tests
	SIM_SEEDS=$(SEEDS) SIM_SEED_START=$(SEED_START) $(SWIFT) test --skip-build --filter ConsensusTests.SimulatorTests

clean:
	rm -rf .build run-data bench-data
