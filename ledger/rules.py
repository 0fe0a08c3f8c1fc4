"""The rules every entry must follow, checked on append and again on verify.

Both paths call ``check_entry`` with the projection state as it stood just
before the entry, so a record refused on append is exactly a record that
verify reports.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Callable, Optional, Protocol

from ledger.envelope import signed_message
from ledger.errors import FormatError, RecordError, SignatureError
from ledger.note import parse_verifier_key_untrusted
from ledger.quotes import check_quote, stored_snapshot_text
from ledger.ratings import check_rating_map
from ledger.records import Claim, Correction, KeyRecord, Record, Retraction, Review, Source, WitnessRecord
from ledger.tiles import MAX_LEAF_SIZE


class LedgerState(Protocol):
    """What the rules read of the state before an entry: the browsing tables'
    heads, keys and snapshots (``ledger.projection.Projection`` on append and in
    verify's replay)."""

    def head(self, record_id: str) -> Optional[Any]: ...
    def key(self, signer: str) -> Optional[Any]: ...
    def source_snapshot(self, source_id: str) -> Optional[str]: ...
    def version_of(self, entry_hash: str) -> Optional[tuple[str, int]]: ...
    def read_record(self, entry_idx: int) -> Record: ...
    def witness(self, key: str) -> Optional[Any]: ...


def check_entry(entry, state: LedgerState, origin: str, read_snapshot: Optional[Callable[[str], Optional[tuple[str, bytes]]]],
                signature_sink: Optional[list] = None, signed_by: Optional[str] = None) -> None:
    """Raise RecordError or SignatureError unless ``entry`` may follow the current state.

    ``read_snapshot(sha256)`` gives (media type, bytes) of a stored snapshot;
    ``None`` means snapshots are not available (a bare export), so snapshot
    and quote checks are skipped. With ``signature_sink``, the Ed25519 check
    is not done here: (index, public key, message, signature) is appended for
    the caller to verify in bulk. ``signed_by`` is for the appender, which
    has just made the signature itself with the key whose verifier key is
    ``signed_by``: rather than verify it again, the check is that the key
    registered for the entry's signer is exactly that key.
    """
    record = entry.record
    where = f"entry {entry.index} ({record.id} v{record.version})"
    _check_leaf_size(entry, where)
    _check_signer(entry, state, origin, where, signature_sink, signed_by)
    _check_version(entry, state, where)
    check = _KIND_CHECKS.get(record.kind)
    if check:
        check(entry, record, state, where, read_snapshot)


def _check_leaf_size(entry, where):
    # c2sp.org/tlog-tiles "Log entries": an entry bundle prefixes each leaf
    # with a uint16 length, so a leaf longer than that cannot be published.
    if len(entry.leaf) > MAX_LEAF_SIZE:
        raise RecordError(f"{where}: the entry is {len(entry.leaf):,} bytes, over the limit of {MAX_LEAF_SIZE:,} bytes "
                          "per entry (c2sp.org/tlog-tiles entry bundles): shorten the record, or keep long text in a snapshot")


def _check_signer(entry, state, origin, where, sink, signed_by):
    record = entry.record
    if entry.index == 0:
        # The first entry registers the log key, signed by that key itself.
        if not (isinstance(record, KeyRecord) and record.role == "log" and record.status == "active" and record.version == 1):
            raise RecordError(f"{where}: the first entry must register the log key (kind key, role log)")
        verifier = parse_verifier_key_untrusted(record.vkey)
        if verifier.signer_id != entry.signer:
            raise SignatureError(f"{where}: the log key must sign its own registration; signed by {entry.signer}")
        if verifier.name != origin:
            raise RecordError(f"{where}: the log key's name must be the log origin {origin!r}; found {verifier.name!r}")
        _verify(record.vkey, entry, origin, where, sink, signed_by)
        return
    key = state.key(entry.signer)
    if key is None:
        raise SignatureError(f"{where}: signed by {entry.signer}, which is not a registered key; register it with 'ledger key add'")
    if key.status == "revoked":
        raise SignatureError(f"{where}: signed by {entry.signer}, which was revoked at entry {key.revoked_idx}")
    if isinstance(record, KeyRecord) and key.role != "log":
        raise SignatureError(f"{where}: only the log key may register or revoke keys; signed by editor key {entry.signer}")
    if isinstance(record, WitnessRecord) and key.role != "log":
        raise SignatureError(f"{where}: only the log key may add or remove witnesses; signed by editor key {entry.signer}")
    _verify(key.vkey, entry, origin, where, sink, signed_by)


def _verify(vkey, entry, origin, where, sink, signed_by):
    if signed_by is not None:
        # Ed25519 signing is deterministic and cannot produce a signature
        # that its own public key rejects, so a fresh signature by the
        # registered key is a valid one: only the key needs comparing.
        if signed_by != vkey:
            raise SignatureError(f"{where}: signature by {entry.signer} does not verify")
        return
    verifier = _verifier(vkey)
    message = signed_message(origin, entry.record_bytes)
    if sink is not None:
        sink.append((entry.index, verifier.public_key, message, entry.signature))
        return
    try:
        verifier.verify(message, entry.signature)
    except SignatureError as e:
        raise SignatureError(f"{where}: signature by {entry.signer} does not verify") from e


@functools.lru_cache(maxsize=256)
def _verifier(vkey):
    # A ledger has a handful of keys and every entry names one.
    return parse_verifier_key_untrusted(vkey)


def _check_version(entry, state, where):
    record = entry.record
    head = state.head(record.id)
    if record.version == 1:
        if head is not None:
            raise RecordError(f"{where}: ID {record.id} already exists (version {head.version}); revise it instead of adding it again")
        return
    if head is None:
        raise RecordError(f"{where}: version {record.version} revises {record.id}, which does not exist")
    if head.kind != record.kind:
        raise RecordError(f"{where}: {record.id} is a {head.kind}, not a {record.kind}")
    if record.version != head.version + 1:
        raise RecordError(f"{where}: expected version {head.version + 1} of {record.id}, found {record.version}")
    if record.replaces != head.entry_hash:
        raise RecordError(f"{where}: replaces must be the current version's entry hash {head.entry_hash}; found {record.replaces}")
    if head.status == "retracted":
        raise RecordError(f"{where}: {record.id} was retracted and cannot be revised")
    if not record.note:
        raise RecordError(f"{where}: a revision must say why in 'note'")


def _require(state, record_id, kinds, where, field):
    head = state.head(record_id)
    if head is None or head.kind not in kinds:
        wanted = " or ".join(kinds)
        raise RecordError(f"{where}: {field} {record_id} is not a {wanted} in this ledger")
    return head


def _check_key(entry, record: KeyRecord, state, where, read_snapshot):
    signer = parse_verifier_key_untrusted(record.vkey).signer_id
    if record.version == 1:
        if entry.index > 0 and record.role == "log":
            raise RecordError(f"{where}: a ledger has one log key, registered by its first entry")
        if state.key(signer) is not None:
            raise RecordError(f"{where}: key {signer} is already registered")
        if record.status != "active":
            raise RecordError(f"{where}: a new key must be registered with status active")
        return
    old = state.key(signer)
    if old is None or old.record_id != record.id:
        raise RecordError(f"{where}: a key record's verifier key cannot change; register a new key instead")
    if old.status == "revoked" and record.status == "active":
        raise RecordError(f"{where}: a revoked key stays revoked; register a new key instead")
    if old.role != record.role:
        raise RecordError(f"{where}: a key's role cannot change")
    if record.role == "log" and record.status == "revoked":
        raise RecordError(f"{where}: the log key cannot be revoked inside its own log")


def _check_source(entry, record: Source, state, where, read_snapshot):
    for link in record.links or ():
        if link.source == record.id:
            raise RecordError(f"{where}: a source cannot link to itself")
        _require(state, link.source, ("source",), where, "linked source")
    if record.snapshot and read_snapshot is not None:
        snap = record.snapshot
        stored = read_snapshot(snap.sha256)
        if stored is None:
            raise RecordError(f"{where}: snapshot {snap.sha256} is not stored; add the file with --snapshot")
        media_type, content = stored
        found = hashlib.sha256(content).hexdigest()
        if found != snap.sha256 or len(content) != snap.size or media_type != snap.media_type:
            raise RecordError(
                f"{where}: stored snapshot is {found} ({len(content)} bytes, {media_type}); "
                f"the record says {snap.sha256} ({snap.size} bytes, {snap.media_type})"
            )


def _check_claim(entry, record: Claim, state, where, read_snapshot):
    source = _require(state, record.source, ("source",), where, "source")
    if source.status == "retracted":
        raise RecordError(f"{where}: source {record.source} was retracted")
    if record.attribution and record.attribution.source:
        _require(state, record.attribution.source, ("source",), where, "attribution source")
    sha = state.source_snapshot(record.source) if record.quote and read_snapshot is not None else None
    if sha:
        check_quote(stored_snapshot_text(read_snapshot, sha), record.quote, where)


def _check_review(entry, record: Review, state, where, read_snapshot):
    claim = _require(state, record.claim, ("claim",), where, "claim")
    if record.version > 1:
        old = state.read_record(state.head(record.id).entry_idx)
        if old.claim != record.claim:
            raise RecordError(f"{where}: a review cannot move to another claim")
    elif claim.status == "retracted":
        raise RecordError(f"{where}: claim {record.claim} was retracted")
    for source_id in record.evidence or ():
        _require(state, source_id, ("source",), where, "evidence")


def _check_notice(entry, record, state, where, read_snapshot):
    if record.version > 1:
        raise RecordError(f"{where}: corrections and retractions are not revised; append a new one")
    target = _require(state, record.target, ("source", "claim", "review"), where, "target")
    if target.status == "retracted":
        raise RecordError(f"{where}: {record.target} is already retracted")
    if isinstance(record, Retraction) and record.target_entry != target.entry_hash:
        raise RecordError(f"{where}: target_entry must be the current version's hash {target.entry_hash}; found {record.target_entry}")
    if isinstance(record, Correction):
        if record.corrected_entry != target.entry_hash:
            raise RecordError(
                f"{where}: corrected_entry must be the current version of {record.target} ({target.entry_hash}); "
                "append the corrected version first"
            )
        if record.target_entry == record.corrected_entry:
            raise RecordError(f"{where}: target_entry and corrected_entry are the same version")
        if target.version < 2:
            raise RecordError(f"{where}: {record.target} has only one version; nothing was corrected")
        wrong = state.version_of(record.target_entry)
        if wrong is None or wrong[0] != record.target:
            raise RecordError(f"{where}: target_entry {record.target_entry} is not a version of {record.target}")


def _check_ratingmap(entry, record, state, where, read_snapshot):
    check_rating_map(record, where)


def _check_witness(entry, record: WitnessRecord, state, where, read_snapshot):
    # A witness is known by its cosignature/v1 key (c2sp.org/tlog-cosignature):
    # one record per key, whose key never changes; removing one says why.
    from ledger.cosignature import parse_cosigner_vkey_untrusted  # only witness records need it: editing stays fast

    try:
        key = parse_cosigner_vkey_untrusted(record.vkey)
    except FormatError as e:
        raise RecordError(f"{where}: vkey is not a witness verifier key: {e}") from e
    signer = f"{key.name}+{key.key_id.hex()}"
    if record.status == "removed" and not record.reason:
        raise RecordError(f"{where}: removing a witness must say why in 'reason'")
    if record.version == 1:
        known = state.witness(signer)
        if known is not None:
            raise RecordError(f"{where}: witness {signer} is already {known.record_id}; revise that record instead")
        if record.status != "active":
            raise RecordError(f"{where}: a new witness must be added with status active")
        return
    old = state.read_record(state.head(record.id).entry_idx)
    if old.vkey != record.vkey:
        raise RecordError(f"{where}: a witness record's verifier key cannot change; add the new key as another witness")


_KIND_CHECKS = {
    "key": _check_key,
    "source": _check_source,
    "claim": _check_claim,
    "review": _check_review,
    "correction": _check_notice,
    "retraction": _check_notice,
    "ratingmap": _check_ratingmap,
    "witness": _check_witness,
}
