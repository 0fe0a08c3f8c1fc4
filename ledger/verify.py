"""Verify a whole ledger, offline, trusting nothing but the log's verifier key.

The procedure (docs/verify.md) replays every entry from the first:

1. each leaf is the RFC 8785 canonical form of a valid signed envelope;
2. the rules hold at its position (``rules.check_entry``): the signer is a
   registered key not revoked before it, the version links name the entry
   hash of the version replaced, references exist, quotes sit in their
   snapshots at the stated offsets;
3. every Ed25519 signature verifies (across all CPU cores when large);
4. the RFC 6962 tree recomputed from the leaves matches every stored tree
   hash and the root of every signed checkpoint; the last checkpoint covers
   every entry;
5. the browsing tables the site shows equal, row for row, the projection
   recomputed from the entries, and the file holds no other tables, views
   or triggers;
6. with ``since``: the current log is an append-only extension of a
   checkpoint saved earlier (same root at that size).

Sources are a ledger file, a JSONL export with a checkpoint file, or the
base URL of a published site. This module needs only the standard library,
``cryptography`` and the two small pure-Python packages our records use
(``attrs``, ``rfc8785``): no Datasette, sqlite-utils or jsonschema.
"""

from __future__ import annotations

import base64
import concurrent.futures
import functools
import hashlib
import json
import os
import sqlite3
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Optional

import attrs

from ledger import tree
from ledger.checkpoint import open_checkpoint_untrusted, parse_tlog_proof_untrusted, verify_tlog_proof
from ledger.envelope import Entry
from ledger.errors import FormatError, LedgerError, NotFoundError, ProofError, RecordError, SignatureError
from ledger.note import parse_verifier_key_untrusted
from ledger.projection import TABLES, Projection
from ledger.rules import check_entry

PARALLEL_THRESHOLD = 4000  # below this, a process pool costs more than it saves
MAX_FAILURES = 1000


@attrs.frozen
class Failure:
    where: str
    message: str

    def __str__(self):
        return f"{self.where}: {self.message}"


@attrs.define
class Report:
    source: str
    origin: Optional[str] = None
    log_vkey: Optional[str] = None
    vkey_pinned: bool = False
    entries: int = 0
    tree_size: int = 0
    root: Optional[str] = None
    checkpoints: int = 0
    signatures: int = 0
    snapshots: int = 0
    quotes_checked: int = 0
    tables_checked: list = attrs.Factory(list)
    since: Optional[dict] = None
    failures: list = attrs.Factory(list)
    warnings: list = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.entries > 0

    def fail(self, where: str, message: str) -> None:
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(Failure(where, message))

    def to_json(self) -> dict:
        data = attrs.asdict(self)
        data["failures"] = [{"where": f.where, "message": f.message} for f in self.failures]
        data["ok"] = self.ok
        return data

    def summary(self) -> str:
        lines = [f"Verified {self.source}"]
        lines.append(f"  origin        {self.origin}")
        lines.append(f"  log key       {self.log_vkey} ({'pinned with --vkey' if self.vkey_pinned else 'NOT pinned: taken from entry 0'})")
        lines.append(f"  entries       {self.entries}; signatures checked {self.signatures}")
        lines.append(f"  tree          size {self.tree_size}, root {self.root}")
        lines.append(f"  checkpoints   {self.checkpoints} signed checkpoints match the tree")
        lines.append(f"  snapshots     {self.snapshots} checked; {self.quotes_checked} quote anchors checked")
        if self.tables_checked:
            lines.append(f"  site tables   {', '.join(self.tables_checked)} equal the projection of the entries")
        if self.since:
            lines.append(f"  since         extends the checkpoint of size {self.since['size']} (append-only)")
        for warning in self.warnings:
            lines.append(f"  warning: {warning}")
        if self.ok:
            lines.append("OK: every check holds.")
        else:
            lines.append(f"FAILED: {len(self.failures)} problem(s):")
            lines.extend(f"  - {f}" for f in self.failures[:50])
            if len(self.failures) > 50:
                lines.append(f"  ... and {len(self.failures) - 50} more (use --json for all)")
        return "\n".join(lines)


# --- sources ----------------------------------------------------------------------
class LedgerFileSource:
    """A ledger SQLite file, opened read-only."""

    def __init__(self, path):
        from ledger.store import Store

        self.path = Path(path)
        self.store = Store.open(path, readonly=True)
        self.store.conn.text_factory = _text_from_untrusted
        self.name = str(path)

    def leaves(self) -> Iterator[tuple[int, bytes]]:
        # The stored columns of each entry are read with its leaf (one query,
        # not one per entry) and kept for _check_entry_row.
        for row in self.store.entry_rows():
            self.columns = row[:6]
            yield row[0], row[6].encode("utf-8")

    def stored_columns(self, index: int) -> tuple:
        assert self.columns[0] == index
        return self.columns[1:]

    def checkpoint_notes(self) -> list[tuple[int, str]]:
        return self.store.checkpoints()

    def snapshot(self, sha256):
        return self.store.snapshot(sha256)

    snapshots_available = True


class ExportSource:
    """A JSONL export (line i = leaf i) with a checkpoint file; optional snapshot folder and
    folder of every checkpoint (``checkpoints/<tree size>``, as in a bundle)."""

    def __init__(self, jsonl_path, checkpoint_path, snapshot_dir=None, checkpoints_dir=None):
        self.name = str(jsonl_path)
        try:
            self.data = Path(jsonl_path).read_bytes()
            self.note = Path(checkpoint_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise FormatError(f"cannot read the export: {e}") from e
        if self.data and not self.data.endswith(b"\n"):
            raise FormatError(f"{jsonl_path}: the last line has no newline; the export is truncated")
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self.snapshots_available = bool(self.snapshot_dir)
        self.older_notes = []
        for item in sorted(Path(checkpoints_dir).iterdir() if checkpoints_dir else (), key=lambda p: (len(p.name), p.name)):
            if not item.name.isdigit():
                raise FormatError(f"{item}: files in {checkpoints_dir} are named by tree size")
            self.older_notes.append((int(item.name), item.read_text(encoding="utf-8")))

    def leaves(self):
        for i, line in enumerate(self.data.split(b"\n")[:-1]):
            yield i, line

    def checkpoint_notes(self):
        return self.older_notes + [(None, self.note)]

    def snapshot(self, sha256):
        if self.snapshot_dir is None:
            return None
        path = self.snapshot_dir / sha256
        if not path.is_file():
            return None
        meta = self.snapshot_dir / f"{sha256}.type"
        media_type = meta.read_text().strip() if meta.is_file() else "application/octet-stream"
        return media_type, path.read_bytes()


class SiteSource:
    """A published site, read through its documented verifier routes only."""

    PAGE = 10000

    def __init__(self, base_url: str, timeout: float = 60.0):
        self.base = base_url.rstrip("/") + "/"
        self.name = self.base
        self.timeout = timeout
        self.snapshots_available = True
        try:
            info = json.loads(self._get("-/ledger.json"))
            self.size = int(info["size"])
            self.database = info["database"]
            self.checkpoint_sizes = [int(n) for n in info["checkpoint_sizes"]]
        except (ValueError, KeyError, TypeError) as e:
            raise FormatError(f"{self.base}-/ledger.json is not a fact-ledger site description: {e}") from e

    def _get(self, path: str) -> bytes:
        url = urllib.parse.urljoin(self.base, path)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise NotFoundError(f"{url}: 404 Not Found") from e
            raise LedgerError(f"{url}: HTTP {e.code}") from e
        except (urllib.error.URLError, OSError) as e:
            raise LedgerError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from e

    def leaves(self):
        index = 0
        while index < self.size:
            end = min(index + self.PAGE, self.size)
            data = self._get(f"-/entries.jsonl?start={index}&end={end}")
            lines = data.split(b"\n")
            if lines[-1] != b"" or len(lines) - 1 != end - index:
                raise FormatError(f"{self.base}-/entries.jsonl?start={index}&end={end}: expected {end - index} lines, found {len(lines) - 1}")
            for line in lines[:-1]:
                yield index, line
                index += 1

    def checkpoint_notes(self):
        notes = [(size, self._get(f"-/checkpoint/{size}").decode("utf-8")) for size in self.checkpoint_sizes]
        latest = self._get("-/checkpoint").decode("utf-8")
        if not notes or latest != notes[-1][1]:
            notes.append((None, latest))
        return notes

    def snapshot(self, sha256):
        try:
            url = urllib.parse.urljoin(self.base, f"-/snapshots/{sha256}")
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                return response.headers.get("Content-Type", "application/octet-stream"), response.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise LedgerError(f"{url}: HTTP {e.code}") from e
        except (urllib.error.URLError, OSError) as e:
            raise LedgerError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from e

    def table_rows(self, table: str) -> list[dict]:
        """Every row of a browsing table through Datasette's JSON API."""
        rows, path = [], f"{self.database}/{table}.json?_shape=objects&_size=1000&_nofacet=1&_nosuggest=1"
        while path:
            page = json.loads(self._get(path))
            rows.extend(page["rows"])
            path = page.get("next_url")
        return rows


def open_source(spec: str, checkpoint: Optional[str] = None, snapshot_dir: Optional[str] = None):
    """A source from what the user typed: URL, export (with --checkpoint) or ledger file."""
    if spec.startswith(("http://", "https://")):
        return SiteSource(spec)
    path = Path(spec)
    if path.is_dir():
        entries = path / "entries.jsonl"
        cp = Path(checkpoint) if checkpoint else path / "checkpoint"
        snaps = Path(snapshot_dir) if snapshot_dir else (path / "snapshots" if (path / "snapshots").is_dir() else None)
        return ExportSource(entries, cp, snaps, path / "checkpoints" if (path / "checkpoints").is_dir() else None)
    if checkpoint:
        return ExportSource(path, checkpoint, snapshot_dir)
    if not path.is_file():
        raise NotFoundError(f"{spec} not found: give a ledger file, an export with --checkpoint FILE, or a site URL")
    with open(path, "rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise FormatError(f"{spec} is not a ledger file; for a JSONL export also give --checkpoint FILE")
    return LedgerFileSource(path)


# --- signatures across cores ----------------------------------------------------------------
def _verify_chunk(items):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys, bad = {}, []
    for index, public_key, message, signature in items:
        key = keys.get(public_key) or keys.setdefault(public_key, Ed25519PublicKey.from_public_bytes(public_key))
        try:
            key.verify(signature, message)
        except InvalidSignature:
            bad.append(index)
    return bad


def verify_signatures(items: list, workers: Optional[int] = None, progress=None) -> list[int]:
    """Indexes whose signature fails; items are (index, public key, message, signature)."""
    if len(items) < PARALLEL_THRESHOLD or (workers or os.cpu_count() or 1) == 1:
        bad = _verify_chunk(items)
        if progress:
            progress(len(items))
        return bad
    workers = workers or os.cpu_count() or 1
    size = max(1000, len(items) // (workers * 8))
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    bad = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        for chunk, result in zip(chunks, pool.map(_verify_chunk, chunks)):
            bad.extend(result)
            if progress:
                progress(len(chunk))
    return sorted(bad)


class _SignatureChecker:
    """Checks signatures on a process pool in chunks while the replay goes on.

    ``check_entry`` appends to ``pending``; each full chunk goes to the pool at
    once, so the cores verify signatures while this process replays entries.
    A ledger smaller than one chunk never starts a pool.
    """

    CHUNK = 2000

    def __init__(self, workers: Optional[int]):
        self.workers = workers or os.cpu_count() or 1
        self.pending: list = []
        self.count = 0
        self._pool = None
        self._futures = []

    def pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=self.workers)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def submit_full_chunk(self) -> None:
        if len(self.pending) < self.CHUNK or self.workers == 1:
            return
        self._futures.append(self.pool().submit(_verify_chunk, self.pending))
        self.count += len(self.pending)
        self.pending = []

    def finish(self) -> list[int]:
        """Indexes whose signature fails, in order."""
        if self._pool is None:
            self.count += len(self.pending)
            return verify_signatures(self.pending, self.workers)
        try:
            if self.pending:
                self._futures.append(self._pool.submit(_verify_chunk, self.pending))
                self.count += len(self.pending)
                self.pending = []
            return sorted(index for future in self._futures for index in future.result())
        finally:
            self._pool.shutdown(cancel_futures=True)


# --- the procedure --------------------------------------------------------------------
def verify_ledger(source, *, vkey: Optional[str] = None, since_note: Optional[str] = None,
                  progress: Optional[Callable[[int], None]] = None, workers: Optional[int] = None) -> Report:
    """Run every check on ``source``; returns a Report (``report.ok``)."""
    report = Report(source=source.name)
    try:
        try:
            return _verify_ledger(report, source, vkey=vkey, since_note=since_note, progress=progress, workers=workers, fast=True)
        except Exception:  # noqa: BLE001 - _NotFast, or an unchecked record the replay could not take
            # A leaf the fast path could not take: verify again one leaf at a
            # time, so the report is exactly what the careful path finds.
            report = Report(source=source.name)
            return _verify_ledger(report, source, vkey=vkey, since_note=since_note, progress=progress, workers=workers, fast=False)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
        # A damaged file: SQLite refuses to read part of it, or its schema
        # text is no longer UTF-8. Keep what was found before.
        report.fail("file", f"SQLite cannot read the ledger file, it is damaged or was altered: {e}")
        return report


def _text_from_untrusted(data: bytes) -> str:
    # TEXT that is not UTF-8 was written behind SQLite's back; decode it
    # lossily so the comparisons below report where it is instead of failing.
    return data.decode("utf-8", "replace")


class _NotFast(Exception):
    """Raised when the fast path meets a leaf that is not a valid canonical entry."""


def _entry_trusting_workers(index: int, leaf: bytes) -> Entry:
    """The Entry of a leaf that ``Entry.from_leaf_untrusted`` accepts, built without its checks.

    The fast path of verify parses each leaf twice: here, for the replay, and
    in a worker process, with every check (``_check_leaves``). Only if the
    workers accept every leaf does the report stand; otherwise verify starts
    again on the careful path. For a canonical leaf ``{"record":R,"sig":"S",
    "signer":"N"}`` the record's canonical bytes R are the leaf's bytes
    between ``{"record":`` and the last ``,"sig":"`` (docs/format.md).
    """
    from ledger.records import Record

    try:
        envelope = json.loads(leaf)
        record = Record.from_checked_dict(envelope["record"])
        signature = base64.b64decode(envelope["sig"], validate=True)
        record_bytes = leaf[len(b'{"record":'):leaf.rindex(b',"sig":"')]
        return Entry(index=index, leaf=leaf, leaf_hash=tree.leaf_hash(leaf), record=record,
                     signer=envelope["signer"], signature=signature, record_bytes=record_bytes)
    except Exception as e:  # noqa: BLE001 - anything unusual goes to the careful path
        raise _NotFast from e


def _check_leaves(items) -> list[int]:
    """Indexes of the leaves ``Entry.from_leaf_untrusted`` refuses (run in a worker)."""
    bad = []
    for index, leaf in items:
        try:
            Entry.from_leaf_untrusted(index, leaf)
        except Exception:  # noqa: BLE001 - any refusal sends verify down the careful path
            bad.append(index)
    return bad


def _verify_ledger(report, source, *, vkey, since_note, progress, workers, fast) -> Report:
    pinned = parse_verifier_key_untrusted(vkey) if vkey else None
    report.vkey_pinned = pinned is not None

    mem = sqlite3.connect(":memory:", isolation_level=None, uri=True)  # uri: to ATTACH the file read-only
    # Revisions read the version they replace; recent ones are usually still cached.
    read_record = functools.lru_cache(maxsize=4096)(
        lambda i: Entry.from_leaf_untrusted(i, leaves[i]).record)
    leaves = {}
    projection = Projection(mem, read_record)
    # The replay's rows are compared with the file's; the file's search index
    # is checked against its own claims table (file_checks), so the replay
    # needs no search index of its own.
    projection.create_tables(full_text=False)
    mem.execute("BEGIN")

    checkpoint_notes = source.checkpoint_notes()
    builder = tree.TreeBuilder()
    stored_hashes = _stored_hashes(source)
    roots = {}
    wanted_sizes = {size for size, _ in checkpoint_notes if size}
    origin = None
    log_verifier = None
    snapshot_cache = {}

    def read_snapshot(sha):
        if sha not in snapshot_cache:
            snapshot_cache[sha] = source.snapshot(sha)
        return snapshot_cache[sha]

    signatures = _SignatureChecker(workers)
    # The fast path hands each leaf's checks to the worker processes (with the
    # signatures) and replays entries parsed without them.
    fast = fast and signatures.workers > 1
    # SQLite's integrity_check and the search-index check read only the file:
    # on the fast path a worker runs them while this process replays.
    file_results = None
    if fast and isinstance(source, LedgerFileSource) and source.store.size() >= signatures.CHUNK:
        file_results = signatures.pool().submit(file_checks, source.path)
    leaf_chunk, leaf_checks = [], []
    replay = projection.cached()
    replay.__enter__()
    count = 0
    for index, leaf in source.leaves():
        if index != count:
            if fast:
                raise _NotFast
            report.fail(f"entry {count}", f"entries are not contiguous: found index {index}")
            break
        count += 1
        leaves[index] = leaf
        if fast:
            leaf_chunk.append((index, leaf))
            if len(leaf_chunk) >= signatures.CHUNK:
                leaf_checks.append(signatures.pool().submit(_check_leaves, leaf_chunk))
                leaf_chunk = []
        for h in builder.append(tree.leaf_hash(leaf)):
            if stored_hashes is not None:
                found = next(stored_hashes, None)
                if found is None or found[1] != h:
                    report.fail(f"entry {index}", "stored tree hash " + (f"{found[0]} differs from the hash recomputed from the leaves" if found else "missing"))
        if builder.size in wanted_sizes:
            roots[builder.size] = builder.root()
        try:
            entry = _entry_trusting_workers(index, leaf) if fast else Entry.from_leaf_untrusted(index, leaf)
        except (FormatError, RecordError) as e:
            report.fail(f"entry {index}", str(e).removeprefix(f"entry {index}: "))
            continue
        if isinstance(source, LedgerFileSource):
            _check_entry_row(source, entry, report)
        if index == 0:
            origin, log_verifier = _log_key_from_first(entry, pinned, report)
            if log_verifier is None:
                break
        try:
            check_entry(entry, projection, origin, read_snapshot if source.snapshots_available else None, signatures.pending)
            if entry.record.kind == "claim" and entry.record.quote and source.snapshots_available and projection.source_snapshot(entry.record.source):
                report.quotes_checked += 1
            projection.apply(entry)
        except (RecordError, SignatureError, FormatError) as e:
            report.fail(f"entry {index} ({entry.record.id} v{entry.record.version})", _strip_where(str(e), index))
        signatures.submit_full_chunk()
        if progress:
            progress(1)
    replay.__exit__(None, None, None)
    if fast:
        # A ledger smaller than a chunk is checked here rather than start workers for it.
        bad_leaves = _check_leaves(leaf_chunk) if not leaf_checks else [
            i for future in leaf_checks + [signatures.pool().submit(_check_leaves, leaf_chunk)] for i in future.result()]
        if bad_leaves:
            signatures.close()
            raise _NotFast
    report.entries = count
    report.tree_size = builder.size
    report.root = base64.b64encode(builder.root()).decode() if count else None
    report.origin = origin
    report.log_vkey = log_verifier.vkey if log_verifier else None
    if stored_hashes is not None and next(stored_hashes, None) is not None:
        report.fail("tree_hashes", "holds more stored hashes than the entries produce")

    # Signatures, in bulk and on every core (most already checked during the replay).
    bad = signatures.finish()
    report.signatures = signatures.count
    for index in bad:
        report.fail(f"entry {index}", "Ed25519 signature does not verify under the signer's registered key")

    if log_verifier is None:
        report.fail("entry 0", "no log key: the ledger is empty or its first entry is unreadable")
        return report

    _check_checkpoints(checkpoint_notes, roots, builder, log_verifier, origin, report)
    if since_note is not None:
        _check_since(since_note, source, log_verifier, origin, builder, report)
    _check_snapshots(source, report)
    if not isinstance(source, LedgerFileSource):
        report.snapshots = sum(1 for value in snapshot_cache.values() if value is not None)
    if isinstance(source, LedgerFileSource):
        _check_file_tables(source, mem, projection, report, origin, log_verifier, file_results)
    elif isinstance(source, SiteSource):
        _check_site_tables(source, projection, report)
    mem.close()
    return report


def _strip_where(message, index):
    return message.split(": ", 1)[1] if message.startswith(f"entry {index} ") and ": " in message else message


def _stored_hashes(source):
    if isinstance(source, LedgerFileSource):
        return iter(source.store.stored_hash_rows())
    return None


def _check_entry_row(source, entry, report):
    row = source.stored_columns(entry.index)
    expected = (entry.hash_hex, entry.record.kind, entry.record.id, entry.record.version, entry.signer)
    if tuple(row) != expected:
        report.fail(f"entry {entry.index}", f"stored columns {tuple(row)} do not match the leaf, expected {expected}")


def _log_key_from_first(entry, pinned, report):
    from ledger.records import KeyRecord

    record = entry.record
    if not (isinstance(record, KeyRecord) and record.role == "log"):
        report.fail("entry 0", "the first entry must register the log key")
        return None, None
    verifier = parse_verifier_key_untrusted(record.vkey)
    if pinned and pinned.vkey != verifier.vkey:
        report.fail("entry 0", f"log key is {verifier.vkey}, expected the pinned {pinned.vkey}")
        return None, None
    if not pinned:
        report.warnings.append("the log key was not pinned (--vkey): anyone could have made this ledger; compare the key with one you trust")
    return verifier.name, verifier


def _check_checkpoints(notes, roots, builder, log_verifier, origin, report):
    last_size = 0
    for stored_size, note in notes:
        where = f"checkpoint {stored_size}" if stored_size else "checkpoint"
        try:
            checkpoint = open_checkpoint_untrusted(note, log_verifier, origin)
        except (FormatError, SignatureError) as e:
            report.fail(where, f"not a valid checkpoint signed by the log key: {e}")
            continue
        if stored_size is not None and checkpoint.size != stored_size:
            report.fail(where, f"the note says tree size {checkpoint.size}")
            continue
        if checkpoint.size > builder.size:
            report.fail(where, f"covers {checkpoint.size} entries but only {builder.size} are present (entries were removed)")
            continue
        root = roots.get(checkpoint.size) if checkpoint.size in roots else (builder.root() if checkpoint.size == builder.size else None)
        if root != checkpoint.root_hash:
            report.fail(where, f"signed root {base64.b64encode(checkpoint.root_hash).decode()} differs from the root recomputed from the entries "
                               f"{base64.b64encode(root).decode() if root else '?'}")
            continue
        report.checkpoints += 1
        last_size = max(last_size, checkpoint.size)
    if last_size != builder.size:
        report.fail("checkpoints", f"the latest signed checkpoint covers {last_size} entries, but the log has {builder.size}: the rest is not committed")


def _check_since(note, source, log_verifier, origin, builder, report):
    try:
        old = open_checkpoint_untrusted(note, log_verifier, origin)
    except (FormatError, SignatureError) as e:
        report.fail("--since", f"the saved checkpoint is not signed by this log's key: {e}")
        return
    if old.size > builder.size:
        report.fail("--since", f"the saved checkpoint covers {old.size} entries but the log now has only {builder.size}: entries were removed")
        return
    # Recompute the root at the old size from the current leaves: equal roots
    # prove the first old.size entries are unchanged (RFC 9162 §2.1.4).
    recomputed = tree.root_from_leaf_hashes(tree.leaf_hash(leaf) for i, leaf in _leaves_upto(source, old.size))
    if recomputed != old.root_hash:
        report.fail("--since", f"history was rewritten: the saved checkpoint of size {old.size} has root "
                               f"{base64.b64encode(old.root_hash).decode()}, the current log's first {old.size} entries give "
                               f"{base64.b64encode(recomputed).decode()}")
        return
    report.since = {"size": old.size, "root": base64.b64encode(old.root_hash).decode()}


def _leaves_upto(source, size):
    for index, leaf in source.leaves():
        if index >= size:
            return
        yield index, leaf


def _check_snapshots(source, report):
    if isinstance(source, LedgerFileSource):
        for sha, media_type, size, content in source.store.snapshot_rows():
            if hashlib.sha256(content).hexdigest() != sha or len(content) != size:
                report.fail(f"snapshot {sha}", f"content hashes to {hashlib.sha256(content).hexdigest()} ({len(content)} bytes, recorded {size})")
            report.snapshots += 1


def _expected_schema(origin, log_vkey):
    from ledger.store import SCHEMA

    conn = sqlite3.connect(":memory:")
    for ddl in SCHEMA:
        conn.execute(ddl)
    Projection(conn, None).create_tables()
    rows = set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    conn.close()
    return rows


def file_checks(path) -> tuple[list, tuple[list, bool]]:
    """(integrity_check problems, (search-index failures, index compared)) of a ledger file.

    Both read only the file, not the replay, so a large verify runs them in a
    worker process while this one replays the entries (``_verify_ledger``).
    """
    from ledger.store import Store

    store = Store.open(path, readonly=True)
    try:
        # SQLite's own check: b-tree structure, and every index agrees with its
        # table (a reader's lookups go through the indexes the row dumps skip).
        problems = [row[0] for row in store.conn.execute("PRAGMA integrity_check(20)")]
        return problems, _check_fts(path, store.conn)
    finally:
        store.close()


def _check_file_tables(source, mem, projection, report, origin, log_verifier, file_results):
    conn = source.store.conn
    problems, fts_failures = file_results.result() if file_results else file_checks(source.path)
    if problems != ["ok"]:
        report.fail("file", f"SQLite integrity_check: {'; '.join(problems)}")
    found = set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    expected = _expected_schema(origin, log_verifier.vkey)
    for obj in sorted(found - expected, key=str):
        report.fail("schema", f"unexpected {obj[0]} {obj[1]!r} in the file (not created by the ledger)")
    for obj in sorted(expected - found, key=str):
        report.fail("schema", f"{obj[0]} {obj[1]!r} is missing or altered")
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    if meta.get("origin") != origin or meta.get("log_vkey") != log_verifier.vkey:
        report.fail("meta", f"origin/log_vkey {meta.get('origin')!r}/{meta.get('log_vkey')!r} differ from entry 0's {origin!r}/{log_verifier.vkey!r}")
    file_projection = Projection(conn, None)
    same = _tables_equal_in_sqlite(mem, source.path)
    for table in TABLES:
        if table in same:
            report.tables_checked.append(table)
            continue
        try:
            got = file_projection.dump(table)
        except sqlite3.DatabaseError as e:
            report.fail(f"table {table}", f"cannot be read: {e}")
            continue
        columns = [c[1] for c in mem.execute(f"PRAGMA table_info({table})")]
        if _compare_rows(table, projection.dump(table), got, report, columns):
            report.tables_checked.append(table)
    messages, compared = fts_failures
    for message in messages:
        report.fail("table claims_fts", message)
    if compared:
        report.tables_checked.append("claims_fts")


def _tables_equal_in_sqlite(mem, path) -> set:
    """Browsing tables whose rows in the file equal the replay's, compared inside SQLite.

    Same row count and no replayed row missing from the file (EXCEPT) means
    the same rows, since each table's primary key makes its rows distinct.
    Equal here implies equal in _compare_rows; any table not shown equal
    (including any SQL error) is compared row by row in Python, which names
    every difference.
    """
    equal = set()
    if mem.in_transaction:
        mem.execute("COMMIT")  # the replay's transaction; DETACH cannot run inside one
    try:
        mem.execute("ATTACH DATABASE ? AS ledgerfile", (f"{Path(path).resolve().as_uri()}?mode=ro",))
    except sqlite3.Error:
        return equal
    try:
        for table in TABLES:
            try:
                same = mem.execute(
                    f"SELECT (SELECT count(*) FROM main.{table}) = (SELECT count(*) FROM ledgerfile.{table})"
                    f" AND NOT EXISTS (SELECT * FROM main.{table} EXCEPT SELECT * FROM ledgerfile.{table})").fetchone()[0]
            except sqlite3.Error:
                continue
            if same:
                equal.add(table)
    finally:
        mem.execute("DETACH DATABASE ledgerfile")
    return equal


def _check_fts(path, conn) -> tuple[list[str], bool]:
    # FTS5's integrity-check compares the full-text index with the claims
    # table; it is a write statement, so run it on a private copy.
    size = Path(path).stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        target = sqlite3.connect(":memory:" if size < 256 * 2**20 else str(Path(tmp) / "copy.db"))
        conn.backup(target)
        try:
            target.execute("INSERT INTO claims_fts(claims_fts, rank) VALUES ('integrity-check', 1)")
            different = _fts_differs_from_rebuilt(target)
            if different:
                return [f"the search index's {different} differ from an index rebuilt from the claims table"], True
            return [], True
        except sqlite3.DatabaseError as e:
            return [f"the search index does not match the claims table: {e}"], False
        finally:
            target.close()


FTS_CONTENT = {
    # What the index says, independent of how its segments are laid out.
    "terms": 'SELECT term, doc, col, "offset" FROM temp.fts_terms',
    "document sizes": "SELECT id, sz FROM claims_fts_docsize",
    "settings": "SELECT k, v FROM claims_fts_config",
}


def _fts_differs_from_rebuilt(conn) -> str:
    """Names of what differs between the index in ``conn`` (a private copy) and one rebuilt from the claims.

    integrity-check alone lets some changes through (a deleted row of the
    term index, swapped data blocks): compare the index's logical content.
    """
    conn.execute("CREATE VIRTUAL TABLE temp.fts_terms USING fts5vocab(main, claims_fts, 'instance')")
    for n, query in enumerate(FTS_CONTENT.values()):
        conn.execute(f"CREATE TEMP TABLE fts_before_{n} AS {query}")
    # Searches find a term's pages through the term index (claims_fts_idx),
    # which fts5vocab does not read: compare what a search for each term returns.
    terms = [row[0] for row in conn.execute("SELECT DISTINCT term FROM fts_before_0 ORDER BY term")]
    searches = _fts_search_digest(conn, terms)
    conn.execute("INSERT INTO claims_fts(claims_fts) VALUES ('rebuild')")
    different = [] if searches == _fts_search_digest(conn, terms) else ["search results"]
    for n, (name, query) in enumerate(FTS_CONTENT.items()):
        if conn.execute(f"SELECT EXISTS (SELECT * FROM fts_before_{n} EXCEPT {query}) OR EXISTS ({query} EXCEPT SELECT * FROM fts_before_{n})").fetchone()[0]:
            different.append(name)
    return ", ".join(different)


def _fts_search_digest(conn, terms) -> bytes:
    digest = hashlib.sha256()
    for term in terms:
        digest.update(term.encode("utf-8", "replace") + b"\0")
        for (rowid,) in conn.execute("SELECT rowid FROM claims_fts WHERE claims_fts MATCH ? ORDER BY rowid", ('"' + term.replace('"', '""') + '"',)):
            digest.update(rowid.to_bytes(8, "big", signed=True))
    return digest.digest()


def _compare_rows(table, expected, found, report, columns) -> bool:
    """Report every difference; True when the tables are equal."""
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
            report.fail(f"table {table}", f"row {_key(key)} column {columns[diffs[0]]}: expected {exp[key][diffs[0]]!r}, found {got[key][diffs[0]]!r}"
                        if diffs else f"row {_key(key)} differs")
    if len(found) != len(set(got)):
        report.fail(f"table {table}", "holds duplicate rows")
    return False


def _key(key):
    return key[0] if len(key) == 1 else key


def _check_site_tables(source, projection, report):
    for table in TABLES:
        if table == "record_heads":
            continue
        columns = [c[1] for c in projection.conn.execute(f"PRAGMA table_info({table})")]
        try:
            rows = source.table_rows(table)
        except (LedgerError, KeyError, ValueError) as e:
            report.fail(f"site table {table}", f"cannot be read: {e}")
            continue
        found = sorted((tuple(row.get(c) for c in columns) for row in rows), key=_sort_key)
        expected = sorted((tuple(r) for r in projection.dump(table)), key=_sort_key)
        if _compare_rows(table, expected, found, report, columns):
            report.tables_checked.append(table)


def _sort_key(row):
    return tuple("" if v is None else str(v) for v in row)


# --- one claim from a tlog-proof bundle -------------------------------------------------------
@attrs.frozen
class ClaimProofReport:
    claim_id: str
    leaf_index: int
    tree_size: int
    signer: str
    record: dict
    key_leaf_index: int


def proof_extra(entry_leaf: bytes, key_index: int, key_leaf: bytes, key_hashes: list[bytes]) -> bytes:
    """The tlog-proof ``extra`` of a claim bundle (docs/verify.md §One claim)."""
    from ledger.canonical import canonical_bytes

    return canonical_bytes({
        "leaf": base64.b64encode(entry_leaf).decode(),
        "key": {"leaf_index": key_index, "leaf": base64.b64encode(key_leaf).decode(),
                "hashes": [base64.b64encode(h).decode() for h in key_hashes]},
    })


def verify_claim_proof(claim_id: str, proof_text, vkey: str) -> ClaimProofReport:
    """Verify one claim offline from a tlog-proof bundle made by ``ledger prove --format tlog-proof``.

    Checks: the checkpoint is signed by the log key ``vkey``; the claim's
    entry is included in it at the stated index; the editor key that signed
    the entry is registered by an entry (signed by the log key) included in
    the same checkpoint; and the entry's signature verifies under that key.
    It cannot show the key was not revoked later: verify the full ledger for that.
    """
    from ledger.canonical import parse_json_untrusted
    from ledger.envelope import signed_message

    verifier = parse_verifier_key_untrusted(vkey)
    proof = parse_tlog_proof_untrusted(proof_text)
    if proof.extra is None:
        raise FormatError("the bundle has no 'extra' line: it does not carry the entry; make it with 'ledger prove --format tlog-proof'")
    extra = parse_json_untrusted(proof.extra)
    try:
        leaf = base64.b64decode(extra["leaf"], validate=True)
        key_info = extra["key"]
        key_leaf = base64.b64decode(key_info["leaf"], validate=True)
        key_index = int(key_info["leaf_index"])
        key_hashes = [base64.b64decode(h, validate=True) for h in key_info["hashes"]]
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"the bundle's extra data is not in the expected form: {e}") from e
    checkpoint = verify_tlog_proof(proof, leaf, verifier, verifier.name)
    entry = Entry.from_leaf_untrusted(proof.leaf_index, leaf)
    if entry.record.id != claim_id:
        raise ProofError(f"the bundle proves {entry.record.id}, not {claim_id}")
    key_entry = Entry.from_leaf_untrusted(key_index, key_leaf)
    tree.verify_inclusion(key_index, checkpoint.size, tree.leaf_hash(key_leaf), key_hashes, checkpoint.root_hash)
    if key_entry.record.kind != "key" or key_entry.signer != f"{verifier.name}+{verifier.key_id.hex()}":
        raise SignatureError(f"entry {key_index} is not a key registration signed by the log key")
    verifier.verify(signed_message(verifier.name, key_entry.record_bytes), key_entry.signature)
    editor = parse_verifier_key_untrusted(key_entry.record.vkey)
    if f"{editor.name}+{editor.key_id.hex()}" != entry.signer:
        raise SignatureError(f"entry {key_index} registers {editor.name}+{editor.key_id.hex()}, but the claim is signed by {entry.signer}")
    if key_index >= proof.leaf_index:
        raise SignatureError(f"the signer's key was registered at entry {key_index}, after the claim's entry {proof.leaf_index}")
    try:
        editor.verify(signed_message(verifier.name, entry.record_bytes), entry.signature)
    except SignatureError as e:
        raise SignatureError(f"the claim's signature does not verify under {editor.vkey}") from e
    return ClaimProofReport(claim_id=claim_id, leaf_index=proof.leaf_index, tree_size=checkpoint.size, signer=editor.vkey,
                            record=entry.record.to_dict(), key_leaf_index=key_index)
