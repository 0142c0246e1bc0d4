#!/usr/bin/env bash
# Load benchmark of one node against nginx serving the same bytes, both
# measured in the same run on 127.0.0.1:
#   1. GET /api/v1/status, 1000 connections (wrk)
#   2. a listing of a folder of 50 entries, 1000 connections (wrk)
#   3. 1000 concurrent 1 MiB range reads at unaligned offsets, every byte
#      checked; the node's RSS before, at its peak and 10 s after
#   4. 1000 readers throttled to 1 MB/s each, while a second client times
#      the status call and a new reader's first byte, one at a time
#   5. 20000 connections that send nothing, then a new client's status call
# For 1 and 2 nginx serves the node's exact response body from a file; for
# 3 and 4 the plaintext of the stored file, with ranges.
#
#   bash scripts/bench-load.sh
#   CAIRN_BIN=target/release/cairn bash scripts/bench-load.sh   # no build
#   CAIRN_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 bash scripts/bench-load.sh
#   ALLOCATORS="glibc jemalloc mimalloc" bash scripts/bench-load.sh   # scenario 3 once each
#   CAIRN_EXTRA_CONFIG=$'[read]\nsome_knob = 4' bash scripts/bench-load.sh
# CAIRN_EXTRA_CONFIG is appended to the node's config.toml after its last
# section, so it should open with a section header of its own.
# IDLE_SOURCES=N spreads scenario 5's connections over 127.0.0.1..N (the
# node bounds connections per client address); SLOW_SECS sets scenario 4's
# window (20 s).
#
# Root and Debian: what is missing is installed with apt-get. The clients
# are scripts/load/loadclient.py (Python's standard library) and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
T_START=$(date +%s)
SLOW_SECS=${SLOW_SECS:-20}
IDLE_N=${IDLE_N:-20000}
IDLE_SOURCES=${IDLE_SOURCES:-1}
CLIENT=$PWD/scripts/load/loadclient.py

# ---- tools ----------------------------------------------------------------

libpath() { ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }'; }
install_missing() {
  local need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
  [ -n "$(libpath libjemalloc.so.2)" ] || need+=(libjemalloc2)
  [ -n "$(libpath libmimalloc.so.2)" ] || need+=(libmimalloc2.0)
  command -v python3 >/dev/null || need+=(python3)
  command -v curl >/dev/null || need+=(curl)
  command -v ss >/dev/null || need+=(iproute2)
  [ ${#need[@]} -gt 0 ] || return 0
  apt-get update -qq
  # nginx-light where Debian still has it (bookworm), nginx otherwise.
  if [[ " ${need[*]} " == *" nginx "* ]] && apt-cache show nginx-light >/dev/null 2>&1; then
    need=("${need[@]/#nginx/nginx-light}")
  fi
  # The package would start a system nginx on port 80: tell it not to.
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' > $policy; chmod +x $policy; own_policy=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || { [ -z "$own_policy" ] || rm -f $policy; exit 1; }
  [ -z "$own_policy" ] || rm -f $policy
}
install_missing
PATH=$PATH:/usr/sbin
preload_of() { # allocator name -> library to preload ("" for glibc's own)
  case $1 in
    glibc) echo "" ;;
    jemalloc) libpath libjemalloc.so.2 ;;
    mimalloc) libpath libmimalloc.so.2 ;;
    *) echo "unknown allocator $1 (glibc, jemalloc, mimalloc)" >&2; exit 1 ;;
  esac
}
# The node, nginx and every client inherit this. Raising the hard limit
# takes CAP_SYS_RESOURCE, which a container may withhold even from root:
# then it stays as it is, the idle connections are held by several client
# processes, and the table's header says which limit was in force.
ulimit -Hn 65536 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)"
NOFILE=$(ulimit -Hn)

if [ -n "${CAIRN_BIN:-}" ]; then
  BIN=$(realpath "$CAIRN_BIN")
else
  cargo build --release --locked -p cairn-cli >/dev/null 2>&1 || cargo build --release -p cairn-cli
  BIN=$PWD/target/release/cairn
fi
PRELOAD=${CAIRN_PRELOAD:-}
case $PRELOAD in
  "") ALLOC=glibc ;; *jemalloc*) ALLOC=jemalloc ;; *mimalloc*) ALLOC=mimalloc ;; *) ALLOC=$(basename "$PRELOAD") ;;
esac

WORK=$(mktemp -d /tmp/cairn-load.XXXXXX)
# nginx's workers run as nobody and read the files under www/.
chmod 755 "$WORK"
DATA=$WORK/node; WWW=$WORK/www; NG=$WORK/nginx
mkdir -p "$DATA" "$WWW" "$NG"
NODE=; NGINX=
# Every process the run starts is a job of this shell: the node, nginx and
# the clients.
cleanup() {
  local left; left=$(jobs -p)
  [ -z "$left" ] || { kill $left 2>/dev/null || true; wait 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
FAILS=(); NOTES=()
fail() { echo "FAILURE: $*" >&2; FAILS+=("$*"); }

# ---- the node -------------------------------------------------------------

printf 'listen = "127.0.0.1:0"\nlog = "warn"\n[network]\nenabled = false\n[layers]\npowder = []\nbitdust = []\ncacaoweb = []\n[torrents]\nenabled = false\n' > "$DATA/config.toml"
[ -z "${CAIRN_EXTRA_CONFIG:-}" ] || printf '%s\n' "$CAIRN_EXTRA_CONFIG" >> "$DATA/config.toml"

node_start() { # library to preload, or ""
  rm -f "$DATA/api.addr"
  LD_PRELOAD=$1 "$BIN" --data-dir "$DATA" node >/dev/null 2>>"$WORK/node.log" &
  NODE=$!
  for _ in $(seq 100); do [ -s "$DATA/api.addr" ] && break; sleep 0.1; done
  [ -s "$DATA/api.addr" ] || { echo "the node did not start:" >&2; cat "$WORK/node.log" >&2; exit 1; }
  ADDR=$(cat "$DATA/api.addr"); PORT=${ADDR##*:}; SECRET=$(cat "$DATA/apisecret")
}
node_stop() {
  kill "$NODE"
  for _ in $(seq 100); do kill -0 "$NODE" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$NODE" 2>/dev/null || true
  wait "$NODE" 2>/dev/null || true
  NODE=
}
node_start "$PRELOAD"
API=http://$ADDR/api/v1
AUTH=(-H "Authorization: Bearer $SECRET")
json() { python3 -c 'import json, sys; d = json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[int(k)] if isinstance(d, list) else d[k]
print(d)' "$1"; }

# The data: a 64 MiB random file, and a folder of 50 small files.
SRC=$WWW/big.bin
head -c $((64 << 20)) /dev/urandom > "$SRC"
BIG=$(curl -sf "${AUTH[@]}" --data-binary @"$SRC" "$API/upload?name=big.bin" | json entries.0.id)
FOLDER=$(curl -sf "${AUTH[@]}" -H 'content-type: application/json' -d '{"name": "list50"}' "$API/folders" | json id)
for i in $(seq -w 50); do
  echo "small file $i" | curl -sf "${AUTH[@]}" --data-binary @- "$API/upload?name=f$i.txt&parent=$FOLDER" >/dev/null
done
STATUS_PATH=/api/v1/status
LIST_PATH="/api/v1/entries?parent=$FOLDER"
CONTENT_PATH=/api/v1/entries/$BIG/content
# nginx serves the node's exact bodies.
save_body() { # file under www/, node path
  local code; code=$(curl -s "${AUTH[@]}" -o "$WWW/$1" -w '%{http_code}' "http://$ADDR$2")
  [ "$code" = 200 ] || { echo "GET $2 answered $code" >&2; exit 1; }
}
save_body status.json "$STATUS_PATH"
save_body list.json "$LIST_PATH"
[ "$(json total < "$WWW/list.json")" = 50 ] \
  || { echo "the listing does not hold 50 entries" >&2; exit 1; }
chmod 644 "$WWW"/*; chmod 755 "$WWW"

# ---- nginx ----------------------------------------------------------------

NPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$NG/tmp"
cat > "$NG/nginx.conf" <<EOF
worker_processes 2;
worker_rlimit_nofile $NOFILE;
daemon off;
user nobody nogroup;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 30000; }
http {
  access_log off;
  default_type application/octet-stream;
  types { application/json json; }
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  server {
    # reuseport: the kernel spreads connections evenly over the workers,
    # so neither runs out of descriptors first.
    listen 127.0.0.1:$NPORT backlog=4096 reuseport;
    root $WWW;
    location /api/v1/status { alias $WWW/status.json; }
  }
}
EOF
nginx -p "$NG/" -c "$NG/nginx.conf" 2>>"$NG/error.log" &
NGINX=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$NPORT/status.json" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$NPORT/status.json" || { echo "nginx did not start:" >&2; cat "$NG/error.log" >&2; exit 1; }
nginx_pids() { echo "$NGINX $(pgrep -P "$NGINX" | tr '\n' ' ')"; }

# ---- measures ------------------------------------------------------------

rss_mib() { # VmRSS or VmHWM, summed over the pids given
  local field=$1; shift
  for p in "$@"; do awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status"; done | awk '{ s += $1 } END { printf "%.0f", s / 1024 }'
}
reset_peak() { for p in "$@"; do echo 5 > "/proc/$p/clear_refs"; done; }
field() { python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]
print("-" if v is None else (json.dumps(v, separators=(",", ":")) if isinstance(v, dict) else v))' "$1" "$2"; }
conns() { ss -Htn state established "( sport = :$1 )" | wc -l; }
ROWS=()
row() { ROWS+=("$(printf '%-36s %-44s %-44s %s' "$1" "$2" "$3" "$4")"); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

# wrk: requests/s, p99 in ms, non-2xx responses, socket errors.
wrk_run() { # url, output file; the secret goes to nginx too
  wrk -t2 -c1000 -d10s --latency -H "Authorization: Bearer $SECRET" "$1" > "$2" 2>&1 || true
}
wrk_figures() {
  awk '
    /Requests\/sec:/ { rps = $2 }
    $1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                  p99 = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : (u == "m") ? v * 60000 : v }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    /Socket errors:/ { gsub(",", ""); err = $4 + $6 + $8 + $10 }
    END { printf "%.0f %.1f %d %d\n", rps, p99, bad, err }' "$1"
}
wrk_scenario() { # label, node path, nginx path
  local n g
  wrk_run "http://$ADDR$2" "$WORK/wrk-node.txt"
  wrk_run "http://127.0.0.1:$NPORT$3" "$WORK/wrk-nginx.txt"
  read -r n_rps n_p99 n_bad n_err <<<"$(wrk_figures "$WORK/wrk-node.txt")"
  read -r g_rps g_p99 g_bad g_err <<<"$(wrk_figures "$WORK/wrk-nginx.txt")"
  [ "$n_bad" = 0 ] || { fail "$1: the node answered $n_bad non-2xx responses"; cat "$WORK/wrk-node.txt" >&2; }
  [ "$g_bad" = 0 ] || fail "$1: nginx answered $g_bad non-2xx responses"
  [ "$n_rps" != 0 ] || { fail "$1: wrk got nothing from the node"; cat "$WORK/wrk-node.txt" >&2; }
  n="$n_rps req/s p99 $n_p99 ms"; g="$g_rps req/s p99 $g_p99 ms"
  [ "$n_err" = 0 ] || { n="$n, $n_err sock err"; NOTES+=("$1, node: $(grep 'Socket errors' "$WORK/wrk-node.txt")"); }
  [ "$g_err" = 0 ] || { g="$g, $g_err sock err"; NOTES+=("$1, nginx: $(grep 'Socket errors' "$WORK/wrk-nginx.txt")"); }
  row "$1" "$n" "$g" "req/s x$(ratio "$n_rps" "$g_rps"), p99 x$(ratio "$n_p99" "$g_p99")"
}

echo "1-2/5 status and listing, 1000 connections (wrk, 4 x 10 s)" >&2
wrk_scenario "status, 1000 conns" "$STATUS_PATH" /api/v1/status
wrk_scenario "listing of 50, 1000 conns" "$LIST_PATH" /list.json

# 3. 1000 range reads at once, on a fresh node per allocator.
echo "3/5 1000 concurrent 1 MiB range reads" >&2
ranges() { # port, path, secret, output file
  python3 "$CLIENT" --port "$1" --secret "$3" --timeout 60 ranges --path "$2" --source "$SRC" --n 1000 > "$4"
}
ranges_cell() { # output file
  local f=$1 cell
  cell="$(field "$f" secs) s, p99 $(field "$f" p99_ms) ms, $(field "$f" failed) failed"
  [ "$(field "$f" failed)" = 0 ] || cell="$cell $(field "$f" reasons)"
  echo "$cell"
}
reset_peak $(nginx_pids); ranges "$NPORT" /big.bin "" "$WORK/ranges-nginx.json"
G_RANGES_PEAK=$(rss_mib VmHWM $(nginx_pids))
[ "$(field "$WORK/ranges-nginx.json" failed)" = 0 ] || fail "range reads: nginx failed $(field "$WORK/ranges-nginx.json" reasons)"
for alloc in ${ALLOCATORS:-$ALLOC}; do
  node_stop; node_start "$(preload_of "$alloc")"
  curl -sf "${AUTH[@]}" -H 'Range: bytes=0-1023' -o /dev/null "http://$ADDR$CONTENT_PATH"
  base=$(rss_mib VmRSS "$NODE"); reset_peak "$NODE"
  ranges "$PORT" "$CONTENT_PATH" "$SECRET" "$WORK/ranges-node.json"
  peak=$(rss_mib VmHWM "$NODE"); sleep 10; after=$(rss_mib VmRSS "$NODE")
  f=$WORK/ranges-node.json
  [ "$(field "$f" failed)" = 0 ] || fail "range reads ($alloc): the node failed $(field "$f" reasons)"
  row "1000 x 1 MiB ranges [$alloc]" "$(ranges_cell "$f")" "$(ranges_cell "$WORK/ranges-nginx.json")" \
    "time x$(ratio "$(field "$f" secs)" "$(field "$WORK/ranges-nginx.json" secs)")"
  row "  RSS base/peak/+10 s [$alloc]" "$base / $peak / $after MiB" "peak $G_RANGES_PEAK MiB (master + workers)" ""
done
node_stop; node_start "$PRELOAD"

# 4. 1000 slow readers, and one client timing calls one at a time.
echo "4/5 1000 readers at 1 MB/s for $SLOW_SECS s, node then nginx" >&2
slow_phase() { # port, file path, status path, secret, tag; pids to watch follow
  local port=$1 path=$2 status=$3 secret=$4 tag=$5; shift 5
  rm -f "$WORK/started"
  reset_peak "$@"
  python3 "$CLIENT" --port "$port" --secret "$secret" --timeout 30 slow --path "$path" --source "$SRC" \
    --n 1000 --secs "$SLOW_SECS" --started "$WORK/started" > "$WORK/slow-$tag.json" &
  local slow=$!
  for _ in $(seq 300); do [ -e "$WORK/started" ] || ! kill -0 $slow 2>/dev/null && break; sleep 0.1; done
  sleep 1
  python3 "$CLIENT" --port "$port" --secret "$secret" --timeout 5 probe --path "$path" --status-path "$status" \
    --source "$SRC" --secs $((SLOW_SECS - 3)) > "$WORK/probe-$tag.json"
  wait "$slow" || fail "slow readers ($tag): the client failed"
  SLOW_PEAK=$(rss_mib VmHWM "$@")
}
slow_cells() { # tag: reader cell, status cell, first-byte cell
  local s=$WORK/slow-$1.json p=$WORK/probe-$1.json
  echo "$(field "$s" ok) served, $(field "$s" total_mb_per_s) MB/s, p50 $(field "$s" reader_mb_per_s_p50) each, $(field "$s" starved) starved, $(field "$s" bad_bytes) bad"
  echo "p50 $(field "$p" status_p50_ms) p99 $(field "$p" status_p99_ms) ms, $(field "$p" status_n) ok $(field "$p" status_failed) failed"
  echo "p50 $(field "$p" ttfb_p50_ms) p99 $(field "$p" ttfb_p99_ms) ms, $(field "$p" ttfb_n) ok $(field "$p" ttfb_failed) failed"
}
slow_phase "$PORT" "$CONTENT_PATH" "$STATUS_PATH" "$SECRET" node "$NODE"; N_SLOW_PEAK=$SLOW_PEAK
slow_phase "$NPORT" /big.bin /api/v1/status "" nginx $(nginx_pids); G_SLOW_PEAK=$SLOW_PEAK
for tag in node nginx; do
  [ "$(field "$WORK/slow-$tag.json" bad_bytes)" = 0 ] || fail "slow readers ($tag): wrong bytes"
  [ "$(field "$WORK/slow-$tag.json" starved)" = 0 ] || fail "slow readers ($tag): $(field "$WORK/slow-$tag.json" starved) readers got under a tenth of 1 MB/s"
  [ "$(field "$WORK/slow-$tag.json" ok)" = 1000 ] || fail "slow readers ($tag): $(field "$WORK/slow-$tag.json" reasons)"
  [ "$(field "$WORK/probe-$tag.json" failures)" = 0 ] || fail "probe under slow readers ($tag): $(field "$WORK/probe-$tag.json" reasons)"
done
mapfile -t n_cells < <(slow_cells node); mapfile -t g_cells < <(slow_cells nginx)
row "1000 readers at 1 MB/s, ${SLOW_SECS} s, total" "${n_cells[0]}" "${g_cells[0]}" \
  "total MB/s x$(ratio "$(field "$WORK/slow-node.json" total_mb_per_s)" "$(field "$WORK/slow-nginx.json" total_mb_per_s)")"
row "  status, one at a time" "${n_cells[1]}" "${g_cells[1]}" "p99 x$(ratio "$(field "$WORK/probe-node.json" status_p99_ms)" "$(field "$WORK/probe-nginx.json" status_p99_ms)")"
row "  new reader, first byte" "${n_cells[2]}" "${g_cells[2]}" "p99 x$(ratio "$(field "$WORK/probe-node.json" ttfb_p99_ms)" "$(field "$WORK/probe-nginx.json" ttfb_p99_ms)")"
row "  RSS peak" "$N_SLOW_PEAK MiB" "$G_SLOW_PEAK MiB (master + workers)" ""

# 5. Idle connections: they connect and send nothing.
echo "5/5 $IDLE_N idle connections, node then nginx" >&2
idle_phase() { # port, status path, secret, tag; pids to watch follow
  local port=$1 status=$2 secret=$3 tag=$4; shift 4
  # Each client process holds what its open-files limit allows.
  local per=$((NOFILE - 200)) procs k pids=()
  procs=$(( (IDLE_N + per - 1) / per ))
  rm -f "$WORK"/ready.* "$WORK/stop" "$WORK"/idle-"$tag".*.json
  for k in $(seq "$procs"); do
    python3 "$CLIENT" --port "$port" --timeout 10 idle --n $(( IDLE_N / procs )) --sources "$IDLE_SOURCES" \
      --ready "$WORK/ready.$k" --stop "$WORK/stop" --max-hold 150 > "$WORK/idle-$tag.$k.json" &
    pids+=($!)
  done
  for _ in $(seq 900); do
    [ "$(ls "$WORK"/ready.* 2>/dev/null | wc -l)" -lt "$procs" ] || break
    for k in "${pids[@]}"; do kill -0 "$k" 2>/dev/null || break 2; done
    sleep 0.1
  done
  IDLE_HELD=$(conns "$port"); IDLE_RSS=$(rss_mib VmRSS "$@")
  # A new client from the idle ones' address, and one from another address.
  python3 "$CLIENT" --port "$port" --secret "$secret" --timeout 5 status --path "$status" --tries 20 \
    --bind 127.0.0.1 > "$WORK/status-$tag.json"
  python3 "$CLIENT" --port "$port" --secret "$secret" --timeout 5 status --path "$status" --tries 20 \
    --bind 127.0.0.$((IDLE_SOURCES + 1)) > "$WORK/status2-$tag.json"
  IDLE_AFTER=$(conns "$port")
  touch "$WORK/stop"
  for k in "${pids[@]}"; do wait "$k" || fail "idle connections ($tag): a client failed"; done
  python3 -c 'import json, sys
parts = [json.load(open(f)) for f in sys.argv[2:]]
total = {k: sum(p[k] for p in parts) for k in ("n", "connected", "closed_by_server", "still_open_at_stop")}
total["open_secs"] = max(p["open_secs"] for p in parts)
json.dump(total, open(sys.argv[1], "w"))' "$WORK/idle-$tag.json" "$WORK"/idle-"$tag".*.json
}
idle_cells() { # tag: held cell, status cells
  local i=$WORK/idle-$1.json
  echo "$IDLE_HELD held (then $IDLE_AFTER), RSS $IDLE_RSS MiB"
  for s in "$WORK/status-$1.json" "$WORK/status2-$1.json"; do
    echo "p50 $(field "$s" p50_ms) p99 $(field "$s" p99_ms) ms, $(field "$s" failed)/20 failed"
  done
  echo "$(field "$i" connected) connected in $(field "$i" open_secs) s, $(field "$i" closed_by_server) closed by it"
}
idle_phase "$PORT" "$STATUS_PATH" "$SECRET" node "$NODE"; mapfile -t n_cells < <(idle_cells node)
idle_phase "$NPORT" /api/v1/status "" nginx $(nginx_pids); mapfile -t g_cells < <(idle_cells nginx)
for tag in node nginx; do
  for s in status status2; do
    [ "$(field "$WORK/$s-$tag.json" failed)" = 0 ] || fail "status beside idle connections ($tag, $s): $(field "$WORK/$s-$tag.json" reasons)"
  done
done
row "$IDLE_N idle conns (send nothing)" "${n_cells[3]}" "${g_cells[3]}" ""
row "  established at the server" "${n_cells[0]}" "${g_cells[0]}" ""
row "  status, new client, same addr" "${n_cells[1]}" "${g_cells[1]}" ""
row "  status, new client, other addr" "${n_cells[2]}" "${g_cells[2]}" ""

# ---- the table ------------------------------------------------------------

echo
echo "cairn load bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
echo "node: $BIN, allocator $ALLOC$([ -z "${CAIRN_EXTRA_CONFIG:-}" ] || printf ', extra config: %s' "$(echo "$CAIRN_EXTRA_CONFIG" | tr '\n' ' ')")"
echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //'), 2 workers; open files $NOFILE; ratios are cairn / nginx"
printf '%-36s %-44s %-44s %s\n' scenario cairn nginx "ratio / target"
printf '%s\n' "${ROWS[@]}"
echo "took $(( $(date +%s) - T_START )) s"
if [ -s "$WORK/node.log" ]; then
  echo "node log ($(wc -l < "$WORK/node.log") lines, first 20):"; head -20 "$WORK/node.log"
fi
[ ${#NOTES[@]} -eq 0 ] || printf 'note: %s\n' "${NOTES[@]}"
if [ ${#FAILS[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${FAILS[@]}"
  exit 1
fi
