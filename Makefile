# onair: the two commands are `make run` and `make test`; both install what is missing first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := . scripts/env.sh &&
ARGS ?=

.PHONY: setup build build-dev run test test-rust test-e2e lint fmt bench clean-tools

## Install everything missing (idempotent; prints each step).
setup:
	@bash scripts/setup.sh

## Release build: server binary + optimized wasm bundle in target/site.
build: setup
	$(ENV) cargo leptos build --release

## Debug build, what the browser tests run (its own site dir, so a release build stays intact).
build-dev: setup
	$(ENV) LEPTOS_SITE_ROOT=target/site-dev cargo leptos build

## Serve the release build on 127.0.0.1:3000 (ARGS="--addr 0.0.0.0:3000" for your LAN).
run: build
	$(ENV) ONAIR_SITE_ROOT=target/site ./target/release/onair $(ARGS)

## Every test: Rust (protocol, unit + signaling and relay over loopback, load tool), then Playwright in real Chromium.
test: build-dev
	$(MAKE) --no-print-directory test-rust test-e2e

test-rust:
	python3 scripts/check-layout
	$(ENV) cargo test -p onair-protocol
	$(ENV) cargo test --features ssr
	$(ENV) cargo test -p onair-load

## The whole suite with the relay (the default), the broadcast tests again with a WHIP client
## broadcasting instead of a talk page, then peer to peer (Firefox's tests among them).
test-e2e:
	$(ENV) cd end2end && npx playwright test
	$(ENV) cd end2end && ONAIR_E2E_SOURCE=whip npx playwright test broadcast.spec.ts
	$(ENV) cd end2end && ONAIR_E2E_MEDIA=p2p npx playwright test broadcast.spec.ts relay.spec.ts reconnect.spec.ts firefox.spec.ts chat.spec.ts delay.spec.ts check.spec.ts

lint:
	python3 scripts/check-layout
	$(ENV) cargo fmt --check
	$(ENV) cargo clippy -p onair-protocol --all-targets -- -D warnings
	$(ENV) cargo clippy --features ssr --tests -- -D warnings
	$(ENV) cargo clippy --lib --target wasm32-unknown-unknown --features hydrate -- -D warnings
	$(ENV) cargo clippy -p onair-load --all-targets -- -D warnings

fmt:
	cargo fmt

## Benchmarks (figures, not pass/fail): see BENCHMARKS.md.
bench: setup
	bash scripts/bench
