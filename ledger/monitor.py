"""Following a published ledger: ``ledger monitor`` (docs/witness.md "Monitoring a ledger").

A monitor keeps a state (``ledger.verify.follow.FollowState``: the
checkpoints it verified and the browsing tables of the entries up to the
last) and, each run, reads the log's current checkpoint and entries from
C2SP tlog-tiles (``ledger.tiles``: the site's ``/-/tlog/``, a mirror, or a
folder), and checks, in order:

1. the checkpoint is signed by the log key, for the log's origin
   (finding ``signature``);
2. the new tree extends the one verified before: not smaller (``rollback``),
   and a consistency proof computed from tiles checked against the new root
   verifies from the saved root, RFC 9162 §2.1.4 (else ``rewrite``);
3. every new entry, read from entry bundles checked against the tree, is
   valid and follows the ledger's rules with a verifying signature, replayed
   exactly as ``ledger verify`` replays it (``entry``); tiles that do not
   match the checkpoint, or are missing, are ``tiles``;
4. the trusted witnesses' cosignatures on the checkpoint verify, meet the
   reader's quorum (``quorum``) and, with ``max_age``, the freshest is recent
   enough: a log frozen at an old checkpoint cannot get fresh cosignatures
   from honest witnesses (``stale``);
5. each trusted witness's own latest checkpoint for this log (tlog-witness
   "Monitor Retrieval Mechanism") is one the log's tree extends: a witness
   holding a larger or another tree means readers are shown different views
   (``split-view``).

Only then is the new state saved (atomically). Trusted witnesses are those
of the reader's policy (``--witness``/``--policy``); without one, those the
log itself names in its witness records.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

import attrs

from ledger import tree
from ledger.cosignature import CosignatureVerifier, CosignedCheckpoint, open_cosigned_checkpoint_untrusted, parse_cosigner_vkey_untrusted
from ledger.envelope import Entry
from ledger.errors import FormatError, LedgerError, NotFoundError, ProofError, SignatureError
from ledger.note import Verifier, parse_verifier_key_untrusted
from ledger.policy import Policy, PolicyWitness
from ledger.tiles import Fetch, TileError, TileHashReader, directory_fetcher, http_fetcher
from ledger.verify.follow import EntryError, FollowState
from ledger.witness import origin_hash

# What MonitorError.finding can be.
FINDINGS = ("signature", "quorum", "stale", "rollback", "rewrite", "split-view", "tiles", "entry")
# Bytes of a witness's checkpoint answer it reads at most (a note of 100 signatures fits).
MAX_WITNESS_ANSWER = 64 * 1024


class MonitorError(LedgerError):
    """The followed log misbehaved, or its data does not check; ``finding`` says how."""

    def __init__(self, finding: str, message: str):
        assert finding in FINDINGS, finding
        super().__init__(message)
        self.finding = finding


# ---------------------------------------------------------------------------
# Where the tiles are.
# ---------------------------------------------------------------------------


def tiles_location(location: str) -> str:
    """The tiles' prefix for what a reader typed: a site (``URL/-/tlog/``), a tiles URL (ending in
    ``/tlog/``), a folder of tiles, or a ``ledger publish`` bundle folder (``DIR/tlog``)."""
    if location.startswith(("http://", "https://")):
        base = location.rstrip("/")
        return base + "/" if base.endswith("/tlog") else base + "/-/tlog/"
    folder = Path(location)
    return str(folder / "tlog") if (folder / "tlog" / "checkpoint").is_file() else str(folder)


def tiles_fetcher(prefix: str) -> Fetch:
    return http_fetcher(prefix) if prefix.startswith(("http://", "https://")) else directory_fetcher(prefix)


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
    """Say what an entry does: a new claim, a revision, a correction, a retraction, a new or revoked key, a witness change..."""
    record = entry.record
    kind, rid, version = record.kind, record.id, record.version
    if kind in ("correction", "retraction"):
        what, text = kind, f"{kind} of {record.target}: {rid} ({record.reason})"
    elif kind == "key" and record.status == "revoked":
        what, text = "key revoked", f"key revoked: {rid} ({record.vkey})"
    elif kind == "key" and version == 1:
        what, text = "new key", f"new {record.role} key: {rid} {record.display_name!r} ({record.vkey})"
    elif kind == "witness":
        what = "new witness" if version == 1 else "witness removed" if record.status == "removed" else "witness changed"
        text = f"{what}: {'+'.join(record.vkey.split('+', 2)[:2])} at {record.url}" + (f" ({record.reason})" if record.reason else "")
    elif version == 1:
        what, text = f"new {kind}", f"new {kind}: {rid}"
    else:
        what, text = "revision", f"revision {version} of {rid}" + (f" ({record.note})" if record.note else "")
    return Change(entry.index, what, rid, version, f"entry {entry.index}: {text}, signed by {entry.signer}")


# ---------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------


@attrs.frozen
class MonitorReport:
    """What one run found and saved."""

    origin: str
    previous_size: Optional[int]
    size: int
    checkpoint: CosignedCheckpoint
    changes: tuple[Change, ...]  # the first MAX_LISTED new entries, described
    counts: dict  # what -> how many of the new entries
    trusted: tuple[str, ...]  # the trusted witnesses (name+keyid)
    quorum: str
    witness_sizes: dict = attrs.field(factory=dict)  # witness name+keyid -> size of its own latest checkpoint
    warnings: tuple[str, ...] = ()
    now: float = 0.0

    @property
    def new_entries(self) -> int:
        return sum(self.counts.values())

    @property
    def summary(self) -> str:
        """One line, for cron."""
        what = ", ".join(f"{w} ×{n}" if n > 1 else w for w, n in self.counts.items())
        grew = (f"{self.previous_size} → {self.size} entries" if self.previous_size is not None
                else f"first check, {self.size} entries")
        new = f" ({self.new_entries} new: {what})" if self.counts else " (nothing new)"
        cosigners = self.checkpoint.cosigners()
        fresh = f", freshest {int(self.now - max(cosigners.values()))} s ago" if cosigners else ""
        warned = f"; {len(self.warnings)} warning(s), see --verbose" if self.warnings else ""
        return (f"{self.origin}: {grew}{new}, consistent; cosigned by {len(cosigners)} of {len(self.trusted)} "
                f"trusted witness(es){fresh}{warned}")


def follow(location: str, state_path, *, vkey: Optional[str] = None, policy: Optional[Policy] = None,
           max_age: Optional[float] = None, now: Optional[float] = None, workers: Optional[int] = None,
           witness_timeout: float = 5.0) -> MonitorReport:
    """One monitor run over the log at ``location``, with its state in ``state_path``.

    The first run needs the log's verifier key (``vkey``, or the policy's
    only log key); later runs follow the key the state holds. Raises
    MonitorError on any finding (and saves nothing); FetchError or
    NotFoundError when the log cannot be read at all.
    """
    prefix = tiles_location(location)
    fetch = tiles_fetcher(prefix)
    state = FollowState.open(state_path)
    try:
        if state is None:
            if vkey is None:
                raise LedgerError("the first run needs the log's verifier key: give --vkey VKEY (or a --policy with its log line)")
            state = FollowState.create(state_path, parse_verifier_key_untrusted(vkey).vkey, prefix)
        elif vkey is not None and parse_verifier_key_untrusted(vkey).vkey != state.log_verifier.vkey:
            raise LedgerError(f"{state_path} follows the log {state.log_verifier.vkey}, not --vkey {vkey}")
        return _run(state, fetch, policy, max_age, time.time() if now is None else now, workers, witness_timeout)
    finally:
        if state is not None:
            state.close()


def _run(state: FollowState, fetch: Fetch, policy: Optional[Policy], max_age: Optional[float], now: float,
         workers: Optional[int], witness_timeout: float) -> MonitorReport:
    log, origin = state.log_verifier, state.log_verifier.name
    note = _fetch_note(fetch)
    checkpoint = _open(note, log, (), origin).checkpoint
    reader = TileHashReader(checkpoint.size, checkpoint.root_hash, fetch)
    previous = None if state.note is None else _open(state.note, log, (), origin).checkpoint
    changes = Changes()
    with _tile_findings():
        if previous is not None:
            check_extends(reader, previous.size, previous.root_hash)
        try:
            state.replay(_leaf_chunks(reader, state.size), _LeafCache(reader).leaf, changes.add, workers)
        except EntryError as e:
            raise MonitorError("entry", f"a new entry does not verify: {e}") from e
    trusted = trusted_witnesses(state, policy)
    opened = _open(note, log, [w.verifier for w in trusted], origin)
    check_cosigners(opened, policy, max_age, now)
    witness_sizes, warnings = check_witness_views(reader, trusted, log, origin, witness_timeout)
    state.commit(checkpoint.size, note, int(now))
    return MonitorReport(origin, None if previous is None else previous.size, checkpoint.size, opened,
                         tuple(changes.listed), changes.counts, tuple(w.id for w in trusted),
                         policy.describe() if policy else "none", witness_sizes, tuple(warnings), now)


# Leaves read from the tiles at a time (whole entry bundles, fetched in parallel).
CHUNK = 16 * 256
# New entries described one by one at most; beyond, they are counted only.
MAX_LISTED = 10_000


def _leaf_chunks(reader: TileHashReader, start: int):
    for first in range(start, reader.tree_size, CHUNK):
        yield reader.read_leaves(first, min(first + CHUNK, reader.tree_size))


class _LeafCache:
    """Earlier leaves a rule needs (the version a revision replaces), a few entry bundles kept."""

    def __init__(self, reader: TileHashReader, bundles: int = 32):
        self._reader, self._bundles, self._kept = reader, bundles, {}

    def leaf(self, index: int) -> bytes:
        first = index - index % 256
        if first not in self._kept:
            if len(self._kept) >= self._bundles:
                self._kept.pop(next(iter(self._kept)))
            self._kept[first] = self._reader.read_leaves(first, min(first + 256, self._reader.tree_size))
        return self._kept[first][index - first]


class Changes:
    """What the new entries change: a count of each kind of change, and the first MAX_LISTED described."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.listed: list[Change] = []

    def add(self, entry: Entry) -> None:
        change = describe(entry)
        self.counts[change.what] = self.counts.get(change.what, 0) + 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(change)


class _tile_findings:
    """Tiles that do not match the checkpoint, or are missing, are a ``tiles`` finding."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, TileError):
            raise MonitorError("tiles", f"the log's tiles do not match its checkpoint: {error}") from error
        if isinstance(error, NotFoundError):
            raise MonitorError("tiles", f"the log does not serve the tiles of its checkpoint: {error}") from error
        return False


def _fetch_note(fetch: Fetch) -> str:
    try:
        return fetch("checkpoint").decode("utf-8")
    except UnicodeDecodeError as e:
        raise MonitorError("signature", f"the log's checkpoint is not UTF-8 text: {e}") from e


def _open(note: str, log: Verifier, witnesses: Sequence[CosignatureVerifier], origin: str) -> CosignedCheckpoint:
    try:
        return open_cosigned_checkpoint_untrusted(note, log, witnesses, origin)
    except (FormatError, SignatureError) as e:
        raise MonitorError("signature", f"the log's checkpoint does not verify: {e}") from e


def check_extends(reader: TileHashReader, old_size: int, old_root: bytes) -> None:
    """The tree ``reader`` reads extends the tree (old_size, old_root) verified before (no rollback, no rewrite)."""
    size = reader.tree_size
    if size < old_size:
        raise MonitorError("rollback", f"the log shows size {size}, smaller than the size {old_size} verified before: "
                                       "it rolled back")
    try:
        _consistent(reader, old_size, old_root)
    except ProofError as e:
        raise MonitorError("rewrite", f"the log's tree of size {size} does not extend the one of size {old_size} "
                                      f"verified before: its history was rewritten ({e})") from e


def _consistent(reader: TileHashReader, old_size: int, old_root: bytes) -> None:
    """Raise ProofError unless the tree ``reader`` reads extends the tree (old_size, old_root)."""
    if old_size == 0:
        if old_root != tree.EMPTY_ROOT:
            raise ProofError("size 0 with a root other than the empty tree's")
        return
    proof = tree.prove_consistency(old_size, reader.tree_size, reader)
    tree.verify_consistency(old_size, reader.tree_size, old_root, reader.root_hash, proof)


def trusted_witnesses(state: FollowState, policy: Optional[Policy]) -> list[PolicyWitness]:
    """The policy's witnesses (a URL from the policy, else from the log's record of the same key);
    without a policy, the log's own active witnesses."""
    named = {w.witness: w for w in state.witnesses()}
    if policy is None:
        return [PolicyWitness(w.witness, parse_cosigner_vkey_untrusted(w.vkey), w.url) for w in named.values() if w.status == "active"]
    return [w if w.url or w.id not in named else attrs.evolve(w, url=named[w.id].url) for w in policy.witnesses]


def check_cosigners(opened: CosignedCheckpoint, policy: Optional[Policy], max_age: Optional[float], now: float) -> None:
    """The reader's quorum, and with ``max_age`` the freshness of the newest trusted cosignature."""
    cosigners, size = opened.cosigners(), opened.checkpoint.size
    if policy is not None and not policy.satisfied_by(cosigners):
        who = ", ".join(sorted(cosigners)) or "none of them"
        raise MonitorError("quorum", f"the checkpoint of size {size} is cosigned by {len(cosigners)} of the trusted "
                                     f"witnesses ({who}); the quorum is {policy.describe()}")
    if max_age is not None:
        freshest = max(cosigners.values(), default=None)
        if freshest is None or now - freshest > max_age:
            found = "it has no cosignature by a trusted witness" if freshest is None else \
                f"its freshest cosignature is {int(now - freshest)} s old"
            raise MonitorError("stale", f"the checkpoint of size {size} may be frozen: {found}, more than --max-age {int(max_age)} s")


def check_witness_views(reader: TileHashReader, trusted: Sequence[PolicyWitness], log: Verifier, origin: str,
                        timeout: float) -> tuple[dict, list[str]]:
    """Each trusted witness's own latest checkpoint is one the log's tree extends (else a split view).

    Returns the size each witness holds, and a warning for each witness that
    could not be asked (a witness being down is not the log's fault).
    """
    sizes, warnings = {}, []
    for witness in trusted:
        if not witness.url:
            continue
        try:
            note = _witness_checkpoint(witness.url, origin, timeout)
        except LedgerError as e:
            warnings.append(f"cannot ask witness {witness.id} for its checkpoint: {e}")
            continue
        if note is None:
            continue  # it has cosigned nothing of this log yet
        try:
            held = open_cosigned_checkpoint_untrusted(note, log, [witness.verifier], origin)
        except (FormatError, SignatureError) as e:
            warnings.append(f"witness {witness.id} answers a checkpoint that does not verify: {e}")
            continue
        if not held.cosignatures:
            warnings.append(f"witness {witness.id} answers a checkpoint without its own cosignature")
            continue
        sizes[witness.id] = held.checkpoint.size
        _check_held(reader, witness.id, held)
    return sizes, warnings


def _check_held(reader: TileHashReader, witness: str, held: CosignedCheckpoint) -> None:
    size, theirs = reader.tree_size, held.checkpoint
    if theirs.size > size:
        raise MonitorError("split-view", f"witness {witness} cosigned size {theirs.size}, larger than the size {size} the "
                                         "log shows this monitor: readers are shown different views (or the site was "
                                         "not published again after an append)")
    try:
        with _tile_findings():
            _consistent(reader, theirs.size, theirs.root_hash)
    except ProofError as e:
        raise MonitorError("split-view", f"witness {witness} cosigned a checkpoint of size {theirs.size} that the log's "
                                         f"tree of size {size} does not extend: a split view ({e})") from e


def _witness_checkpoint(url: str, origin: str, timeout: float) -> Optional[str]:
    """``GET <witness>/<origin hash>/checkpoint`` (tlog-witness "Monitor Retrieval Mechanism"); None on 404."""
    endpoint = f"{url.rstrip('/')}/{origin_hash(origin)}/checkpoint"
    try:
        with urllib.request.urlopen(endpoint, timeout=timeout) as response:
            body = response.read(MAX_WITNESS_ANSWER + 1)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise LedgerError(f"{endpoint}: HTTP {e.code}") from e
    except (urllib.error.URLError, OSError) as e:
        raise LedgerError(f"{endpoint}: {getattr(e, 'reason', e)}") from e
    if len(body) > MAX_WITNESS_ANSWER:
        raise LedgerError(f"{endpoint}: answer larger than {MAX_WITNESS_ANSWER:,} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LedgerError(f"{endpoint}: answer is not UTF-8") from e
