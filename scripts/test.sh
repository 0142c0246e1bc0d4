#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, the benchmarks built, and the
# whole test suite (unit, property, doc and the integration tests that start
# the real binary), the main suite last so its summary closes the output.
# The tests need nothing beyond the Rust toolchain; when a feature needs a
# system tool (ffmpeg for media), its install goes here.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo bench --workspace --locked --no-run
cargo test --workspace --locked --doc
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
