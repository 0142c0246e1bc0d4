#!/usr/bin/env bash
# End-to-end benchmark of the network: seven nodes on loopback, a file
# uploaded on one and placed 4+2 on the six others, then read on another
# node by its link. Prints:
#   upload into the network (stored, and at the same time coded and
#   written to six suppliers; then sealed), MB/s of the file;
#   download on another node (every segment rebuilt from four shards and
#   verified), MB/s;
#   time to first byte of a 1 MiB range in the middle of the file (a node
#   that has never seen it: DHT lookup included), median of 5;
#   the same bytes through one loopback TCP socket, the machine's yardstick;
#   each node's peak RSS (VmHWM), CPU time (whole run, placing,
#   downloading) and page faults, and how busy the CPUs were.
#
#   bash scripts/bench-net.sh              # 1 GiB
#   BENCH_MIB=256 bash scripts/bench-net.sh
#   LEGACY_DIGESTS=false bash scripts/bench-net.sh   # without the md5/sha1/sha256 job
#                                                  # that follows the placement
#   CAIRN_BIN=/tmp/cairn-old bash scripts/bench-net.sh  # another build, for an A/B
#   LANES=false bash scripts/bench-net.sh          # shard bytes over libp2p alone
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${BENCH_MIB:-1024}
NODES=7
DIGESTS=${LEGACY_DIGESTS:-true}
LANES=${LANES:-true}
# A folder of our own is removed at the end, the 1 GiB file with it; a
# BENCH_DIR keeps the file for the next run.
WORK=${BENCH_DIR:-$(mktemp -d /tmp/cairn-bench-net.XXXXXX)}
OWN_WORK=$([ -z "${BENCH_DIR:-}" ] && echo 1 || true)
mkdir -p "$WORK"

command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl; }
# CAIRN_BIN runs another build of cairn (an A/B against the one checked out).
if [ -n "${CAIRN_BIN:-}" ]; then
  BIN=$CAIRN_BIN
else
  cargo build --release --locked -p cairn-cli >/dev/null 2>&1 || cargo build --release -p cairn-cli
  BIN=$PWD/target/release/cairn
fi
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
  if [ -n "$OWN_WORK" ]; then rm -rf "$WORK"; fi
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
$([ "$LANES" = true ] || echo "lanes = false")
[layers]
powder = []
bitdust = []
cacaoweb = []
[torrents]
enabled = false
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
# Jiffies the machine spent busy and in all, from /proc/stat.
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
# Each node's user and system jiffies, "u,s u,s …".
node_cpu() { for p in "${PIDS[@]}"; do awk '{ printf "%d,%d ", $14, $15 }' /proc/"$p"/stat; done; }
# CPU seconds per node between two node_cpu snapshots, "user/system …".
node_cpu_delta() {
  awk -v a="$1" -v b="$2" -v t="$(getconf CLK_TCK)" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) { split(x[i], p, ","); split(y[i], q, ","); printf "%.1f/%.1f ", (q[1] - p[1]) / t, (q[2] - p[2]) / t }
  }'
}
busy_share() { # "busy total" before, after → percent busy in between
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }'
}
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

# Upload on node 1: placed on the suppliers as it is stored; the place job
# seals the shards once the upload has answered.
t0=$(now); c_t0=$(cpu_busy); n_t0=$(node_cpu)
job=$(api 1 -X POST "$(url 1 /import)" -H 'content-type: application/json' -d "{\"path\": \"$SRC\", \"wait\": true}")
blob=$(echo "$job" | json 'v["result"]["files"][0]["blob"]')
t_stored=$(now)
wait_job place
t1=$(now)
c_placed=$(cpu_busy); n_placed=$(node_cpu)
# The md5/sha1/sha256 job follows the placement; let it end so the reads
# below are measured on quiet nodes.
if [ "$DIGESTS" = true ]; then wait_job digest; fi
t_digests=$(now)
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
c_d0=$(cpu_busy); n_d0=$(node_cpu)
got=$(api 6 -o /dev/null -w '%{size_download}' "$(url 6 "/blobs/$link/content")")
d1=$(now)
c_d1=$(cpu_busy); n_d1=$(node_cpu)
[ "$got" = $((MIB << 20)) ] || { echo "download returned $got bytes" >&2; exit 1; }
back=$(api 6 "$(url 6 "/blobs/$link/content")" | b3sum --no-names 2>/dev/null || true)
[ -z "$back" ] || [ "$back" = "$blob" ] || { echo "downloaded bytes differ" >&2; exit 1; }

# The machine's own yardstick: the same bytes through one loopback TCP
# socket, 1 MiB writes from memory, no crypto and no disk.
tcp=$("$PY" - "$MIB" <<'PYEOF'
import os, socket, sys, threading, time
total = int(sys.argv[1]) << 20
def sink(listener):
    conn, _ = listener.accept()
    buf = bytearray(1 << 20)
    while conn.recv_into(buf):
        pass
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(1)
reader = threading.Thread(target=sink, args=(listener,)); reader.start()
out = socket.create_connection(listener.getsockname())
chunk = os.urandom(1 << 20)
t0 = time.time()
for _ in range(total >> 20):
    out.sendall(chunk)
out.close(); reader.join()
print("%.0f" % (total / (time.time() - t0) / 1e6))
PYEOF
)

# The disk, as the nodes use it: a download has four suppliers read the
# shards past the page cache, a placement has six write them so and fsync.
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }
dds=(); t=$(now)
for s in 0 1 2 3; do
  dd if="$SRC" of=/dev/null bs=1M iflag=direct skip=$((s * MIB / 4)) count=$((MIB / 4)) 2>/dev/null &
  dds+=($!)
done
wait "${dds[@]}"
disk_read=$(mbps "$(secs_since "$t")")
dds=(); t=$(now)
for s in 0 1 2 3 4 5; do
  dd if=/dev/zero of="$WORK/dd.$s" bs=1M count=$((MIB / 4)) oflag=direct conv=fsync 2>/dev/null &
  dds+=($!)
done
wait "${dds[@]}"
disk_write_secs=$(secs_since "$t")
rm -f "$WORK"/dd.*

lanes=()
for i in $(seq 0 $((NODES - 1))); do
  lanes+=("$(api "$i" "$(url "$i" /network)" | json '"%s/%s/%s" % (v["lanes"]["requests"], v["lanes"]["served"], v["lanes"]["fallbacks"])')")
done

rss=(); cpu=(); faults=()
tick=$(getconf CLK_TCK)
for p in "${PIDS[@]}"; do
  rss+=("$(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' /proc/"$p"/status)")
  cpu+=("$(awk -v t="$tick" '{ printf "%.1f/%.1f", $14 / t, $15 / t }' /proc/"$p"/stat)")
  faults+=("$(awk '{ printf "%.0f", $10 / 1000 }' /proc/"$p"/stat)")
done

echo "cairn network bench: ${MIB} MiB, ${NODES} nodes on loopback, 4+2, $(nproc) cores, legacy digests $DIGESTS, lanes $LANES"
printf '%-44s %6s MB/s  (%.1f s; the upload answered in %.1f s; CPUs %s%% busy)\n' "upload into the network (store + place)" \
  "$(mbps "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")" \
  "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$(awk -v a="$t0" -v b="$t_stored" 'BEGIN { print b - a }')" \
  "$(busy_share "$c_t0" "$c_placed")"
if [ "$DIGESTS" = true ]; then
  printf '%-44s %6.1f s    (after the placement)\n' "md5, sha1 and sha256 of the file, on the owner" \
    "$(awk -v a="$t1" -v b="$t_digests" 'BEGIN { print b - a }')"
fi
printf '%-44s %6s MB/s  (%.1f s; CPUs %s%% busy)\n' "download on another node (from 4 of 6)" \
  "$(mbps "$(awk -v a="$d0" -v b="$d1" 'BEGIN { print b - a }')")" "$(awk -v a="$d0" -v b="$d1" 'BEGIN { print b - a }')" \
  "$(busy_share "$c_d0" "$c_d1")"
printf '%-44s %6s MB/s  (download at %s%% of it)\n' "loopback TCP, one socket, same bytes" "$tcp" \
  "$(awk -v t="$tcp" -v a="$d0" -v b="$d1" -v m=$((MIB << 20)) 'BEGIN { printf "%.0f", 100 * m / (b - a) / 1e6 / t }')"
printf '%-44s %6s MB/s  (download at %s%% of it)\n' "disk, 4 streams read past the page cache" "$disk_read" \
  "$(awk -v t="$disk_read" -v a="$d0" -v b="$d1" -v m=$((MIB << 20)) 'BEGIN { printf "%.0f", 100 * m / (b - a) / 1e6 / t }')"
printf '%-44s %6s MB/s  (the %s MiB of shards in %.1f s; the upload took %.1f s)\n' \
  "disk, 6 streams written past it, fsynced" \
  "$(awk -v t="$disk_write_secs" -v m=$((MIB << 20)) 'BEGIN { printf "%.0f", 1.5 * m / t / 1e6 }')" \
  $((MIB * 3 / 2)) "$disk_write_secs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
printf '%-44s %6s ms   (median of %d nodes)\n' "first byte of 1 MiB in the middle" "$ttfb_ms" "${#ttfb[@]}"
printf '%-44s %s MiB\n' "peak RSS per node (owner is n1, reader n6)" "$(IFS=' '; echo "${rss[*]}")"
printf '%-44s %s s\n' "CPU time per node, user/system, whole run" "$(IFS=' '; echo "${cpu[*]}")"
printf '%-44s %s s\n' "CPU per node, user/system, uploading" "$(node_cpu_delta "$n_t0" "$n_placed")"
printf '%-44s %s s\n' "CPU per node, user/system, downloading" "$(node_cpu_delta "$n_d0" "$n_d1")"
printf '%-44s %s\n' "page faults per node, thousands" "$(IFS=' '; echo "${faults[*]}")"
printf '%-44s %s\n' "by lane per node: sent/served/over libp2p" "$(IFS=' '; echo "${lanes[*]}")"
