"""Signed envelopes: how a record becomes a log entry.

An entry's leaf bytes are the RFC 8785 canonical form of::

    {"record": RECORD, "sig": BASE64(ed25519 signature), "signer": "NAME+HEX8"}

The signature is over a domain-separated message (docs/format.md §Signed
message)::

    "fact-ledger/record/v1\\n" || ORIGIN || "\\n" || canonical(RECORD)

The prefix keeps a record signature from ever being valid as a signed note
or anything else an editor key signs; the log's origin binds it to one
ledger, so it cannot be replayed into another.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Optional

import attrs

from ledger.canonical import canonical_bytes, parse_json_untrusted
from ledger.errors import FormatError, RecordError
from ledger.note import b64decode_canonical
from ledger.records import Record
from ledger.schema import validate_envelope
from ledger.tree import leaf_hash

MESSAGE_PREFIX = b"fact-ledger/record/v1\n"


def signed_message(origin: str, record_dict: dict) -> bytes:
    return MESSAGE_PREFIX + origin.encode("utf-8") + b"\n" + canonical_bytes(record_dict)


def signer_id(signer) -> str:
    """'name+hex8', the key name and key ID as in a C2SP verifier key."""
    return f"{signer.name}+{signer.key_id.hex()}"


@attrs.frozen
class Entry:
    """One log entry: its position, exact leaf bytes and what they contain."""

    index: int
    leaf: bytes = attrs.field(repr=False)
    leaf_hash: bytes = attrs.field(repr=lambda h: h.hex())
    record: Record
    signer: str
    signature: bytes = attrs.field(repr=lambda s: s.hex())
    # canonical(record): the leaf's "record" member and the signed message's tail.
    record_bytes: Optional[bytes] = attrs.field(default=None, repr=False, eq=False)
    # The entry hash in hex, as the tables store it: made once, read several times per append.
    hash_hex: str = attrs.field(init=False, repr=False, eq=False,
                                default=attrs.Factory(lambda self: self.leaf_hash.hex(), takes_self=True))

    @classmethod
    def from_leaf_untrusted(cls, index: int, leaf: bytes) -> "Entry":
        """Parse leaf bytes from outside; they must be the canonical envelope, exactly."""
        envelope = parse_json_untrusted(leaf)
        record_bytes = _record_bytes(envelope)
        canonical = canonical_bytes(envelope) if record_bytes is None else envelope_bytes(record_bytes, envelope["sig"], envelope["signer"])
        if canonical != leaf:
            raise FormatError(f"entry {index}: leaf bytes are not the RFC 8785 canonical form of their JSON")
        try:
            validate_envelope(envelope)
            record = Record.from_dict(envelope["record"], path="$.record")
        except RecordError as e:
            raise RecordError(f"entry {index}: {e}") from e
        # Only the canonical base64 of the signature is accepted, so one
        # signature has exactly one leaf encoding (and one entry hash).
        signature = b64decode_canonical(envelope["sig"], f"entry {index}: signature")
        return cls(index=index, leaf=leaf, leaf_hash=leaf_hash(leaf), record=record,
                   signer=envelope["signer"], signature=signature, record_bytes=record_bytes)

    @classmethod
    def sign(cls, index: int, record: Record, signer, origin: str) -> "Entry":
        return EntrySigner(signer, origin).sign(index, record)

    def message(self, origin: str) -> bytes:
        if self.record_bytes is not None:
            return MESSAGE_PREFIX + origin.encode("utf-8") + b"\n" + self.record_bytes
        return signed_message(origin, self.record.to_dict())


class EntrySigner:
    """Signs records into entries with one key for one log: what a batch reuses.

    The record is canonicalized once; that one string is both the tail of
    the signed message and the ``record`` member of the leaf (``envelope_bytes``).
    """

    def __init__(self, signer, origin: str):
        self.signer = signer
        self.signer_id = signer_id(signer)
        self.vkey = signer.vkey
        self._prefix = MESSAGE_PREFIX + origin.encode("utf-8") + b"\n"
        self._leaf = leaf_maker(self.signer_id)

    def sign(self, index: int, record: Record) -> Entry:
        record_bytes = canonical_bytes(record.to_dict())
        return self.entry(index, record, record_bytes, self.signer.sign(self.message(record_bytes)))

    def message(self, record_bytes: bytes) -> bytes:
        """The signed message for canonical(record) (docs/format.md §Signed message)."""
        return self._prefix + record_bytes

    def leaf(self, record_bytes: bytes, signature: bytes) -> bytes:
        """The leaf of an entry by this signer (docs/format.md §Entries)."""
        return self._leaf(record_bytes, signature)

    def entry(self, index: int, record: Record, record_bytes: bytes, signature: bytes,
              leaf: Optional[bytes] = None, hashed_leaf: Optional[bytes] = None) -> Entry:
        """The entry for a signature made elsewhere (``ledger.signing``) over ``message(record_bytes)``;
        with the ``leaf`` and its RFC 6962 ``hashed_leaf`` when they were made there too."""
        if leaf is None or hashed_leaf is None:
            leaf = self.leaf(record_bytes, signature)
            hashed_leaf = leaf_hash(leaf)
        return Entry(index=index, leaf=leaf, leaf_hash=hashed_leaf, record=record,
                     signer=self.signer_id, signature=signature, record_bytes=record_bytes)


def leaf_maker(signer_id: str):
    """``leaf(record_bytes, signature)``: an entry's leaf by this signer, the
    canonical envelope (``envelope_bytes``) made faster for a batch: the
    signer member is serialized once, and a signature's base64 (A-Z, a-z,
    0-9, +, /, =) needs no escaping in an RFC 8785 string (§3.2.2.2), so its
    JSON form is itself between quotes."""
    tail = b'","signer":' + canonical_bytes(signer_id) + b"}"
    b64encode = base64.b64encode

    def leaf(record_bytes: bytes, signature: bytes) -> bytes:
        return b'{"record":' + record_bytes + b',"sig":"' + b64encode(signature) + tail
    return leaf


def envelope_bytes(record_bytes: bytes, sig: str, signer: str) -> bytes:
    """canonical({"record": R, "sig": sig, "signer": signer}) from R's canonical bytes.

    RFC 8785 §3.2.3 orders members by their names' UTF-16 code units, and
    "record" < "sig" < "signer", so the canonical envelope is the members
    in that order: no need to canonicalize the record a second time.
    """
    return b'{"record":' + record_bytes + b',"sig":' + canonical_bytes(sig) + b',"signer":' + canonical_bytes(signer) + b"}"


def _record_bytes(envelope) -> Optional[bytes]:
    # canonical(record) when the envelope has the shape envelope_bytes
    # serializes; None sends anything else (and every error message) through
    # canonical_bytes(envelope) as before.
    if not (isinstance(envelope, dict) and envelope.keys() == {"record", "sig", "signer"}
            and isinstance(envelope["sig"], str) and isinstance(envelope["signer"], str)):
        return None
    try:
        return canonical_bytes(envelope["record"])
    except FormatError:
        return None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
