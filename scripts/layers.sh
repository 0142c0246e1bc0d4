#!/usr/bin/env bash
# Checks the workspace's layering (ARCHITECTURE.md, "Where to add a new
# layer"): a seed's crate under crates/compat depends, among cairn's
# crates, on cairn-api and cairn-node only: never on what lies below the
# engine's public calls (cairn-core, cairn-store, cairn-net), nor on
# another seed's crate. The S3 door (crates/s3) is held to the same rule.
# Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
failed=0
for dir in crates/compat/*/ crates/s3/; do
  crate=$(sed -n 's/^name = "\(.*\)"/\1/p' "$dir/Cargo.toml" | head -1)
  tree=$(cargo tree -p "$crate" -e normal --depth 1 --prefix none)
  for dep in $(echo "$tree" | tail -n +2 | awk '{print $1}'); do
    case "$dep" in
      cairn-api | cairn-node) ;;
      cairn-*)
        echo "$crate depends on $dep: a seed's crate uses cairn-api and cairn-node only" >&2
        failed=1
        ;;
      *) ;;
    esac
  done
done
exit $failed
