#!/usr/bin/env bash
# What scraping /metrics costs a node under load (issue 20, point 2): a
# small-file upload load (UPLOADS uploads of 4 KiB each over the native
# API, CONCURRENCY at once, every body different), run ROUNDS times without
# a scrape and ROUNDS times with /metrics scraped every second, the two
# kinds alternating in the same run on the same node, so drift of the
# machine or the growing catalog falls on both alike. Prints each round's
# uploads per second, the median of each kind, and their ratio (target:
# within 2 %).
#
#   bash scripts/bench-metrics.sh
#   CAIRN_BIN=target/release/cairn bash scripts/bench-metrics.sh   # no build
#   UPLOADS=1000 ROUNDS=3 CONCURRENCY=16 bash scripts/bench-metrics.sh
#
# The client is scripts/load/uploads.py (Python's standard library).
set -euo pipefail
cd "$(dirname "$0")/.."
UPLOADS=${UPLOADS:-3000}
ROUNDS=${ROUNDS:-5}
CONCURRENCY=${CONCURRENCY:-8}
CLIENT=$PWD/scripts/load/uploads.py
if [ -n "${CAIRN_BIN:-}" ]; then
  BIN=$(realpath "$CAIRN_BIN")
else
  cargo build --release --locked -p cairn-cli >/dev/null 2>&1 || cargo build --release -p cairn-cli
  BIN=$PWD/target/release/cairn
fi
PY=$(command -v python3)

WORK=$(mktemp -d /tmp/cairn-bench-metrics.XXXXXX)
DATA=$WORK/node
mkdir -p "$DATA"
NODE=
cleanup() {
  [ -z "$NODE" ] || { kill "$NODE" 2>/dev/null || true; wait "$NODE" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT

printf 'listen = "127.0.0.1:0"\nlog = "warn"\nlegacy_digests = false\n[network]\nenabled = false\n[layers]\npowder = []\nbitdust = []\ncacaoweb = []\n[torrents]\nenabled = false\n' > "$DATA/config.toml"
"$BIN" --data-dir "$DATA" node >/dev/null 2>>"$WORK/node.log" &
NODE=$!
for _ in $(seq 100); do [ -s "$DATA/api.addr" ] && break; sleep 0.1; done
[ -s "$DATA/api.addr" ] || { echo "the node did not start:" >&2; cat "$WORK/node.log" >&2; exit 1; }
ADDR=$(cat "$DATA/api.addr"); PORT=${ADDR##*:}; SECRET=$(cat "$DATA/apisecret")

run() { # tag, seconds between scrapes (0: none)
  "$PY" "$CLIENT" --port "$PORT" --secret "$SECRET" --n "$UPLOADS" --c "$CONCURRENCY" \
    --tag "$1" --scrape-every "$2"
}
field() { "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

echo "cairn $("$BIN" --version 2>/dev/null | awk '{print $NF}'), $(nproc) CPUs: $(lscpu | sed -n 's/^Model name: *//p')"
echo "$UPLOADS uploads of 4 KiB a round, $CONCURRENCY at once; $ROUNDS rounds of each kind, alternating"
# A warm-up round, not counted: the catalog's first pages, the allocator.
run warm 0 >/dev/null
PLAIN=(); SCRAPED=()
for r in $(seq "$ROUNDS"); do
  a=$(run "plain$r" 0)
  b=$(run "scraped$r" 1)
  PLAIN+=("$(field "$a" per_sec)"); SCRAPED+=("$(field "$b" per_sec)")
  printf 'round %d: no scrape %8s uploads/s | scraped every 1 s %8s uploads/s (%s scrapes, %s bytes each)\n' \
    "$r" "$(field "$a" per_sec)" "$(field "$b" per_sec)" "$(field "$b" scrapes)" "$(field "$b" scrape_bytes)"
done
"$PY" - "${PLAIN[*]}" "${SCRAPED[*]}" <<'PYEOF'
import statistics, sys
plain = [float(x) for x in sys.argv[1].split()]
scraped = [float(x) for x in sys.argv[2].split()]
p, s = statistics.median(plain), statistics.median(scraped)
print(f"median: no scrape {p:.1f} uploads/s, scraped {s:.1f} uploads/s; "
      f"scraped / plain = {s / p:.3f} ({(s / p - 1) * 100:+.1f} %; target within 2 %)")
PYEOF
