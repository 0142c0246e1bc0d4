#!/usr/bin/env bash
# Benchmark of the people side (issue 18): nodes on loopback, all
# measured through the real binary's API. Prints:
#   private messages: 1,000 sent one after another from node 1 to node 2,
#   each timed from the send's start to node 2's event (its long poll on
#   /events/poll): median and p99 in ms; beside it, the same number of
#   bare HTTP round trips to node 2's /status (the loopback's yardstick);
#   a group of 10 nodes: 100 messages from its creator, each timed until
#   every other member's long poll has it: median and p99 in ms;
#   BitDust's REST: 1,000 process_health and 1,000 files_list calls one
#   after another (a catalog of 100 folders): median and p99 in ms;
#   identity recovery: node 1 with 1,000 catalog entries backed up, then
#   its data dir wiped and recovered from the backup file alone; seconds
#   from `cairn node` to its API answering with all 1,000 entries.
#
#   bash scripts/bench-people.sh
#   MESSAGES=200 GROUP_MESSAGES=20 bash scripts/bench-people.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-1000}
GROUP_MESSAGES=${GROUP_MESSAGES:-100}
ENTRIES=${ENTRIES:-1000}
REST_CALLS=${REST_CALLS:-1000}
NODES=10
WORK=$(mktemp -d /tmp/cairn-bench-people.XXXXXX)
command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl; }
if [ -n "${CAIRN_BIN:-}" ]; then
  BIN=$CAIRN_BIN
else
  cargo build --release --locked -p cairn-cli >/dev/null 2>&1 || cargo build --release -p cairn-cli
  BIN=$PWD/target/release/cairn
fi
PY=$(command -v /usr/bin/python3 || command -v python3)

declare -A PIDS
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

write_config() { # dir, bootstrap or ""
  local boot=""
  [ -n "$2" ] && boot="\"$2\""
  mkdir -p "$1"
  cat > "$1/config.toml" <<EOF
listen = "127.0.0.1:0"
log = "warn"
[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
bootstrap = [$boot]
check_secs = 3600
backup_secs = 1
[layers]
powder = []
bitdust = []
cacaoweb = []
[torrents]
enabled = false
EOF
}
start_node() { # index
  local dir=$WORK/n$1
  rm -f "$dir/api.addr"
  "$BIN" --data-dir "$dir" node >/dev/null 2>"$WORK/n$1.log" &
  PIDS[$1]=$!
  for _ in $(seq 600); do [ -s "$dir/api.addr" ] && break; sleep 0.05; done
}
api() { local dir=$WORK/n$1; shift; curl -sf -H "Authorization: Bearer $(cat "$dir/apisecret")" "$@"; }
url() { echo "http://$(cat "$WORK/n$1/api.addr")/api/v1$2"; }
json() { "$PY" -c "import json, sys; v = json.load(sys.stdin); print($1)"; }

write_config "$WORK/n0" ""
start_node 0
BOOT=""
for _ in $(seq 100); do
  BOOT=$(api 0 "$(url 0 /network)" | json '"%s/p2p/%s" % (v["listen"][0], v["peer_id"]) if v["listen"] else ""')
  [ -n "$BOOT" ] && break; sleep 0.1
done
for i in $(seq 1 $((NODES - 1))); do write_config "$WORK/n$i" "$BOOT"; start_node "$i"; done
for i in $(seq 0 $((NODES - 1))); do
  for _ in $(seq 300); do
    [ "$(api "$i" "$(url "$i" /network)" | json 'v["peers"]')" -ge $((NODES - 1)) ] && break; sleep 0.1
  done
done

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
"$PY" - "$WORK" "$NODES" "$MESSAGES" "$GROUP_MESSAGES" <<'PYEOF'
import json, sys, threading, time, urllib.request, statistics
work, nodes, messages, group_messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def node(i):
    addr = open(f"{work}/n{i}/api.addr").read().strip()
    secret = open(f"{work}/n{i}/apisecret").read().strip()
    return addr, secret

def call(i, method, path, body=None):
    addr, secret = node(i)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{addr}/api/v1{path}", data=data, method=method,
                                 headers={"Authorization": "Bearer " + secret, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

class Watch(threading.Thread):
    """A node's long poll: when each message body arrived."""
    def __init__(self, i):
        super().__init__(daemon=True)
        self.i, self.seen, self.stop = i, {}, False
        self.after = call(i, "GET", "/events/poll?wait=0")["next"]
        self.cond = threading.Condition()
    def run(self):
        while not self.stop:
            v = call(self.i, "GET", f"/events/poll?after={self.after}&wait=5&limit=1000")
            now = time.perf_counter()
            self.after = v["next"]
            with self.cond:
                for e in v["events"]:
                    if e.get("type") == "message":
                        self.seen.setdefault(e["message"]["body"], now)
                self.cond.notify_all()
    def wait_for(self, body, timeout=30):
        deadline = time.perf_counter() + timeout
        with self.cond:
            while body not in self.seen:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise SystemExit(f"node {self.i} never got {body!r}")
                self.cond.wait(left)
            return self.seen[body]

peer = {i: call(i, "GET", "/network")["peer_id"] for i in range(nodes)}

# Private messages, one after another.
watch = Watch(2); watch.start()
lat = []
for n in range(messages):
    body = f"m{n}"
    t0 = time.perf_counter()
    call(1, "POST", "/messages", {"to": peer[2], "text": body})
    lat.append((watch.wait_for(body) - t0) * 1000)
rtt = []
for n in range(messages):
    t0 = time.perf_counter(); call(2, "GET", "/status"); rtt.append((time.perf_counter() - t0) * 1000)
print(f"private message, send to recipient's event ({messages}): median {statistics.median(lat):.1f} ms, p99 {pct(lat, 99):.1f} ms")
print(f"  yardstick, GET /status round trip ({messages}): median {statistics.median(rtt):.2f} ms, p99 {pct(rtt, 99):.2f} ms")

# A group of all the nodes, created by node 1.
g = call(1, "POST", "/groups", {"label": "bench"})["id"]
for i in range(nodes):
    if i != 1:
        call(1, "POST", f"/groups/{g}/members", {"to": peer[i]})
for i in range(nodes):
    if i == 1:
        continue
    for _ in range(600):
        if len(call(i, "GET", f"/groups/{g}")["members"]) == nodes - 1:
            break
        time.sleep(0.1)
time.sleep(2)  # the topic's subscriptions known around
watches = [Watch(i) for i in range(nodes) if i != 1]
for w in watches: w.start()
glat, gall = [], []
for n in range(group_messages):
    body = f"g{n}"
    t0 = time.perf_counter()
    call(1, "POST", f"/groups/{g}/messages", {"text": body})
    times = [(w.wait_for(body) - t0) * 1000 for w in watches]
    glat.extend(times); gall.append(max(times))
print(f"group of {nodes}, a member's receipt ({len(glat)}): median {statistics.median(glat):.1f} ms, p99 {pct(glat, 99):.1f} ms")
print(f"  every member's ({group_messages}): median {statistics.median(gall):.1f} ms, p99 {pct(gall, 99):.1f} ms")
PYEOF

# BitDust's REST layer on node 0: 1,000 process_health and 1,000
# files_list of a catalog of 100 folders with a file each, one after
# another, beside the native GET /status.
"$PY" - "$WORK" "$REST_CALLS" <<'PYEOF'
import json, sys, time, urllib.request, statistics
work, calls = sys.argv[1], int(sys.argv[2])
addr = open(f"{work}/n0/api.addr").read().strip()
secret = open(f"{work}/n0/apisecret").read().strip()
def req(method, path, body=None, native=False):
    headers = {"Authorization": "Bearer " + secret} if native else {"api_secret": secret}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    r = urllib.request.Request(f"http://{addr}{'/api/v1' if native else ''}{path}", data=data, method=method, headers=headers)
    with urllib.request.urlopen(r, timeout=60) as resp:
        return json.load(resp)
for n in range(100):
    folder = req("POST", "/folders", {"name": f"d{n}"}, native=True)["id"]
    req("POST", f"/upload?name=f.bin&parent={folder}", b"x" * 1000, native=True)
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
def timed(method, path, native=False):
    out = []
    for _ in range(calls):
        t0 = time.perf_counter(); v = req(method, path, native=native); out.append((time.perf_counter() - t0) * 1000)
    return out, v
health, v = timed("GET", "/process/health/v1")
assert v["status"] == "OK", v
listed, v = timed("GET", "/file/list/v1")
assert v["status"] == "OK" and len(v["result"]) == 100, v
status, _ = timed("GET", "/status", native=True)
for name, xs in [("process_health", health), ("files_list (100 folders)", listed), ("yardstick, native GET /status", status)]:
    print(f"REST {name} ({calls}): median {statistics.median(xs):.2f} ms, p99 {pct(xs, 99):.2f} ms")
PYEOF

# Recovery: node 1 gets ENTRIES folders (each an entry), backs up, and is
# recovered on a wiped data dir.
for n in $(seq "$ENTRIES"); do echo "{\"name\": \"f$n\"}"; done > "$WORK/folders.jsonl"
"$PY" - "$WORK" "$ENTRIES" <<'PYEOF'
import json, sys, urllib.request
work, entries = sys.argv[1], int(sys.argv[2])
addr = open(f"{work}/n1/api.addr").read().strip()
secret = open(f"{work}/n1/apisecret").read().strip()
for n in range(entries):
    req = urllib.request.Request(f"http://{addr}/api/v1/folders", data=json.dumps({"name": f"f{n}"}).encode(),
                                 method="POST", headers={"Authorization": "Bearer " + secret, "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()
PYEOF
for _ in $(seq 600); do
  P=$(api 1 "$(url 1 /identity/catalog-backup)" | json 'v["pending"]')
  [ "$P" = 0 ] && break; sleep 0.1
done
api 1 "$(url 1 /identity/backup)" > "$WORK/n1.backup"
sleep 2   # the backup's placement
kill "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null || true
cp "$WORK/n1/config.toml" "$WORK/config.n1"
rm -rf "$WORK/n1"; mkdir -p "$WORK/n1"; cp "$WORK/config.n1" "$WORK/n1/config.toml"
"$BIN" --data-dir "$WORK/n1" id recover "$WORK/n1.backup" >/dev/null
T0=$(date +%s.%N)
start_node 1
for _ in $(seq 600); do
  N=$(api 1 "$(url 1 "/entries?limit=1")" | json 'v["total"]' 2>/dev/null || echo 0)
  [ "$N" -ge "$ENTRIES" ] && break; sleep 0.05
done
T1=$(date +%s.%N)
echo "recovery of $N catalog entries from the backup file alone: $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }') s"
