# shelfstream: everything a newcomer or CI types goes through here.
#   make demo   bring the platform up and run the demo
#   make test   formatting, lints and every test (needs `make up`)
SHELL := bash
CARGO ?= cargo
# One build serves the platform check, the demo and the services: `make
# demo` and `make dashboard` build release (one build of about 8 min on 2
# cores from nothing), `make up` and the tests debug.
PROFILE ?= debug
SHELF = target/$(PROFILE)/shelf
PROFILE_FLAG = $(if $(filter release,$(PROFILE)),--release,)

.PHONY: up down status setup install build build-wasm doctor demo dashboard test fmt lint unit chaos bench clean-local

# Where the modules land: wasm_dir of the default chain file, the one definition.
WASM_DIR := $(shell sed -n 's/^wasm_dir = "\(.*\)"/\1/p' transforms/default-chain.toml)

## Platform ---------------------------------------------------------------

# Installs what is missing first (Debian packages, the wasm target; quick
# when all is there), so `make demo` works on a fresh machine. Services start
# in the background while the CLI builds, then `shelf doctor` waits until
# both really answer (a Kafka metadata request, a MongoDB ping).
up: setup build-wasm
	infra/platform.sh up $(if $(CLUSTER),--brokers $(CLUSTER),)
	@[[ -x $(SHELF) ]] || echo "[make] building shelf ($(PROFILE)): about 8 min on 2 cores the first time"
	$(CARGO) build $(PROFILE_FLAG) -p shelf
	$(SHELF) doctor --wait 90

down:
	infra/platform.sh down $(if $(CLUSTER),--brokers $(CLUSTER),)

status:
	infra/platform.sh status $(if $(CLUSTER),--brokers $(CLUSTER),)

setup:
	infra/setup.sh

install: setup
	infra/platform.sh install

## Build and run ----------------------------------------------------------

build: build-wasm
	$(CARGO) build --workspace

# The SmartModules (transforms/modules, a workspace of its own) for
# wasm32-unknown-unknown; they land in $(WASM_DIR).
build-wasm:
	@[[ -d $(WASM_DIR) ]] || echo "[make] building the SmartModules (wasm32): about 1 min the first time"
	$(CARGO) build -q --release --target wasm32-unknown-unknown \
		--manifest-path transforms/modules/Cargo.toml --target-dir target/wasm

doctor: build
	$(SHELF) doctor

# The main job: the whole pipeline on dataset/sample (or ROWS generated rows)
# from an empty database, then the reconciliation and the charts.
# A release build: at full size (ROWS=1426337) a debug one takes the
# in-process client and sink a third longer. `up` builds it (PROFILE).
demo: PROFILE := release
demo: up
	$(SHELF) demo --reset $(if $(ROWS),--rows $(ROWS),)

# The live dashboard on http://127.0.0.1:8501 (dashboard/), on the database
# the demo and the sink write; Ctrl-C stops it.
dashboard: PROFILE := release
dashboard: up
	$(SHELF) dashboard

## Checks -----------------------------------------------------------------

fmt:
	$(CARGO) fmt --all --check
	$(CARGO) fmt --all --check --manifest-path transforms/modules/Cargo.toml

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -q --release --target wasm32-unknown-unknown \
		--manifest-path transforms/modules/Cargo.toml --target-dir target/wasm -- -D warnings

# Integration tests share one broker and one store; each test works on its own
# topics and database, so they may run in parallel.
test: fmt lint build-wasm
	$(CARGO) test --workspace

# Everything that does not need `make up`: every crate's unit tests and the
# test suites of the crates that bring their own stand-ins (the modules
# through the engine, the client against a stand-in gateway, the CLI).
unit: build-wasm
	$(CARGO) test --workspace --lib
	$(CARGO) test -p shelf-engine -p shelf-rules -p shelf-client -p shelf --tests

# The chaos test at length (the suite runs a short one): the whole pipeline
# while a seeded loop kill -9s its processes, the store and the broker.
# SEED, ROWS and RATE choose the run; it prints the kills and the drain time.
chaos: up
	$(CARGO) build -q -p shelf
	SHELF_CHAOS_SEED=$(or $(SEED),1) SHELF_CHAOS_ROWS=$(or $(ROWS),60000) SHELF_CHAOS_RATE=$(or $(RATE),1000) \
		$(CARGO) test -q -p shelf-tests --test chaos -- --nocapture

# Benchmarks print figures; they assert nothing. Release builds.
bench: PROFILE := release
bench: up
	$(CARGO) build --release -p shelf -p shelf-benches
	target/release/ingest-bench
	target/release/transform-bench
	target/release/sink-bench
	target/release/pipeline-bench $(if $(ROWS),--rows $(ROWS),)

clean-local: down
	rm -rf .local
