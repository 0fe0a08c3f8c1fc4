"""The site's count table (``site_counts``, issue 17): equal to a recount, filled for older files,
checked by verify, and written the same by a rebuild."""

from __future__ import annotations

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
