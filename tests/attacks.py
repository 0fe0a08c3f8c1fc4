"""The file-level attacks of issue 13, mounted on a copy of a ledger file the way a hostile operator would.

Each takes a ledger file that is not open elsewhere and changes it in place
with plain SQLite, no key: what ``verify`` (on the file, or on a site serving
it) and ``ledger serve``'s start-up check must refuse.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
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


def index_only_row(path, claim_id: str, **forged) -> int:
    """Point the primary-key index entry of ``claim_id`` at an extra claims row with ``forged`` values,
    left out of the index the full listing reads (``claims_entry``); returns the extra row's rowid.

    The claim page (which looks the claim up by ID) shows the forged row; every
    listing, the search and the JSON of the table show the real one.
    """
    with connect(path) as conn:
        real = conn.execute("SELECT rowid FROM claims WHERE id = ?", (claim_id,)).fetchone()[0]
    hidden = _unlist(path, ["claims_entry"])
    with connect(path) as conn:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(claims)")]
        row = dict(zip(columns, conn.execute("SELECT * FROM claims WHERE id = ?", (claim_id,)).fetchone()))
        row.update(forged, id=claim_id + "~forged")
        extra = conn.execute(f"INSERT INTO claims ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                             [row[c] for c in columns]).lastrowid
        # Swap the IDs while the primary-key index is kept up to date: its entry for the ID now leads to the extra row.
        conn.execute("UPDATE claims SET id = ? WHERE rowid = ?", (claim_id + "~real", real))
        conn.execute("UPDATE claims SET id = ? WHERE rowid = ?", (claim_id, extra))
    with connect(path) as conn:
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'claims'").fetchone()[0]
    hidden += _unlist(path, ["sqlite_autoindex_claims_1"], table_sql=("claims", ddl.replace("id TEXT PRIMARY KEY", "id TEXT", 1)))
    with connect(path) as conn:  # the real row gets its ID back, in the table only
        conn.execute("UPDATE claims SET id = ? WHERE rowid = ?", (claim_id, real))
    _relist(path, hidden)
    return extra


def wal_split(source, target, claim_id: str, forged_text: str) -> None:
    """``target`` (and ``target-wal``): a main file whose claims row says ``forged_text``, in WAL mode,
    with the honest pages in its write-ahead log. A reader that applies the WAL sees the honest row;
    one that opens the file immutable (as ``ledger serve`` does) sees the forged one."""
    work = Path(target).with_suffix(".work.db")
    shutil.copyfile(source, work)
    conn = sqlite3.connect(work, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        honest = conn.execute("SELECT text FROM claims WHERE id = ?", (claim_id,)).fetchone()[0]
        conn.execute("UPDATE claims SET text = ? WHERE id = ?", (forged_text, claim_id))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the forged row into the main file
        conn.execute("UPDATE claims SET text = ? WHERE id = ?", (honest, claim_id))  # the honest one, in the WAL only
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
    """Store one value of ``table.column`` as another SQLite type (CAST), its bytes unchanged where they can be."""
    with connect(path) as conn, unlocked(conn, table):
        rowid = conn.execute(f'SELECT rowid FROM "{table}" WHERE {where} ORDER BY rowid DESC LIMIT 1').fetchone()[0]
        conn.execute(f'UPDATE "{table}" SET "{column}" = CAST("{column}" AS {sql_type}) WHERE rowid = ?', (rowid,))


def renumber_claims(path, first: str, second: str) -> None:
    """Swap the rowids of two claims rows (the search index follows, through its triggers)."""
    with connect(path) as conn:
        a, b = (conn.execute("SELECT rowid FROM claims WHERE id = ?", (i,)).fetchone()[0] for i in (first, second))
        conn.execute("UPDATE claims SET rowid = -1 WHERE rowid = ?", (a,))
        conn.execute("UPDATE claims SET rowid = ? WHERE rowid = ?", (a, b))
        conn.execute("UPDATE claims SET rowid = ? WHERE rowid = -1", (b,))


def hide_from_search(path, claim_id: str) -> None:
    """Delete one claim from the full-text index only: its page still opens, no search finds it."""
    with connect(path) as conn:
        conn.execute("INSERT INTO claims_fts(claims_fts, rowid, text, translation, quote, source_title) "
                     "SELECT 'delete', rowid, text, translation, quote, source_title FROM claims WHERE id = ?", (claim_id,))
