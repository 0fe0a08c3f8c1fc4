"""The site's table pages on a large ledger: default facets an index can count, sort, facets on request.

A large ledger is simulated by lowering ``ledger.site.LARGE_TABLE_ROWS`` below
the demo's size; speed itself is measured only by the benchmarks.
"""

import json
import re
import sqlite3

import pytest

from ledger import site
from ledger.site import make_datasette, publish_bundle, publish_dir, site_metadata

CONFIGURED = json.loads((publish_dir() / "metadata.json").read_text("utf-8"))["databases"]["ledger"]["tables"]
# The verdict facet counts unrated claims too (publish/plugin.py, FacetWithNull); a large table keeps it as configured.
VERDICT = {"with_null": {"column": "verdict", "null_label": "not yet rated"}}


def facets(metadata) -> dict:
    tables = next(iter(metadata["databases"].values()))["tables"]
    return {name: table["facets"] for name, table in tables.items() if "facets" in table}


@pytest.fixture
def large(monkeypatch):
    """Every table of more than 5 rows counts as large."""
    monkeypatch.setattr(site, "LARGE_TABLE_ROWS", 5)


def add_index(db, sql):
    with sqlite3.connect(db) as conn:
        conn.execute(sql)
    conn.close()


def test_a_small_ledger_keeps_every_configured_facet(demo_db):
    assert facets(site_metadata(demo_db)) == {name: t["facets"] for name, t in CONFIGURED.items() if "facets" in t}


def test_a_large_table_keeps_only_facets_an_index_counts(demo_db, large):
    fitted = facets(site_metadata(demo_db))
    # claims(verdict) and claims(source_id) are indexed; status and language are not.
    assert fitted["claims"] == [VERDICT, "source_id"]
    assert fitted["entries"] == [] and fitted["claim_versions"] == []
    assert fitted["editors"] == CONFIGURED["editors"]["facets"]  # 3 keys: still small


def test_an_index_on_a_facet_column_brings_that_facet_back(demo_db, large):
    add_index(demo_db, "CREATE INDEX claims_status_test ON claims(status, entry_idx)")
    add_index(demo_db, "CREATE INDEX claims_language_test ON claims(language) WHERE language = 'ro'")  # partial: not enough
    assert facets(site_metadata(demo_db))["claims"] == [VERDICT, "status"]


async def test_large_claims_table_page_shows_its_facets_newest_first_and_facets_on_request(demo_db, large):
    ds = make_datasette(demo_db)
    data = (await ds.client.get("/demo/claims.json", params={"_shape": "objects"})).json()
    assert set(data["facet_results"]) == {"verdict", "source_id"}
    assert data["filtered_table_rows_count"] == 16
    order = [row["entry_idx"] for row in data["rows"]]
    assert order == sorted(order, reverse=True)
    asked = (await ds.client.get("/demo/claims.json", params={"_facet": ["language", "status"]})).json()
    assert {"verdict", "source_id", "language", "status"} <= set(asked["facet_results"])
    language = asked["facet_results"]["language"]["results"]
    assert [(value["value"], value["count"]) for value in language] == [("ro", 16)]
    # A facet value is one click away and keeps the newest-first order.
    unproven = (await ds.client.get("/demo/claims.json", params={"verdict": "unproven", "_shape": "objects"})).json()
    assert unproven["filtered_table_rows_count"] == 4 and {r["verdict"] for r in unproven["rows"]} == {"unproven"}
    html = (await ds.client.get("/demo/claims")).text
    assert "16 rows" in html and "sorted by entry_idx descending" in html
    shown = set(re.findall(r'<div class="facet-info [^"]*" id="facet-([^"]+)"', html))
    assert shown == {"verdict", "source_id"}


async def test_large_table_search_keeps_counts_and_facets(demo_db, large):
    ds = make_datasette(demo_db)
    data = (await ds.client.get("/demo/claims.json", params={"_search": "masini-unelte", "_shape": "objects"})).json()
    assert data["filtered_table_rows_count"] == len(data["rows"]) >= 1
    assert "claim:ro-sales-machine-tools-microelectronics" in [row["id"] for row in data["rows"]]
    assert set(data["facet_results"]) == {"verdict", "source_id"}


def test_the_bundle_carries_the_facets_fitted_to_its_file(demo_db, tmp_path, large):
    out = publish_bundle(demo_db, tmp_path / "bundle")
    bundled = facets(json.loads((out / "metadata.json").read_text("utf-8")))
    assert bundled["claims"] == [VERDICT, "source_id"] and bundled["entries"] == []


async def test_a_default_facet_asked_for_again_is_counted_and_shown_once(demo_db):
    ds = make_datasette(demo_db)
    data = (await ds.client.get("/demo/claims.json", params={"_facet": ["language", "verdict", "version"]})).json()
    assert list(data["facet_results"]).count("language") == 1 and "language_2" not in data["facet_results"]
    assert "verdict_2" not in data["facet_results"] and "version" in data["facet_results"]
    html = (await ds.client.get("/demo/claims", params={"_facet": ["verdict", "version"], "verdict": "unproven"})).text
    shown = re.findall(r'<div class="facet-info [^"]*" id="facet-([^"]+)"', html)
    assert shown.count("verdict") == 1 and "version" in shown
    assert "4 rows" in html
