#!/usr/bin/env bash
# Torrent benchmark of one node against aria2c, fetching the same torrent
# from the same seeder in the same run, all on 127.0.0.1:
#   - a seeder (aria2c) shares SIZE_MIB of random bytes, made into a
#     .torrent by mktorrent, announced to a small tracker the script runs
#     (scripts/torrent/tracker.py);
#   1. the node is given the magnet: time to the first byte of the file
#      (a Range read of its middle, which librqbit fetches first);
#   2. then the whole torrent: time until every byte is downloaded and
#      checked, and until it is imported into the store;
#   3. aria2c downloads the same torrent from the same seeder.
#
#   bash scripts/bench-torrent.sh
#   CAIRN_BIN=target/release/cairn SIZE_MIB=1024 bash scripts/bench-torrent.sh
#   X_PE=1 ...        # the seeder's address in the magnet too (x.pe)
#   CAIRN_LOG="info,librqbit=debug" KEEP_LOG=/tmp/node.log ...   # the timeline
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
need=()
command -v aria2c >/dev/null || need+=(aria2)
command -v mktorrent >/dev/null || need+=(mktorrent)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -n "${CAIRN_BIN:-}" ]; then
  BIN=$(realpath "$CAIRN_BIN")
else
  cargo build --release --locked -p cairn-cli >/dev/null 2>&1 || cargo build --release -p cairn-cli
  BIN=$PWD/target/release/cairn
fi
cargo build --release --locked -p cairn-cli --example torrent_seed >/dev/null 2>&1 ||
  cargo build --release -p cairn-cli --example torrent_seed
SEED_BIN=$PWD/target/release/examples/torrent_seed
WORK=$(mktemp -d /tmp/cairn-torrent.XXXXXX)
cleanup() {
  local left; left=$(jobs -p)
  [ -z "$left" ] || { kill $left 2>/dev/null || true; wait 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.3f}')"; }
json() { python3 -c 'import json, sys; d = json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[int(k)] if isinstance(d, list) else d[k]
print(d)' "$1"; }

# The tracker, the content, the torrent, the seeder.
python3 scripts/torrent/tracker.py > "$WORK/tracker.port" &
for _ in $(seq 50); do [ -s "$WORK/tracker.port" ] && break; sleep 0.1; done
TRACKER=http://127.0.0.1:$(cat "$WORK/tracker.port")/announce
mkdir -p "$WORK/seed" "$WORK/aria"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$WORK/seed/film.bin"
mktorrent -l 21 -a "$TRACKER" -o "$WORK/film.torrent" "$WORK/seed/film.bin" >/dev/null
ARIA_COMMON=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false
  --console-log-level=warn --summary-interval=0 --file-allocation=none)
aria2c "${ARIA_COMMON[@]}" --dir="$WORK/seed" --seed-ratio=0.0 --bt-seed-unverified=true \
  --check-integrity=false --listen-port=6890 "$WORK/film.torrent" > "$WORK/seeder.log" 2>&1 &
HASH=$(python3 - "$WORK/film.torrent" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
# The info dict runs from "4:info" to the byte before the outer dict's end.
start = data.index(b"4:infod") + 6
print(hashlib.sha1(data[start:-1]).hexdigest())
PY
)
sleep 2

# The node.
DATA=$WORK/node; mkdir -p "$DATA"
printf 'listen = "127.0.0.1:0"\nlog = "%s"\n[network]\nenabled = false\n[layers]\npowder = []\nbitdust = []\ncacaoweb = []\n[torrents]\nlisten = "127.0.0.1:0"\ndht = false\nlocal_discovery = false\n' "${CAIRN_LOG:-warn}" > "$DATA/config.toml"
"$BIN" --data-dir "$DATA" node >/dev/null 2>>"$WORK/node.log" &
NODE=$!
for _ in $(seq 100); do [ -s "$DATA/api.addr" ] && break; sleep 0.1; done
API=http://$(cat "$DATA/api.addr")/api/v1
AUTH=(-H "Authorization: Bearer $(cat "$DATA/apisecret")")
cpu=$(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
echo "cairn torrent bench: $(date -u +%F), $cpu, $(nproc) cores, ${SIZE_MIB} MiB, one aria2c seeder on 127.0.0.1, $(aria2c --version | head -1)"

# 1. Magnet to the first byte of the middle of the file.
MAGNET="magnet:?xt=urn:btih:$HASH&dn=film.bin&tr=$(python3 -c "import urllib.parse, sys; print(urllib.parse.quote(sys.argv[1], safe=''))" "$TRACKER")"
# X_PE=1 names the seeder in the magnet too (BEP 9 x.pe), so the node
# need not wait for the tracker's next answer once it has the metadata.
[ -z "${X_PE:-}" ] || MAGNET="$MAGNET&x.pe=127.0.0.1:6890"
MID=$(( (SIZE_MIB << 20) / 2 ))
t0=$(now)
curl -sf "${AUTH[@]}" -H 'content-type: application/json' -d "{\"magnet\": \"$MAGNET\"}" "$API/torrents" > /dev/null
until curl -sf "${AUTH[@]}" "$API/torrents/$HASH" | grep -q '"files":\[{'; do sleep 0.02; done
t1=$(now)
curl -sf "${AUTH[@]}" -r "$MID-$((MID + 65535))" "$API/torrents/$HASH/files/0/content" -o "$WORK/first"
t2=$(now)
cmp -s "$WORK/first" <(tail -c +$((MID + 1)) "$WORK/seed/film.bin" | head -c 65536) || echo "FAILURE: the first bytes differ" >&2
echo "magnet -> metadata $(secs $t0 $t1) s, -> first 64 KiB from the middle $(secs $t0 $t2) s (target < 1 s)"

# 1b. The same from a librqbit seeder (crates/cli/examples/torrent_seed.rs),
# named in the magnet (x.pe): a 64 MiB file of its own.
head -c $((64 << 20)) /dev/urandom > "$WORK/seed/other.bin"
"$SEED_BIN" "$WORK/seed/other.bin" 2048 > "$WORK/rqbit.magnet" 2>"$WORK/rqbit.log" &
for _ in $(seq 300); do [ -s "$WORK/rqbit.magnet" ] && break; sleep 0.1; done
RQ_MAGNET=$(cat "$WORK/rqbit.magnet"); RQ_HASH=$(echo "$RQ_MAGNET" | sed 's/.*btih:\([0-9a-f]*\).*/\1/')
t0=$(now)
curl -sf "${AUTH[@]}" -H 'content-type: application/json' -d "{\"magnet\": \"$RQ_MAGNET\"}" "$API/torrents" > /dev/null
until curl -sf "${AUTH[@]}" "$API/torrents/$RQ_HASH" | grep -q '"files":\[{'; do sleep 0.02; done
t1=$(now)
curl -sf "${AUTH[@]}" -r "$((32 << 20))-$(((32 << 20) + 65535))" "$API/torrents/$RQ_HASH/files/0/content" -o /dev/null
t2=$(now)
echo "from a librqbit seeder (x.pe): magnet -> metadata $(secs $t0 $t1) s, -> first 64 KiB from the middle $(secs $t0 $t2) s (target < 1 s)"

# 2. The whole torrent, downloaded, then imported.
until [ "$(curl -sf "${AUTH[@]}" "$API/torrents/$HASH" | json progress)" = "1.0" ]; do sleep 0.05; done
t3=$(now)
until curl -sf "${AUTH[@]}" "$API/torrents/$HASH" | json files.0.entry | grep -qv None; do sleep 0.1; done
t4=$(now)
node_mbps=$(python3 -c "print(f'{$SIZE_MIB * 1.048576 / ($t3 - $t0):.0f}')")
echo "node: downloaded in $(secs $t0 $t3) s ($node_mbps MB/s), imported into the store $(secs $t3 $t4) s later"
kill $NODE; wait $NODE 2>/dev/null || true
[ -z "${KEEP_LOG:-}" ] || cp "$WORK/node.log" "$KEEP_LOG"

# 3. aria2c from the same seeder.
t0=$(now)
aria2c "${ARIA_COMMON[@]}" --dir="$WORK/aria" --seed-time=0 --listen-port=6891 "$WORK/film.torrent" > "$WORK/aria.log" 2>&1
t1=$(now)
cmp -s "$WORK/aria/film.bin" "$WORK/seed/film.bin" || echo "FAILURE: aria2c's copy differs" >&2
aria_mbps=$(python3 -c "print(f'{$SIZE_MIB * 1.048576 / ($t1 - $t0):.0f}')")
echo "aria2c: downloaded in $(secs $t0 $t1) s ($aria_mbps MB/s)"
echo "ratio node / aria2c: $(python3 -c "print(f'{$node_mbps / $aria_mbps:.2f}')") (target >= 1.0)"
