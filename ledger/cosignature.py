"""Witness cosignatures on checkpoints: c2sp.org/tlog-cosignature ``cosignature/v1`` (Ed25519).

A cosignature is one more signature line on a checkpoint's signed note
(``ledger.note``), by a *cosigner* (a witness) that checked the checkpoint is
consistent with every earlier one it saw from that log::

    — <cosigner name> base64(key ID || timestamp || Ed25519 signature)

- key ID = SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]
  (tlog-cosignature "Format"; 0x04 is the signed-note signature type of
  timestamped Ed25519 cosignatures);
- timestamp = uint64 big-endian POSIX seconds, at most 2^63 - 1;
- the signature is over the message (tlog-cosignature "Ed25519 signed message")::

      cosignature/v1
      time <timestamp, decimal>
      <the checkpoint's note text, with its final newline>

A cosigner's verifier key is ``name+hex8(key ID)+base64(0x04 || public key)``.

Parsers accept only the canonical form and raise FormatError; a signature
that does not verify raises SignatureError. ML-DSA-44 cosignatures (type
0x06) are not supported: a note's lines from them are ignored as unknown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.checkpoint import Checkpoint, parse_checkpoint_untrusted
from ledger.errors import FormatError, SignatureError
from ledger.note import (
    MAX_SIGNATURES,
    PUBLIC_KEY_SIZE,
    SIGNATURE_PREFIX,
    SIGNATURE_SIZE,
    NoteSignature,
    Signer,
    Verifier,
    b64decode_canonical,
    b64encode,
    check_named_key,
    is_valid_name,
    open_note_untrusted,
)
from ledger.tree import EMPTY_ROOT

# c2sp.org/signed-note "Signature types": 0x04 is the timestamped Ed25519 cosignature.
ALG_COSIGNATURE_V1 = 0x04
# tlog-cosignature "Ed25519 signed message": the header line, for domain separation.
COSIGNATURE_HEADER = "cosignature/v1"
# tlog-cosignature "Format": the timestamp MUST NOT exceed 2^63 - 1.
MAX_TIMESTAMP = 2**63 - 1
TIMESTAMP_SIZE = 8


def _hex_repr(b: bytes) -> str:
    return b.hex()


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """tlog-cosignature "Format": SHA-256(name || "\\n" || 0x04 || public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()[:4]


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """tlog-cosignature "Ed25519 signed message": header line, time line, then the note text."""
    if not checkpoint_text.endswith("\n"):
        raise FormatError("checkpoint text: expected a final newline, found none")
    _check_timestamp(timestamp)
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{checkpoint_text}".encode("utf-8")


def _check_timestamp(timestamp: int) -> None:
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise FormatError(f"cosignature timestamp: expected an integer from 0 to 2^63-1, found {timestamp!r}")


def _check_name(instance, attribute, value) -> None:
    if not is_valid_name(value):
        raise FormatError(f"cosigner name: expected non-empty text without spaces or '+', found {value!r}")


@attrs.frozen
class Cosignature:
    """One cosignature line: who, when (POSIX seconds) and the Ed25519 signature."""

    name: str = attrs.field(validator=_check_name)
    key_id: bytes = attrs.field(repr=_hex_repr)
    timestamp: int
    signature: bytes = attrs.field(repr=_hex_repr)

    @property
    def line(self) -> str:
        """The note signature line, ending in a newline."""
        raw = self.key_id + self.timestamp.to_bytes(TIMESTAMP_SIZE, "big") + self.signature
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(raw)}\n"

    @classmethod
    def from_note_signature_untrusted(cls, sig: NoteSignature) -> Cosignature:
        """Read the timestamp and signature out of a parsed note signature line."""
        if len(sig.signature) != TIMESTAMP_SIZE + SIGNATURE_SIZE:
            raise FormatError(f"cosignature by {sig.name}: expected {TIMESTAMP_SIZE + SIGNATURE_SIZE} bytes after "
                              f"the key ID (timestamp and Ed25519 signature), found {len(sig.signature)}")
        timestamp = int.from_bytes(sig.signature[:TIMESTAMP_SIZE], "big")
        _check_timestamp(timestamp)
        return cls(sig.name, sig.key_id, timestamp, sig.signature[TIMESTAMP_SIZE:])


@attrs.frozen
class CosignatureVerifier:
    """A witness's public key under its name: checks its cosignatures."""

    name: str = attrs.field(validator=_check_name)
    key_id: bytes = attrs.field(repr=_hex_repr)
    public_key: bytes = attrs.field(repr=_hex_repr)

    def __attrs_post_init__(self) -> None:
        check_named_key(self.name, self.public_key, self.key_id, cosigner_key_id, kind="cosigner ")

    @property
    def vkey(self) -> str:
        """``name+hex8(key ID)+base64(0x04 || public key)``."""
        return f"{self.name}+{self.key_id.hex()}+{b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key)}"

    def matches(self, sig: NoteSignature | Cosignature) -> bool:
        """signed-note "Signatures": a line is this key's when both name and key ID match."""
        return sig.name == self.name and sig.key_id == self.key_id


def parse_cosigner_vkey_untrusted(text: str) -> CosignatureVerifier:
    """Parse a witness verifier key ``name+hex8+base64(0x04||key)``, canonical form only."""
    parts = text.split("+", 2) if isinstance(text, str) else []
    if len(parts) != 3:
        raise FormatError(f"witness verifier key: expected name+keyid+key, found {text!r}")
    name, hex_id, key64 = parts
    if not is_valid_name(name):
        raise FormatError(f"witness verifier key: expected a name without spaces or '+', found {name!r}")
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise FormatError(f"witness verifier key: expected 8 lowercase hex digits of key ID, found {hex_id!r}")
    key = b64decode_canonical(key64, "witness verifier key")
    if not key or key[0] != ALG_COSIGNATURE_V1:
        found = f"0x{key[0]:02x}" if key else "nothing"
        hint = " (0x01 is a log or editor key, not a witness's)" if key[:1] == b"\x01" else ""
        raise FormatError(f"witness verifier key {name}: expected type 0x04 (cosignature/v1), found {found}{hint}")
    if len(key) != 1 + PUBLIC_KEY_SIZE:
        raise FormatError(f"witness verifier key {name}: expected a {PUBLIC_KEY_SIZE}-byte Ed25519 key, found {len(key) - 1} bytes")
    want = cosigner_key_id(name, key[1:])
    if bytes.fromhex(hex_id) != want:
        raise FormatError(f"witness verifier key {name}: key ID expected {want.hex()}, found {hex_id}")
    return CosignatureVerifier(name, want, key[1:])


@attrs.frozen
class CosignatureSigner:
    """A witness's key: an Ed25519 key under a name (a ``note.Signer``) that makes cosignatures only.

    Wrapping rather than being a ``note.Signer`` keeps it from being passed
    where a note signer is expected: its key ID is the 0x04 one.
    """

    key: Signer

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def public_key(self) -> bytes:
        return self.key.public_key

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, cosigner_key_id(self.name, self.public_key), self.public_key)

    @property
    def vkey(self) -> str:
        return self.verifier.vkey


def sign_cosignature(checkpoint_text: str, signer: CosignatureSigner, timestamp: int) -> Cosignature:
    """Cosign a checkpoint's note text at ``timestamp`` (POSIX seconds, > 0).

    Only a well-formed checkpoint is signed, and a checkpoint of size 0 only
    with the empty tree's root (tlog-witness "add-checkpoint").
    """
    cp = parse_checkpoint_untrusted(checkpoint_text)
    if cp.size == 0 and cp.root_hash != EMPTY_ROOT:
        raise FormatError("checkpoint of size 0: expected the root hash of the empty tree, SHA-256 of nothing")
    if type(timestamp) is not int or timestamp < 1:
        # tlog-witness: "The cosignature MUST NOT omit the timestamp".
        raise FormatError(f"cosignature timestamp: expected POSIX seconds > 0, found {timestamp!r}")
    signature = signer.key.sign(cosignature_message(checkpoint_text, timestamp))
    return Cosignature(signer.name, signer.verifier.key_id, timestamp, signature)


def verify_cosignature(checkpoint_text: str, cosignature: Cosignature, verifier: CosignatureVerifier) -> None:
    """Raise SignatureError unless ``cosignature`` is ``verifier``'s, over this checkpoint text."""
    if not verifier.matches(cosignature):
        raise SignatureError(f"cosignature by {cosignature.name}+{bytes(cosignature.key_id).hex()} "
                             f"is not by the witness {verifier.name}+{verifier.key_id.hex()}")
    if len(cosignature.signature) != SIGNATURE_SIZE:
        raise SignatureError(f"cosignature by {verifier.name}: expected a {SIGNATURE_SIZE}-byte signature, "
                             f"found {len(cosignature.signature)}")
    message = cosignature_message(checkpoint_text, cosignature.timestamp)
    try:
        Ed25519PublicKey.from_public_bytes(verifier.public_key).verify(cosignature.signature, message)
    except InvalidSignature as e:
        raise SignatureError(f"cosignature by {verifier.name}+{verifier.key_id.hex()} "
                             f"(time {cosignature.timestamp}) does not verify") from e


# ---------------------------------------------------------------------------
# Notes carrying a log signature and cosignatures.
# ---------------------------------------------------------------------------


@attrs.frozen
class CosignedCheckpoint:
    """A checkpoint opened with the log's key, and the cosignatures of known witnesses on it."""

    checkpoint: Checkpoint
    text: str
    log_signatures: tuple[NoteSignature, ...]
    cosignatures: tuple[Cosignature, ...]
    unknown: tuple[NoteSignature, ...] = ()

    def cosigners(self) -> dict[str, int]:
        """Each witness (its verifier key name+keyid) that cosigned, with its newest timestamp."""
        out: dict[str, int] = {}
        for c in self.cosignatures:
            key = f"{c.name}+{bytes(c.key_id).hex()}"
            out[key] = max(out.get(key, 0), c.timestamp)
        return out


def open_cosigned_checkpoint_untrusted(
    note: str | bytes,
    log_verifier: Verifier,
    witnesses: Sequence[CosignatureVerifier] = (),
    origin: str | None = None,
) -> CosignedCheckpoint:
    """Verify a checkpoint's log signature and every cosignature by a known witness.

    As signed-note requires: lines by unknown keys are ignored (kept in
    ``unknown``), a line by a known key that does not verify rejects the
    whole note (SignatureError), and so does a note without a verified log
    signature. With ``origin``, the checkpoint must be that log's.
    """
    opened = open_note_untrusted(note, [log_verifier])
    cp = parse_checkpoint_untrusted(opened.text)
    if origin is not None and cp.origin != origin:
        raise SignatureError(f"checkpoint origin: expected {origin!r}, found {cp.origin!r}")
    cosignatures, unknown = [], []
    for sig in opened.unverified:
        verifier = next((w for w in witnesses if w.matches(sig)), None)
        if verifier is None:
            unknown.append(sig)
            continue
        cosignature = Cosignature.from_note_signature_untrusted(sig)
        verify_cosignature(opened.text, cosignature, verifier)
        cosignatures.append(cosignature)
    return CosignedCheckpoint(cp, opened.text, opened.signatures, tuple(cosignatures), tuple(unknown))


def parse_signature_lines_untrusted(body: str | bytes) -> list[NoteSignature]:
    """Parse one or more note signature lines, e.g. a witness's answer (tlog-witness "add-checkpoint")."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FormatError(f"signature lines: expected UTF-8, found invalid byte at offset {e.start}") from e
    if not body.endswith("\n"):
        raise FormatError("signature lines: expected one or more lines each ending in a newline")
    lines = body[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise FormatError(f"signature lines: expected at most {MAX_SIGNATURES}, found {len(lines)}")
    out = []
    for line in lines:
        name, _, b64 = line[len(SIGNATURE_PREFIX):].partition(" ")
        if not line.startswith(SIGNATURE_PREFIX) or not is_valid_name(name) or not b64:
            raise FormatError(f"signature lines: expected '— name base64', found {line!r}")
        raw = b64decode_canonical(b64, f"signature by {name}")
        if len(raw) < 5:
            raise FormatError(f"signature by {name}: expected key ID and signature, found {len(raw)} bytes")
        out.append(NoteSignature(name, raw[:4], raw[4:]))
    return out


def add_cosignatures(signed_note: str, cosignatures: Iterable[Cosignature]) -> str:
    """The signed note with these (already verified) cosignature lines added.

    Keeps one cosignature per witness key, the newest, so asking a witness
    again does not grow the note. The log's own lines stay first.
    """
    split = signed_note.rfind("\n\n")
    if split < 0 or not signed_note.endswith("\n"):
        raise FormatError("note: expected text, a blank line and signature lines")
    head, lines = signed_note[: split + 2], signed_note[split + 2 :].splitlines(keepends=True)
    newest: dict[tuple[str, bytes], Cosignature] = {}
    for c in cosignatures:
        key = (c.name, bytes(c.key_id))
        if key not in newest or c.timestamp > newest[key].timestamp:
            newest[key] = c
    kept = []
    for line in lines:
        sig = parse_signature_lines_untrusted(line)[0]
        new = newest.get((sig.name, sig.key_id))
        if new is not None and len(sig.signature) == TIMESTAMP_SIZE + SIGNATURE_SIZE:
            old = Cosignature.from_note_signature_untrusted(sig)
            if old.timestamp >= new.timestamp:
                del newest[(sig.name, sig.key_id)]
            else:
                continue  # replaced by the newer one below
        kept.append(line)
    return head + "".join(kept) + "".join(c.line for c in newest.values())
