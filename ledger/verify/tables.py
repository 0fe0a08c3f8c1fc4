"""Step 5 of docs/verify.md: the browsing tables a reader sees equal the replay's, row for row.

A ledger file's tables are compared inside SQLite first (the file attached
read-only to the replay's database), then, for any table not shown equal
there, row by row in Python, which names every difference. A site's tables
are read through Datasette's JSON API and compared row by row.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ledger.errors import LedgerError
from ledger.projection import TABLES, Projection
from ledger.store import Store
from ledger.verify.replay import Replay
from ledger.verify.report import Report
from ledger.verify.sources import Source


def check_file_tables(file: Store, replay: Replay, report: Report) -> None:
    """Every browsing table of the file against the replay's."""
    file_projection = Projection(file.conn, None)
    same = _tables_equal_in_sqlite(replay.db, file.path)
    for table in TABLES:
        if table in same:
            report.tables_checked.append(table)
            continue
        try:
            got = file_projection.dump(table)
        except sqlite3.DatabaseError as e:
            report.fail(f"table {table}", f"cannot be read: {e}")
            continue
        columns = [c[1] for c in replay.db.execute(f"PRAGMA table_info({table})")]
        if compare_rows(table, replay.projection.dump(table), got, report, columns):
            report.tables_checked.append(table)


def check_served_tables(source: Source, replay: Replay, report: Report) -> None:
    """Every browsing table the source serves against the replay's; nothing when it serves none."""
    for table in TABLES:
        if table == "record_heads":
            continue  # hidden on the site (publish/metadata.json): its rows repeat record_versions'
        try:
            rows = source.table_rows(table)
        except (LedgerError, KeyError, ValueError) as e:
            report.fail(f"site table {table}", f"cannot be read: {e}")
            continue
        if rows is None:
            return
        columns = [c[1] for c in replay.db.execute(f"PRAGMA table_info({table})")]
        found = sorted((tuple(row.get(c) for c in columns) for row in rows), key=_sort_key)
        expected = sorted((tuple(r) for r in replay.projection.dump(table)), key=_sort_key)
        if compare_rows(table, expected, found, report, columns):
            report.tables_checked.append(table)


def _tables_equal_in_sqlite(db: sqlite3.Connection, path) -> set:
    """Browsing tables whose rows in the file equal the replay's, compared inside SQLite.

    Same row count and no replayed row missing from the file (EXCEPT) means
    the same rows, since each table's primary key makes its rows distinct.
    Equal here implies equal in ``compare_rows``; any table not shown equal
    (including any SQL error) is compared row by row in Python.
    """
    equal = set()
    if db.in_transaction:
        db.execute("COMMIT")  # the replay's transaction; DETACH cannot run inside one
    try:
        db.execute("ATTACH DATABASE ? AS ledgerfile", (f"{Path(path).resolve().as_uri()}?mode=ro",))
    except sqlite3.Error:
        return equal
    try:
        for table in TABLES:
            try:
                same = db.execute(
                    f"SELECT (SELECT count(*) FROM main.{table}) = (SELECT count(*) FROM ledgerfile.{table})"
                    f" AND NOT EXISTS (SELECT * FROM main.{table} EXCEPT SELECT * FROM ledgerfile.{table})").fetchone()[0]
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
    if len(found) != len(set(got)):
        report.fail(f"table {table}", "holds duplicate rows")
    return False


def _key(key: tuple):
    return key[0] if len(key) == 1 else key


def _sort_key(row: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in row)
