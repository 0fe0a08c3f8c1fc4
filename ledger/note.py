"""Signed notes and verifier keys, per c2sp.org/signed-note (Ed25519 only).

A port of Go's golang.org/x/mod/sumdb/note. A signed note is

    <text, ending in a newline>
    <blank line>
    — <key name> <base64(4-byte key ID || Ed25519 signature of the text)>
    ...

and a verifier key is ``<name>+<hex8 key ID>+<base64(0x01 || public key)>``.
Parsers accept only the canonical form (strict standard base64 included) and
raise ``FormatError``; signature failures raise ``SignatureError``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import FormatError, SignatureError

# c2sp.org/signed-note "Signature types": 0x01 is Ed25519.
ALG_ED25519 = 0x01
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
# signed-note "Format": verifiers SHOULD cap the signature count (Go uses 100)
# and MUST accept at least 16.
MAX_SIGNATURES = 100
# signed-note "Format": em dash (U+2014), space, name, space, base64, newline.
SIGNATURE_PREFIX = "\u2014 "


def _hex_repr(b: bytes) -> str:
    return b.hex()


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), as every C2SP format uses."""
    return base64.b64encode(data).decode("ascii")


def b64decode_canonical(text: str, what: str) -> bytes:
    """Decode standard base64, accepting only the one canonical encoding."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as e:
        raise FormatError(f"{what}: expected standard base64, found {text!r}") from e
    # b64decode ignores non-zero padding bits; re-encoding catches them.
    if b64encode(data) != text:
        raise FormatError(f"{what}: expected canonical base64, found {text!r}")
    return data


def is_valid_name(name: str) -> bool:
    """signed-note: key names are non-empty, without Unicode spaces or '+'."""
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(c.isspace() or c < " " for c in name)
    )


def key_id(name: str, public_key: bytes) -> bytes:
    """signed-note "Ed25519 signatures": SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return _key_id_raw(name, bytes([ALG_ED25519]) + public_key)


def _key_id_raw(name: str, typed_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + typed_key).digest()[:4]


def format_verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key text ``name+hex8(key ID)+base64(0x01 || public key)``."""
    return Verifier(name, key_id(name, public_key), public_key).vkey


def _check_name(instance, attribute, value) -> None:
    if not is_valid_name(value):
        raise FormatError(f"key name: expected non-empty text without spaces or '+', found {value!r}")


def check_named_key(name: str, public_key: bytes, given_key_id: bytes, key_id_of, kind: str = "") -> None:
    """An Ed25519 public key of 32 bytes whose key ID is ``key_id_of(name, public_key)``: signed-note
    "Signatures" for a note key, tlog-cosignature "Format" for a cosigner's (``kind`` names it in errors)."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise FormatError(f"Ed25519 public key: expected {PUBLIC_KEY_SIZE} bytes, found {len(public_key)}")
    want = key_id_of(name, public_key)
    if given_key_id != want:
        raise FormatError(f"key ID of {kind}{name}: expected {want.hex()}, found {bytes(given_key_id).hex()}")


@attrs.frozen
class Verifier:
    """A known Ed25519 public key under a name: checks note signatures."""

    name: str = attrs.field(validator=_check_name)
    key_id: bytes = attrs.field(repr=_hex_repr)
    public_key: bytes = attrs.field(repr=_hex_repr)

    def __attrs_post_init__(self) -> None:
        check_named_key(self.name, self.public_key, self.key_id, key_id)

    @property
    def signer_id(self) -> str:
        """``name+hex8``: the key's name and key ID, as the verifier key starts and an entry's "signer" names it."""
        return f"{self.name}+{self.key_id.hex()}"

    @property
    def vkey(self) -> str:
        """The verifier key text, as ``parse_verifier_key_untrusted`` reads it."""
        return f"{self.signer_id}+{b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise SignatureError unless ``signature`` is this key's signature of ``message``."""
        if len(signature) != SIGNATURE_SIZE:
            raise SignatureError(f"signature by {self.signer_id}: expected {SIGNATURE_SIZE} bytes, found {len(signature)}")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature as e:
            raise SignatureError(f"signature by {self.signer_id} does not verify") from e


def parse_verifier_key_untrusted(text: str) -> Verifier:
    """Parse ``name+hex8+base64(0x01||key)`` (Go note.NewVerifier, canonical only)."""
    # The name cannot contain '+' but the base64 key can: split twice only.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise FormatError(f"verifier key: expected name+keyid+key, found {text!r}")
    name, hex_id, key64 = parts
    if not is_valid_name(name):
        raise FormatError(f"verifier key: expected a name without spaces or '+', found {name!r}")
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise FormatError(f"verifier key: expected 8 lowercase hex digits of key ID, found {hex_id!r}")
    key = b64decode_canonical(key64, "verifier key")
    if len(key) < 1:
        raise FormatError("verifier key: expected algorithm byte and key, found nothing")
    # As Go: the ID covers the algorithm byte, so check it before the algorithm.
    want = _key_id_raw(name, key)
    if bytes.fromhex(hex_id) != want:
        raise FormatError(f"verifier key {name}: key ID expected {want.hex()}, found {hex_id}")
    if key[0] != ALG_ED25519:
        raise FormatError(f"verifier key {name}: expected algorithm 0x01 (Ed25519), found 0x{key[0]:02x}")
    if len(key) != 1 + PUBLIC_KEY_SIZE:
        raise FormatError(f"verifier key {name}: expected {PUBLIC_KEY_SIZE}-byte Ed25519 key, found {len(key) - 1} bytes")
    return Verifier(name, want, key[1:])


@attrs.frozen
class Signer:
    """An Ed25519 private key under a name: signs notes.

    The one way to make one is ``Signer.generate`` (a new random key) or
    ``Signer.from_seed`` (deterministic: tests and the demo); key files are
    written and read by ``ledger.keys``.
    """

    name: str = attrs.field(validator=_check_name)
    private_key: Ed25519PrivateKey = attrs.field(repr=False)

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        """A signer from a 32-byte RFC 8032 private key seed (deterministic)."""
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A signer with a fresh random key."""
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> bytes:
        # public_bytes(Encoding.Raw, PublicFormat.Raw), without importing
        # cryptography's serialization package (and its SSH support) for it.
        return self.private_key.public_key().public_bytes_raw()

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_id, self.public_key)

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (RFC 8032, deterministic)."""
        return self.private_key.sign(message)


@attrs.frozen
class NoteSignature:
    """One signature line: key name, key ID and the raw signature bytes."""

    name: str
    key_id: bytes = attrs.field(repr=_hex_repr)
    signature: bytes = attrs.field(repr=_hex_repr)


@attrs.frozen
class Note:
    """An opened note: its text, the verified signatures and the unknown ones."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = ()


def _check_chars(text: str, what: str) -> None:
    # signed-note "Format": no ASCII control characters other than newline.
    for c in text:
        if c < " " and c != "\n":
            raise FormatError(f"{what}: expected no control characters other than newline, found {c!r}")


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """Sign ``text`` with each signer; return the signed note (Go note.Sign)."""
    if not text.endswith("\n"):
        raise FormatError("note text: expected a final newline, found none")
    _check_chars(text, "note text")
    if not signers:
        raise ValueError("sign_note: expected at least one signer")
    message = text.encode("utf-8")
    lines = [
        f"{SIGNATURE_PREFIX}{s.name} {b64encode(s.key_id + s.sign(message))}\n" for s in signers
    ]
    return text + "\n" + "".join(lines)


# Longer and more branched than the other functions here on purpose: it
# follows C2SP signed-note's (c2sp.org/signed-note) "Format" and "Signatures" sections step by step, check by
# check, in the order of Go's note.Open, so it can be read against both.
def open_note_untrusted(note: str | bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse a signed note and check its signatures against known keys (Go note.Open).

    Signatures from keys not in ``verifiers`` (by name and key ID) are kept in
    ``unverified``; a known key's bad signature raises SignatureError, as does
    a note with no verified signature.
    """
    if isinstance(note, bytes):
        try:
            msg = note.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FormatError(f"note: expected UTF-8, found invalid byte at offset {e.start}") from e
    else:
        msg = note
        try:
            msg.encode("utf-8")
        except UnicodeEncodeError as e:
            raise FormatError("note: expected UTF-8 text, found a lone surrogate") from e
    _check_chars(msg, "note")

    # The text ends at the last blank line (signed-note "Format"); the text
    # keeps its final newline, the blank line is a separator only.
    split = msg.rfind("\n\n")
    if split < 0:
        raise FormatError("note: expected a blank line before the signatures, found none")
    text, sig_block = msg[: split + 1], msg[split + 2 :]
    if not sig_block or not sig_block.endswith("\n"):
        raise FormatError("note: expected signature lines ending in a newline after the blank line")

    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        if known.setdefault((v.name, v.key_id), v) != v:
            raise ValueError(f"ambiguous verifiers: two keys named {v.name}+{v.key_id.hex()}")

    message = text.encode("utf-8")
    verified: dict[tuple[str, bytes], NoteSignature] = {}
    unverified: dict[str, NoteSignature] = {}
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise FormatError(f"note: expected at most {MAX_SIGNATURES} signatures, found {len(lines)}")
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise FormatError(f"note: expected signature line '— name base64', found {line!r}")
        name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not is_valid_name(name) or not b64:
            raise FormatError(f"note: expected signature line '— name base64', found {line!r}")
        raw = b64decode_canonical(b64, f"signature by {name}")
        if len(raw) < 5:
            raise FormatError(f"signature by {name}: expected key ID and signature, found {len(raw)} bytes")
        sig = NoteSignature(name, raw[:4], raw[4:])
        verifier = known.get((name, sig.key_id))
        if verifier is None:
            # signed-note "Signatures": unknown keys MUST be ignored. Go also
            # drops repeated identical lines.
            unverified.setdefault(line, sig)
            continue
        # Stricter than Go, which skips repeats: every known-key line must verify.
        verifier.verify(message, sig.signature)
        verified.setdefault((name, sig.key_id), sig)

    if not verified:
        found = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in unverified.values())
        wanted = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in verifiers) or "none given"
        raise SignatureError(f"note: expected a signature by a known key ({wanted}), found only {found}")
    return Note(text, tuple(verified.values()), tuple(unverified.values()))
