"""The schema of a ledger file, as the ledger's own DDL makes it: what the checks compare a file (or a site) with.

``expected_schema`` (every object in ``sqlite_master``), ``schema_indexes``
(the indexes pages read through), ``column_types`` and
``column_type_failures`` (the SQLite storage class each column may hold).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from typing import Iterator

from ledger.projection import Projection
from ledger.store import SCHEMA


def expected_schema() -> set:
    """The ``sqlite_master`` rows (type, name, table, SQL) of a ledger file: the log's and the browsing tables'."""
    with _schema_db() as conn:
        return set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))


@functools.lru_cache(maxsize=None)
def schema_indexes() -> dict[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """Every table of a ledger file that pages read through indexes, with those indexes as (name, columns):
    the log's and the browsing tables', from the ledger's own DDL (not the search index's internal tables)."""
    with _schema_db() as conn:
        found = {}
        for table in _own_tables(conn):
            indexes = tuple((name, tuple(col[2] for col in conn.execute(f"PRAGMA index_info('{name}')")))
                            for _, name, *_ in conn.execute(f"PRAGMA index_list('{table}')"))
            if indexes:
                found[table] = tuple(sorted(indexes))
        return found


def _own_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables of the ledger's DDL, without the full-text search tables (virtual, and their shadow tables)."""
    virtual = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")]
    return [table for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
            if table not in virtual and not any(table.startswith(name + "_") for name in virtual)]


@contextlib.contextmanager
def _schema_db() -> Iterator[sqlite3.Connection]:
    """An empty ledger file's schema, in memory."""
    conn = sqlite3.connect(":memory:")
    try:
        for ddl in SCHEMA:
            conn.execute(ddl)
        Projection(conn, None).create_tables()
        yield conn
    finally:
        conn.close()


# SQLite stores what it is given (a column's type is only an affinity): the storage classes
# (typeof) a column of each declared type holds in a ledger file.
STORAGE_CLASSES = {"INTEGER": ("integer",), "TEXT": ("text",), "BLOB": ("blob",)}


def column_type_failures(conn: sqlite3.Connection, tables) -> list[tuple[str, str]]:
    """(where, message) for each column of these tables holding a value of another SQLite
    type than its declaration allows (``typeof``); one message per column.

    A checkpoint note stored as a BLOB reads back as bytes (a site shows
    ``b'...'``); a tree hash stored as TEXT is not 32 bytes to any reader.
    """
    failures = []
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in (t for t in tables if t in present):  # a missing table is the schema check's to report
        columns = column_types()[table]
        tests = [f"typeof(\"{name}\") NOT IN ({', '.join(repr(t) for t in allowed)})" for name, allowed in columns]
        counts = conn.execute(f'SELECT {", ".join(f"sum({test})" for test in tests)} FROM "{table}" NOT INDEXED').fetchone()
        for (name, allowed), test, count in zip(columns, tests, counts):
            if count:
                rowid, found = conn.execute(f'SELECT rowid, typeof("{name}") FROM "{table}" NOT INDEXED WHERE {test} LIMIT 1').fetchone()
                failures.append((f"table {table}", f"column {name} holds {count} value(s) of another type than its declared "
                                                   f"{'/'.join(allowed).upper()} (the first: {found.upper()} at rowid {rowid})"))
    return failures


@functools.lru_cache(maxsize=None)
def column_types() -> dict[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """Each table of a ledger file (not the search index's own), with each column's allowed storage classes."""
    with _schema_db() as conn:
        found = {}
        for table in _own_tables(conn):
            found[table] = tuple(
                (name, STORAGE_CLASSES[declared.upper()] + (() if notnull or pk else ("null",)))
                for _, name, declared, notnull, _, pk in conn.execute(f"PRAGMA table_info('{table}')")
                if declared.upper() in STORAGE_CLASSES)
        return found
