"""10. Found and shared (issue 18): what the JSON-LD and meta add to a claim page, share cards made and served,
a sitemap part, a page of the ClaimReview feed, the Atom feed.

On a copy of the big ledger with ``reviews`` of its claims reviewed (a ClaimReview each), through the real
Datasette app in-process (its ASGI client, as the tests drive it), with a configured base URL:

- what issue 18 adds to a claim page: ``claim_share`` (the ClaimReview node, built by the export's
  ``claimreview_node``, the meta values, the card's name) plus rendering ``_ledger_share_meta.html``,
  median over ``samples`` reviewed claims (target: ≤ 2 ms at 1M claims);
- the claim page itself, whole, for scale;
- a share card: made (first request, Pillow) and served from the cache (later requests; target ≤ 5 ms);
- a sitemap part of 50,000 URLs (or the whole sitemap below that), a page of /-/claimreview.json and /-/feed.atom.

    python -m benchmarks.share --size 100000 --reviews 2000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

from benchmarks import workload

BASE = "https://factcheck.example.org"


def add_reviews(path: Path, count: int) -> list[str]:
    """Review the first ``count`` claims (one batch, one checkpoint); their slugs."""
    import sqlite3

    from ledger.api import Ledger

    with sqlite3.connect(path) as conn:
        slugs = [row[0].split(":", 1)[1] for row in conn.execute("select id from claims order by rowid limit ?", (count,))]
    conn.close()
    ledger = Ledger.open(path)
    records = [{"kind": "review", "id": f"review:{slug}", "version": 1, "created": workload.CREATED,
                "claim": f"claim:{slug}", "rating": {"label": "False", "normalized": "false"},
                "explanation": "The official figures say otherwise.", "evidence": ["source:bench"]} for slug in slugs]
    ledger.append(records, workload.signer(workload.EDITOR), workload.signer(workload.ORIGIN))
    ledger.close()
    return slugs


def make_site(path: Path):
    """The site as ``ledger serve`` configures it, with ``plugins.fact-ledger.base_url`` set."""
    from datasette.app import Datasette

    from ledger.site import SETTINGS, STATIC_MOUNT, publish_dir, site_metadata

    metadata = site_metadata(path)
    metadata.setdefault("plugins", {}).setdefault("fact-ledger", {})["base_url"] = BASE
    pub = publish_dir()
    return Datasette(immutables=[str(path)], metadata=metadata, plugins_dir=str(pub), template_dir=str(pub / "templates"),
                     static_mounts=[(STATIC_MOUNT, str(pub / "static"))], settings=dict(SETTINGS))


def _plugin():
    from datasette.plugins import pm

    return next(plugin for _, plugin in pm.list_name_plugin() if hasattr(plugin, "claim_share"))


def _ms(values) -> dict:
    values = sorted(values)
    return {"p50": statistics.median(values) * 1000, "p95": values[int(0.95 * (len(values) - 1))] * 1000}


async def _added_cost(ds, slugs: list) -> dict:
    """``claim_share`` and the meta include, per reviewed claim: what issue 18 adds to a claim page."""
    from datasette.utils.asgi import Request

    plugin = _plugin()
    site = await plugin.ledger_site(ds)
    template = ds.jinja_env.get_template("_ledger_share_meta.html")
    times = []
    for slug in slugs:
        claim = await plugin._record_row(site.db, "claims", f"claim:{slug}")
        verdict = await plugin._record_row(site.db, "reviews", claim["review_id"])
        request = Request.fake(f"/claim/{slug}")
        t = time.perf_counter()
        share = await plugin.claim_share(ds, request, site, claim, verdict)
        await template.render_async(share["share"])
        times.append(time.perf_counter() - t)
    return _ms(times)


async def _get_times(ds, paths) -> dict:
    times = []
    for path in paths:
        t = time.perf_counter()
        response = await ds.client.get(path)
        times.append(time.perf_counter() - t)
        assert response.status_code == 200, (path, response.status_code)
    return _ms(times)


async def _measure(ds, size: int, slugs: list) -> dict:
    r = {"added": await _added_cost(ds, slugs)}
    r["claim_page"] = await _get_times(ds, [f"/claim/{slug}" for slug in slugs])
    cards = []
    for slug in slugs[:20]:
        page = (await ds.client.get(f"/claim/{slug}")).text
        cards.append(page.split('property="og:image" content="', 1)[1].split('"', 1)[0].removeprefix(BASE))
    r["card_made"] = await _get_times(ds, cards)
    r["card_cached"] = await _get_times(ds, cards * max(1, len(slugs) // len(cards)))
    r["card_bytes"] = len((await ds.client.get(cards[0])).content)
    sitemap_path = "/sitemap-claims-1.xml" if size > 50_000 else "/sitemap.xml"
    r["sitemap"] = await _get_times(ds, [sitemap_path] * 3)
    r["sitemap_path"] = sitemap_path
    r["claimreview_feed"] = await _get_times(ds, ["/-/claimreview.json", f"/-/claimreview.json?after={len(slugs) // 2}"] * 5)
    r["atom"] = await _get_times(ds, ["/-/feed.atom"] * 10)
    return r


def bench_share(big_path: Path, directory: Path, size: int, reviews: int = 2000, samples: int = 200) -> dict:
    path = directory / "share.db"
    shutil.copyfile(big_path, path)
    slugs = add_reviews(path, reviews)
    step = max(1, len(slugs) // samples)
    r = asyncio.run(_measure(make_site(path), size, slugs[::step][:samples]))
    r.update(size=size, reviews=reviews, samples=samples)
    return r


def rows(s: dict) -> list[tuple]:
    at = f"at {s['size']:,} claims ({s['reviews']:,} reviewed)"
    target_note = " (at 1M)" if s["size"] < 1_000_000 else ""
    # The report's verdict words (benchmarks/report.py): "met", "**missed**", or "—" where no target applies here.
    ok = "—" if target_note else ("met" if s["added"]["p50"] <= 2 else "**missed**")
    cached_ok = "met" if s["card_cached"]["p50"] <= 5 else "**missed**"
    return [
        ("10. share", f"JSON-LD + meta added to a claim page {at}", f"p50 {s['added']['p50']:.2f} ms, p95 {s['added']['p95']:.2f} ms",
         f"whole page p50 {s['claim_page']['p50']:.1f} ms", "", "≤ 2 ms" + target_note, ok),
        ("10. share", "share card made (first request)", f"p50 {s['card_made']['p50']:.0f} ms ({s['card_bytes']:,} bytes)", "", "", "", "—"),
        ("10. share", "share card served from the cache", f"p50 {s['card_cached']['p50']:.2f} ms, p95 {s['card_cached']['p95']:.2f} ms",
         "", "", "≤ 5 ms", cached_ok),
        ("10. share", f"`{s['sitemap_path']}` {at}", f"p50 {s['sitemap']['p50']:.0f} ms", "", "", "", "—"),
        ("10. share", "a page of `/-/claimreview.json` (100 reviews)", f"p50 {s['claimreview_feed']['p50']:.0f} ms", "", "", "", "—"),
        ("10. share", "`/-/feed.atom` (50 entries)", f"p50 {s['atom']['p50']:.1f} ms", "", "", "", "—"),
    ]


def main(argv=None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m benchmarks.share", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--reviews", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ledger-bench-share-") as tmp:
        t = time.perf_counter()
        big, _ = workload.build_big(args.size, Path(tmp))
        print(f"built {args.size:,} entries in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        s = bench_share(big, Path(tmp), args.size, args.reviews, args.samples)
    for row in rows(s):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
