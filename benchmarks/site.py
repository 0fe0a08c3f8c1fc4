"""4. The site: response times of ``ledger serve`` (Datasette) on the large ledger, page by page.

Each page is requested once to warm it (templates, statement cache), then
``requests`` times; p50 and p95 are reported with any HTTP errors.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

from urllib.parse import quote

from benchmarks.workload import ARABIC_TERM, COMMON_TERM, RARE_TERM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, errors: list | None = None) -> float:
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
    except urllib.error.HTTPError as e:  # e.g. a query over Datasette's time limit: counted, and shown
        if errors is None:
            raise
        errors.append(e.code)
    return (time.perf_counter() - t) * 1000


@contextlib.contextmanager
def served(ledger_path: Path, workers: int = 1) -> Iterator[str]:
    """``ledger serve`` on a free port, once it answers; yields its base URL."""
    with served_process(ledger_path, workers) as (base, _):
        yield base


@contextlib.contextmanager
def served_process(ledger_path: Path, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen]]:
    """``ledger serve [--workers N]`` on a free port, once it answers; yields its base URL and process."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "ledger", "serve", str(ledger_path), "--port", str(port)]
    # Its log (one line a request) goes to a file: a pipe nobody reads would fill and stop the server.
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(command + (["--workers", str(workers)] if workers != 1 else []),
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                _get(base + "/-/ledger.json")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"ledger serve did not start: {log.read().decode()[-2000:]}")
                time.sleep(0.2)
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def pages(db: str, size: int) -> dict:
    """Each measured page: its name and a function giving the path to request next."""
    rnd = random.Random(4)
    first_claim = 3  # entries 0-2 are the keys and the source; claim i is "bench-i" (workload.build_big)
    # Each request of these pages is a new URL (an argument Datasette ignores), so
    # each is rendered: the plugin's response cache would answer a repeated URL
    # from memory (docs/site.md "Caching"); the load test measures that.
    fresh = (f"_u={n}" for n in itertools.count())
    return {
        "home": lambda: f"/?{next(fresh)}",
        "claim page": lambda: f"/claim/bench-{rnd.randrange(first_claim, size)}",
        "table page": lambda: f"/{db}/claims?{next(fresh)}",
        "facet": lambda: f"/{db}/claims?_facet=language&_facet=verdict&{next(fresh)}",
        # The search page (newest first, then best match first, and a facet value), with its facets...
        "search, rare word": lambda: f"/search?q={RARE_TERM}&{next(fresh)}",
        "search, word in every claim": lambda: f"/search?q={COMMON_TERM}&{next(fresh)}",
        "search, word in every claim, best match first": lambda: f"/search?q={COMMON_TERM}&sort=best&{next(fresh)}",
        "search, Arabic word with folding": lambda: f"/search?q={quote(ARABIC_TERM)}&{next(fresh)}",
        "search, word in every claim, in Arabic claims": lambda: f"/search?q={COMMON_TERM}&language=ar&{next(fresh)}",
        # ...and the claims table's own search with its facets, which counts,
        # facets and sorts every match (slow on a word in every claim).
        "table search, common term": lambda: f"/{db}/claims?_search={COMMON_TERM}&{next(fresh)}",
    }


def bench_site(ledger_path: Path, size: int, requests: int) -> list[dict]:
    out = []
    with served(ledger_path) as base:
        for name, path in pages(ledger_path.stem, size).items():
            errors = []
            _get(base + path(), errors)  # warm the page (templates, statement cache)
            errors.clear()
            times = sorted(_get(base + path(), errors) for _ in range(requests))
            out.append({"page": name, "example": path(), "p50": _percentile(times, 50), "p95": _percentile(times, 95),
                        "errors": errors})
    return out


def _percentile(sorted_values, p):
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]
