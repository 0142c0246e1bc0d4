#!/usr/bin/env bash
# The web UI's benchmark, against a release node on 127.0.0.1:
# - the files page's first load: bytes transferred (gzip) and when its
#   listing is drawn, from the page's own mark (target < 150 KB, < 300 ms);
# - a folder of N entries (10,000 by default) listed and scrolled end to
#   end, every frame timed (target: no frame over 50 ms);
# - a 1 GiB upload through the browser (tus, file chooser) against
#   curl's upload (`-T`) to /api/v1/upload on the same node in the same run
#   (target: ratio >= 0.70);
# - Lighthouse (npm, run on Debian's Chromium) on the files page and the
#   player: accessibility, best practices, performance (targets >= 95, 95, 90).
# Usage: CAIRN_BIN=target/release/cairn bash scripts/bench-ui.sh [entries] [upload MiB]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CAIRN_BIN:-target/release/cairn}
entries=${1:-10000}
mib=${2:-1024}
ui=crates/cli/tests/ui
[ -d "$ui/node_modules/playwright-core" ] || npm ci --prefix "$ui" --no-audit --no-fund --loglevel=error
lh=target/lighthouse
if ! [ -x "$lh/node_modules/.bin/lighthouse" ]; then
  mkdir -p "$lh"
  npm install --prefix "$lh" --no-audit --no-fund --loglevel=error lighthouse@12.8.2
fi
work=$(mktemp -d)
trap 'kill $node_pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/data"
printf 'listen = "127.0.0.1:0"\nlog = "warn"\n[network]\nenabled = false\n[layers]\ncacaoweb = []\npowder = []\nbitdust = []\n' > "$work/data/config.toml"
"$bin" --data-dir "$work/data" node > "$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 100); do [ -s "$work/data/api.addr" ] && break; sleep 0.1; done
addr=$(cat "$work/data/api.addr"); secret=$(cat "$work/data/apisecret")
url="http://$addr"; api="$url/api/v1"; auth="Authorization: Bearer $secret"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') ($(nproc) cores)"

# N folders in one folder, 16 requests at a time.
many=$(curl -sf -H "$auth" -H 'content-type: application/json' -d '{"name":"many"}' "$api/folders" | sed 's/.*"id":"\([^"]*\)".*/\1/')
seq 0 $((entries - 1)) | xargs -P 16 -I{} curl -sf -o /dev/null -H "$auth" -H 'content-type: application/json' \
  -d "{\"name\":\"entry {}\",\"parent\":\"$many\"}" "$api/folders"

# The yardstick: curl's upload of the same bytes.
big="$work/big.bin"
head -c $((mib << 20)) /dev/urandom > "$big"
t0=$(date +%s.%N)
# (`-T`, streamed from the file: Debian's curl cannot hold 1 GiB for
# `--data-binary @file`, "out of memory"; the bytes on the wire are the same.)
curl -sf -o /dev/null -H "$auth" -X POST -T "$big" "$api/upload?name=curl.bin"
t1=$(date +%s.%N)
curl_ms=$(echo "($t1 - $t0) * 1000" | bc)

login=$("$bin" --data-dir "$work/data" open)
result=$(cd "$ui" && node bench.mjs "$url" "$login" "$secret" "$many" "$entries" "$big")
echo "$result"
browser_ms=$(echo "$result" | sed 's/.*"browser_upload_ms":\([0-9.]*\).*/\1/')
echo "upload of $mib MiB: curl $(printf '%.0f' "$curl_ms") ms, browser $browser_ms ms," \
  "ratio (curl time / browser time) $(echo "scale=2; $curl_ms / $browser_ms" | bc)"

# Lighthouse, signed in by a session cookie, on the files page and the player.
cookie=$(curl -si -H 'content-type: application/json' -d "{\"secret\":\"$secret\"}" "$url/ui/session" \
  | tr -d '\r' | sed -n 's/^set-cookie: \(cairn_session=[^;]*\).*/\1/Ip')
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=25:duration=30 \
  -f lavfi -i sine=frequency=440:duration=30 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac \
  -movflags +faststart -shortest "$work/clip.mp4"
clip=$(curl -sf -H "$auth" --data-binary @"$work/clip.mp4" "$api/upload?name=clip.mp4" | sed 's/.*"id":"\([^"]*\)".*/\1/')
for page in "ui/files" "ui/play/$clip"; do
  CHROME_PATH=$(command -v chromium) "$lh/node_modules/.bin/lighthouse" "$url/$page" --quiet \
    --chrome-flags="--headless=new --no-sandbox" --extra-headers="{\"Cookie\":\"$cookie\"}" \
    --only-categories=performance,accessibility,best-practices --output=json --output-path="$work/lh.json" >/dev/null 2>&1 || true
  python3 - "$work/lh.json" "$page" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["categories"]
print(f"lighthouse {sys.argv[2]}: performance {round(c['performance']['score']*100)}, "
      f"accessibility {round(c['accessibility']['score']*100)}, best practices {round(c['best-practices']['score']*100)}")
for cat in ("accessibility", "best-practices", "performance"):
    for ref in c[cat]["auditRefs"]:
        a = r["audits"][ref["id"]]
        if ref.get("weight", 0) > 0 and a.get("score") is not None and a["score"] < 1:
            print(f"  {cat}: {a['id']} ({a['score']}): {a['title']}")
PY
done
