# The two commands of the README: `make run` builds and starts the app, `make test` runs every test.
# Both install what they need first (scripts/setup.sh).

# One target dir under ~/.cache, reused across clones and CI runs when it is already there.
CARGO_TARGET_DIR ?= $(HOME)/.cache/coderoom/target
export CARGO_TARGET_DIR

.PHONY: run test setup ui build lint bench-foundation

run: setup ui
	cargo run --release -p coderoom-app

test: setup ui
	cargo fmt --all -- --check
	cargo build --workspace --all-targets
	xvfb-run -a --server-args="-screen 0 1280x800x24" cargo nextest run --workspace --no-fail-fast

setup:
	./scripts/setup.sh

ui:
	npm --prefix ui run build

build: setup ui
	cargo build --workspace --all-targets

lint: setup ui
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
