#!/usr/bin/env bash
# End-to-end benchmark of one node on this machine, against the tools the
# targets are stated in, all measured in the same run:
#   upload by local path (durable) vs `dd conv=fsync` of the same file,
#   HTTP download (warm cache) vs `cat` to /dev/null, and `b3sum`,
# with the node's peak RSS during each phase (VmHWM, reset between phases).
#
# Shared VMs are noisy (dd here has ranged from 200 MB/s to 1.4 GB/s), so
# each round runs every tool once, interleaved, and the table gives the
# median and the best round of each.
#
#   bash scripts/bench.sh            # 1 GiB, 5 rounds
#   BENCH_MIB=256 ROUNDS=1 bash scripts/bench.sh
# The network has its own bench: scripts/bench-net.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${BENCH_MIB:-1024}
ROUNDS=${ROUNDS:-5}
# A folder of our own is removed at the end, the test file with it; a
# BENCH_DIR keeps the file for the next run.
WORK=${BENCH_DIR:-$(mktemp -d /tmp/cairn-bench.XXXXXX)}
OWN_WORK=$([ -z "${BENCH_DIR:-}" ] && echo 1 || true)
mkdir -p "$WORK"

command -v b3sum >/dev/null 2>&1 || cargo install --locked b3sum >/dev/null 2>&1 || cargo install b3sum
command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl; }
cargo build --release --locked -p cairn-cli >/dev/null 2>&1 || cargo build --release -p cairn-cli
BIN=$PWD/target/release/cairn

SRC=$WORK/src.bin
if [ ! -f "$SRC" ] || [ "$(stat -c %s "$SRC")" -ne $((MIB << 20)) ]; then
  head -c $((MIB << 20)) /dev/urandom > "$SRC"
fi
DATA=$WORK/node
rm -rf "$DATA"; mkdir -p "$DATA"
printf 'listen = "127.0.0.1:0"\nimport_roots = ["%s"]\nlog = "warn"\n[network]\nenabled = false\n[layers]\npowder = []\nbitdust = []\ncacaoweb = []\n[torrents]\nenabled = false\n' "$WORK" > "$DATA/config.toml"
"$BIN" --data-dir "$DATA" node >/dev/null 2>"$WORK/node.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA" "$WORK/dd.out"; if [ -n "$OWN_WORK" ]; then rm -rf "$WORK"; fi' EXIT
for _ in $(seq 100); do [ -s "$DATA/api.addr" ] && break; sleep 0.1; done
ADDR=$(cat "$DATA/api.addr"); SECRET=$(cat "$DATA/apisecret")
API=(-s -H "Authorization: Bearer $SECRET")

now() { date +%s.%N; }
mbps() { awk -v b=$((MIB << 20)) -v t="$1" 'BEGIN { printf "%.0f", b / t / 1e6 }'; }
reset_peak() { echo 5 > /proc/$PID/clear_refs; }
peak_mib() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' /proc/$PID/status; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

cat "$SRC" > /dev/null
dd_t=(); up_t=(); up_rss=(); cat_t=(); down_t=(); down_rss=(); b3_t=(); dig_t=()
for round in $(seq "$ROUNDS"); do
  sync
  t0=$(now); dd if="$SRC" of="$WORK/dd.out" bs=1M conv=fsync status=none; t1=$(now)
  rm -f "$WORK/dd.out"; sync
  dd_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")

  reset_peak
  t0=$(now)
  job=$(curl "${API[@]}" -X POST "http://$ADDR/api/v1/import" -H 'content-type: application/json' \
        -d "{\"path\": \"$SRC\", \"wait\": true, \"on_conflict\": \"replace\"}")
  t1=$(now)
  echo "$job" | grep -q '"state":"done"' || { echo "upload failed: $job" >&2; exit 1; }
  up_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"); up_rss+=("$(peak_mib)")
  id=$(echo "$job" | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["files"][0]["entry"]["id"])')
  blob=$(echo "$job" | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["files"][0]["blob"])')
  # md5, sha1 and sha256 follow the upload in the background; wait for them
  # (and time them) so they do not share the CPU with the download below.
  until curl "${API[@]}" "http://$ADDR/api/v1/blobs/$blob" | grep -q '"md5"'; do sleep 0.02; done
  t2=$(now); dig_t+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')")

  t0=$(now); cat "$SRC" > /dev/null; t1=$(now)
  cat_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
  curl "${API[@]}" -o /dev/null "http://$ADDR/api/v1/entries/$id/content"
  reset_peak
  t0=$(now); got=$(curl "${API[@]}" -o /dev/null -w '%{size_download}' "http://$ADDR/api/v1/entries/$id/content"); t1=$(now)
  [ "$got" = $((MIB << 20)) ] || { echo "download returned $got bytes" >&2; exit 1; }
  down_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"); down_rss+=("$(peak_mib)")

  t0=$(now); b3=$(b3sum --no-names "$SRC"); t1=$(now)
  b3_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
  [ "$b3" = "$blob" ] || { echo "id mismatch: b3sum $b3, cairn $blob" >&2; exit 1; }
  # Remove the entry (and so the blob) so the next round uploads anew.
  curl "${API[@]}" -X DELETE "http://$ADDR/api/v1/entries/$id" >/dev/null
done


best() { sort -g | head -1; }
stat() { # name, array of seconds: "median-MB/s best-MB/s median-s best-s"
  local med bst; med=$(printf '%s\n' "${@:2}" | median); bst=$(printf '%s\n' "${@:2}" | best)
  echo "$(mbps "$med") $(mbps "$bst") $med $bst"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", a / b * 100 }'; }
read -r dd_mb dd_best dd_m dd_b <<<"$(stat x "${dd_t[@]}")"
read -r up_mb up_best up_m up_b <<<"$(stat x "${up_t[@]}")"
read -r cat_mb cat_best cat_m cat_b <<<"$(stat x "${cat_t[@]}")"
read -r down_mb down_best down_m down_b <<<"$(stat x "${down_t[@]}")"
read -r b3_mb b3_best b3_m b3_b <<<"$(stat x "${b3_t[@]}")"
read -r dig_mb dig_best _ _ <<<"$(stat x "${dig_t[@]}")"
up_peak=$(printf '%s\n' "${up_rss[@]}" | sort -g | tail -1); down_peak=$(printf '%s\n' "${down_rss[@]}" | sort -g | tail -1)
echo "cairn end-to-end bench: ${MIB} MiB file, ${ROUNDS} rounds, $(nproc) cores; MB/s as median (best)"
printf '%-34s %6s (%6s)\n' "dd conv=fsync, same file" "$dd_mb" "$dd_best"
printf '%-34s %6s (%6s)  = %s of dd (best %s)  peak RSS %s MiB\n' "cairn upload by path, durable" "$up_mb" "$up_best" \
  "$(ratio "$dd_m" "$up_m")" "$(ratio "$dd_b" "$up_b")" "$up_peak"
printf '%-34s %6s (%6s)\n' "cat file > /dev/null, warm" "$cat_mb" "$cat_best"
printf '%-34s %6s (%6s)  = %s of cat  peak RSS %s MiB\n' "cairn HTTP download (curl), warm" "$down_mb" "$down_best" \
  "$(ratio "$cat_m" "$down_m")" "$down_peak"
printf '%-34s %6s (%6s)  cairn download = %s of b3sum\n' "b3sum, warm" "$b3_mb" "$b3_best" "$(ratio "$b3_m" "$down_m")"
printf '%-34s %6s (%6s)  background job after each upload\n' "md5+sha1+sha256 aliases" "$dig_mb" "$dig_best"
