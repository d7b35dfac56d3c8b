# shelfstream: everything a newcomer or CI types goes through here.
#   make demo   bring the platform up and run the demo
#   make test   formatting, lints and every test (needs `make up`)
SHELL := bash
CARGO ?= cargo
SHELF := target/debug/shelf

.PHONY: up down status install build doctor demo test fmt lint unit bench clean-local

## Platform ---------------------------------------------------------------

# Services start in the background while the CLI builds, then `shelf doctor`
# waits until both really answer (a Kafka metadata request, a MongoDB ping).
up:
	infra/platform.sh up
	$(CARGO) build -q -p shelf
	$(SHELF) doctor --wait 90

down:
	infra/platform.sh down

status:
	infra/platform.sh status

install:
	infra/setup.sh
	infra/platform.sh install

## Build and run ----------------------------------------------------------

build:
	$(CARGO) build --workspace

doctor: build
	$(SHELF) doctor

demo: up
	@echo
	@echo "The platform is up. Later stages of the demo arrive with the gateway, transforms and sink."

## Checks -----------------------------------------------------------------

fmt:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Integration tests share one broker and one store; each test works on its own
# topics and database, so they may run in parallel.
test: fmt lint
	$(CARGO) test --workspace

unit:
	$(CARGO) test --workspace --lib

# Benchmarks print figures; they assert nothing. Release builds.
bench: up
	$(CARGO) build --release -p shelf -p shelf-benches
	target/release/ingest-bench

clean-local: down
	rm -rf .local
