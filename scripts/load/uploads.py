#!/usr/bin/env python3
"""Small-file upload load for scripts/bench-metrics.sh, on the standard
library only.

Uploads of SIZE random bytes each (every body different, so nothing is
deduplicated) over the native API, C at a time, each worker on a keep-alive
connection of its own, without a pause for WINDOWS windows of SECS seconds.
The windows alternate between no scrape and /metrics asked every second on
one more connection, in the order off, on, on, off, off, on, on, off, ...
(ABBA: a drift of the machine over the run falls on both kinds alike).
Prints one JSON object: each window's kind and uploads per second, and the
scrapes made, their size and their time.

Raw asyncio streams, as in loadclient.py: nothing pools or retries behind
our back.
"""

import argparse
import asyncio
import json
import os
import time

HOST = "127.0.0.1"


async def exchange(reader, writer, head, body=b""):
    """Sends one request, reads its answer; returns (status, body)."""
    writer.write(head + body)
    await writer.drain()
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


def upload_head(port, secret, name, size):
    return (
        f"POST /api/v1/upload?name={name} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {secret}\r\nContent-Length: {size}\r\n\r\n"
    ).encode()


async def worker(args, counter, stop):
    reader, writer = await asyncio.open_connection(HOST, args.port)
    while not stop.is_set():
        i = counter[0]
        counter[0] += 1
        head = upload_head(args.port, args.secret, f"{args.tag}-{i}", args.size)
        status, body = await exchange(reader, writer, head, os.urandom(args.size))
        if status != 201:
            raise SystemExit(f"upload {i} answered {status}: {body[:200]!r}")
        counter[1] += 1
    writer.close()


async def scraper(args, scraping, stop, seen):
    """Asks for /metrics every second while `scraping` is set."""
    reader, writer = await asyncio.open_connection(HOST, args.port)
    head = (
        f"GET /metrics HTTP/1.1\r\nHost: {HOST}:{args.port}\r\n"
        f"Authorization: Bearer {args.secret}\r\n\r\n"
    ).encode()
    while not stop.is_set():
        if not scraping.is_set():
            await asyncio.sleep(0.05)
            continue
        t0 = time.perf_counter()
        status, body = await exchange(reader, writer, head)
        if status != 200 or not body.endswith(b"# EOF\n"):
            raise SystemExit(f"/metrics answered {status}")
        seen.append((len(body), time.perf_counter() - t0))
        await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))
    writer.close()


async def main(args):
    counter, stop, scraping, seen = [0, 0], asyncio.Event(), asyncio.Event(), []
    tasks = [asyncio.create_task(worker(args, counter, stop)) for _ in range(args.c)]
    tasks.append(asyncio.create_task(scraper(args, scraping, stop, seen)))
    windows = []
    for w in range(args.windows):
        on = w % 4 in (1, 2)
        (scraping.set if on else scraping.clear)()
        done, t0 = counter[1], time.perf_counter()
        await asyncio.sleep(args.secs)
        rate = (counter[1] - done) / (time.perf_counter() - t0)
        windows.append({"scraped": on, "per_sec": round(rate, 1)})
    stop.set()
    await asyncio.gather(*tasks)
    times = sorted(t for _, t in seen)
    print(json.dumps({
        "uploads": counter[1],
        "windows": windows,
        "scrapes": len(seen),
        "scrape_bytes": max((n for n, _ in seen), default=0),
        "scrape_ms_median": round(times[len(times) // 2] * 1000, 2) if times else None,
    }))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--windows", type=int, default=20, help="windows, alternating ABBA")
    p.add_argument("--secs", type=float, default=10, help="seconds a window")
    p.add_argument("--c", type=int, default=8, help="uploads at once")
    p.add_argument("--size", type=int, default=4096, help="bytes per upload")
    p.add_argument("--tag", default="u", help="names are <tag>-<i>")
    asyncio.run(main(p.parse_args()))
