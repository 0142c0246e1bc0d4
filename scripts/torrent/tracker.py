#!/usr/bin/env python3
"""A minimal BitTorrent HTTP tracker for the torrent benchmark (BEP 3 and
BEP 23): every peer that announces an info hash is handed the others, in
compact form. In memory, loopback only; it prints its port when it listens.

    python3 tracker.py [port]
"""
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# info hash -> {(ip, port): last seen}
SWARMS = {}


def bencode(value):
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(value))


class Announce(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query, keep_blank_values=True, encoding="latin-1")
        if url.path != "/announce" or "info_hash" not in query or "port" not in query:
            return self.answer({"failure reason": "announce with info_hash and port"})
        info_hash = query["info_hash"][0].encode("latin-1")
        me = (self.client_address[0], int(query["port"][0]))
        swarm = SWARMS.setdefault(info_hash, {})
        if query.get("event", [""])[0] == "stopped":
            swarm.pop(me, None)
        else:
            swarm[me] = time.time()
        peers = b"".join(
            socket.inet_aton(ip) + port.to_bytes(2, "big")
            for (ip, port) in swarm
            if (ip, port) != me
        )
        self.answer({"interval": 5, "min interval": 1, "peers": peers})

    def answer(self, value):
        body = bencode(value)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Announce)
    print(server.server_address[1], flush=True)
    server.serve_forever()
