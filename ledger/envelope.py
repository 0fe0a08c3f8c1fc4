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
import binascii
import hashlib

import attrs

from ledger.canonical import canonical_bytes, parse_json_untrusted
from ledger.errors import FormatError, RecordError
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

    @property
    def hash_hex(self) -> str:
        return self.leaf_hash.hex()

    @classmethod
    def from_leaf_untrusted(cls, index: int, leaf: bytes) -> "Entry":
        """Parse leaf bytes from outside; they must be the canonical envelope, exactly."""
        envelope = parse_json_untrusted(leaf)
        if canonical_bytes(envelope) != leaf:
            raise FormatError(f"entry {index}: leaf bytes are not the RFC 8785 canonical form of their JSON")
        try:
            validate_envelope(envelope)
            record = Record.from_dict(envelope["record"], path="$.record")
        except RecordError as e:
            raise RecordError(f"entry {index}: {e}") from e
        try:
            signature = base64.b64decode(envelope["sig"], validate=True)
        except binascii.Error as e:
            raise FormatError(f"entry {index}: signature is not base64") from e
        return cls(index=index, leaf=leaf, leaf_hash=leaf_hash(leaf), record=record,
                   signer=envelope["signer"], signature=signature)

    @classmethod
    def sign(cls, index: int, record: Record, signer, origin: str) -> "Entry":
        record_dict = record.to_dict()
        signature = signer.sign(signed_message(origin, record_dict))
        envelope = {"record": record_dict, "signer": signer_id(signer), "sig": base64.b64encode(signature).decode()}
        leaf = canonical_bytes(envelope)
        return cls(index=index, leaf=leaf, leaf_hash=leaf_hash(leaf), record=record,
                   signer=envelope["signer"], signature=signature)

    def message(self, origin: str) -> bytes:
        return signed_message(origin, self.record.to_dict())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
