"""The file-level attacks of issue 13, mounted on a copy of a ledger file the way a hostile operator would.

Each takes a ledger file that is not open elsewhere and changes it in place
with plain SQLite, no key: what ``verify`` (on the file, or on a site serving
it) and ``ledger serve``'s start-up check must refuse.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path


@contextlib.contextmanager
def connect(path):
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def unlocked(conn, table):
    """Drop a log table's append-only triggers, and recreate them byte-identical afterwards."""
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE ?",
                            (table, f"{table}_no_%")).fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    try:
        yield conn
    finally:
        for _, sql in triggers:
            conn.execute(sql)


def _unlist(path, names, *, table_sql=None) -> list[tuple]:
    """Remove schema objects from sqlite_master (their pages stay, no longer kept up to date); optionally
    give a table new DDL. Returns the removed rows (and the table's old row) for ``_relist``."""
    with connect(path) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        marks = ",".join("?" * len(names))
        removed = conn.execute(f"SELECT rowid, type, name, tbl_name, rootpage, sql FROM sqlite_master WHERE name IN ({marks})",
                               names).fetchall()
        conn.execute(f"DELETE FROM sqlite_master WHERE name IN ({marks})", names)
        if table_sql:
            name, sql = table_sql
            removed.append(conn.execute("SELECT rowid, type, name, tbl_name, rootpage, sql FROM sqlite_master WHERE name = ?",
                                        (name,)).fetchone())
            conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql, name))
        conn.execute("PRAGMA writable_schema = OFF")
    return removed


def _relist(path, rows) -> None:
    with connect(path) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        for row in rows:  # at their old places: SQLite reads a table's entry before its indexes'
            conn.execute("DELETE FROM sqlite_master WHERE name = ?", (row[2],))
            conn.execute("INSERT INTO sqlite_master (rowid, type, name, tbl_name, rootpage, sql) VALUES (?, ?, ?, ?, ?, ?)", row)
        conn.execute("PRAGMA writable_schema = OFF")


def index_only_row(path, key: str, *, table: str = "claims", key_column: str = "id", **forged) -> int:
    """Point the primary-key index entry of the row ``key`` of ``table`` (a table whose primary key is one
    TEXT column) at an extra row with ``forged`` values, left out of the table's other indexes (the ones
    its listings read); returns the extra row's rowid.

    A page that looks the row up by its key (the claim page, Datasette's row
    page) shows the forged row; every listing, the search and the JSON of the
    table show the real one.
    """
    with connect(path) as conn:
        real = conn.execute(f'SELECT rowid FROM "{table}" WHERE "{key_column}" = ?', (key,)).fetchone()[0]
        pk_index = next(name for _, name, _, origin, _ in conn.execute(f"PRAGMA index_list('{table}')") if origin == "pk")
        others = [name for _, name, _, origin, _ in conn.execute(f"PRAGMA index_list('{table}')") if origin == "c"]
    hidden = _unlist(path, others) if others else []
    with connect(path) as conn:
        columns = [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')]
        row = dict(zip(columns, conn.execute(f'SELECT * FROM "{table}" WHERE "{key_column}" = ?', (key,)).fetchone()))
        row.update(forged)
        row[key_column] = key + "~forged"
        extra = conn.execute(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})',
                             [row[c] for c in columns]).lastrowid
        # Swap the keys while the primary-key index is kept up to date: its entry for the key now leads to the extra row.
        with unlocked(conn, table):
            conn.execute(f'UPDATE "{table}" SET "{key_column}" = ? WHERE rowid = ?', (key + "~real", real))
            conn.execute(f'UPDATE "{table}" SET "{key_column}" = ? WHERE rowid = ?', (key, extra))
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    unkeyed = ddl.replace(f"{key_column} TEXT PRIMARY KEY", f"{key_column} TEXT", 1)
    assert unkeyed != ddl, f"{table}.{key_column} is not a TEXT PRIMARY KEY"
    hidden += _unlist(path, [pk_index], table_sql=(table, unkeyed))
    with connect(path) as conn, unlocked(conn, table):  # the real row gets its key back, in the table only
        conn.execute(f'UPDATE "{table}" SET "{key_column}" = ? WHERE rowid = ?', (key, real))
    _relist(path, hidden)
    return extra


def wal_split(source, target, claim_id: str, forged_text: str, *, table: str = "claims", column: str = "text",
              key_column: str = "id") -> None:
    """``target`` (and ``target-wal``): a main file whose row ``claim_id`` of ``table`` holds ``forged_text``
    in ``column``, in WAL mode, with the honest pages in its write-ahead log. A reader that applies the WAL
    sees the honest row; one that opens the file immutable (as ``ledger serve`` does) sees the forged one."""
    work = Path(target).with_suffix(".work.db")
    shutil.copyfile(source, work)
    conn = sqlite3.connect(work, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        with unlocked(conn, table):
            where = f'WHERE "{key_column}" = ?'
            honest = conn.execute(f'SELECT "{column}" FROM "{table}" {where}', (claim_id,)).fetchone()[0]
            conn.execute(f'UPDATE "{table}" SET "{column}" = ? {where}', (forged_text, claim_id))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the forged row into the main file
            conn.execute(f'UPDATE "{table}" SET "{column}" = ? {where}', (honest, claim_id))  # the honest one, in the WAL only
        shutil.copyfile(work, target)
        shutil.copyfile(f"{work}-wal", f"{target}-wal")
    finally:
        conn.close()
    for leftover in (work, Path(f"{work}-wal"), Path(f"{work}-shm")):
        leftover.unlink(missing_ok=True)


def swap_meta_vkey(path, vkey: str) -> None:
    """Make the file (and so the site's /-/vkey, /-/ledger.json and home page) state another log key."""
    with connect(path) as conn, unlocked(conn, "meta"):
        conn.execute("UPDATE meta SET value = ? WHERE key = 'log_vkey'", (vkey,))


def add_unreferenced_snapshot(path, content: bytes = b"<h1>RETRACTION: all claims withdrawn</h1>", media_type="text/html") -> str:
    """Store a snapshot no record names (its hash, size and type agree with its content); returns its SHA-256."""
    sha = hashlib.sha256(content).hexdigest()
    with connect(path) as conn:
        conn.execute("INSERT INTO snapshots VALUES (?, ?, ?, ?)", (sha, media_type, len(content), content))
    return sha


def add_signature_line(path, line: str = "— witness.example/fake AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
                       tree_size=None) -> int:
    """Append a signature line to a stored checkpoint (the latest by default); returns its tree size."""
    with connect(path) as conn, unlocked(conn, "checkpoints"):
        size = tree_size or conn.execute("SELECT max(tree_size) FROM checkpoints").fetchone()[0]
        conn.execute("UPDATE checkpoints SET note = note || ? WHERE tree_size = ?", (line, size))
    return size


def store_as(path, table: str, column: str, sql_type: str, where: str = "1") -> None:
    """Store one value of ``table.column`` (the last row matching ``where``) as another SQLite type, its bytes
    unchanged where they can be: CAST to BLOB or TEXT; "TEXT" in an INTEGER column (whose affinity would
    turn digits back into a number) is the number's text and a letter; "REAL" adds a half."""
    with connect(path) as conn, unlocked(conn, table):
        rowid = conn.execute(f'SELECT rowid FROM "{table}" WHERE {where} ORDER BY rowid DESC LIMIT 1').fetchone()[0]
        declared = next(c[2] for c in conn.execute(f'PRAGMA table_info("{table}")') if c[1] == column)
        value = {"REAL": f'"{column}" + 0.5',
                 "TEXT": f"CAST(\"{column}\" AS TEXT) || 'x'" if declared == "INTEGER" else f'CAST("{column}" AS TEXT)',
                 }.get(sql_type, f'CAST("{column}" AS {sql_type})')
        conn.execute(f'UPDATE "{table}" SET "{column}" = {value} WHERE rowid = ?', (rowid,))


def renumber_claims(path, first, second, *, table: str = "claims", key_column: str = "id") -> None:
    """Swap the rowids of two rows (of claims: the search index follows, through its triggers)."""
    with connect(path) as conn:
        a, b = (conn.execute(f'SELECT rowid FROM "{table}" WHERE "{key_column}" = ?', (i,)).fetchone()[0] for i in (first, second))
        conn.execute(f'UPDATE "{table}" SET rowid = -1 WHERE rowid = ?', (a,))
        conn.execute(f'UPDATE "{table}" SET rowid = ? WHERE rowid = ?', (a, b))
        conn.execute(f'UPDATE "{table}" SET rowid = ? WHERE rowid = -1', (b,))


def renumber_rowids(path, table: str) -> None:
    """Swap the rowids of two rows of ``table`` (a third and two thirds of the way through it)."""
    with connect(path) as conn:
        rowids = [row[0] for row in conn.execute(f'SELECT rowid FROM "{table}" ORDER BY rowid')]
        a, b = rowids[len(rowids) // 3], rowids[2 * len(rowids) // 3]
        conn.execute(f'UPDATE "{table}" SET rowid = -1 WHERE rowid = ?', (a,))
        conn.execute(f'UPDATE "{table}" SET rowid = ? WHERE rowid = ?', (a, b))
        conn.execute(f'UPDATE "{table}" SET rowid = ? WHERE rowid = -1', (b,))


def hide_from_search(path, claim_id: str) -> None:
    """Delete one claim from the full-text index only: its page still opens, no search finds it."""
    with connect(path) as conn:
        conn.execute("INSERT INTO claims_fts(claims_fts, rowid, facets, text, translation, quote) "
                     "SELECT 'delete', claim_rowid, facets, text, translation, quote FROM claim_terms "
                     "WHERE claim_rowid = (SELECT rowid FROM claims WHERE id = ?)", (claim_id,))


@contextlib.contextmanager
def serve_unchecked(db, *settings: str):
    """The site of a hostile operator: Datasette on the file, configured as ``ledger serve`` configures it,
    without the start-up check that refuses a tampered file, and with any other ``settings``
    (``"max_returned_rows", "7"``, ...). Yields its base URL."""
    from conftest import free_port, running
    from ledger.site import datasette_args, site_metadata

    with tempfile.TemporaryDirectory() as tmp:
        metadata = Path(tmp) / "metadata.json"
        metadata.write_text(json.dumps(site_metadata(db)))
        port = free_port()
        extra = [arg for name, value in zip(settings[::2], settings[1::2]) for arg in ("--setting", name, value)]
        base = f"http://127.0.0.1:{port}/"
        with running([sys.executable, "-m", "datasette", "serve", *datasette_args(db, port=port, metadata_file=metadata), *extra],
                     base + "-/ledger.json", timeout=30):
            yield base
