# The two commands of the README: `make run` builds and starts the app, `make test` runs every test.
# Both install what they need first (scripts/setup.sh).

# One target dir under ~/.cache, reused across clones and CI runs when it is already there.
SHELL := /bin/bash

CARGO_TARGET_DIR ?= $(HOME)/.cache/coderoom/target
export CARGO_TARGET_DIR

.PHONY: run test setup ui build lint bench-foundation fuzz-short fuzz-long

# The fuzz targets (fuzz/) build with nightly and AddressSanitizer in a target dir of their own.
FUZZ_TARGET_DIR ?= $(HOME)/.cache/coderoom/fuzz-target
FUZZ_TARGETS := frame ticket screen peer_core hub_core
FUZZ_SECONDS ?= 15

run: setup ui
	cargo run --release -p coderoom-app

test: setup ui
	cargo fmt --all -- --check
	cargo build --workspace --all-targets
	xvfb-run -a --server-args="-screen 0 1280x800x24" cargo nextest run --workspace --no-fail-fast
	$(MAKE) fuzz-short

# A short run of every fuzz target (CI); `make fuzz-long FUZZ_SECONDS=3600` for the long one.
fuzz-short fuzz-long:
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) cargo +nightly fuzz run $$target -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
			| grep -E 'stat::number_of_executed_units|Done|ERROR|panicked|SUMMARY' ; \
		test $${PIPESTATUS[0]} -eq 0 || exit 1; \
		echo "fuzz: $$target held for $(FUZZ_SECONDS) s"; \
	done

setup:
	./scripts/setup.sh

ui:
	npm --prefix ui run build

build: setup ui
	cargo build --workspace --all-targets

lint: setup ui
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
