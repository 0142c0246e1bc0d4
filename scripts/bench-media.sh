#!/usr/bin/env bash
# Media benchmark of one node, against ffmpeg and curl on the same file in
# the same run, all on 127.0.0.1. The source is made here: 1080p H.264
# (a key frame every 2 s) with AAC audio, in Matroska, LENGTH seconds.
#   1. HLS at 720p, cold: playlist (with the probe) and first segment
#   2. a seek to 75 %: that segment, cold
#   3. a remuxed progressive stream (copied into fragmented MP4): first
#      byte; and the stored file as it is: first byte, against curl of the
#      plaintext from a local file
#   4. transcode throughput: the whole 720p progressive stream read to the
#      end, as a realtime factor, against ffmpeg transcoding the same file
#      from disk with the same settings
#   5. encoders alive 5 s after their clients left (10 HLS players that
#      stop mid-file, 10 progressive streams dropped)
#   6. node RSS (without its ffmpeg children) at the peak of 10
#      concurrent streams
#
#   bash scripts/bench-media.sh
#   CAIRN_BIN=target/release/cairn LENGTH=120 bash scripts/bench-media.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LENGTH=${LENGTH:-120}
command -v ffmpeg >/dev/null && command -v curl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg curl >/dev/null
}
if [ -n "${CAIRN_BIN:-}" ]; then
  BIN=$(realpath "$CAIRN_BIN")
else
  cargo build --release --locked -p cairn-cli >/dev/null 2>&1 || cargo build --release -p cairn-cli
  BIN=$PWD/target/release/cairn
fi
WORK=$(mktemp -d /tmp/cairn-media.XXXXXX)
DATA=$WORK/node
mkdir -p "$DATA"
NODE=
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

SRC=$WORK/source.mkv
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=1920x1080:rate=24000/1001:duration=$LENGTH" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$LENGTH" \
  -g 48 -keyint_min 48 -sc_threshold 0 -c:v libx264 -preset veryfast -b:v 6M \
  -c:a aac -b:a 128k -shortest "$SRC"

printf 'listen = "127.0.0.1:0"\nlog = "warn"\n[network]\nenabled = false\n[layers]\npowder = []\nbitdust = []\ncacaoweb = []\n[torrents]\nenabled = false\n' > "$DATA/config.toml"
"$BIN" --data-dir "$DATA" node >/dev/null 2>>"$WORK/node.log" &
NODE=$!
for _ in $(seq 100); do [ -s "$DATA/api.addr" ] && break; sleep 0.1; done
ADDR=$(cat "$DATA/api.addr"); SECRET=$(cat "$DATA/apisecret")
API=http://$ADDR/api/v1
Q="api_secret=$SECRET"
ID=$(curl -sf -H "Authorization: Bearer $SECRET" --data-binary @"$SRC" "$API/upload?name=source.mkv" | json entries.0.id)
MP4=$WORK/source.mp4
ffmpeg -hide_banner -loglevel error -y -i "$SRC" -c copy -movflags +faststart "$MP4"
MP4ID=$(curl -sf -H "Authorization: Bearer $SECRET" --data-binary @"$MP4" "$API/upload?name=source.mp4" | json entries.0.id)

rss() { awk '/VmRSS/ { print int($2 / 1024) }' /proc/$NODE/status; }
cpu=$(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
echo "cairn media bench: $(date -u +%F), $cpu, $(nproc) cores, ${LENGTH} s 1080p source, $(ffmpeg -version | head -1 | cut -d' ' -f1-3)"

# 1. HLS at 720p, cold.
t0=$(now)
curl -sf "$API/media/$ID/hls/index.m3u8?quality=720p&$Q" -o "$WORK/index.m3u8"
t1=$(now)
curl -sf "$API/media/$ID/hls/0.ts?quality=720p&$Q" -o "$WORK/0.ts"
t2=$(now)
SEGS=$(grep -c '^#EXTINF' "$WORK/index.m3u8")
echo "HLS 720p: playlist (probe included) $(secs $t0 $t1) s, first segment $(secs $t1 $t2) s, together $(secs $t0 $t2) s (target < 2 s); $SEGS segments"

# 2. A seek to 75 %.
AT=$((SEGS * 3 / 4))
t0=$(now)
curl -sf "$API/media/$ID/hls/$AT.ts?quality=720p&$Q" -o "$WORK/seek.ts"
t1=$(now)
echo "HLS 720p: seek to 75 % (segment $AT), cold: $(secs $t0 $t1) s (target < 2 s; Jellyfin users report 5-10 s)"
sleep 4

# 3. First bytes: remuxed, as it is, and curl of a local file.
first_byte() { curl -s -o /dev/null -r 0-0 -w '%{time_starttransfer}' "$1" || true; }
first_stream() { curl -s -o /dev/null --max-time 5 -w '%{time_starttransfer}' "$1" || true; }
remux=$(first_stream "$API/media/$ID/stream?start=30&$Q")
direct=$(first_byte "$API/entries/$MP4ID/content?$Q")
local_file=$(first_byte "file://$MP4")
echo "first byte: remuxed stream ${remux} s (target < 0.3 s), file as it is ${direct} s, curl of the local file ${local_file} s"
sleep 4

# 4. Transcode throughput: the node's 720p stream to the end, against ffmpeg
# on the file from disk with the same settings.
t0=$(now)
curl -sf "$API/media/$ID/stream?quality=720p&transcode=true&$Q" -o /dev/null
t1=$(now)
node_rt=$(python3 -c "print(f'{$LENGTH / ($t1 - $t0):.2f}')")
t0=$(now)
ffmpeg -hide_banner -loglevel error -y -i "$SRC" -map 0:0 -c:v libx264 -preset veryfast -crf 23 \
  -maxrate 4096k -bufsize 8192k -pix_fmt yuv420p -profile:v high -vf scale=1280:720 \
  -map 0:1 -c:a aac -ac 2 -b:a 256k -force_key_frames 'expr:gte(t,n_forced*2)' \
  -movflags frag_keyframe+empty_moov+default_base_moof -f mp4 - > /dev/null
t1=$(now)
ff_rt=$(python3 -c "print(f'{$LENGTH / ($t1 - $t0):.2f}')")
echo "transcode 1080p -> 720p: node ${node_rt}x realtime, ffmpeg alone ${ff_rt}x (ratio $(python3 -c "print(f'{$node_rt / $ff_rt:.2f}')"))"

# 5 and 6. Ten players at once, then gone.
PEAK=0
watch_rss() { while kill -0 $NODE 2>/dev/null; do r=$(rss); [ "$r" -gt "$(cat $WORK/peak 2>/dev/null || echo 0)" ] && echo "$r" > $WORK/peak; sleep 0.2; done; }
echo 0 > $WORK/peak
watch_rss & WATCH=$!
before=$(rss)
pids=()
for i in $(seq 0 4); do
  start=$((i * LENGTH / 6))
  curl -s --max-time 8 "$API/media/$ID/stream?start=$start&$Q" -o /dev/null & pids+=($!)
  curl -s --max-time 8 "$API/entries/$MP4ID/content?$Q" --limit-rate 2M -o /dev/null & pids+=($!)
done
for i in $(seq 0 4); do
  ( for n in $(seq $((i * SEGS / 5)) $((i * SEGS / 5 + 2))); do
      curl -sf "$API/media/$ID/hls/$n.ts?quality=480p&$Q" -o /dev/null || true
    done ) & pids+=($!)
done
wait "${pids[@]}" 2>/dev/null || true
sleep 5
alive=$(curl -sf -H "Authorization: Bearer $SECRET" "$API/status" | json media.encoders_running)
children=$(ps --ppid $NODE -o comm= | grep -c ffmpeg || true)
kill $WATCH 2>/dev/null || true
echo "encoders alive 5 s after their clients left: $alive (ffmpeg children: $children; target 0)"
echo "node RSS with 15 concurrent streams (5 remuxed, 5 as they are, 5 HLS players): before ${before} MiB, peak $(cat $WORK/peak) MiB (target < 256 MiB)"
kill $NODE; wait $NODE 2>/dev/null || true
