"""Before a ledger file is served: the start-up check of ``ledger serve`` and ``ledger publish`` (docs/security.md).

``ledger serve`` opens the file immutable: SQLite reads the main file alone,
trusting that nothing writes to it, and applies no write-ahead log. So

- ``open_as_served`` opens a file the way the site reads it, and refuses one
  in WAL mode or with a ``-wal`` file beside it: another reader would see
  other pages than the site shows. ``ledger verify`` reads files through it,
  so it checks exactly what would be served.
- ``check_servable`` also refuses a file that fails the structural checks a
  site cannot afford to skip and can afford to make at start-up: SQLite's
  ``integrity_check``, table by table on every core (every index holds exactly its table's rows: a claims
  row that only the claim page's index leads to is caught here), the schema
  objects exactly the ledger's, the log tables' columns of their declared
  types, ``meta`` agreeing with entry 0, and the latest checkpoint signed by
  entry 0's log key, every signature line known, covering every entry, with
  the root of the stored tree. Everything else (every signature, every row
  against the replay of the entries) is ``ledger verify``'s.

Each refusal is one ``FormatError`` whose message says what to do.
"""

from __future__ import annotations

import base64
import concurrent.futures
import os
import sqlite3
from pathlib import Path
from typing import Sequence

from ledger import tree
from ledger.checkpoint import open_checkpoint_untrusted
from ledger.cosignature import CosignatureVerifier
from ledger.envelope import Entry
from ledger.errors import FormatError, LedgerError, RecordError, SignatureError
from ledger.note import parse_verifier_key_untrusted
from ledger.projection import TABLES
from ledger.records import KeyRecord
from ledger.store import Store
from ledger.verify.checkpoints import check_signature_lines
from ledger.verify.file_schema import column_type_failures, column_types, expected_schema

# SQLite file format, "The Database Header": bytes 18 and 19 are the file format write and
# read versions, 1 for a rollback journal, 2 for WAL.
_HEADER_WAL_OFFSET, _WAL = 18, 2


def open_as_served(path) -> Store:
    """The ledger file opened as ``ledger serve`` reads it: immutable, the main file alone.

    Refuses (FormatError) a file in WAL mode or with a ``-wal`` beside it:
    a reader applying the WAL would be shown other pages than the site.
    A rollback journal cannot split the two that way: ``Store.open`` rolls
    back the hot journal of a writer that died before any read-only or
    immutable open, and cannot open a file a live writer is changing (its
    lock keeps readers out until it commits); a writer whose changes are
    still in its memory has not touched the file, which holds the last commit.
    """
    path = Path(path)
    _refuse_write_ahead_log(path)
    return Store.open(path, immutable=True)


def _refuse_write_ahead_log(path: Path) -> None:
    wal = Path(f"{path}-wal")
    in_wal_mode = path.is_file() and _header_byte(path, _HEADER_WAL_OFFSET) == _WAL
    if in_wal_mode or wal.exists():
        why = "is in WAL mode" if in_wal_mode else f"has a write-ahead log beside it ({wal.name})"
        raise FormatError(f"{path} {why}: the site reads the file alone, so readers would be shown other pages than a "
                          f"reader of the WAL; check the file yourself, then fold the log in with "
                          f"sqlite3 {path} 'PRAGMA journal_mode=DELETE'")


def _header_byte(path: Path, offset: int) -> int:
    with open(path, "rb") as f:
        f.seek(offset)
        byte = f.read(1)
    return byte[0] if byte else -1


def check_servable(path, *, witnesses: Sequence[CosignatureVerifier] = ()) -> None:
    """Refuse (FormatError, one line) a ledger file the site must not serve; see the module's docstring."""
    store = open_as_served(path)
    try:
        problems = servable_problems(store, witnesses)
    except sqlite3.DatabaseError as e:
        problems = [f"SQLite cannot read it ({e})"]
    finally:
        store.close()
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise FormatError(f"{path} cannot be served: {problems[0]}{more}; 'ledger verify {path}' lists every problem")


def servable_problems(store: Store, witnesses: Sequence[CosignatureVerifier] = ()) -> list[str]:
    """What stops the file from being served, each as a phrase; empty when it may be."""
    conn = store.conn
    problems = [f"SQLite integrity_check: {problem}" for problem in integrity_problems(store)]
    found = set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    problems += [f"{kind} {name!r} is not the ledger's" for kind, name, *_ in sorted(found - expected_schema(), key=str)]
    problems += [f"{kind} {name!r} is missing or altered" for kind, name, *_ in sorted(expected_schema() - found, key=str)]
    if problems:
        return problems  # the reads below assume the ledger's own tables
    log_tables = [table for table in column_types() if table not in TABLES]
    problems += [f"{where}: {message}" for where, message in column_type_failures(conn, log_tables)]
    return problems or _log_key_problems(store, witnesses)


def integrity_problems(store: Store) -> list[str]:
    """SQLite's ``integrity_check`` of every table with its indexes, tables checked side by side on the
    machine's cores (each on its own connection; SQLite runs without Python's lock), at most 5 problems each.

    Table by table, it checks what a reader's query can reach (each b-tree,
    and that every index holds exactly its table's rows); it leaves out what
    only a writer uses (the list of free pages). At 1,000,000 entries this
    is most of the start-up check (docs/security.md).
    """
    tables = [row[0] for row in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY rowid")]
    uri = f"{store.path.resolve().as_uri()}?mode=ro&immutable=1"

    def check(table: str) -> list[str]:
        conn = sqlite3.connect(uri, uri=True)
        try:
            quoted = '"' + table.replace('"', '""') + '"'
            return [row[0] for row in conn.execute(f"PRAGMA integrity_check({quoted})") if row[0] != "ok"][:5]
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(max(1, min(len(tables), os.cpu_count() or 1))) as pool:
        return [problem for problems in pool.map(check, tables) for problem in problems]


def _log_key_problems(store: Store, witnesses: Sequence[CosignatureVerifier]) -> list[str]:
    """Entry 0 registers the log key; meta states that key; the latest checkpoint is its, over the stored tree."""
    size = store.size()
    try:
        entry = Entry.from_leaf_untrusted(0, store.leaf(0))
        if not (isinstance(entry.record, KeyRecord) and entry.record.role == "log"):
            return ["entry 0 does not register the log key"]
        log_key = parse_verifier_key_untrusted(entry.record.vkey)
    except LedgerError as e:
        return [f"entry 0 is not a log key registration ({e})"]
    meta = store.meta()
    if meta.get("log_vkey") != log_key.vkey or meta.get("origin") != log_key.name:
        return [f"meta states the log key {meta.get('log_vkey')!r} of {meta.get('origin')!r}, entry 0 registers {log_key.vkey}"]
    latest = store.latest_checkpoint()
    if latest is None:
        return ["it has no signed checkpoint"]
    try:
        checkpoint = open_checkpoint_untrusted(latest[1], log_key, log_key.name)
        check_signature_lines(latest[1], log_key, witnesses)
    except (FormatError, SignatureError, RecordError) as e:
        return [f"its latest checkpoint (tree size {latest[0]}) is not one the log key signed line for line: {e}"]
    if checkpoint.size != size or latest[0] != size:
        return [f"its latest checkpoint covers {checkpoint.size} entries, but it holds {size}: the rest is not committed"]
    try:
        root = tree.tree_hash(size, store)
    except LedgerError as e:
        return [f"its stored tree is incomplete ({e})"]
    if root != checkpoint.root_hash:
        return [f"the root of its stored tree, {base64.b64encode(root).decode()}, is not the root its latest checkpoint signs"]
    return []
