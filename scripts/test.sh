#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, the benchmarks built, and the
# whole test suite (unit, property, doc and the integration tests that start
# the real binary), the main suite last so its summary closes the output.
# Beyond the Rust toolchain the tests need ffmpeg and ffprobe (conversion,
# splash images, preview lengths), installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
  else
    echo "ffmpeg is missing and this system has no apt-get: install ffmpeg and ffprobe" >&2
    exit 1
  fi
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo bench --workspace --locked --no-run
cargo test --workspace --locked --doc
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
