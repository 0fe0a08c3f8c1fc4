"""The SQLite file: entries, stored tree hashes, checkpoints, witnesses' cosignatures, snapshots, metadata.

This is the only module that knows how the log itself is laid out in SQL
(the browsing tables live in ``projection``). Everything here is
append-only: triggers refuse UPDATE and DELETE on every log table, so even a
bug elsewhere cannot rewrite history through this connection.

Writers take the database's RESERVED lock with ``BEGIN IMMEDIATE`` before
reading the tree size, so two processes appending at once are serialized:
the second waits (``busy_timeout``) and then appends after the first. The
journal stays in rollback mode (not WAL) so the file is always complete on
its own: it can be copied, served immutable or hashed between commands.

Reading needs only the standard library; sqlite-utils is used for writing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterator, Optional, Sequence

from ledger.errors import FormatError, LedgerError, LockedError, NotFoundError

FORMAT = "fact-ledger/1"
LOG_TABLES = ("meta", "entries", "tree_hashes", "checkpoints", "snapshots", "cosignatures")
# Log tables added after the first files were written: opening such a file for writing adds them (empty).
ADDED_LOG_TABLES = ("cosignatures",)

SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE entries (
        idx INTEGER PRIMARY KEY, leaf_hash TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
        record_id TEXT NOT NULL, version INTEGER NOT NULL, signer TEXT NOT NULL, leaf TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX entries_record ON entries(record_id, version)",
    "CREATE TABLE tree_hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
    "CREATE TABLE checkpoints (tree_size INTEGER PRIMARY KEY, note TEXT NOT NULL)",
    "CREATE TABLE snapshots (sha256 TEXT PRIMARY KEY, media_type TEXT NOT NULL, size INTEGER NOT NULL, content BLOB NOT NULL)",
    # Witnesses' cosignatures (c2sp.org/tlog-cosignature) of stored checkpoints: a checkpoint's
    # note is never changed (checkpoints refuses UPDATE), so its cosignature lines live here.
    # ``witness`` is the witness key's name+keyid; ``line`` the signature line, with its newline.
    """CREATE TABLE cosignatures (tree_size INTEGER NOT NULL, witness TEXT NOT NULL, timestamp INTEGER NOT NULL,
        line TEXT NOT NULL, PRIMARY KEY (tree_size, witness, timestamp))""",
) + tuple(
    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    for table in LOG_TABLES
    for op in ("UPDATE", "DELETE")
)

DEFAULT_WAIT_SECONDS = 60.0


def _roll_back_hot_journal(path: Path) -> None:
    """Undo a write that was cut off (kill -9, power loss) before reading the file read-only.

    A writer that dies mid-transaction leaves ``DB-journal`` (a hot journal)
    holding the pages as they were. A read-write connection rolls it back on
    its first read; a read-only one cannot (SQLite: "attempt to write a
    readonly database"), and an immutable one ignores it and would read the
    half-written pages. So roll it back here, with a short-lived read-write
    connection, before opening read-only or immutable.
    """
    journal = Path(f"{path}-journal")
    if not journal.is_file() or journal.stat().st_size == 0:
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=DEFAULT_WAIT_SECONDS)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise LedgerError(f"{path} was left mid-write by a process that stopped (its journal {journal.name} is still there) and "
                          f"cannot be repaired here ({e}); open it once with write access, e.g. 'ledger log {path}' as its owner") from e


# The SQLite page size of a new ledger file (an older file keeps its own).
PAGE_SIZE = 8192


class Store:
    """One ledger file. Use ``Store.create`` or ``Store.open``."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn
        self.writable = True
        self._missing: set = set()  # log tables this (older, read-only) file lacks: read as empty

    # --- opening ----------------------------------------------------------
    @classmethod
    def open(cls, path, *, readonly: bool = False, immutable: bool = False) -> "Store":
        """Open an existing ledger; ``immutable`` is for serving a file nobody writes to."""
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"no ledger at {path}; create one with 'ledger init {path}'")
        if readonly or immutable:
            _roll_back_hot_journal(path)
        mode = "ro&immutable=1" if immutable else "ro" if readonly else "rw"
        uri = f"{path.resolve().as_uri()}?mode={mode}"  # as_uri: a '?', '#' or '%' in the path is percent-encoded
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            fmt = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() if "meta" in tables else None
        except (sqlite3.DatabaseError, UnicodeDecodeError) as e:  # a damaged schema: its text is no longer UTF-8
            raise FormatError(f"{path} is not a ledger file ({e})") from e
        if not fmt or fmt[0] != FORMAT or not set(LOG_TABLES) - set(ADDED_LOG_TABLES) <= tables:
            conn.close()
            raise FormatError(f"{path} is not a fact-ledger file (expected format {FORMAT})")
        store = cls(path, conn)
        store._configure()
        store.writable = mode == "rw"
        store._missing = set(ADDED_LOG_TABLES) - tables
        if store._missing and store.writable:
            store._add_missing_tables()
        return store

    def _add_missing_tables(self) -> None:
        """Add the log tables a file written before them lacks, empty (what they would hold for it)."""
        try:
            with self.write_lock():
                for ddl in SCHEMA:
                    # "CREATE TABLE <table> ..." and "CREATE TRIGGER <table>_no_<op> ...".
                    name = ddl.split()[2]
                    if any(name == table or name.startswith(f"{table}_no_") for table in self._missing):
                        self.conn.execute(ddl)
        except LedgerError as e:
            raise LedgerError(f"{self.path} needs its '{', '.join(sorted(self._missing))}' table added and cannot be written: {e}") from e
        self._missing = set()

    @classmethod
    def create(cls, path, meta: dict) -> "Store":
        """Create a new ledger file holding the log tables (empty) and ``meta``.

        The file is created with O_CREAT | O_EXCL first, so nothing that is
        already there is used or written through: not a file, and not a
        symbolic link, dangling or not (which SQLite would follow, creating
        the ledger wherever it points).
        """
        import sqlite_utils

        path = Path(path)
        _create_empty_file(path)
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, check_same_thread=False)
            store = cls(path, conn)
            # Set before the first table exists (it cannot change afterwards
            # without a VACUUM). 8 KiB pages hold a claims row's ~400 bytes with
            # less left over at each page's end than 4 KiB ones: 2.2% smaller
            # files (2,484 -> 2,429 bytes an entry at 100,000; benchmarks/RESULTS.md).
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            store._configure()
            conn.execute("BEGIN")
            for ddl in SCHEMA:
                conn.execute(ddl)
            sqlite_utils.Database(conn)["meta"].insert_all([{"key": "format", "value": FORMAT}] + [{"key": k, "value": v} for k, v in meta.items()])
        except sqlite3.Error as e:
            remove_ledger_files(path)
            raise LedgerError(f"cannot create {path}: {_sqlite_reason(e)}; nothing was created") from e
        return store

    def _configure(self):
        self.conn.execute("PRAGMA foreign_keys = OFF")
        self.conn.execute("PRAGMA synchronous = FULL")

    def close(self):
        self.conn.close()

    def commit(self) -> None:
        """End the transaction ``create`` left open (the connection is in autocommit mode otherwise)."""
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise LedgerError(f"cannot create {self.path}: {_sqlite_reason(e)}; nothing was created") from e

    # --- transactions -------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self, wait_seconds: float = DEFAULT_WAIT_SECONDS, on_wait=None) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; ROLLBACK on any error, leaving the file unchanged.

        ``on_wait`` is called once if another writer holds the lock, so the
        CLI can tell the editor it is waiting rather than failing. A file or
        directory that cannot be written (immutable, a read-only mount, no
        permission), a full disk or any other SQLite failure while writing is
        a LedgerError that says so; the file is as it was.
        """
        self._check_writable()
        self.conn.execute("PRAGMA busy_timeout = 0")
        deadline = time.monotonic() + wait_seconds
        told = False
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise LedgerError(f"cannot write to {self.path}: {e}") from e
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"another process has been writing to {self.path} for over {wait_seconds:g} s; try again when it finishes"
                    ) from e
                if on_wait and not told:
                    on_wait()
                    told = True
                time.sleep(0.01)
        # Once we hold the RESERVED lock, COMMIT may still have to wait for
        # readers to finish (SQLite's PENDING lock keeps new ones out).
        self.conn.execute(f"PRAGMA busy_timeout = {int(max(wait_seconds, 1) * 1000)}")
        try:
            yield
        except sqlite3.Error as e:
            self._roll_back()
            raise LedgerError(f"cannot append to {self.path}: {_sqlite_reason(e)}; nothing was appended") from e
        except BaseException:
            self._roll_back()
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._roll_back()
            if getattr(e, "sqlite_errorname", "").startswith("SQLITE_BUSY"):
                raise LockedError(f"readers kept {self.path} busy for over {wait_seconds:g} s; nothing was written, try again") from e
            raise LedgerError(f"cannot append to {self.path}: {_sqlite_reason(e)}; nothing was appended") from e

    def _roll_back(self) -> None:
        """ROLLBACK if a transaction is still open: SQLite ends one itself on some errors (a full disk)."""
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                # The journal still holds the pages as they were; the next
                # connection rolls it back (_roll_back_hot_journal).
                pass

    def _check_writable(self) -> None:
        """Refuse, before anything is written, a ledger whose file or directory cannot be written.

        SQLite opens a file it may not write read-only without saying so, and
        needs to create ``FILE-journal`` beside it for every batch.
        """
        try:
            os.close(os.open(self.path, os.O_WRONLY))
        except OSError as e:
            raise LedgerError(f"cannot append to {self.path}: the file cannot be opened for writing ({e.strerror}: check "
                              f"'lsattr {self.path}' for the immutable flag, the mount and the permissions); nothing was changed") from e
        directory = self.path.resolve().parent
        if not os.access(directory, os.W_OK | os.X_OK):
            raise LedgerError(f"cannot append to {self.path}: its directory {directory} does not let SQLite create "
                              f"{self.path.name}-journal beside it (check 'lsattr -d {directory}' for the immutable flag, the mount "
                              "and the permissions); nothing was changed")

    # --- meta ------------------------------------------------------------------
    def meta(self) -> dict:
        return dict(self.conn.execute("SELECT key, value FROM meta"))

    # --- entries ---------------------------------------------------------------
    def size(self) -> int:
        row = self.conn.execute("SELECT max(idx) FROM entries").fetchone()
        return 0 if row[0] is None else row[0] + 1

    def insert_entries(self, entries: Sequence) -> None:
        """Store entries (their leaves and the columns read back from them), many rows per statement."""
        insert_rows(self.conn, "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(e.index, e.hash_hex, e.record.kind, e.record.id, e.record.version, e.signer, e.leaf.decode("utf-8"))
                     for e in entries])

    def insert_tree_hashes(self, first_hash_index: int, stored_hashes: Sequence[bytes]) -> None:
        """Store hashes at consecutive stored hash indexes (a batch writes them all at once)."""
        insert_rows(self.conn, "INSERT INTO tree_hashes VALUES (?, ?)", [(first_hash_index + i, h) for i, h in enumerate(stored_hashes)])

    def leaf(self, index: int) -> bytes:
        row = self.conn.execute("SELECT leaf FROM entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise NotFoundError(f"no entry {index} (the log has {self.size()} entries)")
        return row[0].encode("utf-8")

    def leaves(self, start: int = 0, end: Optional[int] = None) -> Iterator[tuple[int, bytes]]:
        """(index, leaf bytes) for start <= index < end, in order."""
        end = self.size() if end is None else end
        for idx, leaf in self.conn.execute("SELECT idx, leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)):
            yield idx, leaf.encode("utf-8")

    def entry_rows(self, start: int = 0, end: Optional[int] = None) -> Iterator[tuple]:
        """Raw stored rows (idx, leaf_hash, kind, record_id, version, signer, leaf) for checks
        (the leaf read as text even if something stored it as another type: verify reports the type)."""
        end = self.size() if end is None else end
        yield from self.conn.execute("SELECT idx, leaf_hash, kind, record_id, version, signer, CAST(leaf AS TEXT) FROM entries "
                                     "WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end))

    def record_versions(self, record_id: str) -> list[int]:
        """Entry indexes of every version of a record, oldest first."""
        return [r[0] for r in self.conn.execute("SELECT idx FROM entries WHERE record_id = ? ORDER BY version", (record_id,))]

    # --- tree hashes (the tree.HashReader interface) -----------------------------
    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        found = {}
        unique = sorted(set(indexes))
        for i in range(0, len(unique), 500):
            chunk = unique[i:i + 500]
            found.update(self.conn.execute(f"SELECT idx, hash FROM tree_hashes WHERE idx IN ({','.join('?' * len(chunk))})", chunk))
        missing = [i for i in unique if i not in found]
        if missing:
            raise NotFoundError(f"stored tree hash {missing[0]} is missing from {self.path}")
        return [bytes(found[i]) for i in indexes]

    def stored_hash_rows(self) -> Iterator[tuple[int, Optional[bytes]]]:
        """Every stored (index, hash), in order, as verify compares them; a NULL (only a hostile file holds one) is None."""
        for idx, h in self.conn.execute("SELECT idx, CAST(hash AS BLOB) FROM tree_hashes ORDER BY idx"):
            yield idx, None if h is None else bytes(h)

    # --- checkpoints --------------------------------------------------------------
    def add_checkpoint(self, tree_size: int, note: str) -> None:
        self.conn.execute("INSERT INTO checkpoints VALUES (?, ?)", (tree_size, note))

    def latest_checkpoint(self) -> Optional[tuple[int, str]]:
        return self.conn.execute("SELECT tree_size, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1").fetchone()

    def checkpoints(self) -> list[tuple[int, str]]:
        return self.conn.execute("SELECT tree_size, note FROM checkpoints ORDER BY tree_size").fetchall()

    def checkpoint_covering(self, index: int) -> Optional[tuple[int, str]]:
        """The first checkpoint whose tree includes entry ``index``."""
        return self.conn.execute(
            "SELECT tree_size, note FROM checkpoints WHERE tree_size > ? ORDER BY tree_size LIMIT 1", (index,)
        ).fetchone()

    # --- cosignatures ------------------------------------------------------------------
    def add_cosignatures(self, rows: Sequence[tuple[int, str, int, str]]) -> None:
        """Store (tree size, witness name+keyid, timestamp, line) rows; one already stored is kept as it is."""
        self.conn.executemany("INSERT OR IGNORE INTO cosignatures VALUES (?, ?, ?, ?)", rows)

    def cosignatures(self, tree_size: Optional[int] = None) -> list[tuple[int, str, int, str]]:
        """(tree size, witness, timestamp, line) of the checkpoint at ``tree_size`` (default: every one), in order."""
        if "cosignatures" in self._missing:
            return []
        if tree_size is None:
            return self.conn.execute("SELECT * FROM cosignatures ORDER BY tree_size, witness, timestamp").fetchall()
        return self.conn.execute("SELECT * FROM cosignatures WHERE tree_size = ? ORDER BY witness, timestamp",
                                 (tree_size,)).fetchall()

    def cosigned_sizes(self) -> dict[str, int]:
        """The largest tree size each witness (name+keyid) has cosigned."""
        if "cosignatures" in self._missing:
            return {}
        return dict(self.conn.execute("SELECT witness, max(tree_size) FROM cosignatures GROUP BY witness"))

    # --- snapshots -------------------------------------------------------------------
    def add_snapshot(self, sha256: str, media_type: str, content: bytes) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO snapshots VALUES (?, ?, ?, ?)", (sha256, media_type, len(content), content)
        )

    def snapshot(self, sha256: str) -> Optional[tuple[str, bytes]]:
        row = self.conn.execute("SELECT media_type, CAST(content AS BLOB) FROM snapshots WHERE sha256 = ?", (sha256,)).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def snapshot_rows(self) -> Iterator[tuple[str, str, int, bytes]]:
        for sha, media_type, size, content in self.conn.execute(
                "SELECT sha256, media_type, size, CAST(content AS BLOB) FROM snapshots ORDER BY sha256"):
            yield sha, media_type, size, bytes(content)

    def snapshot_names(self) -> list[str]:
        """The SHA-256 (hex) of every stored snapshot, in order."""
        return [row[0] for row in self.conn.execute("SELECT sha256 FROM snapshots ORDER BY sha256")]

    # --- counts ------------------------------------------------------------------------
    def record_count(self, kind: str) -> int:
        """How many records of ``kind`` the log holds: their first versions."""
        return self.conn.execute("SELECT count(*) FROM entries WHERE kind = ? AND version = 1", (kind,)).fetchone()[0]


def _create_empty_file(path: Path) -> None:
    """Create ``path`` as a new empty file (an empty SQLite database), never through what is already there."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    except FileExistsError as e:
        if path.is_symlink():
            raise LedgerError(f"{path} is a symbolic link to {os.readlink(path)}; choose a new file name "
                              "(a ledger is never created through a link)") from e
        raise LedgerError(f"{path} already exists; choose a new file name") from e
    except OSError as e:
        raise LedgerError(f"cannot create {path}: {e.strerror}") from e


def remove_ledger_files(path: Path) -> None:
    """Remove a ledger file this process created, and its journal, after a failed ``create``."""
    for leftover in (path, Path(f"{path}-journal")):
        leftover.unlink(missing_ok=True)


def _sqlite_reason(e: sqlite3.Error) -> str:
    """An SQLite error as a reader can act on it."""
    name = getattr(e, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return f"the disk is full ({e}): free some space and try again"
    if name.startswith("SQLITE_IOERR"):
        return f"the file system refused a write ({e}, {name}): check free space, quotas and file size limits"
    if name.startswith("SQLITE_READONLY") or name.startswith("SQLITE_CANTOPEN"):
        return f"the file or its directory cannot be written ({e})"
    return f"{e} ({name})" if name else str(e)


# Rows per multi-row INSERT: within SQLite's default limit on a VALUES list
# (SQLITE_MAX_COMPOUND_SELECT, 500) and on bound parameters (checked below).
ROWS_PER_INSERT = 500


def insert_rows(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple]) -> None:
    """``conn.executemany(sql, rows)`` for ``sql`` an INSERT of one row ``VALUES (?, ...)``,
    run as INSERTs of up to ROWS_PER_INSERT rows each.

    The rows go in in the same order, so the tables end up the same (an
    ``INSERT OR REPLACE`` of one key twice keeps the later row); a statement
    of many rows saves SQLite's per-statement work and the sqlite3 module's
    per-row loop (benchmarks/RESULTS.md).
    """
    if len(rows) < 2:
        conn.executemany(sql, rows)
        return
    head, _, one = sql.rpartition(" VALUES ")
    width = len(rows[0])
    per = max(1, min(ROWS_PER_INSERT, _variable_limit(conn) // width))
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        conn.execute(f"{head} VALUES {', '.join([one] * len(chunk))}", list(itertools.chain.from_iterable(chunk)))


def _variable_limit(conn: sqlite3.Connection) -> int:
    # Connection.getlimit is Python 3.11+; 999 is the lowest limit any SQLite has had.
    getlimit = getattr(conn, "getlimit", None)
    return getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if getlimit else 999
