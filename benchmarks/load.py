"""10. The site under load: CLIENTS concurrent clients for SECONDS against one ``ledger serve`` on 127.0.0.1.

The issue's mix: 60% claim pages (random claims), 15% ``/search`` (a common,
a rare and an Arabic word), 10% the home page, 10% proofs and tiles, 5%
Datasette table pages (the claims table, its facets and its ``?_search=``).
Each client sends its next request as soon as the last one is answered, on
its own keep-alive connection. Reported: requests, errors (anything but a
200, or no answer), p50/p95/p99 of the response times overall and per kind,
the server's CPU seconds (all its processes) and its resident memory after
the run; per kind, the bytes a response carries and the share of requests a
shared cache (a CDN) would have answered from the run's own Cache-Control
headers (``cdn_hits``: each 200 kept for its max-age, the same requests
replayed in order).

Clients and server share this machine's cores, as in the issue's figures;
the clients are one asyncio process with a plain HTTP/1.1 client, whose CPU
time is reported beside the server's.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import re
import time
from pathlib import Path
from urllib.parse import quote

from benchmarks.site import _percentile, served_process
from benchmarks.workload import ARABIC_TERM, COMMON_TERM, RARE_TERM

CLIENTS = 50
SECONDS = 30.0
# (kind, share of requests)
MIX = (("claim page", 60), ("search", 15), ("home", 10), ("proof or tile", 10), ("table page", 5))


def _tile_paths(size: int) -> list[str]:
    """C2SP tlog-tiles paths (docs/log.md) of full tiles at levels 0 and 1 and of full entry bundles, spread over the log."""
    from ledger.tiles import ENTRIES, Tile

    paths = []
    for level, count in ((0, size // 256), (1, size // 65536), (ENTRIES, size // 256)):
        paths += [f"/-/tlog/{Tile(level, n).path}" for n in range(0, count, max(1, count // 50))]
    return paths


def request_paths(db: str, size: int, seed: int) -> dict:
    """Each kind of request: a function giving the next path of that kind."""
    rnd = random.Random(seed)
    first = 3  # entries 0-2 are the log key, the editor's key and the source; claim i is "bench-i" (workload.build_big)
    tiles = _tile_paths(size) or ["/-/tlog/checkpoint"]
    searches = [f"/search?q={COMMON_TERM}", f"/search?q={RARE_TERM}", f"/search?q={quote(ARABIC_TERM)}"]
    tables = [f"/{db}/claims", f"/{db}/claims?_facet=language&_facet=verdict", f"/{db}/claims?_search={COMMON_TERM}", f"/{db}/sources"]
    return {
        "claim page": lambda: f"/claim/bench-{rnd.randrange(first, size)}",
        "search": lambda: rnd.choice(searches),
        "home": lambda: "/",
        "proof or tile": lambda: (f"/-/proof/inclusion/{rnd.randrange(size)}.json" if rnd.random() < 0.5 else rnd.choice(tiles)),
        "table page": lambda: rnd.choice(tables),
    }


def _cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes (from /proc; 0 for one that is gone)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _rss_mb(pids) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return total / 1024


def _server_pids(pid: int) -> list[int]:
    """The server's process and its children (the workers of ``--workers``)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid] + ([int(p) for p in children.read_text().split()] if children.exists() else [])


async def _read_response(reader) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 response: status, headers (lower-case names), body (Content-Length or chunked)."""
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            chunks.append((await reader.readexactly(size + 2))[:-2])
        await reader.readline()
        return status, headers, b"".join(chunks)
    return status, headers, await reader.read()


async def _exchange(connection, host, port, path):
    reader, writer = connection
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("ascii"))
    return await asyncio.wait_for(_read_response(reader), 60)


async def _client(base, kinds, weights, paths, deadline, results, seed):
    """One client: a keep-alive connection (a new one after an error), one request at a time.

    A plain HTTP/1.1 client on asyncio streams: httpx cost the clients as much
    CPU per request as the server spent answering it, on the same two cores.
    As any HTTP client does, a request on a kept-alive connection that the
    server closed meanwhile is sent again once on a new connection.
    """
    host, port = base.removeprefix("http://").split(":")
    rnd = random.Random(seed)
    connection = None
    while time.monotonic() < deadline:
        kind = rnd.choices(kinds, weights)[0]
        path, started = paths[kind](), time.perf_counter()
        size, max_age, failure = 0, 0, None
        for attempt in (1, 2):
            reused = connection is not None
            try:
                connection = connection or await asyncio.open_connection(host, int(port))
                status, headers, body = await _exchange(connection, host, port, path)
                size, max_age = len(body), _max_age(headers.get("cache-control", ""))
                failure = None if status == 200 else f"HTTP {status}"
                if headers.get("connection", "").lower() == "close":
                    connection[1].close()
                    connection = None
                break
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as e:
                failure, connection = type(e).__name__, None
                if not reused:
                    break
        results.append((kind, (time.perf_counter() - started) * 1000, failure is None, path, started, size, max_age, failure))
    if connection:
        connection[1].close()


async def _run(base, paths, clients, seconds):
    kinds, weights = [k for k, _ in MIX], [w for _, w in MIX]
    results: list = []
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_client(base, kinds, weights, paths, deadline, results, seed) for seed in range(clients)))
    return results


def _max_age(cache_control: str) -> int:
    found = re.search(r"(?:^|[ ,])max-age=(\d+)", cache_control)
    return 0 if found is None or "private" in cache_control or "no-store" in cache_control else int(found[1])


def cdn_hits(results) -> tuple[int, int]:
    """(hits, requests) of a shared cache that kept each 200 for its max-age, replaying this run's requests in order."""
    fresh_until: dict = {}
    hits = 0
    for _, _, ok, path, started, _, max_age, _ in sorted(results, key=lambda r: r[4]):
        if fresh_until.get(path, -1.0) >= started:
            hits += 1
        elif ok and max_age:
            fresh_until[path] = started + max_age
    return hits, len(results)


def _summary(results, seconds) -> dict:
    times = sorted(r[1] for r in results)
    out = {"requests": len(results), "errors": sum(1 for r in results if not r[2]), "per_second": len(results) / seconds,
           "p50": _percentile(times, 50), "p95": _percentile(times, 95), "p99": _percentile(times, 99), "kinds": {}}
    for kind, _ in MIX:
        mine = [r for r in results if r[0] == kind]
        if mine:
            ms = sorted(r[1] for r in mine)
            hits, _ = cdn_hits(mine)
            out["kinds"][kind] = {"requests": len(mine), "p50": _percentile(ms, 50), "p99": _percentile(ms, 99),
                                  "errors": sum(1 for r in mine if not r[2]), "bytes": sum(r[5] for r in mine) / len(mine),
                                  "cdn_hit_ratio": hits / len(mine)}
    hits, total = cdn_hits(results)
    out["cdn_hit_ratio"] = hits / total if total else 0.0
    out["error_reasons"] = dict(collections.Counter(r[7] for r in results if not r[2]))
    return out


def bench_load(ledger_path: Path, size: int, clients: int = CLIENTS, seconds: float = SECONDS, workers: int = 1) -> dict:
    """The load test against ``ledger serve --workers WORKERS``; the figures as a dict."""
    with served_process(ledger_path, workers) as (base, server):
        paths = request_paths(ledger_path.stem, size, seed=17)
        asyncio.run(_run(base, paths, 5, 3))  # warm: templates, statement caches, the page cache of the file
        pids = _server_pids(server.pid)
        cpu_before, client_before, started = _cpu_seconds(pids), time.process_time(), time.perf_counter()
        results = asyncio.run(_run(base, paths, clients, seconds))
        wall = time.perf_counter() - started
        out = _summary(results, wall)
        out.update(server_cpu_seconds=_cpu_seconds(pids) - cpu_before, client_cpu_seconds=time.process_time() - client_before,
                   load_average=os.getloadavg(), rss_mb=_rss_mb(_server_pids(server.pid)),
                   clients=clients, seconds=seconds, workers=workers, wall=wall)
    return out
