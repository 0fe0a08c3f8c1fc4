"""HTTP caching of an immutable ledger (issue 17): ETags from the log's root and the URL,
304 for If-None-Match, Cache-Control by kind, and Datasette's private answer to a cookie kept.

Every test drives the real app through ``make_datasette(...).client``.
"""

from __future__ import annotations

import re
import shutil
import sqlite3

import pytest

from conftest import demo_copies
from ledger.api import Ledger
from ledger.demo import ANA, DEMO_ORIGIN, _signer
from ledger.records import Claim
from ledger.site import make_datasette

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=10"
PAGE = "public, max-age=60"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory, _demo_build):
    return demo_copies(_demo_build, tmp_path_factory.mktemp("caching"))[0]


@pytest.fixture
def ds(demo_db):
    return make_datasette(demo_db)


def snapshot_sha256(demo_db) -> str:
    conn = sqlite3.connect(demo_db)
    try:
        return conn.execute("SELECT snapshot_sha256 FROM sources WHERE snapshot_sha256 IS NOT NULL LIMIT 1").fetchone()[0]
    finally:
        conn.close()


def routes(demo_db) -> dict:
    """A route of each kind and the Cache-Control it must get (tiles: see _tile_path)."""
    return {
        "/": PAGE,
        "/claim/ro-imports-q4-2023-70pct": PAGE,
        "/demo/claims": PAGE,
        "/demo/claims.json?_facet=language": PAGE,
        "/-/ledger.json": PAGE,
        "/-/checkpoint": SHORT,
        "/-/tlog/checkpoint": SHORT,
        f"/-/snapshots/{snapshot_sha256(demo_db)}": IMMUTABLE,
    }


async def _tile_path(ds) -> str:
    size = int((await ds.client.get("/-/tlog/checkpoint")).text.splitlines()[1])
    return f"/-/tlog/tile/0/000.p/{size % 256}" if size < 256 else "/-/tlog/tile/0/000"


@pytest.mark.asyncio
async def test_every_kind_of_response_has_an_etag_and_its_cache_control(ds, demo_db):
    expected = routes(demo_db)
    tile = await _tile_path(ds)
    expected[tile] = SHORT if ".p/" in tile else IMMUTABLE
    tags = set()
    for path, cache_control in expected.items():
        response = await ds.client.get(path)
        assert response.status_code == 200, path
        assert re.fullmatch(r'W/"[0-9a-f]{40}"', response.headers["etag"]), path
        assert response.headers["cache-control"] == cache_control, path
        tags.add(response.headers["etag"])
    assert len(tags) == len(expected)  # the route is part of the tag


@pytest.mark.asyncio
async def test_if_none_match_answers_304_with_the_same_headers(ds):
    for path in ("/", "/claim/ro-imports-q4-2023-70pct", "/demo/claims?_facet=language", "/-/checkpoint"):
        first = await ds.client.get(path)
        again = await ds.client.get(path, headers={"if-none-match": first.headers["etag"]})
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == first.headers["etag"]
        assert again.headers["cache-control"] == first.headers["cache-control"]
        assert again.headers["x-content-type-options"] == "nosniff"
        # A list of tags, a strong form of ours, and "*" match too (RFC 9110 13.1.2: weak comparison).
        strong = first.headers["etag"].removeprefix("W/")
        for header in (f'"other", {first.headers["etag"]}', strong, "*"):
            assert (await ds.client.get(path, headers={"if-none-match": header})).status_code == 304, header
        stale = await ds.client.get(path, headers={"if-none-match": 'W/"0000"'})
        assert stale.status_code == 200 and stale.headers["etag"] == first.headers["etag"]


@pytest.mark.asyncio
async def test_the_same_url_gets_the_same_tag_and_other_urls_other_tags(ds, demo_db):
    again = make_datasette(demo_db)  # another replica of the same file
    first = (await ds.client.get("/demo/claims?_sort=id")).headers["etag"]
    assert (await again.client.get("/demo/claims?_sort=id")).headers["etag"] == first
    assert (await ds.client.get("/demo/claims?_sort=version")).headers["etag"] != first


@pytest.mark.asyncio
async def test_a_new_entry_changes_every_tag(demo_db, tmp_path):
    path = tmp_path / "grown.db"
    shutil.copyfile(demo_db, path)
    before = (await make_datasette(path).client.get("/")).headers["etag"]
    with Ledger.open(path) as ledger:
        source = ledger.heads("source")[0].id
        ledger.append([Claim(id="claim:new", created="2031-02-03T00:00:00Z", source=source, language="en", text="New")],
                      _signer(ANA[0]), _signer(DEMO_ORIGIN))
    grown = make_datasette(path)
    response = await grown.client.get("/", headers={"if-none-match": before})
    assert response.status_code == 200 and response.headers["etag"] != before


@pytest.mark.asyncio
async def test_a_cookie_keeps_datasettes_private_answer(ds):
    tag = (await ds.client.get("/demo/claims")).headers["etag"]
    for headers in ({"cookie": "ds_actor=x"}, {"authorization": "Bearer x"}):
        response = await ds.client.get("/demo/claims", headers={**headers, "if-none-match": tag})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, no-store"
        assert "etag" not in response.headers


@pytest.mark.asyncio
async def test_errors_get_no_etag(ds):
    for path in ("/claim/no-such-claim", "/-/snapshots/" + "0" * 64, "/demo/no_such_table"):
        response = await ds.client.get(path)
        assert response.status_code == 404, path
        assert "etag" not in response.headers


def plugin_module():
    from datasette.plugins import pm

    return next(plugin for _, plugin in pm.list_name_plugin() if hasattr(plugin, "response_cache"))


@pytest.mark.asyncio
async def test_a_tagged_page_is_rendered_once_then_sent_from_the_response_cache(ds):
    cache = plugin_module().response_cache(ds)
    first = await ds.client.get("/demo/claims?_sort=id")
    hits = cache.hits
    again = await ds.client.get("/demo/claims?_sort=id")
    assert cache.hits == hits + 1
    assert again.content == first.content and again.headers.items() == first.headers.items()
    # A request with a cookie is never answered from it.
    private = await ds.client.get("/demo/claims?_sort=id", headers={"cookie": "a=b"})
    assert cache.hits == hits + 1 and private.headers["cache-control"] == "private, no-store"
    # Errors are not kept.
    for _ in range(2):
        assert (await ds.client.get("/claim/no-such-claim")).status_code == 404
    assert cache.hits == hits + 1


@pytest.mark.asyncio
async def test_the_response_cache_keeps_to_its_size(ds, monkeypatch):
    cache_class = plugin_module().ResponseCache
    monkeypatch.setattr(cache_class, "MAX_BYTES", 40_000)
    cache = plugin_module().response_cache(ds)
    for n in range(10):
        await ds.client.get(f"/claim/ro-imports-q4-2023-70pct?n={n}")
    assert 0 < cache._bytes <= 40_000 and len(cache._entries) < 10


@pytest.mark.asyncio
async def test_another_host_gets_its_own_tag_and_never_anothers_cached_page(ds):
    # Datasette writes facet links absolute: a page asked for with a forged Host names that host.
    path = "/demo/claims.json?_facet=language"
    forged = await ds.client.get(path, headers={"host": "evil.example"})
    assert "evil.example" in forged.text
    honest = await ds.client.get(path)
    assert "evil.example" not in honest.text
    assert honest.headers["etag"] != forged.headers["etag"]
    assert (await ds.client.get(path, headers={"if-none-match": forged.headers["etag"]})).status_code == 200
