"""Steps 1–3 of docs/verify.md: replay every leaf, in order, into empty browsing tables.

Each leaf becomes an entry, is checked by the rules at its position
(``rules.check_entry``: signer, versions, references, snapshots, quotes) and
is applied to the projection in an in-memory SQLite database, while the
RFC 6962 tree is recomputed from the leaf hashes. The signatures go to the
worker pool (``workers.Workers``).

Each leaf is checked in full (step 2.1, ``Entry.from_leaf_untrusted``)
before it is replayed, so every failure is reported where it is, in order.
"""

from __future__ import annotations

import base64
import functools
import sqlite3
from typing import Callable, Optional

from ledger import tree
from ledger.envelope import Entry
from ledger.errors import FormatError, RecordError, SignatureError
from ledger.note import Verifier, parse_verifier_key_untrusted
from ledger.projection import Projection
from ledger.quotes import SnapshotCache
from ledger.records import KeyRecord
from ledger.rules import check_entry
from ledger.verify.report import Report, key_fingerprint
from ledger.verify.sources import Source
from ledger.verify.workers import Workers


class Replay:
    """The replay of one source's leaves: the recomputed tree, the projection, the log key.

    After ``run``: ``tree`` holds every leaf hash, ``roots`` the root at
    each checkpoint size asked for, ``origin`` and ``log_verifier`` come
    from entry 0 (``log_verifier`` is None when entry 0 is not a usable log
    key), and ``snapshots`` every snapshot read from the source.
    """

    def __init__(self, source: Source, report: Report, workers: Workers, *, pinned: Optional[Verifier], checkpoint_sizes):
        self.source, self.report, self.workers = source, report, workers
        self.pinned = pinned
        self.db = sqlite3.connect(":memory:", isolation_level=None, uri=True)  # uri: to ATTACH the file read-only
        self.leaves: dict[int, bytes] = {}
        leaves = self.leaves  # not self: a cycle would keep the source's read cursors open until a collection
        # Revisions read the version they replace; recent ones are usually still cached.
        self.projection = Projection(self.db, functools.lru_cache(maxsize=4096)(
            lambda i: Entry.from_leaf_untrusted(i, leaves[i]).record))
        # A file's search index is checked against its own claims table
        # (sqlite_checks), so the replay needs none of its own.
        self.projection.create_tables(full_text=False)
        self.db.execute("BEGIN")
        self.tree = tree.TreeBuilder()
        self.roots: dict[int, bytes] = {}
        self._wanted_sizes = {size for size in checkpoint_sizes if size}
        file = source.ledger_file()
        self._stored_hashes = iter(file.stored_hash_rows()) if file is not None else None
        self.origin: Optional[str] = None
        self.log_verifier: Optional[Verifier] = None
        # Each snapshot read once and decoded once, however many claims quote it.
        self.read_snapshot = SnapshotCache(source.snapshot)
        self.snapshots: dict[str, Optional[tuple[str, bytes]]] = self.read_snapshot.read_so_far

    def __enter__(self) -> "Replay":
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()

    def run(self, progress: Optional[Callable[[int], None]] = None) -> None:
        """Replay every leaf (steps 1, 2 and 3), then fill in the report's figures."""
        with self.projection.cached():
            count = self._replay(progress)
        self.report.entries = count
        self.report.tree_size = self.tree.size
        self.report.root = base64.b64encode(self.tree.root()).decode() if count else None
        self.report.origin = self.origin
        self.report.log_vkey = self.log_verifier.vkey if self.log_verifier else None
        self.report.log_key_fingerprint = key_fingerprint(self.log_verifier.vkey) if self.log_verifier else None
        if self._stored_hashes is not None and next(self._stored_hashes, None) is not None:
            self.report.fail("tree_hashes", "holds more stored hashes than the entries produce")

    def _replay(self, progress) -> int:
        """The number of leaves read; stops at a gap in the indexes or an unusable entry 0."""
        count = 0
        for index, leaf, stored in self.source.leaves():
            if index != count:
                self.report.fail(f"entry {count}", f"entries are not contiguous: found index {index}")
                break
            count += 1
            self.leaves[index] = leaf
            self._add_to_tree(index, leaf)
            entry = self._entry(index, leaf)
            if entry is None:
                continue
            if stored is not None:
                self._check_stored_columns(entry, stored)
            if index == 0 and not self._take_log_key(entry):
                break
            self._apply(entry)
            if progress:
                progress(1)
        return count

    def _add_to_tree(self, index: int, leaf: bytes) -> None:
        # Step 3: a ledger file stores the tree's hashes; each must be the one recomputed here, in order.
        for h in self.tree.append(tree.leaf_hash(leaf)):
            if self._stored_hashes is not None:
                found = next(self._stored_hashes, None)
                if found is None or found[1] != h:
                    self.report.fail(f"entry {index}", "stored tree hash " + (
                        f"{found[0]} differs from the hash recomputed from the leaves" if found else "missing"))
        if self.tree.size in self._wanted_sizes:
            self.roots[self.tree.size] = self.tree.root()

    def _entry(self, index: int, leaf: bytes) -> Optional[Entry]:
        # Step 2.1: the leaf is the canonical form of a valid signed envelope.
        try:
            return Entry.from_leaf_untrusted(index, leaf)
        except (FormatError, RecordError) as e:
            self.report.fail(f"entry {index}", str(e).removeprefix(f"entry {index}: "))
            return None

    def _check_stored_columns(self, entry: Entry, stored: tuple) -> None:
        expected = (entry.hash_hex, entry.record.kind, entry.record.id, entry.record.version, entry.signer)
        if tuple(stored) != expected:
            self.report.fail(f"entry {entry.index}", f"stored columns {tuple(stored)} do not match the leaf, expected {expected}")

    def _take_log_key(self, entry: Entry) -> bool:
        """Step 1: entry 0 registers the log key (the pinned one, if any); its name is the origin."""
        record = entry.record
        if not (isinstance(record, KeyRecord) and record.role == "log"):
            self.report.fail("entry 0", "the first entry must register the log key")
            return False
        verifier = parse_verifier_key_untrusted(record.vkey)
        if self.pinned and self.pinned.vkey != verifier.vkey:
            self.report.fail("entry 0", f"log key is {verifier.vkey}, expected the pinned {self.pinned.vkey}")
            return False
        if not self.pinned:
            self.report.warnings.append(f"the log key was not pinned (--vkey): it was taken from {self.source.key_origin}; "
                                        "anyone could have made this ledger: compare the key, or its fingerprint, with "
                                        "those the publisher announces elsewhere")
        self.origin, self.log_verifier = verifier.name, verifier
        return True

    def _apply(self, entry: Entry) -> None:
        # Steps 2.2–2.6 (the signature itself goes to the workers), then the entry's rows.
        record = entry.record
        available = self.source.snapshots_available
        try:
            check_entry(entry, self.projection, self.origin, self.read_snapshot if available else None, self.workers.signatures)
            if record.kind == "claim" and record.quote and available and self.projection.source_snapshot(record.source):
                self.report.quotes_checked += 1
            self.projection.apply(entry)
        except (RecordError, SignatureError, FormatError) as e:
            self.report.fail(f"entry {entry.index} ({record.id} v{record.version})", _without_where(str(e), entry.index))
        self.workers.send_full_chunk()


def _without_where(message: str, index: int) -> str:
    # The rules name the entry in their messages; the report names it in ``where``.
    return message.split(": ", 1)[1] if message.startswith(f"entry {index} ") and ": " in message else message
