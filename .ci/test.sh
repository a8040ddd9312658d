#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting and lints,
# then runs every test (unit, integration, fidelity against the era references),
# then fuzzes every target for 60 s (fuzz/run.sh; cargo-fuzz is installed once).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
if cargo fmt --version >/dev/null 2>&1; then cargo fmt --all -- --check; else echo "test: rustfmt not installed, format check skipped" >&2; fi
if cargo clippy --version >/dev/null 2>&1; then cargo clippy --release --all-targets -- -D warnings; else echo "test: clippy not installed, lint skipped" >&2; fi
cargo test --release
if ! cargo fuzz --version >/dev/null 2>&1; then cargo install cargo-fuzz --locked; fi
bash fuzz/run.sh 60
