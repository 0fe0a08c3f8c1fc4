"""The ledger as a library: create, append, read, prove, rebuild.

``Ledger`` ties the pieces together: records are completed and validated,
signed into entries (``envelope``), checked against the current state
(``rules``), stored with their tree hashes (``store``, ``tree``), projected
into the browsing tables (``projection``), and each batch ends with a
checkpoint signed by the log key (``checkpoint``). A batch is one SQLite
transaction: it appends entirely or not at all.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from ledger import tree
from ledger.checkpoint import Checkpoint, format_tlog_proof, open_checkpoint_untrusted, sign_checkpoint
from ledger.envelope import Entry
from ledger.errors import LedgerError, NotFoundError, ProofError, RecordError
from ledger.note import Signer, parse_verifier_key_untrusted
from ledger.projection import Projection
from ledger.quotes import anchor_quote, snapshot_text
from ledger.records import Claim, Correction, KeyRecord, Record, Retraction, quote_to_anchor, utc_now
from ledger.rules import check_entry
from ledger.signing import BatchPreparer, RecordText  # noqa: F401 - RecordText: what append takes for JSON text
from ledger.store import Store

MAX_BATCH = 1_000_000


class Ledger:
    def __init__(self, store: Store):
        self.store = store
        meta = store.meta()
        self.origin = meta["origin"]
        self.log_vkey = meta["log_vkey"]
        self.log_verifier = parse_verifier_key_untrusted(self.log_vkey)
        self.projection = Projection(store.conn, self.record_at)
        self._unstored: list[Entry] = []  # appended in this batch, not yet written (see append)

    # --- opening ------------------------------------------------------------------
    @classmethod
    def create(cls, path, log_signer: Signer, *, display_name: Optional[str] = None, created: Optional[str] = None,
               extra_meta: Optional[dict] = None) -> "Ledger":
        """Create a ledger whose origin is the log key's name; entry 0 registers the log key."""
        store = Store.create(path, {"origin": log_signer.name, "log_vkey": log_signer.vkey, **(extra_meta or {})})
        try:
            ledger = cls(store)
            ledger.projection.create_tables()
            store.conn.execute("COMMIT")
            record = KeyRecord(id="key:log", created=created or utc_now(), vkey=log_signer.vkey,
                               display_name=display_name or log_signer.name, role="log", status="active")
            ledger.append([record], log_signer, log_signer)
        except BaseException:
            store.close()
            Path(path).unlink(missing_ok=True)
            raise
        return ledger

    @classmethod
    def open(cls, path, *, readonly: bool = False, immutable: bool = False) -> "Ledger":
        return cls(Store.open(path, readonly=readonly, immutable=immutable))

    def close(self):
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- reading --------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.store.size()

    def entry(self, index: int) -> Entry:
        return Entry.from_leaf_untrusted(index, self.store.leaf(index))

    def record_at(self, index: int) -> Record:
        if self._unstored:
            self._store_entries()
        return self.entry(index).record

    @contextlib.contextmanager
    def _unstored_dropped(self):
        # A failed batch is rolled back: forget what it had not written yet.
        try:
            yield
        finally:
            self._unstored = []

    def _store_entries(self) -> None:
        # An append stores its entries a window at a time, with one
        # executemany; anything that reads one back stores them first.
        unstored, self._unstored = self._unstored, []
        self.store.insert_entries(unstored)

    def current(self, record_id: str) -> Entry:
        head = self.projection.head(record_id)
        if head is None:
            raise NotFoundError(f"no record {record_id!r} in this ledger")
        return self.entry(head.entry_idx)

    def history(self, record_id: str) -> list[Entry]:
        indexes = self.store.record_versions(record_id)
        if not indexes:
            raise NotFoundError(f"no record {record_id!r} in this ledger")
        return [self.entry(i) for i in indexes]

    def notices_for(self, record_id: str) -> list[Entry]:
        rows = self.store.conn.execute("SELECT entry_idx FROM notices WHERE target_id = ? ORDER BY entry_idx", (record_id,))
        return [self.entry(r[0]) for r in rows]

    def read_snapshot(self, sha256: str):
        return self.store.snapshot(sha256)

    # --- checkpoints and proofs ------------------------------------------------------------
    def latest_checkpoint_note(self) -> str:
        row = self.store.latest_checkpoint()
        if row is None:
            raise NotFoundError("the log has no checkpoint yet")
        return row[1]

    def checkpoint_note(self, tree_size: int) -> str:
        for size, note in self.store.checkpoints():
            if size == tree_size:
                return note
        raise NotFoundError(f"no checkpoint was signed at tree size {tree_size}")

    def _size_or_latest(self, size: Optional[int]) -> int:
        latest = self.store.latest_checkpoint()
        if latest is None:
            raise NotFoundError("the log has no checkpoint yet")
        if size is None:
            return latest[0]
        if not 1 <= size <= self.size:
            raise ProofError(f"tree size {size} is out of range: the log has {self.size} entries")
        return size

    def prove_inclusion(self, index: int, size: Optional[int] = None) -> dict:
        size = self._size_or_latest(size)
        if not 0 <= index < size:
            raise ProofError(f"entry {index} is not in a tree of size {size}")
        hashes = tree.prove_inclusion(size, index, self.store)
        return {"leaf_index": index, "tree_size": size, "hashes": [tree_b64(h) for h in hashes]}

    def prove_consistency(self, old_size: int, size: Optional[int] = None) -> dict:
        size = self._size_or_latest(size)
        if not 1 <= old_size <= size:
            raise ProofError(f"old size {old_size} must be between 1 and the tree size {size}")
        hashes = tree.prove_consistency(old_size, size, self.store)
        return {"old_size": old_size, "tree_size": size, "hashes": [tree_b64(h) for h in hashes]}

    def tlog_proof(self, index: int, size: Optional[int] = None) -> str:
        """The C2SP tlog-proof@v1 bundle for entry ``index``; its extra data carries the
        entry and the registration of the key that signed it (docs/verify.md)."""
        from ledger.verify import proof_extra

        size = self._size_or_latest(size)
        note = self.checkpoint_note(size)
        entry = self.entry(index) if 0 <= index < size else None
        if entry is None:
            raise ProofError(f"entry {index} is not in a tree of size {size}")
        key = self.projection.key(entry.signer)
        if key is None:
            raise NotFoundError(f"the key {entry.signer} that signed entry {index} is not registered")
        key_index = key.registered_idx
        extra = proof_extra(entry.leaf, key_index, self.store.leaf(key_index), tree.prove_inclusion(size, key_index, self.store))
        return format_tlog_proof(index, tree.prove_inclusion(size, index, self.store), note, extra)

    def root(self, size: Optional[int] = None) -> bytes:
        return tree.tree_hash(self.size if size is None else size, self.store)

    # --- appending ---------------------------------------------------------------------------
    def append(self, records: Sequence, signer: Signer, log_signer: Signer, *, snapshots: Iterable[tuple[bytes, str]] = (),
               progress: Optional[Callable[[int], None]] = None, on_wait: Optional[Callable[[], None]] = None) -> list[Entry]:
        """Sign and append ``records`` (Record objects, dicts or RecordText) as one atomic batch.

        ``snapshots`` are (content, media type) pairs stored content-addressed
        before the records are checked. ``signer`` signs every record;
        ``log_signer`` signs the checkpoint that ends the batch.
        """
        self._check_batch(records, log_signer)
        snapshots = list(snapshots)
        entries = []
        with self.store.write_lock(on_wait=on_wait):
            for content, media_type in snapshots:
                self.store.add_snapshot(hashlib.sha256(content).hexdigest(), media_type, content)
            size = self.store.size()
            self._check_consistent_with_last_checkpoint(size)
            # The tree's right edge is read once; each leaf's stored hashes
            # then come from memory (tree.TreeBuilder) and are written at the end.
            builder, hashes = tree.TreeBuilder.from_reader(size, self.store), []
            complete, signed_by = functools.partial(self._prepare, batch_snapshots={}), signer.vkey
            with self.projection.cached(), BatchPreparer(signer, self.origin, len(records)) as preparer, \
                    self._unstored_dropped():
                for window in preparer.entries(records, complete, first_index=size):
                    self.projection.prefetch_heads(entry.record.id for entry in window)
                    for entry in window:
                        self._check(entry, size, signed_by)
                        hashes.extend(builder.append(entry.leaf_hash))
                        entries.append(entry)
                        self._unstored.append(entry)
                        self.projection.apply(entry)
                        if progress:
                            progress(1)
                    # Write this window's rows while the workers sign the next.
                    self._store_entries()
                    self.projection.flush()
            self.store.insert_tree_hashes(tree.stored_hash_count(size), hashes)
            self._sign_checkpoint(size + len(entries), log_signer)
        return entries

    def _check_batch(self, records: Sequence, log_signer: Signer) -> None:
        if log_signer.vkey != self.log_vkey:
            raise LedgerError(f"the checkpoint key {log_signer.vkey} is not this ledger's log key {self.log_vkey}")
        if not records:
            raise RecordError("nothing to append: the batch is empty")
        if len(records) > MAX_BATCH:
            raise RecordError(f"a batch holds at most {MAX_BATCH} records; split the file")

    def _check(self, entry: Entry, size: int, signed_by: str) -> None:
        # The rules, with the error numbered by the record's place in the batch.
        try:
            check_entry(entry, self.projection, self.origin, self.store.snapshot, signed_by=signed_by)
        except LedgerError as e:
            raise type(e)(f"record {entry.index - size + 1}: {e}") from e

    def _sign_checkpoint(self, size: int, log_signer: Signer) -> None:
        checkpoint = Checkpoint(origin=self.origin, size=size, root_hash=tree.tree_hash(size, self.store))
        self.store.add_checkpoint(size, sign_checkpoint(checkpoint, log_signer))

    def _check_consistent_with_last_checkpoint(self, size: int) -> None:
        # The log never signs a tree that is not an append-only extension of
        # the last tree it signed (RFC 9162 §2.1.4): re-derive both roots
        # from the stored hashes and check them against the signed note.
        latest = self.store.latest_checkpoint()
        if latest is None:
            if size:
                raise LedgerError("the log has entries but no checkpoint; it was not written by this program")
            return
        old_size, note = latest
        checkpoint = open_checkpoint_untrusted(note, self.log_verifier, self.origin)
        if old_size != size or checkpoint.size != size or tree.tree_hash(size, self.store) != checkpoint.root_hash:
            raise LedgerError(
                f"refusing to sign: the stored tree (size {size}) does not match the last signed checkpoint (size {checkpoint.size}); run 'ledger verify'"
            )

    def _prepare(self, data: dict, number: int, batch_snapshots: dict) -> Optional[Record]:
        """What ``append`` does with each record before it is signed (``BatchPreparer.entries``'s
        ``complete``): the claim whose quote it anchors here (``_complete``), or None.

        ``batch_snapshots`` maps each source met earlier in the batch to its
        snapshot hash: those sources are not in the browsing tables yet when
        a later claim is anchored, and the latest version wins as it will
        once they are. (A source the schema refuses stops the batch at its
        own turn, before any claim after it is stored.)
        """
        if data.get("kind") == "source" and isinstance(data.get("id"), str):
            snapshot = data.get("snapshot")
            batch_snapshots[data["id"]] = snapshot.get("sha256") if isinstance(snapshot, dict) else None
        return self._complete(data, f"record {number}", batch_snapshots) if quote_to_anchor(data) else None

    def _complete(self, data: dict, where: str, batch_snapshots: dict) -> Record:
        """Validate a claim and anchor its quote in its source's snapshot."""
        try:
            record = Record.from_dict(data)
        except RecordError as e:
            raise RecordError(f"{where}: {e}") from e
        if isinstance(record, Claim) and record.quote and record.quote.start is None:
            sha = batch_snapshots[record.source] if record.source in batch_snapshots else self.projection.source_snapshot(record.source)
            stored = self.store.snapshot(sha) if sha else None
            if stored:
                text = snapshot_text(stored[1], stored[0])
                if text is None:
                    raise RecordError(f"{where}: the snapshot of {record.source} is not UTF-8 text")
                q = record.quote
                try:
                    anchored = anchor_quote(text, q.exact, q.prefix, q.suffix)
                except RecordError as e:
                    raise RecordError(f"{where}: {e}") from e
                record = record.evolve(quote=anchored)
        return record

    def revision(self, record_id: str, note: str, **changes) -> Record:
        """The next version of a record with ``changes`` applied (not yet appended)."""
        current = self.current(record_id)
        data = current.record.to_dict()
        for key, value in changes.items():
            if key in ("kind", "id", "version", "replaces", "created"):
                raise RecordError(f"a revision cannot set {key!r}: it keeps the record's kind and ID, and the ledger sets the rest")
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value.to_dict() if hasattr(value, "to_dict") else value
        data.update(version=current.record.version + 1, replaces=current.hash_hex, note=note, created=utc_now())
        return Record.from_dict(data)

    def correct(self, record_id: str, reason: str, changes: dict, signer: Signer, log_signer: Signer, **kw) -> list[Entry]:
        """Append a corrected version of a record and the public correction notice, in one batch."""
        current = self.current(record_id)
        revised = self.revision(record_id, f"Correction: {reason}", **changes)
        # Ed25519 signatures are deterministic and a leaf does not depend on
        # its position, so the new version's entry hash is known before it is appended.
        corrected_hash = Entry.sign(0, revised, signer, self.origin).hash_hex
        notice = Correction(id=notice_id("correction", record_id, current.record.version), created=revised.created,
                            target=record_id, target_entry=current.hash_hex, corrected_entry=corrected_hash, reason=reason)
        return self.append([revised, notice], signer, log_signer, **kw)

    def retract(self, record_id: str, reason: str, signer: Signer, log_signer: Signer, **kw) -> list[Entry]:
        """Append a public retraction of a record's current version."""
        current = self.current(record_id)
        notice = Retraction(id=notice_id("retraction", record_id, current.record.version), created=utc_now(),
                            target=record_id, target_entry=current.hash_hex, reason=reason)
        return self.append([notice], signer, log_signer, **kw)

    # --- maintenance ----------------------------------------------------------------------------
    def rebuild(self, progress: Optional[Callable[[int], None]] = None, on_wait=None) -> int:
        """Drop and recompute the browsing tables from the entries; returns the entry count."""
        with self.store.write_lock(on_wait=on_wait):
            self.projection.drop_tables()
            self.projection.create_tables()
            count = 0
            with self.projection.cached():
                for index, leaf in self.store.leaves():
                    self.projection.apply(Entry.from_leaf_untrusted(index, leaf))
                    count += 1
                    if progress:
                        progress(1)
        return count

    def export_jsonl(self, out) -> int:
        """Write line i = leaf bytes of entry i (docs/format.md); returns the count."""
        count = 0
        for _, leaf in self.store.leaves():
            out.write(leaf + b"\n")
            count += 1
        return count


def notice_id(kind: str, record_id: str, version: int) -> str:
    """A readable ID for a notice about one version of a record, e.g. correction:claim.x.v2."""
    slug = record_id.split(":", 1)[1]
    return f"{kind}:{record_id.split(':', 1)[0]}.{slug}.v{version}"[:len(kind) + 129]


def tree_b64(h: bytes) -> str:
    return base64.b64encode(h).decode()
