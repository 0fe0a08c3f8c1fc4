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

from typing import Callable, NamedTuple, Optional

import attrs

from ledger.canonical import canonical_bytes, parse_json_untrusted
from ledger.errors import FormatError, RecordError
from ledger.note import b64decode_canonical, b64encode
from ledger.records import Record
from ledger.schema import validate_envelope
from ledger.tree import leaf_hash

MESSAGE_PREFIX = b"fact-ledger/record/v1\n"


def signed_message(origin: str, record_bytes: bytes) -> bytes:
    """The message an entry's signature covers, for ``record_bytes`` = canonical(RECORD)
    (docs/format.md §Signed message)."""
    return MESSAGE_PREFIX + origin.encode("utf-8") + b"\n" + record_bytes


def envelope_bytes(record_bytes: bytes, sig: str, signer: str) -> bytes:
    """An entry's leaf: canonical({"record": R, "sig": sig, "signer": signer}) from R's canonical bytes.

    RFC 8785 §3.2.3 orders members by their names' UTF-16 code units, and
    "record" < "sig" < "signer", so the canonical envelope is the members
    in that order: no need to canonicalize the record a second time.
    """
    return b'{"record":' + record_bytes + b',"sig":' + canonical_bytes(sig) + b',"signer":' + canonical_bytes(signer) + b"}"


def _record_default(entry) -> bytes:
    return canonical_bytes(entry.record.to_dict())


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
    record_bytes: bytes = attrs.field(default=attrs.Factory(_record_default, takes_self=True), repr=False, eq=False)
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
        return EntrySigner.of(signer, origin).sign(index, record)


class Prepared(NamedTuple):
    """A record's canonical bytes, signed: the signature and the entry's leaf and
    RFC 6962 leaf hash, none of which depends on the entry's position in the log.

    ``data`` is the record as a dict when the one who prepared it also parsed
    it (a signing worker, from JSON text): what the Record is built from. (A
    named tuple, not an attrs class, as ``signing.RecordText`` is: a signing
    worker sends one back for every record, and a tuple crosses between
    processes at a fraction of the cost.)
    """

    record_bytes: bytes
    signature: bytes
    leaf: bytes
    leaf_hash: bytes
    data: Optional[dict] = None


class EntrySigner:
    """Signs records into entries with one key for one log: what a batch reuses,
    in this process or in a signing worker (``ledger.signing``).

    The record is canonicalized once: that one string is both the tail of
    the signed message and the ``record`` member of the leaf.
    """

    def __init__(self, sign: Callable[[bytes], bytes], origin: str, signer_id: str):
        self._sign = sign
        self.origin = origin
        self.signer_id = signer_id

    @classmethod
    def of(cls, signer, origin: str) -> "EntrySigner":
        """Signing with ``signer`` (a ``ledger.note.Signer``) for the log ``origin``."""
        return cls(signer.sign, origin, signer.verifier.signer_id)

    def sign(self, index: int, record: Record) -> Entry:
        return self.entry(index, record, self.prepare(canonical_bytes(record.to_dict())))

    def prepare(self, record_bytes: bytes, data: Optional[dict] = None) -> Prepared:
        """Sign canonical record bytes and make the leaf around them (docs/format.md §Entries);
        ``data``, the record they are the canonical form of, goes along (``Prepared.data``)."""
        signature = self._sign(signed_message(self.origin, record_bytes))
        leaf = envelope_bytes(record_bytes, b64encode(signature), self.signer_id)
        return Prepared(record_bytes=record_bytes, signature=signature, leaf=leaf, leaf_hash=leaf_hash(leaf), data=data)

    def entry(self, index: int, record: Record, prepared: Prepared) -> Entry:
        """The entry at ``index`` for ``record``, whose canonical bytes were prepared (maybe in a worker)."""
        return Entry(index=index, leaf=prepared.leaf, leaf_hash=prepared.leaf_hash, record=record,
                     signer=self.signer_id, signature=prepared.signature, record_bytes=prepared.record_bytes)


def _record_bytes(envelope) -> Optional[bytes]:
    # canonical(record) when the envelope has the shape envelope_bytes
    # serializes; None for any other shape, which is then canonicalized
    # whole, so that its errors are canonical_bytes' own.
    if not (isinstance(envelope, dict) and envelope.keys() == {"record", "sig", "signer"}
            and isinstance(envelope["sig"], str) and isinstance(envelope["signer"], str)):
        return None
    try:
        return canonical_bytes(envelope["record"])
    except FormatError:
        return None
