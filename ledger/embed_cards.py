"""Static embed cards for ``ledger publish`` (docs/site.md, "Embedding a claim").

Each claim's card is the bytes the site serves at ``/claim/<slug>/embed``,
rendered by the bundle's own Datasette app (same template, same plugin), as
``embed/<slug>.html``. With the site's base URL configured
(``plugins.fact-ledger.base_url`` in the bundle's metadata.json), the card
loads its script and style from the site and fetches its proofs there (the
site answers those with ``Access-Control-Allow-Origin: *``), so a desk can
host the file on any server, or paste it into a CMS, and it still checks
itself in the reader's browser. Without a base URL a card cannot name the
site, so none is written (``write_embed_cards`` returns 0).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ledger.errors import LedgerError

EMBED_DIR = "embed"


def bundle_base_url(bundle: Path):
    """The base URL the bundle's metadata.json gives the site, or None."""
    metadata = json.loads((bundle / "metadata.json").read_text("utf-8"))
    return metadata.get("plugins", {}).get("fact-ledger", {}).get("base_url"), metadata


def _claim_slugs(db_path: Path) -> list[str]:
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return [row[0].split(":", 1)[1] for row in conn.execute("select id from claims order by rowid")]
    finally:
        conn.close()


def write_embed_cards(bundle, make_app) -> int:
    """Write ``embed/<slug>.html`` for every claim of the bundle at ``bundle``; the number written.

    ``make_app(bundle, metadata)`` is the bundle's Datasette app (ledger/site.py: the one module that imports Datasette).
    """
    bundle = Path(bundle)
    base_url, metadata = bundle_base_url(bundle)
    if not base_url:
        return 0
    app = make_app(bundle, metadata)
    out = bundle / EMBED_DIR
    out.mkdir(exist_ok=True)
    slugs = _claim_slugs(bundle / "ledger.db")

    async def render_all():
        for slug in slugs:
            response = await app.client.get(f"/claim/{slug}/embed")
            if response.status_code != 200:
                raise LedgerError(f"the embed card of claim:{slug} did not render (HTTP {response.status_code})")
            (out / f"{slug}.html").write_bytes(response.content)

    # A thread of its own: the caller may already run an event loop (asyncio.run refuses to nest).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, render_all()).result()
    return len(slugs)
