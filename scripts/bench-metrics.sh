#!/usr/bin/env bash
# What scraping /metrics costs a node under load (issue 20, point 2): a
# small-file upload load (4 KiB each over the native API, CONCURRENCY at
# once, every body different) run without a pause for WINDOWS windows of
# SECS seconds, the windows alternating between no scrape and /metrics
# scraped every second, in the order off, on, on, off (ABBA, repeated), so
# a drift of the machine or the growing catalog falls on both kinds alike.
# Prints each block of four windows, the medians of each kind, the ratio
# of the blocks' ratios (median; target within 2 %), and what one scrape
# takes.
#
#   bash scripts/bench-metrics.sh
#   CAIRN_BIN=target/release/cairn bash scripts/bench-metrics.sh   # no build
#   WINDOWS=8 SECS=5 CONCURRENCY=16 bash scripts/bench-metrics.sh
#
# The client is scripts/load/uploads.py (Python's standard library).
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOWS=${WINDOWS:-24}
SECS=${SECS:-10}
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

echo "cairn $("$BIN" --version 2>/dev/null | awk '{print $NF}'), $(nproc) CPUs: $(lscpu | sed -n 's/^Model name: *//p')"
echo "4 KiB uploads, $CONCURRENCY at once, $WINDOWS windows of $SECS s (ABBA: off on on off)"
# A warm-up, not counted: the catalog's first pages, the allocator.
"$PY" "$CLIENT" --port "$PORT" --secret "$SECRET" --c "$CONCURRENCY" --tag warm --windows 1 --secs 5 >/dev/null
"$PY" "$CLIENT" --port "$PORT" --secret "$SECRET" --c "$CONCURRENCY" --tag load \
  --windows "$WINDOWS" --secs "$SECS" > "$WORK/run.json"
"$PY" - "$WORK/run.json" <<'PYEOF'
import json, statistics, sys
run = json.load(open(sys.argv[1]))
w = run["windows"]
ratios = []
for b in range(0, len(w) - 3, 4):
    off = w[b]["per_sec"] + w[b + 3]["per_sec"]
    on = w[b + 1]["per_sec"] + w[b + 2]["per_sec"]
    ratios.append(on / off)
    print(f"block {b // 4 + 1}: no scrape {w[b]['per_sec']:7.1f} {w[b + 3]['per_sec']:7.1f} uploads/s | "
          f"scraped {w[b + 1]['per_sec']:7.1f} {w[b + 2]['per_sec']:7.1f} uploads/s | ratio {on / off:.3f}")
plain = statistics.median(x["per_sec"] for x in w if not x["scraped"])
scraped = statistics.median(x["per_sec"] for x in w if x["scraped"])
r = statistics.median(ratios)
print(f"{run['uploads']} uploads; median window: no scrape {plain:.1f}, scraped {scraped:.1f} uploads/s")
print(f"scraped / no scrape, median of the blocks: {r:.3f} ({(r - 1) * 100:+.1f} %; target within 2 %)")
print(f"{run['scrapes']} scrapes of {run['scrape_bytes']} bytes, median {run['scrape_ms_median']} ms each under the load")
PYEOF

# What one scrape costs the node, the load over: 500 scrapes one after
# another on a keep-alive connection, the node's CPU time from /proc.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1000 / hz }' "/proc/$NODE/stat"; }
c0=$(cpu_ms)
"$PY" - "$PORT" "$SECRET" <<'PYEOF'
import http.client, sys, time
port, secret = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
t0 = time.perf_counter()
for _ in range(500):
    c.request("GET", "/metrics", headers={"Authorization": "Bearer " + secret})
    r = c.getresponse()
    assert r.status == 200 and r.read().endswith(b"# EOF\n")
print(f"500 scrapes one after another, the load over: {(time.perf_counter() - t0) * 2:.2f} ms each", end="")
PYEOF
c1=$(cpu_ms)
echo ", node CPU $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", (b - a) / 500 }') ms each"
