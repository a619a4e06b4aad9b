# The two commands of the README: `make run` and `make test`. Both install what they need.
SWIFT ?= swift
BENCH_FLAGS ?=

.PHONY: setup build release test run bench bench-cluster bench-http fault sim fuzz-http clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# Without --parallel, so XCTest prints the summary CI reads. Every test is an XCTest: Swift
# Testing is disabled, so the last summary line is XCTest's (not "0 tests passed" after a failure).
test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

# `make run` serves the sample from one local node; `make run REPLICAS=3` from a 3-replica Raft
# cluster on 127.0.0.1 (KEEP=1 keeps it serving).
REPLICAS ?= 1
run: release
	@if [ "$(REPLICAS)" = "1" ]; then scripts/run-local.sh; else REPLICAS=$(REPLICAS) scripts/run-cluster.sh; fi

# Replicated throughput and batch latency: 3 replica processes on this machine, fsync on.
CLIENTS ?= 2
bench-cluster: release
	.build/release/wallet bench --replicas 3 --accounts 10000 --transfers 4000000 --batch-size 8189 --clients $(CLIENTS) $(BENCH_FLAGS)

# The REST API under wrk: GET /healthz (baseline), GET an account, POST balance_transfer.
bench-http: release
	scripts/bench-http.sh

# The process-level fault test alone (also part of make test), on the release build.
fault: release
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing --filter ClusterTests.FaultTests

bench: release
	.build/release/wallet bench --accounts 1000000 --transfers 10000000 --distribution uniform $(BENCH_FLAGS)
	.build/release/wallet bench --accounts 1000000 --transfers 10000000 --distribution zipf $(BENCH_FLAGS)

# The Raft simulator over more seeds than `make test` runs: `make sim SEEDS=5000 [SEED_START=1]`.
# A failing seed prints the one command that replays it.
SEEDS ?= 2000
SEED_START ?= 1
sim: setup
	$(SWIFT) build --build-tests
	SIM_SEEDS=$(SEEDS) SIM_SEED_START=$(SEED_START) $(SWIFT) test --skip-build --disable-swift-testing --filter ConsensusTests.SimulatorTests

# The HTTP fuzz test (also part of make test, 10,000 cases) for as long as asked:
# `make fuzz-http SECONDS=600 [SEED=n]`. A failing case names its index; the seed replays it.
SECONDS ?= 60
SEED ?= 20261202
fuzz-http: setup
	$(SWIFT) build --build-tests
	FUZZ_HTTP_SECONDS=$(SECONDS) FUZZ_HTTP_SEED=$(SEED) $(SWIFT) test --skip-build --disable-swift-testing --filter HTTPTests.HTTPFuzzTests

clean:
	rm -rf .build run-data run-cluster-data bench-data bench-http-data bench-install-data
