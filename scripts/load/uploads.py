#!/usr/bin/env python3
"""Small-file upload load for scripts/bench-metrics.sh, on the standard
library only.

N uploads of SIZE random bytes each (every body different, so nothing is
deduplicated) over the native API, C at a time, each worker on a keep-alive
connection of its own; with --scrape-every S, one more connection asks for
/metrics every S seconds while the uploads run. Prints one JSON object:
uploads, seconds, uploads per second, scrapes made and the largest scrape.

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


async def worker(args, tag, queue):
    reader, writer = await asyncio.open_connection(HOST, args.port)
    while True:
        try:
            i = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        head = upload_head(args.port, args.secret, f"{tag}-{i}", args.size)
        status, body = await exchange(reader, writer, head, os.urandom(args.size))
        if status != 201:
            raise SystemExit(f"upload {i} answered {status}: {body[:200]!r}")
    writer.close()


async def scraper(args, stop, seen):
    reader, writer = await asyncio.open_connection(HOST, args.port)
    head = (
        f"GET /metrics HTTP/1.1\r\nHost: {HOST}:{args.port}\r\n"
        f"Authorization: Bearer {args.secret}\r\n\r\n"
    ).encode()
    while not stop.is_set():
        status, body = await exchange(reader, writer, head)
        if status != 200 or not body.endswith(b"# EOF\n"):
            raise SystemExit(f"/metrics answered {status}")
        seen.append(len(body))
        try:
            await asyncio.wait_for(stop.wait(), args.scrape_every)
        except asyncio.TimeoutError:
            pass
    writer.close()


async def main(args):
    queue = asyncio.Queue()
    for i in range(args.n):
        queue.put_nowait(i)
    stop, seen = asyncio.Event(), []
    scraping = None
    if args.scrape_every:
        scraping = asyncio.create_task(scraper(args, stop, seen))
    start = time.perf_counter()
    await asyncio.gather(*(worker(args, args.tag, queue) for _ in range(args.c)))
    seconds = time.perf_counter() - start
    stop.set()
    if scraping:
        await scraping
    print(json.dumps({
        "uploads": args.n,
        "seconds": round(seconds, 3),
        "per_sec": round(args.n / seconds, 1),
        "scrapes": len(seen),
        "scrape_bytes": max(seen, default=0),
    }))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--n", type=int, default=2000, help="uploads")
    p.add_argument("--c", type=int, default=8, help="uploads at once")
    p.add_argument("--size", type=int, default=4096, help="bytes per upload")
    p.add_argument("--tag", default="u", help="names are <tag>-<i>")
    p.add_argument("--scrape-every", type=float, default=0, help="seconds; 0: no scrapes")
    asyncio.run(main(p.parse_args()))
