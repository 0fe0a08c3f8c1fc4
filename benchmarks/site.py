"""4. The site: response times of ``ledger serve`` (Datasette) on the large ledger, page by page.

Each page is requested once to warm it (templates, statement cache), then
``requests`` times; p50 and p95 are reported with any HTTP errors.
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import sys
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
def served(ledger_path: Path) -> Iterator[str]:
    """``ledger serve`` on a free port, once it answers; yields its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "ledger", "serve", str(ledger_path), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(base + "/-/ledger.json")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ledger serve did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def pages(db: str, size: int) -> dict:
    """Each measured page: its name and a function giving the path to request next."""
    rnd = random.Random(4)
    claim_count = size - 3
    return {
        "home": lambda: "/",
        "claim page": lambda: f"/claim/bench-{rnd.randrange(claim_count)}",
        "table page": lambda: f"/{db}/claims",
        "facet": lambda: f"/{db}/claims?_facet=language&_facet=verdict",
        # The search page (newest first, then best match first, and a facet value), with its facets...
        "search, rare word": lambda: f"/search?q={RARE_TERM}",
        "search, word in every claim": lambda: f"/search?q={COMMON_TERM}",
        "search, word in every claim, best match first": lambda: f"/search?q={COMMON_TERM}&sort=best",
        "search, Arabic word with folding": lambda: f"/search?q={quote(ARABIC_TERM)}",
        "search, word in every claim, in Arabic claims": lambda: f"/search?q={COMMON_TERM}&language=ar",
        # ...and the claims table's own search with its facets, which counts,
        # facets and sorts every match (slow on a word in every claim).
        "table search, common term": lambda: f"/{db}/claims?_search={COMMON_TERM}",
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
