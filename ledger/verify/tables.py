"""Step 5 of docs/verify.md: the browsing tables a reader sees equal the replay's, row for row.

A ledger file's tables are compared inside SQLite first (the file attached
read-only to the replay's database), then, for any table not shown equal
there, row by row in Python, which names every difference. A site's tables
are compared with ``compare_rows`` too (``site_checks``).
"""

from __future__ import annotations

import collections
import sqlite3
from pathlib import Path

from ledger.projection import COUNT_TABLES, TABLES
from ledger.store import Store
from ledger.verify.file_schema import column_type_failures
from ledger.verify.replay import Replay
from ledger.verify.report import Report


def check_file_tables(file: Store, replay: Replay, report: Report) -> None:
    """Every browsing table of the file against the replay's, rowids included (a claim's rowid
    is its place in the search index, which orders "newest first" results)."""
    same = _tables_equal_in_sqlite(replay.db, file.path)
    for table in TABLES:
        if table in same:
            report.tables_checked.append(table)
            continue
        try:
            got = rows_with_rowids(file.conn, table)
        except sqlite3.DatabaseError as e:
            report.fail(f"table {table}", f"cannot be read: {e}")
            continue
        for where, message in column_type_failures(file.conn, [table]):
            report.fail(where, message)  # SQLite compares types too: say so when that is the difference
        if compare_rows(table, rows_with_rowids(replay.db, table), got, report, columns_with_rowid(replay.db, table)):
            report.tables_checked.append(table)


def rows_with_rowids(conn: sqlite3.Connection, table: str) -> list[tuple]:
    """Every row of a browsing table in primary-key order, each with its rowid as the last value,
    read from the table itself (NOT INDEXED: a row only an index leads to is a row too)."""
    _, order = TABLES[table]
    return conn.execute(f"SELECT *, {rowid_of(table)} FROM {table} NOT INDEXED ORDER BY {order}").fetchall()


def rowid_of(table: str) -> str:
    """What stands for a row's rowid in comparisons: the rowid, or NULL for a table of counts
    (``projection.COUNT_TABLES``: its rowids depend on the batching, not on the entries)."""
    return "NULL" if table in COUNT_TABLES else "rowid"


def columns_with_rowid(conn: sqlite3.Connection, table: str) -> list[str]:
    """The names of the values ``rows_with_rowids`` gives."""
    return [c[1] for c in conn.execute(f"PRAGMA table_info({table})")] + ["rowid"]


def _tables_equal_in_sqlite(db: sqlite3.Connection, path) -> set:
    """Browsing tables whose rows in the file equal the replay's, compared inside SQLite.

    Same row count and no replayed row missing from the file (EXCEPT) means
    the same rows, since each table's primary key makes its rows distinct. The
    file's rows are read from each table itself (NOT INDEXED), whatever its
    indexes say (integrity_check compares those).
    Equal here implies equal in ``compare_rows``; any table not shown equal
    (including any SQL error) is compared row by row in Python.
    """
    equal = set()
    if db.in_transaction:
        db.execute("COMMIT")  # the replay's transaction; DETACH cannot run inside one
    try:
        # Immutable, as ledger serve reads it (the verifier refused a file with a WAL or a journal beside it).
        db.execute("ATTACH DATABASE ? AS ledgerfile", (f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1",))
    except sqlite3.Error:
        return equal
    try:
        for table in TABLES:
            try:
                same = db.execute(
                    f"SELECT (SELECT count(*) FROM main.{table}) = (SELECT count(*) FROM ledgerfile.{table} NOT INDEXED)"
                    f" AND NOT EXISTS (SELECT *, {rowid_of(table)} FROM main.{table}"
                    f" EXCEPT SELECT *, {rowid_of(table)} FROM ledgerfile.{table} NOT INDEXED)").fetchone()[0]
            except sqlite3.Error:
                continue
            if same:
                equal.add(table)
    finally:
        db.execute("DETACH DATABASE ledgerfile")
    return equal


def compare_rows(table: str, expected: list, found: list, report: Report, columns: list) -> bool:
    """Report every difference between two lists of a table's rows; True when they are equal."""
    if expected == found:
        return True
    _, order = TABLES[table]
    key_count = len(order.split(","))
    exp = {tuple(r[:key_count]): r for r in expected}
    got = {tuple(r[:key_count]): r for r in found}
    for key in sorted(exp.keys() | got.keys(), key=str):
        if key not in got:
            report.fail(f"table {table}", f"row {_key(key)} is missing (the entries produce it)")
        elif key not in exp:
            report.fail(f"table {table}", f"row {_key(key)} is not produced by any entry")
        elif exp[key] != got[key]:
            diffs = [i for i, (a, b) in enumerate(zip(exp[key], got[key])) if a != b]
            report.fail(f"table {table}", f"row {_key(key)} column {columns[diffs[0]]}: expected {exp[key][diffs[0]]!r}, "
                                          f"found {got[key][diffs[0]]!r}" if diffs else f"row {_key(key)} differs")
    counts = collections.Counter(tuple(r[:key_count]) for r in found)
    for key, count in sorted(counts.items(), key=str):
        if count > 1:
            report.fail(f"table {table}", f"row {_key(key)} appears {count} times (the entries produce it "
                                          f"{'once' if key in exp else 'never'}): which one a page shows depends on how it looks it up")
    return False


def _key(key: tuple):
    return key[0] if len(key) == 1 else key


