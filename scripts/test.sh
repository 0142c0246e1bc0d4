#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, the whole test suite (unit,
# property and the integration tests that start the real binary), and builds
# the benchmarks. The tests need nothing beyond the Rust toolchain; when a
# feature needs a system tool (ffmpeg for media), its install goes here.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --locked --doc
cargo bench --workspace --locked --no-run
