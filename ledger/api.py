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
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

from ledger import tree
from ledger.checkpoint import Checkpoint, format_tlog_proof, open_checkpoint_untrusted, sign_checkpoint
from ledger.canonical import parse_json_untrusted
from ledger.editing import (changes_from_edits, claim_fields, claim_record, drop_empty, key_record, read_file, review_record,
                            signer_id, source_record, witness_record)
from ledger.envelope import Entry
from ledger.errors import FormatError, KeyFileError, LedgerError, NotFoundError, ProofError, RecordError
from ledger.note import Signer, parse_verifier_key_untrusted
from ledger.projection import Head, KeyState, Projection, WitnessState
from ledger.quotes import SnapshotCache, anchor_in_snapshot
from ledger.records import Claim, Correction, KeyRecord, Record, Retraction, Source, quote_to_anchor, utc_now
from ledger.rules import check_entry
from ledger.signing import PARALLEL_MIN, BatchPreparer, RecordText  # noqa: F401 - RecordText: what append takes for JSON text
from ledger.store import Store, remove_ledger_files

MAX_BATCH = 1_000_000


class Ledger:
    """One ledger file: its log, its browsing tables, and every verb on them.

    Open one with ``Ledger.create(path, log_signer)`` or ``Ledger.open(path)``,
    and close it (or use ``with``). The verbs:

    - reading: ``path``, ``size``, ``entry``, ``entries``, ``current``, ``status``,
      ``history``, ``notices_for``, ``record_count``, ``read_snapshot``, ``meta``;
    - read views for the site, exports and tiles: ``checkpoints``,
      ``latest_checkpoint``, ``checkpoint_covering``, ``snapshot``, ``snapshots``,
      ``head``, ``heads``, ``registered_keys``, ``links_to``, ``read_hashes``
      (a ``tree.HashReader``), ``read_leaves`` (a ``tiles.LeafReader``);
    - appending, each call one atomic batch that ends with a checkpoint
      signed by the log key: ``append`` (of records, dicts, or
      ``records_from_file``), ``add_source``, ``add_claim``, ``add_review``,
      ``register_key``, ``revoke_key``, ``revise``, ``revise_claim``,
      ``correct``, ``retract``, ``set_rating_map``;
    - preparing, without appending: ``revision``, ``apply_changes``,
      ``quote_anchor``, ``rating_maps`` (and ``ledger.editing``'s record
      builders, to append several records in one batch);
    - choosing the checkpoint's signer: ``log_key_file``, ``log_signer_for``;
    - proving: ``latest_checkpoint_note``, ``checkpoint_note``,
      ``prove_inclusion``, ``prove_consistency``, ``tlog_proof``, ``root``;
    - witnesses (docs/witness.md): ``witnesses``, ``add_witness``,
      ``remove_witness`` (appending), ``cosign`` (asks the active witnesses
      to cosign the latest checkpoint), ``add_cosignatures``,
      ``cosignatures``, ``cosigned_checkpoint_note``;
    - maintenance: ``rebuild``, ``export_jsonl``.

    A verb given bad input raises a ``LedgerError`` and leaves the file as it was.
    """

    def __init__(self, store: Store):
        self._store = store
        meta = store.meta()
        self.origin = meta["origin"]
        self.log_vkey = meta["log_vkey"]
        self.log_verifier = parse_verifier_key_untrusted(self.log_vkey)
        self._projection = Projection(store.conn, self.record_at)
        self._unstored: list[Entry] = []  # appended in this batch, not yet written (see append)
        missing = self._projection.missing_tables() if store.writable else []
        if missing:
            # A file written before these browsing tables existed: the entries it
            # holds are of kinds that put no rows in them, so they start empty.
            with store.write_lock():
                self._projection.create_tables_named(missing)

    # --- opening ------------------------------------------------------------------
    @classmethod
    def create(cls, path, log_signer: Signer, *, display_name: Optional[str] = None, created: Optional[str] = None,
               extra_meta: Optional[dict] = None, log_key_file=None) -> "Ledger":
        """Create a ledger whose origin is the log key's name; entry 0 registers the log key.

        ``log_key_file`` names the log key's file, remembered relative to the
        ledger so that ``log_key_file()`` finds it later.
        """
        meta = {"origin": log_signer.name, "log_vkey": log_signer.vkey, **(extra_meta or {})}
        if log_key_file is not None:
            meta["log_key_file"] = _path_from(path, log_key_file)
        store = Store.create(path, meta)
        try:
            ledger = cls(store)
            ledger._projection.create_tables()
            store.commit()
            record = KeyRecord(id="key:log", created=created or utc_now(), vkey=log_signer.vkey,
                               display_name=display_name or log_signer.name, role="log", status="active")
            ledger.append([record], log_signer, log_signer)
        except BaseException:
            store.close()
            remove_ledger_files(Path(path))
            raise
        return ledger

    @classmethod
    def open(cls, path, *, readonly: bool = False, immutable: bool = False) -> "Ledger":
        return cls(Store.open(path, readonly=readonly, immutable=immutable))

    @property
    def path(self) -> Path:
        """The ledger file."""
        return self._store.path

    def close(self):
        self._store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- reading --------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._store.size()

    def entry(self, index: int) -> Entry:
        return Entry.from_leaf_untrusted(index, self._store.leaf(index))

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
        self._store.insert_entries(unstored)

    def current(self, record_id: str) -> Entry:
        head = self._projection.head(record_id)
        if head is None:
            raise NotFoundError(f"no record {record_id!r} in this ledger")
        return self.entry(head.entry_idx)

    def history(self, record_id: str) -> list[Entry]:
        indexes = self._store.record_versions(record_id)
        if not indexes:
            raise NotFoundError(f"no record {record_id!r} in this ledger")
        return [self.entry(i) for i in indexes]

    def notices_for(self, record_id: str) -> list[Entry]:
        """The corrections and retractions of a record, oldest first."""
        return [self.entry(i) for i in self._projection.notice_indexes(record_id)]

    def read_snapshot(self, sha256: str):
        return self._store.snapshot(sha256)

    # --- reading: what the CLI shows ------------------------------------------------------
    def meta(self) -> dict:
        """The ledger's metadata: format, origin, log_vkey, and log_key_file when it was named at creation."""
        return self._store.meta()

    def entries(self, start: int = 0, end: Optional[int] = None) -> Iterator[Entry]:
        """The entries with start <= index < end (default: to the end of the log), in order."""
        for index, leaf in self._store.leaves(start, end):
            yield Entry.from_leaf_untrusted(index, leaf)

    def status(self, record_id: str) -> str:
        """The status of a record: active, corrected (a correction names it) or retracted."""
        head = self._projection.head(record_id)
        if head is None:
            raise NotFoundError(f"no record {record_id!r} in this ledger")
        return head.status

    def record_count(self, kind: str) -> int:
        """How many records of ``kind`` (claim, source, ...) the log holds, each counted once."""
        return self._store.record_count(kind)

    # --- choosing the checkpoint's signer ---------------------------------------------------
    def log_key_file(self, given=None) -> Union[str, os.PathLike]:
        """The log key's file: ``given``, else the file named when the ledger was created."""
        if given is not None:
            return given
        hint = self.meta().get("log_key_file")
        if not hint:
            raise KeyFileError("signing a checkpoint needs the log key: pass --log-key FILE or set LEDGER_LOG_KEY")
        return str(Path(self._store.path).parent / hint)

    def log_signer_for(self, signer: Optional[Signer], read_key: Callable[[Union[str, os.PathLike]], Signer],
                       log_key_file=None) -> Signer:
        """Who signs the checkpoint of a batch that ``signer`` signs.

        ``signer`` itself when it is the log key; else the log key read by
        ``read_key`` (which may ask for its passphrase) from
        ``log_key_file(log_key_file)``.
        """
        if signer is not None and signer.vkey == self.log_vkey:
            return signer
        return read_key(self.log_key_file(log_key_file))

    # --- checkpoints and proofs ------------------------------------------------------------
    def latest_checkpoint_note(self) -> str:
        row = self._store.latest_checkpoint()
        if row is None:
            raise NotFoundError("the log has no checkpoint yet")
        return row[1]

    def checkpoint_note(self, tree_size: int) -> str:
        # One indexed lookup: the first checkpoint whose tree holds entry tree_size - 1.
        found = self._store.checkpoint_covering(tree_size - 1) if tree_size >= 1 else None
        if found is None or found[0] != tree_size:
            raise NotFoundError(f"no checkpoint was signed at tree size {tree_size}")
        return found[1]

    def _size_or_latest(self, size: Optional[int]) -> int:
        latest = self._store.latest_checkpoint()
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
        hashes = tree.prove_inclusion(size, index, self._store)
        return {"leaf_index": index, "tree_size": size, "hashes": [tree_b64(h) for h in hashes]}

    def prove_consistency(self, old_size: int, size: Optional[int] = None) -> dict:
        size = self._size_or_latest(size)
        if not 1 <= old_size <= size:
            raise ProofError(f"old size {old_size} must be between 1 and the tree size {size}")
        hashes = tree.prove_consistency(old_size, size, self._store)
        return {"old_size": old_size, "tree_size": size, "hashes": [tree_b64(h) for h in hashes]}

    def tlog_proof(self, index: int, size: Optional[int] = None) -> str:
        """The C2SP tlog-proof@v1 bundle for entry ``index``; its extra data carries the
        entry and the registration of the key that signed it (docs/verify.md). Its checkpoint
        carries the witnesses' cosignatures, so one claim's proof shows them too."""
        from ledger.checkpoint import proof_extra

        size = self._size_or_latest(size)
        note = self.cosigned_checkpoint_note(size)
        entry = self.entry(index) if 0 <= index < size else None
        if entry is None:
            raise ProofError(f"entry {index} is not in a tree of size {size}")
        key = self._projection.key(entry.signer)
        if key is None:
            raise NotFoundError(f"the key {entry.signer} that signed entry {index} is not registered")
        key_index = key.registered_idx
        extra = proof_extra(entry.leaf, key_index, self._store.leaf(key_index), tree.prove_inclusion(size, key_index, self._store))
        return format_tlog_proof(index, tree.prove_inclusion(size, index, self._store), note, extra)

    def root(self, size: Optional[int] = None) -> bytes:
        return tree.tree_hash(self.size if size is None else size, self._store)

    # --- read views for the site and exports ---------------------------------------------------
    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """The stored tree hashes at ``indexes`` (Go tlog's layout): a Ledger is a ``tree.HashReader``."""
        return self._store.read_hashes(indexes)

    def read_leaves(self, start: int, end: int) -> list[bytes]:
        """The leaves of entries ``start`` .. ``end - 1``: a Ledger is a ``tiles.LeafReader``."""
        return [leaf for _, leaf in self._store.leaves(start, end)]

    def checkpoints(self) -> list[tuple[int, str]]:
        """Every signed checkpoint as (tree size, note), oldest first."""
        return self._store.checkpoints()

    def latest_checkpoint(self) -> Optional[tuple[int, str]]:
        """The latest signed checkpoint as (tree size, note), or None before the first."""
        return self._store.latest_checkpoint()

    def checkpoint_covering(self, index: int) -> Optional[tuple[int, str]]:
        """The first signed checkpoint whose tree includes entry ``index``, as (tree size, note)."""
        return self._store.checkpoint_covering(index)

    def snapshot(self, sha256: str) -> Optional[tuple[str, bytes]]:
        """The archived snapshot named by its SHA-256 (hex) as (media type, content), or None."""
        return self._store.snapshot(sha256)

    def snapshots(self) -> Iterator[tuple[str, str, bytes]]:
        """Every archived snapshot as (SHA-256 hex, media type, content), in name order."""
        for sha256, media_type, _, content in self._store.snapshot_rows():
            yield sha256, media_type, content

    def head(self, record_id: str) -> Optional[Head]:
        """Where a record's current version is in the log, and its status; None if there is no such record."""
        return self._projection.head(record_id)

    def heads(self, kind: str) -> list[Head]:
        """The current version of every record of ``kind`` ("claim", "source", ...), in log order of that version."""
        return self._projection.heads(kind)

    def registered_keys(self) -> list[KeyState]:
        """Every key registered in the log (signer ID, role, status, key record), in the order they were registered."""
        return self._projection.keys()

    def links_to(self, source_id: str) -> list[tuple[str, str]]:
        """The sources whose current version links to ``source_id``, as (source ID, relation), by source ID."""
        return self._projection.links_to(source_id)

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
        with self._store.write_lock(on_wait=on_wait):
            new_snapshots = set()
            for content, media_type in snapshots:
                sha256 = hashlib.sha256(content).hexdigest()
                if self._store.snapshot(sha256) is None:
                    new_snapshots.add(sha256)
                self._store.add_snapshot(sha256, media_type, content)
            size = self._store.size()
            self._check_consistent_with_last_checkpoint(size)
            # The tree's right edge is read once; each leaf's stored hashes
            # then come from memory (tree.TreeBuilder) and are written at the end.
            builder, hashes = tree.TreeBuilder.from_reader(size, self._store), []
            # Read and decoded once per batch, however many claims quote them.
            snapshots_read = SnapshotCache(self._store.snapshot)
            complete = functools.partial(self._prepare, batch_snapshots={}, read_snapshot=snapshots_read)
            signed_by = signer.vkey
            with self._projection.cached(), BatchPreparer(signer, self.origin, len(records)) as preparer, \
                    self._unstored_dropped():
                for window in preparer.entries(records, complete, first_index=size):
                    self._projection.prefetch_heads(entry.record.id for entry in window)
                    for entry in window:
                        self._check(entry, size, signed_by, snapshots_read)
                        hashes.extend(builder.append(entry.leaf_hash))
                        entries.append(entry)
                        self._unstored.append(entry)
                        self._projection.apply(entry)
                        if progress:
                            progress(1)
                    # Write this window's rows while the workers sign the next.
                    self._store_entries()
                    self._projection.flush()
            _check_snapshots_named(new_snapshots, entries)
            self._store.insert_tree_hashes(tree.stored_hash_count(size), hashes)
            self._sign_checkpoint(size + len(entries), log_signer)
        return entries

    def _check_batch(self, records: Sequence, log_signer: Signer) -> None:
        if log_signer.vkey != self.log_vkey:
            raise LedgerError(f"the checkpoint key {log_signer.vkey} is not this ledger's log key {self.log_vkey}")
        if not records:
            raise RecordError("nothing to append: the batch is empty")
        if len(records) > MAX_BATCH:
            raise RecordError(f"a batch holds at most {MAX_BATCH} records; split the file")

    def _check(self, entry: Entry, size: int, signed_by: str, read_snapshot: SnapshotCache) -> None:
        # The rules, with the error numbered by the record's place in the batch.
        try:
            check_entry(entry, self._projection, self.origin, read_snapshot, signed_by=signed_by)
        except LedgerError as e:
            raise type(e)(f"record {entry.index - size + 1}: {e}") from e

    def _sign_checkpoint(self, size: int, log_signer: Signer) -> None:
        checkpoint = Checkpoint(origin=self.origin, size=size, root_hash=tree.tree_hash(size, self._store))
        self._store.add_checkpoint(size, sign_checkpoint(checkpoint, log_signer))

    def _check_consistent_with_last_checkpoint(self, size: int) -> None:
        # The log never signs a tree that is not an append-only extension of
        # the last tree it signed (RFC 9162 §2.1.4): re-derive both roots
        # from the stored hashes and check them against the signed note.
        latest = self._store.latest_checkpoint()
        if latest is None:
            if size:
                raise LedgerError("the log has entries but no checkpoint; it was not written by this program")
            return
        old_size, note = latest
        checkpoint = open_checkpoint_untrusted(note, self.log_verifier, self.origin)
        if old_size != size or checkpoint.size != size or tree.tree_hash(size, self._store) != checkpoint.root_hash:
            raise LedgerError(
                f"refusing to sign: the stored tree (size {size}) does not match the last signed checkpoint (size {checkpoint.size}); run 'ledger verify'"
            )

    def _prepare(self, data: dict, number: int, batch_snapshots: dict, read_snapshot: SnapshotCache) -> Optional[Record]:
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
        return self._complete(data, f"record {number}", batch_snapshots, read_snapshot) if quote_to_anchor(data) else None

    def _complete(self, data: dict, where: str, batch_snapshots: dict, read_snapshot: SnapshotCache) -> Record:
        """Validate a claim and anchor its quote in its source's snapshot."""
        try:
            record = Record.from_dict(data)
        except RecordError as e:
            raise RecordError(f"{where}: {e}") from e
        if isinstance(record, Claim) and record.quote and record.quote.start is None:
            sha = batch_snapshots[record.source] if record.source in batch_snapshots else self._projection.source_snapshot(record.source)
            q = record.quote
            snapshot = read_snapshot(sha) if sha else None
            try:
                anchored = anchor_in_snapshot(snapshot, record.source, q.exact, q.prefix, q.suffix,
                                              text=read_snapshot.text(sha) if snapshot is not None else None)
            except RecordError as e:
                raise RecordError(f"{where}: {e}") from e
            if anchored:
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

    def correct(self, record_id: str, reason: str, changes: dict, signer: Signer, log_signer: Optional[Signer] = None,
                **kw) -> list[Entry]:
        """Append a corrected version of a record and the public correction notice, in one batch.

        ``changes`` maps fields to their corrected value (None removes one), as
        ``revision`` takes them or ``apply_changes`` makes them.
        """
        current = self.current(record_id)
        revised = self.revision(record_id, f"Correction: {reason}", **changes)
        # Ed25519 signatures are deterministic and a leaf does not depend on
        # its position, so the new version's entry hash is known before it is appended.
        corrected_hash = Entry.sign(0, revised, signer, self.origin).hash_hex
        notice = Correction(id=notice_id("correction", record_id, current.record.version), created=revised.created,
                            target=record_id, target_entry=current.hash_hex, corrected_entry=corrected_hash, reason=reason)
        return self.append([revised, notice], signer, log_signer or signer, **kw)

    def retract(self, record_id: str, reason: str, signer: Signer, log_signer: Optional[Signer] = None, **kw) -> list[Entry]:
        """Append a public retraction of a record's current version."""
        current = self.current(record_id)
        notice = Retraction(id=notice_id("retraction", record_id, current.record.version), created=utc_now(),
                            target=record_id, target_entry=current.hash_hex, reason=reason)
        return self.append([notice], signer, log_signer or signer, **kw)

    # --- editing: the verbs behind the CLI's commands -----------------------------------------
    # Each appends one batch signed by ``signer``; ``log_signer`` signs its
    # checkpoint (default: ``signer``, when that is the log key).
    def add_source(self, record_id: str, title: str, signer: Signer, log_signer: Optional[Signer] = None, *,
                   snapshot: Optional[tuple[bytes, str]] = None, links: Iterable[str] = (), on_wait=None,
                   **fields) -> list[Entry]:
        """Append a source; ``snapshot`` (content, media type) is stored with it.

        ``links`` are ``REL=SOURCE_ID``; ``fields`` are the source's other
        fields by name (``editing.source_record``).
        """
        record = source_record(record_id, title, snapshot=snapshot, links=links, **fields)
        return self.append([record], signer, log_signer or signer, snapshots=[snapshot] if snapshot else (), on_wait=on_wait)

    def add_claim(self, source_id: str, quote: str, language: str, signer: Signer, log_signer: Optional[Signer] = None, *,
                  record_id: Optional[str] = None, prefix: Optional[str] = None, suffix: Optional[str] = None,
                  start: Optional[int] = None, on_wait=None, **options) -> list[Entry]:
        """Append a claim anchored to the exact ``quote`` in its source's snapshot.

        ``prefix``, ``suffix`` or ``start`` single out a quote that occurs more
        than once; ``options`` are ``editing.claim_fields``'s (text,
        translation, attributed_to, quantity, tags, ...). The ID defaults to
        ``claim:`` and a random suffix.
        """
        anchor = self.quote_anchor(source_id, quote, prefix, suffix, start)
        return self._append_one(claim_record(source_id, anchor, language, record_id=record_id, **options), signer, log_signer,
                                on_wait)

    def quote_anchor(self, source_id: str, exact: str, prefix: Optional[str] = None, suffix: Optional[str] = None,
                     start: Optional[int] = None) -> dict:
        """A claim's quote: anchored in its source's stored snapshot, or as given when the source has none."""
        sha = self._projection.source_snapshot(source_id)
        anchored = anchor_in_snapshot(self._store.snapshot(sha) if sha else None, source_id, exact, prefix, suffix, start)
        return anchored.to_dict() if anchored else drop_empty({"exact": exact, "prefix": prefix, "suffix": suffix, "start": start})

    def add_review(self, claim_id: str, label: str, rating: str, signer: Signer, log_signer: Optional[Signer] = None, *,
                   on_wait=None, **fields) -> list[Entry]:
        """Append a verdict on a claim: the desk's own ``label`` and the normalized ``rating``.

        ``fields``: record_id, label_language, explanation, evidence, reviewed,
        url (``editing.review_record``).
        """
        return self._append_one(review_record(claim_id, label, rating, **fields), signer, log_signer, on_wait)

    def register_key(self, vkey: str, display_name: str, signer: Signer, log_signer: Optional[Signer] = None, *,
                     record_id: Optional[str] = None, on_wait=None) -> list[Entry]:
        """Append the registration of an editor's verifier key; only the log key may sign it."""
        return self._append_one(key_record(vkey, display_name, record_id=record_id), signer, log_signer, on_wait)

    def revoke_key(self, key: str, reason: str, signer: Signer, log_signer: Optional[Signer] = None, *,
                   on_wait=None) -> list[Entry]:
        """Append the revocation of ``key`` (``name+keyid`` or its verifier key); only the log key may sign it.

        Entries the key signed before stay valid; anything it signs after is refused.
        """
        key_id = signer_id(key)
        state = self._projection.key(key_id)
        if state is None:
            raise NotFoundError(f"{key_id} is not a registered key in {self._store.path}")
        revocation = self.revision(state.record_id, f"Revoked: {reason}", status="revoked", reason=reason)
        return self._append_one(revocation, signer, log_signer, on_wait)

    def apply_changes(self, record_id: str, sets: Iterable[str] = (), unsets: Iterable[str] = ()) -> dict:
        """The changes ``--set FIELD=VALUE`` and ``--unset FIELD`` make to a record's current version.

        Dotted fields change one member of an object (``translation.text``);
        see ``editing.changes_from_edits``. For ``revision`` and ``correct``.
        """
        return changes_from_edits(self.current(record_id).record.to_dict(), sets, unsets)

    def revise(self, record_id: str, note: str, signer: Signer, log_signer: Optional[Signer] = None, *,
               changes: Optional[dict] = None, sets: Iterable[str] = (), unsets: Iterable[str] = (),
               kind: Optional[str] = None, on_wait=None) -> list[Entry]:
        """Append the next version of a record, saying why (``note``).

        ``changes`` maps fields to new values (None removes one); ``sets`` and
        ``unsets`` add ``apply_changes`` edits. ``kind`` refuses a record of
        another kind.
        """
        current = self.current(record_id)
        if kind and current.record.kind != kind:
            raise RecordError(f"{record_id} is a {current.record.kind}, not a {kind}")
        changes = dict(changes or {})
        if sets or unsets:
            changes.update(self.apply_changes(record_id, sets, unsets))
        if not changes:
            raise RecordError("nothing to change: give the fields to change or --set FIELD=VALUE")
        return self._append_one(self.revision(record_id, note, **changes), signer, log_signer, on_wait)

    def revise_claim(self, record_id: str, note: str, signer: Signer, log_signer: Optional[Signer] = None, *,
                     sets: Iterable[str] = (), unsets: Iterable[str] = (), on_wait=None, **options) -> list[Entry]:
        """``revise`` a claim with ``editing.claim_fields``'s options (translation, tags, ...)."""
        return self.revise(record_id, note, signer, log_signer, changes=claim_fields(**options), sets=sets, unsets=unsets,
                           kind="claim", on_wait=on_wait)

    def rating_maps(self) -> list[dict]:
        """The rating maps ``ledger import`` consults, the desk's first; the packaged default while the ledger has none."""
        # The interop modules are loaded only by the commands that use them.
        from ledger.interop.ratings import DEFAULT_MAP_ID, DESK_MAP_ID, default_map

        maps = [self.current(i).record.to_dict() for i in (DESK_MAP_ID, DEFAULT_MAP_ID) if self._projection.head(i)]
        if not any(m["id"] == DEFAULT_MAP_ID for m in maps):
            maps.append({**default_map(), "note": "packaged default; not yet in this ledger (the first import appends it)"})
        return maps

    def set_rating_map(self, fields: dict, signer: Signer, log_signer: Optional[Signer] = None, *, note: Optional[str] = None,
                       on_wait=None) -> list[Entry]:
        """Append the desk's own rating map, ``ratingmap:desk`` (title, labels, positions; consulted before the default).

        A change is a new version, and needs a ``note`` saying why.
        """
        from ledger.interop.ratings import DESK_MAP_ID

        fields = {k: v for k, v in fields.items() if k not in ("kind", "id", "version", "replaces", "created", "note")}
        if self._projection.head(DESK_MAP_ID):
            if not note:
                raise RecordError("ratingmap:desk exists: say why it changes with --note")
            record = self.revision(DESK_MAP_ID, note, **{"positions": None, **fields})
        else:
            record = {"kind": "ratingmap", "id": DESK_MAP_ID, "version": 1, "created": utc_now(), **fields,
                      **({"note": note} if note else {})}
        return self._append_one(record, signer, log_signer, on_wait)

    def _append_one(self, record, signer: Signer, log_signer: Optional[Signer], on_wait) -> list[Entry]:
        return self.append([record], signer, log_signer or signer, on_wait=on_wait)

    @staticmethod
    def records_from_file(name, data: Optional[bytes] = None) -> list:
        """The unsigned records in a file, for ``append``: one JSON object, a JSON array of them, or JSONL.

        ``data`` is the content when it is already read (standard input,
        named "-"). The lines of a large JSONL file (PARALLEL_MIN or more)
        stay ``RecordText`` for the signing workers to parse; a malformed
        line then fails the batch at its turn.
        """
        data = read_file(name) if data is None else data
        try:
            parsed = parse_json_untrusted(data)
        except FormatError as whole_error:
            return _jsonl_records(data, name, whole_error)
        return parsed if isinstance(parsed, list) else [parsed]

    # --- witnesses and their cosignatures (docs/witness.md) -------------------------------------
    def witnesses(self, active_only: bool = False) -> list[WitnessState]:
        """The witnesses the log names (its witness records), in the order they were added; with
        ``active_only``, those the log asks to cosign its checkpoints."""
        return [w for w in self._projection.witnesses() if w.status == "active" or not active_only]

    def _witness_named(self, witness: str) -> WitnessState:
        """A witness the log names, given as ``name+keyid``, its verifier key or its record ID."""
        for known in self._projection.witnesses():
            if witness in (known.record_id, known.witness, known.vkey):
                return known
        raise NotFoundError(f"{witness} is not a witness of this ledger; 'ledger witness list' shows them")

    def add_witness(self, vkey: str, url: str, signer: Signer, log_signer: Optional[Signer] = None, *,
                    display_name: Optional[str] = None, record_id: Optional[str] = None, on_wait=None) -> list[Entry]:
        """Append a witness record (only the log key may sign it): from this batch on, the log asks
        this witness to cosign each checkpoint (``cosign``).

        A witness the log already names (removed, or answering at another
        URL) gets a new version of its record, active at ``url``.
        """
        known = next((w for w in self._projection.witnesses() if w.witness == signer_id(vkey)), None)
        if known is None:
            record = witness_record(vkey, url, display_name=display_name, record_id=record_id)
            return self._append_one(record, signer, log_signer, on_wait)
        if known.vkey != vkey:
            raise RecordError(f"{vkey} has the name and key ID of the witness {known.vkey} but another key")
        if known.status == "active" and known.url == url and display_name in (None, known.display_name):
            raise RecordError(f"witness {known.witness} is already active at {url} ({known.record_id}): nothing to change")
        note = "Added again" if known.status == "removed" else f"Answers at {url}" if url != known.url else "Display name"
        changes = {"status": "active", "url": url, "reason": None, **({"display_name": display_name} if display_name else {})}
        return self._append_one(self.revision(known.record_id, note, **changes), signer, log_signer, on_wait)

    def remove_witness(self, witness: str, reason: str, signer: Signer, log_signer: Optional[Signer] = None, *,
                       on_wait=None) -> list[Entry]:
        """Append the removal of a witness (``name+keyid``, verifier key or record ID); the log stops asking it.

        The cosignatures it made before stay valid.
        """
        known = self._witness_named(witness)
        if known.status == "removed":
            raise RecordError(f"witness {known.witness} was already removed, at entry {known.removed_idx}")
        revision = self.revision(known.record_id, f"Removed: {reason}", status="removed", reason=reason)
        return self._append_one(revision, signer, log_signer, on_wait)

    def cosignatures(self, tree_size: Optional[int] = None) -> list[tuple[int, "Cosignature"]]:
        """Every stored cosignature as (tree size, cosignature), of one checkpoint or of all, oldest size first."""
        from ledger.cosignature import Cosignature, parse_signature_lines_untrusted

        return [(size, Cosignature.from_note_signature_untrusted(parse_signature_lines_untrusted(line)[0]))
                for size, _, _, line in self._store.cosignatures(tree_size)]

    def cosigned_checkpoint_note(self, tree_size: Optional[int] = None) -> str:
        """The signed checkpoint (the latest, or the one at ``tree_size``) with the newest cosignature
        of each witness that cosigned it (c2sp.org/tlog-cosignature: one more signature line each)."""
        from ledger.cosignature import add_cosignatures

        if tree_size is None:
            latest = self._store.latest_checkpoint()
            if latest is None:
                raise NotFoundError("the log has no checkpoint yet")
            size, note = latest
        else:
            size, note = tree_size, self.checkpoint_note(tree_size)
        return add_cosignatures(note, [c for _, c in self.cosignatures(size)])

    def add_cosignatures(self, tree_size: int, cosignatures: Iterable["Cosignature"], on_wait=None) -> int:
        """Store cosignatures of the checkpoint at ``tree_size``, each checked first: by a witness the
        log names, over that checkpoint. Returns how many were new."""
        from ledger.cosignature import parse_cosigner_vkey_untrusted, verify_cosignature

        text = self.checkpoint_note(tree_size).split("\n\n", 1)[0] + "\n"
        rows = []
        for c in cosignatures:
            known = self._witness_named(f"{c.name}+{bytes(c.key_id).hex()}")
            verify_cosignature(text, c, parse_cosigner_vkey_untrusted(known.vkey))
            rows.append((tree_size, known.witness, c.timestamp, c.line))
        before = len(self._store.cosignatures(tree_size))
        with self._store.write_lock(on_wait=on_wait):
            self._store.add_cosignatures(rows)
        return len(self._store.cosignatures(tree_size)) - before

    def cosign(self, timeout: float = 5.0, on_wait=None) -> list["WitnessAnswer"]:
        """Ask every active witness to cosign the latest checkpoint, in parallel (c2sp.org/tlog-witness),
        and store the cosignatures they answer; one answer per witness, in order.

        Each witness is sent the consistency proof from the size it last
        cosigned; a witness that is down, slow (``timeout`` seconds) or
        refuses is in its answer, never an exception. Asking again later
        (``ledger witness sync``) gets fresh cosignatures of the same checkpoint.
        """
        active = self.witnesses(active_only=True)
        if not active:
            return []
        import threading

        from ledger.cosignature import parse_cosigner_vkey_untrusted
        from ledger.witness import request_cosignatures

        size, note = self._store.latest_checkpoint()
        cosigned = self._store.cosigned_sizes()
        lock = threading.Lock()  # the proofs read this connection from the asking threads

        def prove(old_size: int) -> list[bytes]:
            with lock:
                return tree.prove_consistency(old_size, size, self._store)

        answers = request_cosignatures([(w.url, parse_cosigner_vkey_untrusted(w.vkey)) for w in active], note, prove,
                                       {w.vkey: cosigned.get(w.witness, 0) for w in active}, timeout)
        self.add_cosignatures(size, [a.cosignature for a in answers if a.ok], on_wait=on_wait)
        return answers

    # --- maintenance ----------------------------------------------------------------------------
    def rebuild(self, progress: Optional[Callable[[int], None]] = None, on_wait=None) -> int:
        """Drop and recompute the browsing tables from the entries; returns the entry count."""
        with self._store.write_lock(on_wait=on_wait):
            self._projection.drop_tables()
            self._projection.create_tables()
            count = 0
            with self._projection.cached():
                for index, leaf in self._store.leaves():
                    self._projection.apply(Entry.from_leaf_untrusted(index, leaf))
                    count += 1
                    if progress:
                        progress(1)
        return count

    def export_jsonl(self, out, start: int = 0, end: Optional[int] = None) -> int:
        """Write line i = leaf bytes of entry i (docs/format.md), for start <= i < end; returns the count."""
        count = 0
        for _, leaf in self._store.leaves(start, end):
            out.write(leaf + b"\n")
            count += 1
        return count


def _jsonl_records(data: bytes, name, whole_error: FormatError) -> list:
    # JSONL, as a whole file is not JSON: one record a line, blank lines skipped.
    lines = [(number, line) for number, line in enumerate(data.split(b"\n"), 1) if line.strip()]
    if len(lines) >= PARALLEL_MIN:
        return [RecordText(line, str(name), number) for number, line in lines]
    records = []
    for number, line in lines:
        try:
            records.append(parse_json_untrusted(line))
        except FormatError as e:
            # A file of one line is reported as the JSON file it meant to be.
            raise FormatError(f"{name} line {number}: {e}" if data.count(b"\n") > 1 else f"{name}: {whole_error}") from e
    return records


def _path_from(db_path, file_path) -> str:
    """``file_path`` relative to the folder of ``db_path`` (absolute when on another drive)."""
    try:
        return os.path.relpath(Path(file_path).resolve(), Path(db_path).resolve().parent)
    except ValueError:
        return str(Path(file_path).resolve())


def notice_id(kind: str, record_id: str, version: int) -> str:
    """A readable ID for a notice about one version of a record, e.g. correction:claim.x.v2."""
    slug = record_id.split(":", 1)[1]
    return f"{kind}:{record_id.split(':', 1)[0]}.{slug}.v{version}"[:len(kind) + 129]


def tree_b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def _check_snapshots_named(new_snapshots: set, entries: list) -> None:
    """A snapshot is stored only with a source record of its batch that names it: verify fails a
    ledger holding a snapshot no record names (docs/verify.md, step 3), so the batch is refused."""
    named = {entry.record.snapshot.sha256 for entry in entries
             if isinstance(entry.record, Source) and entry.record.snapshot is not None}
    unnamed = sorted(new_snapshots - named)
    if unnamed:
        raise RecordError(f"snapshot {unnamed[0]} is named by no source record of the batch; "
                          "a snapshot is appended with the source record that archives it")
