#!/usr/bin/env bash
# End-to-end benchmark of the network: seven nodes on loopback, a file
# uploaded on one and placed 4+2 on the six others, then read on another
# node by its link. Prints:
#   upload into the network (stored, coded, written to six suppliers and
#   sealed), MB/s of the file;
#   download on another node (every segment rebuilt from four shards and
#   verified), MB/s;
#   time to first byte of a 1 MiB range in the middle of the file (a node
#   that has never seen it: DHT lookup included), median of 5;
#   each node's peak RSS (VmHWM) and CPU time over the whole run.
#
#   bash scripts/bench-net.sh              # 1 GiB
#   BENCH_MIB=256 bash scripts/bench-net.sh
#   LEGACY_DIGESTS=false bash scripts/bench-net.sh   # without the md5/sha1/sha256 job
#                                                  # that follows the placement
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${BENCH_MIB:-1024}
NODES=7
DIGESTS=${LEGACY_DIGESTS:-true}
WORK=${BENCH_DIR:-$(mktemp -d /tmp/cairn-bench-net.XXXXXX)}
mkdir -p "$WORK"

command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl; }
cargo build --release --locked -p cairn-cli >/dev/null 2>&1 || cargo build --release -p cairn-cli
BIN=$PWD/target/release/cairn
# The system python: a version manager's shim costs a shell script per call.
PY=$(command -v /usr/bin/python3 || command -v python3)

SRC=$WORK/src.bin
if [ ! -f "$SRC" ] || [ "$(stat -c %s "$SRC")" -ne $((MIB << 20)) ]; then
  head -c $((MIB << 20)) /dev/urandom > "$SRC"
fi

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for i in $(seq 0 $((NODES - 1))); do rm -rf "$WORK/n$i"; done
}
trap cleanup EXIT

start_node() { # index, bootstrap address or ""
  local dir=$WORK/n$1 boot=""
  rm -rf "$dir"; mkdir -p "$dir"
  [ -n "$2" ] && boot="\"$2\""
  cat > "$dir/config.toml" <<EOF
listen = "127.0.0.1:0"
import_roots = ["$WORK"]
log = "warn"
legacy_digests = $DIGESTS
[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
ecc = "4+2"
bootstrap = [$boot]
check_secs = 3600
[layers]
cacaoweb = []
EOF
  "$BIN" --data-dir "$dir" node >/dev/null 2>"$WORK/n$1.log" &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$dir/api.addr" ] && break; sleep 0.1; done
}
api() { # node index, curl args…
  local dir=$WORK/n$1; shift
  curl -s -H "Authorization: Bearer $(cat "$dir/apisecret")" "$@"
}
url() { echo "http://$(cat "$WORK/n$1/api.addr")/api/v1$2"; }
json() { "$PY" -c "import json, sys; v = json.load(sys.stdin); print($1)"; }
now() { date +%s.%N; }
# Waits for node 1's job of kind $1 on $blob to end; fails if it failed.
# One process polls (a shell loop of curl and python would itself eat a
# good part of the two cores while the nodes work).
wait_job() {
  "$PY" - "$(url 1 "/jobs?limit=50")" "$(cat "$WORK/n1/apisecret")" "$blob" "$1" <<'PYEOF'
import json, sys, time, urllib.request
url, secret, blob, kind = sys.argv[1:5]
req = urllib.request.Request(url, headers={"Authorization": "Bearer " + secret})
for _ in range(30000):
    jobs = json.load(urllib.request.urlopen(req))
    states = [j["state"] for j in jobs if j["kind"] == kind and j["label"] == blob]
    if "done" in states:
        sys.exit(0)
    if "failed" in states:
        sys.exit(kind + " job failed")
    time.sleep(0.02)
sys.exit("gave up waiting for the " + kind + " job")
PYEOF
}
mbps() { awk -v b=$((MIB << 20)) -v t="$1" 'BEGIN { printf "%.0f", b / t / 1e6 }'; }

start_node 0 ""
for _ in $(seq 100); do
  BOOT=$(api 0 "$(url 0 /network)" | json '"%s/p2p/%s" % (v["listen"][0], v["peer_id"]) if v["listen"] else ""')
  [ -n "$BOOT" ] && break; sleep 0.1
done
for i in $(seq 1 $((NODES - 1))); do start_node "$i" "$BOOT"; done
for i in $(seq 0 $((NODES - 1))); do
  for _ in $(seq 300); do
    [ "$(api "$i" "$(url "$i" /network)" | json 'v["peers"]')" -ge $((NODES - 1)) ] && break; sleep 0.1
  done
done
cat "$SRC" > /dev/null

# Upload on node 1: stored, then placed (the placement job follows the upload).
t0=$(now)
job=$(api 1 -X POST "$(url 1 /import)" -H 'content-type: application/json' -d "{\"path\": \"$SRC\", \"wait\": true}")
blob=$(echo "$job" | json 'v["result"]["files"][0]["blob"]')
t_stored=$(now)
wait_job place
t1=$(now)
# The md5/sha1/sha256 job follows the placement; let it end so the reads
# below are measured on quiet nodes.
if [ "$DIGESTS" = true ]; then wait_job digest; fi
link=$(api 1 "$(url 1 "/blobs/$blob/link")" | json 'v["link"]')

# Time to first byte of 1 MiB in the middle, on nodes that never saw the file.
mid=$(( (MIB / 2) << 20 ))
ttfb=()
for i in 2 3 4 5 0; do
  t=$(api "$i" -o /dev/null -w '%{time_starttransfer}' -r "$mid-$((mid + (1 << 20) - 1))" "$(url "$i" "/blobs/$link/content")")
  ttfb+=("$t")
done
ttfb_ms=$(printf '%s\n' "${ttfb[@]}" | sort -g | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] * 1000 }')

# The whole file on node 6.
d0=$(now)
got=$(api 6 -o /dev/null -w '%{size_download}' "$(url 6 "/blobs/$link/content")")
d1=$(now)
[ "$got" = $((MIB << 20)) ] || { echo "download returned $got bytes" >&2; exit 1; }
back=$(api 6 "$(url 6 "/blobs/$link/content")" | b3sum --no-names 2>/dev/null || true)
[ -z "$back" ] || [ "$back" = "$blob" ] || { echo "downloaded bytes differ" >&2; exit 1; }

rss=(); cpu=()
tick=$(getconf CLK_TCK)
for p in "${PIDS[@]}"; do
  rss+=("$(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' /proc/"$p"/status)")
  cpu+=("$(awk -v t="$tick" '{ printf "%.1f", ($14 + $15) / t }' /proc/"$p"/stat)")
done

echo "cairn network bench: ${MIB} MiB, ${NODES} nodes on loopback, 4+2, $(nproc) cores, legacy digests $DIGESTS"
printf '%-44s %6s MB/s  (%.1f s; stored locally in %.1f s)\n' "upload into the network (store + place)" \
  "$(mbps "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")" \
  "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$(awk -v a="$t0" -v b="$t_stored" 'BEGIN { print b - a }')"
printf '%-44s %6s MB/s  (%.1f s)\n' "download on another node (from 4 of 6)" \
  "$(mbps "$(awk -v a="$d0" -v b="$d1" 'BEGIN { print b - a }')")" "$(awk -v a="$d0" -v b="$d1" 'BEGIN { print b - a }')"
printf '%-44s %6s ms   (median of %d nodes)\n' "first byte of 1 MiB in the middle" "$ttfb_ms" "${#ttfb[@]}"
printf '%-44s %s MiB\n' "peak RSS per node (owner is n1, reader n6)" "$(IFS=' '; echo "${rss[*]}")"
printf '%-44s %s s\n' "CPU time per node over the whole run" "$(IFS=' '; echo "${cpu[*]}")"
