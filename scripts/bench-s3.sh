#!/usr/bin/env bash
# Benchmark of the S3 API (issue 20), one release node on loopback, the
# real clients against it, every figure a ratio against a yardstick run
# in the same run:
#   1 GiB: `rclone copy` into the S3 API vs `cairn upload` of the same
#   file (the native HTTP upload); `rclone cat` back (to /dev/null) vs
#   `cairn download` to /dev/null; best of RUNS each.
#   10,000 objects of 4 KiB: `rclone copy --transfers 16` (objects/s),
#   then `rclone lsf` of the bucket (seconds).
#
#   bash scripts/bench-s3.sh
#   SIZE_MIB=256 SMALL=2000 RUNS=1 bash scripts/bench-s3.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
SMALL=${SMALL:-10000}
RUNS=${RUNS:-2}
WORK=$(mktemp -d /tmp/cairn-bench-s3.XXXXXX)
command -v rclone >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq rclone; }
if [ -n "${CAIRN_BIN:-}" ]; then
  BIN=$CAIRN_BIN
else
  cargo build --release --locked -p cairn-cli >/dev/null 2>&1 || cargo build --release -p cairn-cli
  BIN=$PWD/target/release/cairn
fi
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/data" "$WORK/src"
cat > "$WORK/data/config.toml" <<EOF
listen = "127.0.0.1:0"
log = "warn"
legacy_digests = false
import_roots = ["$WORK"]
[network]
enabled = false
[layers]
powder = []
bitdust = []
cacaoweb = []
[torrents]
enabled = false
[s3]
enabled = true
listen = "127.0.0.1:0"
EOF
"$BIN" --data-dir "$WORK/data" node >"$WORK/node.log" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -s "$WORK/data/s3.addr" ] && break; sleep 0.1; done
S3="http://$(cat "$WORK/data/s3.addr")"
C() { "$BIN" --data-dir "$WORK/data" "$@"; }
read -r KEY SECRET < <(C account s3-key)
cat > "$WORK/rclone.conf" <<EOF
[cairn]
type = s3
provider = Other
access_key_id = $KEY
secret_access_key = $SECRET
endpoint = $S3
region = us-east-1
EOF
R() { env -u AWS_CA_BUNDLE rclone --config "$WORK/rclone.conf" "$@"; }
now() { date +%s.%N; }
best() { # command...: the least seconds of RUNS
  local b="" t0 t
  for _ in $(seq "$RUNS"); do
    t0=$(now); "$@" >/dev/null; t=$(echo "$(now) - $t0" | bc -l)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}

head -c $((SIZE_MIB << 20)) /dev/urandom > "$WORK/src/big.bin"
R mkdir cairn:bench
n=0
native_up() { n=$((n + 1)); C upload -q --on-conflict replace "$WORK/src/big.bin"; }
rclone_up() { R copyto --ignore-times "$WORK/src/big.bin" cairn:bench/big.bin; }
t_native=$(best native_up)
t_rclone=$(best rclone_up)
ID=$(C --json ls | python3 -c 'import json,sys; print([e["id"] for e in json.load(sys.stdin)["entries"] if e["name"]=="big.bin"][0])')
native_down() { C download -q -o /dev/null "$ID"; }
rclone_down() { R cat cairn:bench/big.bin > /dev/null; }
t_native_down=$(best native_down)
t_rclone_down=$(best rclone_down)
mibs() { echo "scale=1; $SIZE_MIB / $1" | bc -l; }
echo "upload ${SIZE_MIB} MiB: cairn upload $(mibs "$t_native") MiB/s, rclone copy $(mibs "$t_rclone") MiB/s, ratio $(echo "scale=2; $t_native / $t_rclone" | bc -l)"
echo "download ${SIZE_MIB} MiB: cairn download $(mibs "$t_native_down") MiB/s, rclone cat $(mibs "$t_rclone_down") MiB/s, ratio $(echo "scale=2; $t_native_down / $t_rclone_down" | bc -l)"

mkdir -p "$WORK/small"
python3 - "$WORK/small" "$SMALL" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i % 100:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(4096))
PY
t0=$(now)
R copy --transfers 16 --checkers 16 "$WORK/small" cairn:small
t=$(echo "$(now) - $t0" | bc -l)
echo "$SMALL objects of 4 KiB, rclone copy --transfers 16: $(echo "scale=0; $SMALL / $t" | bc -l) objects/s ($(printf %.2f "$t") s)"
t0=$(now)
count=$(R lsf -R --files-only cairn:small | wc -l)
t=$(echo "$(now) - $t0" | bc -l)
echo "rclone lsf -R of $count objects: $(printf %.3f "$t") s"
[ "$count" = "$SMALL" ] || { echo "listed $count objects, not $SMALL" >&2; exit 1; }
