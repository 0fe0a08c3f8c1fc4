"""The site's count table (``site_counts``, issue 17): equal to a recount, filled for older files,
checked by verify, and written the same by a rebuild."""

from __future__ import annotations

import re
import shutil
import sqlite3

from ledger.api import Ledger
from ledger.verify import open_source, verify_ledger

# What the counts must equal, counted from the rows (independently of the projection's code).
RECOUNT = """SELECT 'records', kind, count(*) FROM record_heads GROUP BY kind
             UNION ALL SELECT 'claims_month', substr(first_created, 1, 7), count(*) FROM claims GROUP BY 2
             ORDER BY 1, 2"""


def rows(path, sql="SELECT name, value, count FROM site_counts ORDER BY name, value"):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def run_sql(path, *statements):
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.close()


def test_counts_equal_a_recount_of_the_rows(demo_db):
    counts = rows(demo_db)
    assert counts == rows(demo_db, RECOUNT)
    found = {(name, value): n for name, value, n in counts}
    # The figures the home page shows.
    for kind, table in (("claim", "claims"), ("source", "sources"), ("review", "reviews"), ("key", "editors")):
        assert found["records", kind] == rows(demo_db, f"SELECT count(*) FROM {table}")[0][0] > 0
    assert found["records", "correction"] + found["records", "retraction"] == rows(demo_db, "SELECT count(*) FROM notices")[0][0]


def test_counts_follow_appends(demo_db, tmp_path):
    from ledger.demo import ANA, DEMO_ORIGIN, _signer
    from ledger.records import Claim

    with Ledger.open(demo_db) as ledger:
        source = ledger.heads("source")[0].id
        claims = [Claim(id=f"claim:new-{i}", created="2031-02-03T00:00:00Z", source=source, language="en", text=f"New claim {i}")
                  for i in range(3)]
        ledger.append(claims[:2], _signer(ANA[0]), _signer(DEMO_ORIGIN))  # a batch
        ledger.append(claims[2:], _signer(ANA[0]), _signer(DEMO_ORIGIN))
    found = {(name, value): n for name, value, n in rows(demo_db)}
    assert found["claims_month", "2031-02"] == 3
    assert rows(demo_db) == rows(demo_db, RECOUNT)


def test_a_forged_count_fails_verify(demo_db):
    assert verify_ledger(open_source(str(demo_db))).ok
    run_sql(demo_db, "UPDATE site_counts SET count = count + 1000 WHERE name = 'records' AND value = 'claim'")
    report = verify_ledger(open_source(str(demo_db)))
    assert not report.ok
    assert any(f.where == "table site_counts" for f in report.failures), [(f.where, f.message) for f in report.failures]


def test_an_invented_count_fails_verify(demo_db):
    run_sql(demo_db, "INSERT INTO site_counts VALUES ('claims_month', '1999-01', 5)")
    report = verify_ledger(open_source(str(demo_db)))
    assert any(f.where == "table site_counts" for f in report.failures), [(f.where, f.message) for f in report.failures]


def test_a_file_without_the_table_gets_it_filled(demo_db):
    before = rows(demo_db)
    run_sql(demo_db, "DROP TABLE site_counts")
    Ledger.open(demo_db).close()  # opened for writing: the missing browsing table is made
    assert rows(demo_db) == before
    assert verify_ledger(open_source(str(demo_db))).ok


def test_rebuild_writes_identical_files(demo_db, tmp_path):
    copy = tmp_path / "copy.db"
    shutil.copyfile(demo_db, copy)
    before = rows(demo_db)
    for path in (demo_db, copy):
        with Ledger.open(path) as ledger:
            ledger.rebuild()
    assert demo_db.read_bytes() == copy.read_bytes()
    assert rows(demo_db) == before


# --- the site reads them: the claims table's facets, its capped search, the home page's totals --------

def plugin_module():
    """The plugin module Datasette loaded (the first copy, whose facet classes count)."""
    from datasette.plugins import pm

    return next(plugin for _, plugin in pm.list_name_plugin() if hasattr(plugin, "FacetFromCounts"))


def facet_counts(data, name):
    return [(v["label"], v["count"]) for v in data["facet_results"][name]["results"]]


async def test_unfiltered_facets_are_read_from_the_count_table(demo_db):
    from ledger.site import make_datasette

    # A count only the count table holds shows that the page read it instead of counting rows.
    run_sql(demo_db, "UPDATE search_facets SET claims = 999 WHERE facet = 'language' AND value = 'ro'")
    data = (await make_datasette(demo_db).client.get("/demo/claims.json")).json()
    assert facet_counts(data, "language") == [("ro", 999)]
    verdicts = dict(facet_counts(data, "verdict"))
    assert verdicts["not yet rated"] == rows(demo_db, "SELECT count(*) FROM claims WHERE verdict IS NULL")[0][0]
    unrated = next(v for v in data["facet_results"]["verdict"]["results"] if v["label"] == "not yet rated")
    assert unrated["toggle_url"].endswith("verdict__isnull=1")
    tags = data["facet_results"]["tags"]["results"]
    assert tags and all("tags__arraycontains=" in v["toggle_url"] for v in tags)


async def test_a_filtered_page_counts_its_rows(demo_db):
    from ledger.site import make_datasette

    run_sql(demo_db, "UPDATE search_facets SET claims = 999 WHERE facet = 'language' AND value = 'ro'")
    ds = make_datasette(demo_db)
    data = (await ds.client.get("/demo/claims.json", params={"verdict": "unproven"})).json()
    assert facet_counts(data, "language") == [("ro", 4)] and facet_counts(data, "verdict") == [("unproven", 4)]
    tagged = (await ds.client.get("/demo/claims.json", params={"tags__arraycontains": "drones"})).json()
    assert dict(facet_counts(tagged, "tags"))["drones"] == tagged["filtered_table_rows_count"] == 2


async def test_a_filtered_page_with_too_many_rows_reports_its_facets_as_timed_out(demo_db, monkeypatch):
    from ledger.site import make_datasette

    monkeypatch.setattr(plugin_module(), "FILTERED_FACET_ROWS", 10)
    ds = make_datasette(demo_db)
    many = (await ds.client.get("/demo/claims.json", params={"language": "ro"})).json()  # 16 claims
    counted = {"verdict", "status", "language", "source_id", "tags"}
    assert many["filtered_table_rows_count"] == 16 and not counted & set(many["facet_results"])
    html = (await ds.client.get("/demo/claims", params={"language": "ro"})).text
    timed_out = re.search(r"These facets timed out: ([^<]*)<", html)
    assert timed_out and counted <= set(timed_out[1].replace(" ", "").split(",")), html[:300]
    few = (await ds.client.get("/demo/claims.json", params={"verdict": "unproven"})).json()  # 4 claims
    assert facet_counts(few, "language") == [("ro", 4)]


async def test_table_search_lists_the_newest_matches_up_to_the_cap(demo_db, monkeypatch):
    from ledger.site import make_datasette

    ds = make_datasette(demo_db)
    every = (await ds.client.get("/demo/claims.json", params={"_search": "Rusia", "_shape": "objects", "_size": 100})).json()
    assert every["filtered_table_rows_count"] == 8 and "more than" not in every["human_description_en"]
    monkeypatch.setattr(plugin_module(), "COUNT_CAP", 3)
    ds = make_datasette(demo_db)  # a new server: the first one's response cache holds the uncapped page
    capped = (await ds.client.get("/demo/claims.json", params={"_search": "Rusia", "_shape": "objects", "_size": 100})).json()
    assert capped["filtered_table_rows_count"] == 3
    assert [r["id"] for r in capped["rows"]] == [r["id"] for r in every["rows"]][:3]  # the newest three
    assert 'search matches "Rusia" (more than 3 claims do: the newest 3)' in capped["human_description_en"]
    html = (await ds.client.get("/demo/claims", params={"_search": "Rusia"})).text
    assert 'value="Rusia"' in html  # the search box keeps the words


async def test_the_home_page_reads_its_totals_from_the_count_table(demo_db):
    from ledger.site import make_datasette

    run_sql(demo_db, "UPDATE site_counts SET count = 12345 WHERE name = 'records' AND value = 'claim'")
    html = (await make_datasette(demo_db).client.get("/")).text
    assert "All 12,345 claims" in html
