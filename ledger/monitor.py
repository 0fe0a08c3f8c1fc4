"""Following a published ledger: the core of ``ledger monitor`` (issue 16 §3).

A monitor keeps the last checkpoint it verified (its *state*) and, each time
it runs, fetches the log's current checkpoint from a tiled log
(``ledger.tiles``: the site's ``/-/tlog/`` or a mirror) and checks that:

1. the checkpoint is signed by the log key, for the log's origin, and carries
   cosignatures of at least ``quorum`` of the witnesses it trusts
   (``ledger.cosignature``);
2. with ``max_age``, the freshest of those cosignatures is recent enough
   (a log frozen at an old checkpoint cannot get fresh cosignatures);
3. the new tree extends the saved one: not smaller (a rollback), the same
   root at the same size, and otherwise a consistency proof computed from
   tiles checked against the new root verifies against the saved root
   (RFC 9162 §2.1.4); anything else means the history was rewritten;
4. every checkpoint a witness says it cosigned (tlog-witness "Monitor
   Retrieval Mechanism") is one the site's tree extends: a witness holding a
   larger or inconsistent checkpoint means readers are shown different views;
5. the new entries, read from entry bundles checked against the tree, parse
   as entries; each is described in words.

It returns the new entries (for the caller to verify with the ledger's own
rules, as ``ledger verify`` does) and what changed; it raises
``MonitorError`` with a ``finding`` naming what went wrong. The caller saves
the new state with ``save_state`` only after everything checked: the write
is atomic, so a crash leaves the old state or the new one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

from ledger import tree
from ledger.canonical import canonical_bytes
from ledger.cosignature import CosignatureVerifier, CosignedCheckpoint, open_cosigned_checkpoint_untrusted
from ledger.envelope import Entry
from ledger.errors import FormatError, LedgerError, NotFoundError, ProofError, RecordError, SignatureError
from ledger.note import Verifier
from ledger.tiles import Fetch, TileError, TileHashReader, write_file_atomically

STATE_FORMAT = "fact-ledger-monitor/1"

# What MonitorError.finding can be.
FINDINGS = ("signature", "quorum", "stale", "rollback", "rewrite", "split-view", "tiles", "entry")


class MonitorError(LedgerError):
    """The followed log misbehaved, or its data does not check; ``finding`` says how."""

    def __init__(self, finding: str, message: str):
        assert finding in FINDINGS, finding
        super().__init__(message)
        self.finding = finding


# ---------------------------------------------------------------------------
# State: the last checkpoint verified.
# ---------------------------------------------------------------------------


@attrs.frozen
class MonitorState:
    """The last checkpoint the monitor verified (the whole note, cosignatures included)."""

    origin: str
    size: int
    root_hash: bytes = attrs.field(repr=lambda b: b.hex())
    checkpoint_note: str = attrs.field(repr=False)

    @classmethod
    def from_checkpoint(cls, opened: CosignedCheckpoint, note: str) -> MonitorState:
        cp = opened.checkpoint
        return cls(cp.origin, cp.size, cp.root_hash, note)


def format_state(state: MonitorState) -> bytes:
    """The state file: canonical JSON ``{"checkpoint": note, "format": ...}``."""
    return canonical_bytes({"format": STATE_FORMAT, "checkpoint": state.checkpoint_note}) + b"\n"


def parse_state_untrusted(data: bytes, log_verifier: Verifier, origin: str) -> MonitorState:
    """Read a state file; its checkpoint is verified again (the file is only as safe as its disk)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"monitor state: expected JSON, found {data[:40]!r}") from e
    if not isinstance(value, dict) or value.get("format") != STATE_FORMAT or set(value) != {"format", "checkpoint"} \
            or not isinstance(value["checkpoint"], str):
        raise FormatError(f"monitor state: expected {{\"format\": \"{STATE_FORMAT}\", \"checkpoint\": NOTE}}")
    note = value["checkpoint"]
    opened = open_cosigned_checkpoint_untrusted(note, log_verifier, (), origin)
    return MonitorState.from_checkpoint(opened, note)


def load_state(path, log_verifier: Verifier, origin: str) -> MonitorState | None:
    """The saved state, or None on the first run (no file)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    return parse_state_untrusted(data, log_verifier, origin)


def save_state(path, state: MonitorState) -> None:
    """Write the state atomically and durably (a temporary file, fsync, rename)."""
    write_file_atomically(Path(path), format_state(state), durable=True)


# ---------------------------------------------------------------------------
# What changed, in words.
# ---------------------------------------------------------------------------


@attrs.frozen
class Change:
    """One new entry, described: ``what`` is one of the words below, ``text`` a sentence."""

    index: int
    what: str
    record_id: str
    version: int
    text: str


def describe(entry: Entry) -> Change:
    """Say what an entry does: a new claim, a revision, a correction, a retraction, a new or revoked key..."""
    record = entry.record
    kind, rid, version = record.kind, record.id, record.version
    if kind == "correction":
        what, text = "correction", f"correction of {record.target}: {rid}"
    elif kind == "retraction":
        what, text = "retraction", f"retraction of {record.target}: {rid}"
    elif kind == "key" and record.status == "revoked":
        what, text = "key revoked", f"key revoked: {rid} ({record.vkey})"
    elif kind == "key" and version == 1:
        what, text = "new key", f"new {record.role} key: {rid} {record.display_name!r} ({record.vkey})"
    elif version == 1:
        what, text = f"new {kind}", f"new {kind}: {rid}"
    else:
        what, text = "revision", f"revision {version} of {rid}"
    return Change(entry.index, what, rid, version, f"entry {entry.index}: {text}, signed by {entry.signer}")


# ---------------------------------------------------------------------------
# The check.
# ---------------------------------------------------------------------------


@attrs.frozen
class MonitorReport:
    """What one run found: the new state to save, the new entries and what they change."""

    previous: MonitorState | None
    state: MonitorState
    checkpoint: CosignedCheckpoint
    entries: tuple[Entry, ...]
    changes: tuple[Change, ...]
    witness_sizes: dict = attrs.field(factory=dict)  # witness vkey name+keyid -> size it holds

    @property
    def summary(self) -> str:
        """One line, for cron."""
        grew = (f"grew from {self.previous.size} to {self.state.size} entries" if self.previous
                else f"first check: {self.state.size} entries")
        cosigners = len(self.checkpoint.cosigners())
        return f"{self.state.origin}: {grew}, {len(self.entries)} new, consistent; cosigned by {cosigners} witness(es)"


def _consistent(reader: TileHashReader, old_size: int, old_root: bytes, what: str) -> None:
    """Raise ProofError unless the tree ``reader`` reads extends the tree (old_size, old_root)."""
    if old_size == 0:
        if old_root != tree.EMPTY_ROOT:
            raise ProofError(f"{what} has size 0 but a root other than the empty tree's")
        return
    proof = tree.prove_consistency(old_size, reader.tree_size, reader)
    tree.verify_consistency(old_size, reader.tree_size, old_root, reader.root_hash, proof)


def check(fetch: Fetch, log_verifier: Verifier, state: MonitorState | None, *,
          witnesses: Sequence[CosignatureVerifier] = (), quorum: int = 0, witness_notes: Sequence[str] = (),
          max_age: float | None = None, now: float | None = None, workers: int = 8) -> MonitorReport:
    """Check the log served by ``fetch`` against ``state``; return what to save and what changed.

    ``witness_notes`` are checkpoints fetched from witnesses (``GET <witness>/<origin hash>/checkpoint``).
    Raises MonitorError on any finding; FetchError or NotFoundError when the log cannot be read.
    """
    origin = log_verifier.name if state is None else state.origin
    note, opened = _open_checkpoint(fetch("checkpoint"), log_verifier, witnesses, origin, quorum, max_age, now)
    cp = opened.checkpoint
    reader = TileHashReader(cp.size, cp.root_hash, fetch, workers=workers)
    try:
        if state is not None:
            _check_extends_saved(reader, state, cp.size)
        witness_sizes = _check_witness_views(reader, witness_notes, log_verifier, witnesses, origin, cp.size)
        start = 0 if state is None else state.size
        leaves = reader.read_leaves(start, cp.size)
    except TileError as e:
        raise MonitorError("tiles", f"the log's tiles do not match its checkpoint: {e}") from e
    except NotFoundError as e:
        raise MonitorError("tiles", f"the log does not serve the tiles of its checkpoint: {e}") from e
    entries = _entries_from_untrusted(leaves, start)
    return MonitorReport(state, MonitorState.from_checkpoint(opened, note), opened, tuple(entries),
                         tuple(describe(e) for e in entries), witness_sizes)


def _open_checkpoint(note_bytes: bytes, log_verifier: Verifier, witnesses: Sequence[CosignatureVerifier], origin: str,
                     quorum: int, max_age: float | None, now: float | None) -> tuple[str, CosignedCheckpoint]:
    """The log's checkpoint, its signature checked, cosigned by ``quorum`` witnesses, no older than ``max_age``."""
    try:
        note = note_bytes.decode("utf-8")
        opened = open_cosigned_checkpoint_untrusted(note, log_verifier, witnesses, origin)
    except (UnicodeDecodeError, FormatError, SignatureError) as e:
        raise MonitorError("signature", f"the log's checkpoint does not verify: {e}") from e
    cp = opened.checkpoint
    cosigners = opened.cosigners()
    if len(cosigners) < quorum:
        raise MonitorError("quorum", f"checkpoint of size {cp.size} is cosigned by {len(cosigners)} of the "
                                     f"trusted witnesses, fewer than the quorum of {quorum}")
    if max_age is not None:
        now = time.time() if now is None else now
        freshest = max(cosigners.values(), default=None)
        if freshest is None or now - freshest > max_age:
            found = "no cosignature by a trusted witness" if freshest is None else f"its freshest cosignature is {int(now - freshest)} s old"
            raise MonitorError("stale", f"checkpoint of size {cp.size} may be frozen: {found}, more than --max-age {int(max_age)} s")
    return note, opened


def _check_extends_saved(reader: TileHashReader, state: MonitorState, size: int) -> None:
    """The log's tree extends the one verified before (no rollback, no rewrite)."""
    if size < state.size:
        raise MonitorError("rollback", f"the log shows size {size}, smaller than the size {state.size} "
                                       "verified before: it rolled back")
    try:
        _consistent(reader, state.size, state.root_hash, "the saved checkpoint")
    except ProofError as e:
        raise MonitorError("rewrite", f"the log's tree of size {size} does not extend the one of size "
                                      f"{state.size} verified before: its history was rewritten ({e})") from e


def _check_witness_views(reader: TileHashReader, witness_notes: Sequence[str], log_verifier: Verifier,
                         witnesses: Sequence[CosignatureVerifier], origin: str, size: int) -> dict:
    """Every checkpoint a witness holds is one the log's tree extends (else a split view); their sizes by witness."""
    witness_sizes = {}
    for witness_note in witness_notes:
        held = _witness_checkpoint(witness_note, log_verifier, witnesses, origin)
        name = ", ".join(held.cosigners())
        witness_sizes.update(dict.fromkeys(held.cosigners(), held.checkpoint.size))
        if held.checkpoint.size > size:
            raise MonitorError("split-view", f"witness {name} cosigned size {held.checkpoint.size}, larger than the "
                                             f"size {size} the log shows: readers are shown different views")
        try:
            _consistent(reader, held.checkpoint.size, held.checkpoint.root_hash, f"witness {name}'s checkpoint")
        except ProofError as e:
            raise MonitorError("split-view", f"witness {name} cosigned a checkpoint of size {held.checkpoint.size} "
                                             f"that the log's tree does not extend: a split view ({e})") from e
    return witness_sizes


def _entries_from_untrusted(leaves, start: int) -> list[Entry]:
    entries = []
    for i, leaf in enumerate(leaves, start):
        try:
            entries.append(Entry.from_leaf_untrusted(i, leaf))
        except (FormatError, RecordError) as e:
            raise MonitorError("entry", f"entry {i} is not a valid entry: {e}") from e
    return entries


def _witness_checkpoint(note: str, log_verifier: Verifier, witnesses: Sequence[CosignatureVerifier],
                        origin: str) -> CosignedCheckpoint:
    try:
        held = open_cosigned_checkpoint_untrusted(note, log_verifier, witnesses, origin)
    except (FormatError, SignatureError) as e:
        raise MonitorError("signature", f"a witness's checkpoint does not verify: {e}") from e
    if not held.cosignatures:
        raise MonitorError("signature", "a witness's checkpoint carries no cosignature by a trusted witness")
    return held
