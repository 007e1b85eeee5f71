"""A small HTTP/1.1 load generator for bench/click_redirect.py (standard library only).

``concurrency`` connections (asyncio), each sending GET requests one after the other,
keep-alive when the server allows it (Odoo's prefork workers answer HTTP/1.0 and close
after each response: the client then reconnects, and the connect time is part of the
request's latency). Redirects are not followed. Each request takes a random path from
the file (one path a line), drawn with a seeded generator, so two runs with the same
seed and path count ask for the same sequence of indexes.

Requests completed during the first ``warmup`` seconds are not measured; those
completed in the ``duration`` seconds after are. One JSON line on stdout:

    {"requests": measured, "rps": ..., "p50_ms": ..., "p99_ms": ..., "max_ms": ...,
     "statuses": {status: count over the whole run}, "errors": count, "total": count,
     "slow_1s": measured requests that took a second or more, "client_cpu_s": ...}

    _click_client.py HOST PORT PATHS_FILE [--seed N] [--concurrency 20]
                     [--warmup 3] [--duration 15] [--user-agent UA] [--pace 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter

TIMEOUT = 30.0


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, int(round(share * len(sorted_values))) - 1))
    return sorted_values[index]


class Load:
    def __init__(self, host, port, paths, seed, user_agent, pace=0.0):
        self.host, self.port, self.pace = host, port, pace
        self.paths = paths
        self.rng = random.Random(seed)
        self.head = (
            f"Host: {host}:{port}\r\nUser-Agent: {user_agent}\r\n"
            "Accept: text/html,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode()
        self.results: list[tuple[float, float, int]] = []  # (end, seconds, status)
        self.statuses: Counter = Counter()
        self.errors = 0
        self.first_error = None

    async def request(self, conn, path):
        """One request on ``conn`` (reader, writer), opened if None; returns (status,
        connection to reuse or None)."""
        if conn is None:
            conn = await asyncio.open_connection(self.host, self.port)
        reader, writer = conn
        writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip().lower()
        keep = version == "HTTP/1.1" and headers.get("connection") != "close"
        if version == "HTTP/1.0" and headers.get("connection") == "keep-alive":
            keep = True
        if "content-length" in headers:
            await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if not size:
                    break
        else:
            await reader.read()  # until the server closes
            keep = False
        if not keep:
            writer.close()
            conn = None
        return int(status), conn

    async def worker(self, deadline):
        conn = None
        while time.perf_counter() < deadline:
            path = self.paths[self.rng.randrange(len(self.paths))]
            started = time.perf_counter()
            try:
                status, conn = await asyncio.wait_for(self.request(conn, path), TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
                self.errors += 1
                self.first_error = self.first_error or repr(e)
                if conn is not None:
                    conn[1].close()
                conn = None
                await asyncio.sleep(0.05)
                continue
            ended = time.perf_counter()
            self.results.append((ended, ended - started, status))
            self.statuses[status] += 1
            if self.pace:
                await asyncio.sleep(self.pace)  # an idle server: one click now and then
        if conn is not None:
            conn[1].close()

    async def run(self, concurrency, warmup, duration):
        start = time.perf_counter()
        deadline = start + warmup + duration
        await asyncio.gather(*(self.worker(deadline) for _ in range(concurrency)))
        begin, end = start + warmup, deadline
        measured = sorted(s for t, s, _status in self.results if begin <= t <= end)
        return {
            "requests": len(measured),
            "rps": round(len(measured) / duration, 1),
            "p50_ms": round(percentile(measured, 0.50) * 1000, 1),
            "p99_ms": round(percentile(measured, 0.99) * 1000, 1),
            "max_ms": round((measured[-1] if measured else 0) * 1000, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "first_error": self.first_error,
            "total": len(self.results),
            "slow_1s": sum(1 for s in measured if s >= 1.0),
            "client_cpu_s": round(time.process_time(), 2),
        }


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("paths_file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--user-agent", default="Mozilla/5.0")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between requests")
    args = parser.parse_args(argv)
    with open(args.paths_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    load = Load(args.host, args.port, paths, args.seed, args.user_agent, args.pace)
    result = asyncio.run(load.run(args.concurrency, args.warmup, args.duration))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
