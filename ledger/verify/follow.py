"""A monitor's state, and the replay of each new entry against it (docs/witness.md "Monitoring").

``ledger monitor`` follows a published ledger across runs. Its state is one
SQLite file: the checkpoints it verified, and the browsing tables of the
entries up to the last one (``ledger.projection``, as verify's replay
builds them). Each run replays only the new entries, exactly as
``ledger verify`` does (``rules.check_entry`` against that state, then
``Projection.apply``; the Ed25519 signatures on the worker pool), in one
transaction that commits with the new checkpoint only after every check
held: a run that fails, or is killed, leaves the state as it was.

A first run writes a new file beside the state's name and renames it into
place when it commits, so there is never a half-made state either.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from ledger.envelope import Entry
from ledger.errors import FormatError, LedgerError, RecordError, SignatureError
from ledger.note import Verifier, parse_verifier_key_untrusted
from ledger.projection import Projection, WitnessState
from ledger.records import KeyRecord
from ledger.rules import check_entry
from ledger.verify.workers import Workers

FORMAT = "fact-ledger-monitor/2"
STATE_SCHEMA = (
    "CREATE TABLE monitor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Every checkpoint verified, oldest first: what this monitor saw, kept as evidence.
    "CREATE TABLE monitor_checkpoints (tree_size INTEGER NOT NULL, note TEXT NOT NULL, checked_at INTEGER NOT NULL)",
)


class EntryError(LedgerError):
    """A new entry does not follow the ledger's rules, or its signature does not verify."""


class FollowState:
    """The state of one monitored log; use ``FollowState.open`` or ``FollowState.create``, then
    ``replay`` the new entries and ``commit`` (or ``close`` without committing)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, final_path: Optional[Path] = None):
        self.path = path
        self._conn = conn
        self._final_path = final_path  # a first run's state is written beside its name, then renamed
        meta = dict(conn.execute("SELECT key, value FROM monitor_meta"))
        if meta.get("format") != FORMAT:
            raise FormatError(f"{final_path or path} is not a monitor state (expected format {FORMAT})")
        self.log_verifier: Verifier = parse_verifier_key_untrusted(meta["log_vkey"])
        self.location = meta.get("location")
        row = conn.execute("SELECT tree_size, note FROM monitor_checkpoints ORDER BY rowid DESC LIMIT 1").fetchone()
        self.size, self.note = (row[0], row[1]) if row else (0, None)
        self.projection = Projection(conn, self._record_at)
        self._new: dict[int, bytes] = {}
        self._read_leaf: Optional[Callable[[int], bytes]] = None

    # --- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path) -> Optional["FollowState"]:
        """The saved state, locked for this run (a second monitor of the same file waits); None if there is none yet."""
        path = Path(path)
        if not path.exists():
            return None
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=60)
            conn.execute("BEGIN IMMEDIATE")
            return cls(path, conn)
        except (sqlite3.DatabaseError, KeyError) as e:
            raise FormatError(f"{path} is not a monitor state ({e}); give --state a new file to start again") from e

    @classmethod
    def create(cls, path, log_vkey: str, location: str) -> "FollowState":
        """A new, empty state for the log with this key, written beside ``path`` until it commits."""
        final = Path(path)
        if final.exists():
            raise LedgerError(f"{final} exists already")
        temporary = final.with_name(f".{final.name}.{os.getpid()}.new")
        temporary.unlink(missing_ok=True)
        conn = sqlite3.connect(temporary, isolation_level=None)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("BEGIN")
        for ddl in STATE_SCHEMA:
            conn.execute(ddl)
        conn.executemany("INSERT INTO monitor_meta VALUES (?, ?)",
                         [("format", FORMAT), ("log_vkey", log_vkey), ("location", location)])
        Projection(conn, None).create_tables(full_text=False)
        return cls(temporary, conn, final_path=final)

    def close(self) -> None:
        """Drop this run's changes unless they were committed."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._conn.close()
        if self._final_path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "FollowState":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what the state knows ------------------------------------------------------------------------
    def witnesses(self) -> list[WitnessState]:
        """The witnesses the log names, as of the entries replayed so far."""
        return self.projection.witnesses()

    def _record_at(self, index: int):
        leaf = self._new.get(index)
        if leaf is None:
            if self._read_leaf is None:
                raise LedgerError(f"entry {index} is needed but cannot be read")
            leaf = self._read_leaf(index)
        return _record(index, leaf)

    # --- the run ---------------------------------------------------------------------------------
    def replay(self, chunks: Iterable[Sequence[bytes]], read_leaf: Callable[[int], bytes], on_entry: Callable[[Entry], None],
               workers: Optional[int] = None) -> int:
        """Check and apply the entries after ``size``, given in order as chunks of leaves, as ``ledger verify`` does.

        ``read_leaf(i)`` gives an earlier entry's leaf when a rule or the
        projection needs it (the version a revision replaces);
        ``on_entry(entry)`` is called for each entry once it passed the rules.
        Returns how many entries were replayed. Raises EntryError at the
        first entry that breaks a rule or whose signature does not verify;
        nothing is kept then.
        """
        self._read_leaf = read_leaf
        next_index = self.size
        with Workers(workers) as pool, self.projection.cached():
            for leaves in chunks:
                # Only this chunk's leaves are kept: a first run over a large log holds one chunk at a time.
                self._new = dict(enumerate(leaves, next_index))
                next_index += len(self._new)
                for index, leaf in self._new.items():
                    entry = _entry_from_untrusted(index, leaf)
                    self._check_log_key(entry)
                    try:
                        check_entry(entry, self.projection, self.log_verifier.name, None, pool.signatures)
                    except (RecordError, SignatureError, FormatError) as e:
                        raise EntryError(str(e)) from e
                    self.projection.apply(entry)
                    pool.send_full_chunk()
                    on_entry(entry)
            bad = pool.bad_signatures()
        if bad:
            entry = _entry_from_untrusted(bad[0], self._new.get(bad[0]) or read_leaf(bad[0]))
            raise EntryError(f"entry {entry.index} ({entry.record.id} v{entry.record.version}): signature by "
                             f"{entry.signer} does not verify under its registered key")
        return next_index - self.size

    def _check_log_key(self, entry: Entry) -> None:
        # docs/verify.md step 1: entry 0 registers the log key, the one this monitor follows.
        record = entry.record
        if entry.index == 0 and not (isinstance(record, KeyRecord) and record.role == "log" and record.vkey == self.log_verifier.vkey):
            raise EntryError(f"entry 0 does not register the log key {self.log_verifier.vkey}: this is another log")

    def commit(self, tree_size: int, note: str, checked_at: int) -> None:
        """Keep the replayed entries and the checkpoint that covers them; durable once this returns."""
        self._conn.execute("INSERT INTO monitor_checkpoints VALUES (?, ?, ?)", (tree_size, note, checked_at))
        self._conn.execute("COMMIT")
        if self._final_path is not None:
            os.replace(self.path, self._final_path)
            _sync_directory(self._final_path.parent)
            self.path, self._final_path = self._final_path, None
        self.size, self.note = tree_size, note


def _entry_from_untrusted(index: int, leaf: bytes) -> Entry:
    try:
        return Entry.from_leaf_untrusted(index, leaf)
    except (FormatError, RecordError) as e:
        raise EntryError(f"entry {index} is not a valid entry: {e}") from e


@functools.lru_cache(maxsize=4096)
def _record(index: int, leaf: bytes):
    return Entry.from_leaf_untrusted(index, leaf).record


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
