"""Step 5 for a ledger file: what only the SQLite file itself can show.

SQLite's ``integrity_check``; the schema objects (tables, indexes, triggers,
views in ``sqlite_master``) exactly the ledger's own; every column holding
the SQLite type its declaration says; ``meta`` agreeing with entry 0; the
full-text search index holding exactly what its content table
``claim_terms`` gives (itself a browsing table, compared with the
replay's); and the browsing tables equal to the replay's, rowids included
(``tables``).
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import tempfile
from pathlib import Path
from typing import Optional

import attrs

from ledger.projection import TABLES
from ledger.store import Store
from ledger.verify.file_schema import column_type_failures, column_types, expected_schema
from ledger.verify.replay import Replay
from ledger.verify.report import Report
from ledger.verify.tables import check_file_tables

@attrs.frozen
class FileFindings:
    """What ``file_findings`` found: SQLite's integrity_check, the search index, the column types."""

    integrity: list
    search_failures: list
    search_compared: bool
    type_failures: list  # (where, message)


def file_findings(path) -> FileFindings:
    """The checks that read only the file, not the replay: a worker may run them while the replay goes on."""
    store = Store.open(path, immutable=True)
    try:
        # SQLite's own check: b-tree structure, and every index agrees with its
        # table (a reader's lookups go through the indexes the row dumps skip).
        problems = [row[0] for row in store.conn.execute("PRAGMA integrity_check(20)")]
        search_failures, compared = _check_fts(path, store.conn)
        # The browsing tables' values are compared with the replay's, types included (check_file_tables).
        log_tables = [table for table in column_types() if table not in TABLES]
        return FileFindings(problems, search_failures, compared, column_type_failures(store.conn, log_tables))
    finally:
        store.close()


def check_ledger_file(file: Store, replay: Replay, report: Report,
                      findings: Optional[concurrent.futures.Future] = None) -> None:
    """Step 5 on a ledger file; ``findings`` is ``file_findings`` already running in a worker."""
    found = findings.result() if findings else file_findings(file.path)
    if found.integrity != ["ok"]:
        report.fail("file", f"SQLite integrity_check: {'; '.join(found.integrity)}")
    _check_schema(file.conn, report)
    for where, message in found.type_failures:
        report.fail(where, message)
    meta = dict(file.conn.execute("SELECT key, value FROM meta"))
    log_vkey = replay.log_verifier.vkey
    if meta.get("origin") != replay.origin or meta.get("log_vkey") != log_vkey:
        report.fail("meta", f"origin/log_vkey {meta.get('origin')!r}/{meta.get('log_vkey')!r} differ from entry 0's "
                            f"{replay.origin!r}/{log_vkey!r}")
    check_file_tables(file, replay, report)
    for message in found.search_failures:
        report.fail("table claims_fts", message)
    if found.search_compared:
        report.tables_checked.append("claims_fts")


def _check_schema(conn: sqlite3.Connection, report: Report) -> None:
    found = set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    expected = expected_schema()
    for obj in sorted(found - expected, key=str):
        report.fail("schema", f"unexpected {obj[0]} {obj[1]!r} in the file (not created by the ledger)")
    for obj in sorted(expected - found, key=str):
        report.fail("schema", f"{obj[0]} {obj[1]!r} is missing or altered")


def _check_fts(path, conn: sqlite3.Connection) -> tuple[list[str], bool]:
    # FTS5's integrity-check compares the full-text index with its content
    # table, claim_terms; it is a write statement, so run it on a private copy.
    size = Path(path).stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        target = sqlite3.connect(":memory:" if size < 256 * 2**20 else str(Path(tmp) / "copy.db"))
        conn.backup(target)
        try:
            target.execute("INSERT INTO claims_fts(claims_fts, rank) VALUES ('integrity-check', 1)")
            different = _fts_differs_from_rebuilt(target)
            if different:
                return [f"the search index's {different} differ from an index rebuilt from the claims table"], True
            return [], True
        except sqlite3.DatabaseError as e:
            return [f"the search index does not match the claims table: {e}"], False
        finally:
            target.close()


# What the index says, independent of how its segments are laid out; each
# query gives its rows in one defined order, so two indexes say the same
# when their captures are equal row by row (``_same_rows``).
FTS_CONTENT = {
    "terms": 'SELECT term, doc, col, "offset" FROM temp.fts_terms ORDER BY term, doc, col, "offset"',
    "document sizes": "SELECT id, sz FROM claims_fts_docsize ORDER BY id",
    "settings": "SELECT k, v FROM claims_fts_config ORDER BY k",
    # Searches find a term's pages through the term index (claims_fts_idx),
    # which fts5vocab does not read: what a search for each term returns,
    # every term searched by one statement. (group_concat of the rowids: two
    # different sets of rowids never give the same text.)
    "search results": """SELECT term, (SELECT group_concat(rowid) FROM (
                             SELECT rowid FROM claims_fts WHERE claims_fts MATCH '"' || replace(term, '"', '""') || '"'
                             ORDER BY rowid)) AS found
                         FROM temp.fts_words ORDER BY term""",
}


def _fts_differs_from_rebuilt(conn: sqlite3.Connection) -> str:
    """Names of what differs between the index in ``conn`` (a private copy) and one rebuilt from the claims.

    integrity-check alone lets some changes through (a deleted row of the
    term index, swapped data blocks): compare the index's logical content,
    captured into temporary tables before and after the rebuild.
    """
    conn.execute("CREATE VIRTUAL TABLE temp.fts_terms USING fts5vocab(main, claims_fts, 'instance')")
    conn.execute("CREATE TEMP TABLE fts_words AS SELECT term FROM temp.fts_terms GROUP BY term")
    for n, query in enumerate(FTS_CONTENT.values()):
        conn.execute(f"CREATE TEMP TABLE fts_before_{n} AS {query}")
    conn.execute("INSERT INTO claims_fts(claims_fts) VALUES ('rebuild')")
    different = []
    for n, (name, query) in enumerate(FTS_CONTENT.items()):
        conn.execute(f"CREATE TEMP TABLE fts_after_{n} AS {query}")
        if not _same_rows(conn, f"fts_before_{n}", f"fts_after_{n}"):
            different.append(name)
    return ", ".join(different)


def _same_rows(conn: sqlite3.Connection, before: str, after: str) -> bool:
    # Row i of one table equals row i of the other, and they have as many rows
    # (CREATE TABLE AS numbers its rows 1, 2, ... in the query's order); a join
    # on rowid where a sort-based EXCEPT would cost eight times as much here.
    columns = [row[1] for row in conn.execute(f"PRAGMA temp.table_info({before})")]
    same = " AND ".join(f'a."{c}" IS b."{c}"' for c in columns)
    counts = conn.execute(f"SELECT (SELECT count(*) FROM {before}), (SELECT count(*) FROM {after}), "
                          f"(SELECT count(*) FROM {before} b JOIN {after} a ON a.rowid = b.rowid AND {same})").fetchone()
    return counts[0] == counts[1] == counts[2]
