#!/usr/bin/env python3
"""HTTP load clients for scripts/bench-load.sh, on the standard library only.

Each subcommand drives one scenario against one server (the node or nginx)
on 127.0.0.1 and prints one JSON object of figures on stdout:

  ranges   N concurrent range reads, every byte checked against the source
  slow     N readers throttled to a rate, every byte checked, for a while
  probe    one request at a time during a window: the status call on a
           keep-alive connection, and a new reader's time to first byte
  idle     N connections that send nothing, held until told to stop
  status   a new client's status call, tries one after another

Raw asyncio streams rather than aiohttp: the wire is plain HTTP/1.1 we
write ourselves, so nothing pools, retries or limits connections behind our
back, and "1,000 at once" means 1,000 sockets with a request sent on each
before any response is read.
"""

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import time

HOST = "127.0.0.1"
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux


def request(port, path, secret, headers=()):
    """The bytes of a GET, with the admin secret when there is one."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    if secret:
        lines.append(f"Authorization: Bearer {secret}")
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_head(head):
    """Status code and lower-cased headers of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    return status, fields


def pct(values, q):
    """The q-th percentile (nearest rank), in milliseconds, of seconds."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return round(ordered[rank] * 1000, 2)


def count(reasons, why):
    reasons[why] = reasons.get(why, 0) + 1


# ---- ranges: N range reads at once ---------------------------------------


async def one_range(port, path, secret, src, offset, size, gate, reasons, times, timeout):
    """Connect, wait for every other reader, then read one range and check it."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        count(reasons, f"connect: {type(e).__name__}")
        await gate.arrive()
        return False
    last = offset + size - 1
    try:
        await gate.arrive()
        start = time.monotonic()
        writer.write(request(port, path, secret, [f"Range: bytes={offset}-{last}"]))
        ok = await asyncio.wait_for(read_range(reader, src, offset, last, reasons), timeout)
        times.append(time.monotonic() - start)
        return ok
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
        count(reasons, type(e).__name__)
        return False
    finally:
        writer.close()


async def read_range(reader, src, offset, last, reasons):
    status, fields = parse_head(await reader.readuntil(b"\r\n\r\n"))
    want_range = f"bytes {offset}-{last}/{len(src)}"
    if status != 206:
        count(reasons, f"status {status}")
        return False
    if fields.get("content-range") != want_range:
        count(reasons, "wrong content-range")
        return False
    body = await reader.readexactly(last - offset + 1)
    if body != src[offset : last + 1]:
        count(reasons, "wrong bytes")
        return False
    return True


async def ranges(a):
    src = open(a.source, "rb").read()
    rng = random.Random(a.seed)
    offsets = []
    for _ in range(a.n):
        offset = rng.randrange(0, len(src) - a.size)
        offsets.append(offset + 1 if offset % 4096 == 0 else offset)
    gate = Gate(a.n)
    reasons, times = {}, []
    tasks = [
        asyncio.create_task(
            one_range(a.port, a.path, a.secret, src, o, a.size, gate, reasons, times, a.timeout)
        )
        for o in offsets
    ]
    # Every socket is connected (or has failed) before any request is sent.
    await gate.open(a.timeout)
    start = time.monotonic()
    results = await asyncio.gather(*tasks)
    secs = time.monotonic() - start
    ok = sum(results)
    return {
        "n": a.n, "ok": ok, "failed": a.n - ok, "reasons": reasons,
        "secs": round(secs, 3), "p50_ms": pct(times, 50), "p99_ms": pct(times, 99),
        "mb_per_s": round(ok * a.size / secs / 1e6, 1),
    }


class Gate:
    """Holds every client until all have connected (or failed to), then lets
    them send at once."""

    def __init__(self, n):
        self.n, self.arrived = n, 0
        self.all_in, self.go = asyncio.Event(), asyncio.Event()

    async def arrive(self):
        self.arrived += 1
        if self.arrived >= self.n:
            self.all_in.set()
        await self.go.wait()

    async def open(self, timeout):
        """Wait for everyone (at most `timeout`), then open the gate."""
        try:
            await asyncio.wait_for(self.all_in.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        self.go.set()


# ---- slow: N throttled readers -------------------------------------------


async def one_slow(a, src, offset, gate, stats):
    try:
        # A buffer of a few chunks, so each wake-up reads a whole chunk.
        opening = asyncio.open_connection(HOST, a.port, limit=4 * a.chunk)
        reader, writer = await asyncio.wait_for(opening, a.timeout)
    except (OSError, asyncio.TimeoutError) as e:
        count(stats["reasons"], f"connect: {type(e).__name__}")
        await gate.arrive()
        return
    try:
        await gate.arrive()
        start = time.monotonic()
        writer.write(request(a.port, a.path, a.secret, [f"Range: bytes={offset}-"]))
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), a.secs)
        except asyncio.TimeoutError:
            count(stats["reasons"], "no response head within the window")
            return
        status, fields = parse_head(head)
        if status != 206 or fields.get("content-range") != f"bytes {offset}-{len(src) - 1}/{len(src)}":
            count(stats["reasons"], f"status {status} {fields.get('content-range')}")
            return
        await throttled_read(a, reader, src, offset, start, stats)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
        count(stats["reasons"], type(e).__name__)
    finally:
        writer.close()


async def throttled_read(a, reader, src, offset, start, stats):
    """Read at most `rate` bytes a second until the window ends, checking each chunk."""
    got, first = 0, None
    end = start + a.secs
    while time.monotonic() < end and offset + got < len(src):
        try:
            chunk = await asyncio.wait_for(reader.read(a.chunk), max(0.05, end - time.monotonic()))
        except asyncio.TimeoutError:
            break  # the window ended while this reader waited for bytes
        if not chunk:
            count(stats["reasons"], "closed early")
            break
        if first is None:
            first = time.monotonic() - start
            stats["ttfb"].append(first)
        if chunk != src[offset + got : offset + got + len(chunk)]:
            stats["bad"] += 1
            return
        got += len(chunk)
        now = time.monotonic()
        pause = min(start + got / a.rate - now, end - now)
        if pause > 0:
            await asyncio.sleep(pause)
    stats["bytes"] += got
    stats["rates"].append(got / max(1e-9, time.monotonic() - start))
    stats["ok"] += 1
    if got < a.rate * a.secs / 10:
        stats["starved"] += 1


async def slow(a):
    src = open(a.source, "rb").read()
    rng = random.Random(a.seed)
    gate = Gate(a.n)
    stats = {"ok": 0, "bad": 0, "starved": 0, "bytes": 0, "rates": [], "ttfb": [], "reasons": {}}
    tasks = [
        asyncio.create_task(one_slow(a, src, rng.randrange(0, len(src) // 2) | 1, gate, stats))
        for _ in range(a.n)
    ]
    await gate.open(a.timeout)
    start = time.monotonic()
    if a.started:
        open(a.started, "w").close()
    await asyncio.gather(*tasks)
    secs = time.monotonic() - start
    rates = sorted(stats["rates"])
    return {
        "n": a.n, "ok": stats["ok"], "bad_bytes": stats["bad"], "reasons": stats["reasons"],
        # Readers that got under a tenth of what the rate allows.
        "starved": stats["starved"],
        "secs": round(secs, 1), "total_mb_per_s": round(stats["bytes"] / secs / 1e6, 1),
        "reader_mb_per_s_p50": round(rates[len(rates) // 2] / 1e6, 3) if rates else 0,
        "reader_mb_per_s_min": round(rates[0] / 1e6, 3) if rates else 0,
        "ttfb_p50_ms": pct(stats["ttfb"], 50), "ttfb_p99_ms": pct(stats["ttfb"], 99),
    }


# ---- probe: one request at a time, blocking sockets ----------------------


def connect(port, timeout, source=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if source:
        sock.bind((source, 0))
    sock.connect((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_head(sock, buf=b""):
    """The response head and the bytes already read past it."""
    while b"\r\n\r\n" not in buf:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("closed before the response head")
        buf += more
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def get_status(sock, port, path, secret):
    """One status call on an open connection; its whole body is read."""
    sock.sendall(request(port, path, secret))
    head, rest = read_head(sock)
    status, fields = parse_head(head)
    need = int(fields.get("content-length", "0")) - len(rest)
    while need > 0:
        more = sock.recv(min(need, 65536))
        if not more:
            raise ConnectionError("closed inside the body")
        need -= len(more)
    return status


def first_byte(port, path, secret, offset, timeout):
    """A new reader: connect, ask for a range, time to its first body byte."""
    start = time.monotonic()
    sock = connect(port, timeout)
    try:
        sock.sendall(request(port, path, secret, [f"Range: bytes={offset}-{offset + 65535}"]))
        head, rest = read_head(sock)
        while not rest:
            rest = sock.recv(65536)
            if not rest:
                raise ConnectionError("no body")
        status, _ = parse_head(head)
        if status != 206:
            raise ValueError(f"status {status}")
        return time.monotonic() - start
    finally:
        sock.close()


def probe(a):
    """Alternate a status call (keep-alive) and a new reader until the window ends."""
    rng = random.Random(a.seed)
    size = os.path.getsize(a.source)
    status_t, ttfb_t, reasons = [], [], {}
    failed = {"status": 0, "reader": 0}
    begin = time.monotonic()
    end = begin + a.secs
    status_at, ttfb_at = [], []
    sock = None
    for _ in range(a.max_tries):
        if time.monotonic() >= end:
            break
        try:
            sock = sock or connect(a.port, a.timeout)
            t0 = time.monotonic()
            code = get_status(sock, a.port, a.status_path, a.secret)
            if code != 200:
                raise ValueError(f"status {code}")
            status_t.append(time.monotonic() - t0)
            status_at.append(t0 - begin)
        except (OSError, ValueError, ConnectionError) as e:
            count(reasons, f"status: {type(e).__name__} {e}"[:80])
            failed["status"] += 1
            sock = close_quietly(sock)
        try:
            t0 = time.monotonic()
            ttfb_t.append(first_byte(a.port, a.path, a.secret, rng.randrange(0, size - 65536), a.timeout))
            ttfb_at.append(t0 - begin)
        except (OSError, ValueError, ConnectionError) as e:
            count(reasons, f"reader: {type(e).__name__} {e}"[:80])
            failed["reader"] += 1
        time.sleep(a.pause)
    close_quietly(sock)
    return {
        "status_n": len(status_t), "status_p50_ms": pct(status_t, 50), "status_p99_ms": pct(status_t, 99),
        "ttfb_n": len(ttfb_t), "ttfb_p50_ms": pct(ttfb_t, 50), "ttfb_p99_ms": pct(ttfb_t, 99),
        "status_failed": failed["status"], "ttfb_failed": failed["reader"],
        "failures": sum(reasons.values()), "reasons": reasons,
        # The three slowest of each, as [seconds into the window, ms]:
        # when the tail happens.
        "status_slowest": slowest(status_t, status_at),
        "ttfb_slowest": slowest(ttfb_t, ttfb_at),
    }


def slowest(times, at, n=3):
    pairs = sorted(zip(times, at), reverse=True)[:n]
    return [[round(t0, 1), round(t * 1000, 1)] for t, t0 in pairs]


def close_quietly(sock):
    if sock:
        try:
            sock.close()
        except OSError:
            pass
    return None


# ---- status: a new client's status call, tries one after another ---------


def status(a):
    times, reasons = [], {}
    for _ in range(a.tries):
        t0 = time.monotonic()
        sock = None
        try:
            sock = connect(a.port, a.timeout, a.bind)
            code = get_status(sock, a.port, a.path, a.secret)
            if code != 200:
                raise ValueError(f"status {code}")
            times.append(time.monotonic() - t0)
        except (OSError, ValueError, ConnectionError) as e:
            count(reasons, f"{type(e).__name__} {e}"[:80])
        close_quietly(sock)
        time.sleep(0.05)
    return {
        "tries": a.tries, "ok": len(times), "failed": a.tries - len(times),
        "p50_ms": pct(times, 50), "p99_ms": pct(times, 99), "reasons": reasons,
    }


# ---- idle: N connections that send nothing --------------------------------


async def hold(port, source, closed, timeout):
    """One idle connection: connect, send nothing, note when the server closes it."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        # The port is chosen at connect, not at bind: bind's own search for a
        # free port grows slow with thousands of sockets bound.
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (HOST, port)), timeout)
        reader, writer = await asyncio.open_connection(sock=sock)
    except (OSError, asyncio.TimeoutError) as e:
        count(closed["connect"], type(e).__name__)
        return None
    return reader, writer


async def watch(reader, closed, start):
    try:
        await reader.read(1)
    except OSError:
        pass
    closed["times"].append(time.monotonic() - start)


async def idle(a):
    sources = [f"127.0.0.{i + 1}" for i in range(a.sources)]
    closed = {"connect": {}, "times": []}
    conns, watchers = [], []
    start = time.monotonic()
    # Batches, so the listener's backlog is not the thing being measured.
    for batch in range(0, a.n, a.batch):
        got = await asyncio.gather(*(
            hold(a.port, sources[i % len(sources)], closed, a.timeout)
            for i in range(batch, min(a.n, batch + a.batch))
        ))
        for c in got:
            if c:
                conns.append(c)
                watchers.append(asyncio.create_task(watch(c[0], closed, start)))
    opened = time.monotonic() - start
    await asyncio.sleep(1)
    open(a.ready, "w").write(json.dumps({"connected": len(conns), "closed_by_server": len(closed["times"])}))
    deadline = time.monotonic() + a.max_hold
    while not os.path.exists(a.stop) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    still = len(conns) - len(closed["times"])
    for w in watchers:
        w.cancel()
    for _, writer in conns:
        writer.close()
    return {
        "n": a.n, "connected": len(conns), "connect_failed": closed["connect"],
        "open_secs": round(opened, 1), "closed_by_server": len(closed["times"]),
        "still_open_at_stop": still, "held_secs": round(time.monotonic() - start, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret", default="")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--seed", type=int, default=1)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("ranges")
    r.add_argument("--path", required=True)
    r.add_argument("--source", required=True)
    r.add_argument("--n", type=int, default=1000)
    r.add_argument("--size", type=int, default=1 << 20)
    s = sub.add_parser("slow")
    s.add_argument("--path", required=True)
    s.add_argument("--source", required=True)
    s.add_argument("--n", type=int, default=1000)
    s.add_argument("--rate", type=float, default=1e6, help="bytes a second per reader")
    s.add_argument("--secs", type=float, default=20)
    s.add_argument("--chunk", type=int, default=256 << 10)
    s.add_argument("--started", help="a file made when the readers start")
    q = sub.add_parser("probe")
    q.add_argument("--path", required=True, help="the file, read by new readers")
    q.add_argument("--status-path", required=True)
    q.add_argument("--source", required=True)
    q.add_argument("--secs", type=float, default=14)
    q.add_argument("--pause", type=float, default=0.05)
    q.add_argument("--max-tries", type=int, default=2000)
    i = sub.add_parser("idle")
    i.add_argument("--n", type=int, default=20000)
    i.add_argument("--sources", type=int, default=1, help="spread over 127.0.0.1..N")
    i.add_argument("--batch", type=int, default=500)
    i.add_argument("--ready", required=True, help="a file made once all are connected")
    i.add_argument("--stop", required=True, help="a file whose appearance ends the hold")
    i.add_argument("--max-hold", type=float, default=120)
    t = sub.add_parser("status")
    t.add_argument("--path", required=True)
    t.add_argument("--tries", type=int, default=20)
    t.add_argument("--bind", default=None, help="the source address")
    a = p.parse_args()
    if a.cmd == "ranges":
        out = asyncio.run(ranges(a))
    elif a.cmd == "slow":
        out = asyncio.run(slow(a))
    elif a.cmd == "idle":
        out = asyncio.run(idle(a))
    elif a.cmd == "probe":
        out = probe(a)
    else:
        out = status(a)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
