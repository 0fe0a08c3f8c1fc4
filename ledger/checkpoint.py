"""Checkpoints (c2sp.org/tlog-checkpoint) and proof bundles (c2sp.org/tlog-proof@v1).

A checkpoint is the text of a signed note (see ``ledger.note``)::

    <origin>
    <tree size, decimal>
    <base64 root hash>
    [extension lines]

A tlog-proof bundles a leaf index, its inclusion proof and the signed
checkpoint it verifies against, so a single file can be checked offline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from ledger.canonical import canonical_bytes
from ledger.errors import FormatError, SignatureError
from ledger.note import (
    Signer,
    Verifier,
    b64decode_canonical,
    b64encode,
    open_note_untrusted,
    sign_note,
)
from ledger.tree import HASH_SIZE, leaf_hash, verify_inclusion

# tlog-checkpoint "Note text" and tlog-proof "Format": ASCII decimal with no
# leading zeroes unless the number is 0. Sizes and indexes are uint64.
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_MAX_UINT64 = 2**64 - 1

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"


def _parse_decimal(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > _MAX_UINT64:
        raise FormatError(f"{what}: expected a decimal uint64 without leading zeros or sign, found {text!r}")
    return int(text)


def _check_line(value: str, what: str) -> None:
    # Every checkpoint line is non-empty and, being note text, has no
    # control characters (signed-note "Format").
    if not isinstance(value, str) or value == "" or any(c < " " for c in value):
        raise FormatError(f"checkpoint {what}: expected a non-empty line without control characters, found {value!r}")


@attrs.frozen
class Checkpoint:
    """A signed tree head: the log's origin, tree size and root hash."""

    origin: str
    size: int
    root_hash: bytes = attrs.field(repr=lambda b: b.hex())
    extensions: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if type(self.size) is not int or not 0 <= self.size <= _MAX_UINT64:
            raise FormatError(f"checkpoint size: expected a uint64, found {self.size!r}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise FormatError(f"checkpoint root hash: expected {HASH_SIZE} bytes, found {self.root_hash!r}")
        for ext in self.extensions:
            _check_line(ext, "extension line")


def format_checkpoint(cp: Checkpoint) -> str:
    """The checkpoint note text (tlog-checkpoint "Note text")."""
    lines = [cp.origin, str(cp.size), b64encode(cp.root_hash), *cp.extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint_untrusted(text: str) -> Checkpoint:
    """Parse checkpoint note text, accepting only its canonical form."""
    if not text.endswith("\n"):
        raise FormatError("checkpoint: expected text ending in a newline, found none")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError(f"checkpoint: expected at least 3 lines (origin, size, root), found {len(lines)}")
    origin, size, root, *extensions = lines
    _check_line(origin, "origin")
    root_hash = b64decode_canonical(root, "checkpoint root hash")
    if len(root_hash) != HASH_SIZE:
        raise FormatError(f"checkpoint root hash: expected {HASH_SIZE} bytes, found {len(root_hash)}")
    return Checkpoint(origin, _parse_decimal(size, "checkpoint size"), root_hash, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    """The signed note of the checkpoint, signed by the log's key."""
    return sign_note(format_checkpoint(cp), [signer])


def open_checkpoint_untrusted(note: str | bytes, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint with the log's key and parse it.

    With ``origin``, the checkpoint must be for that log: a valid signature
    on another log's checkpoint is not evidence about this one.
    """
    opened = open_note_untrusted(note, [verifier])
    cp = parse_checkpoint_untrusted(opened.text)
    if origin is not None and cp.origin != origin:
        raise SignatureError(f"checkpoint origin: expected {origin!r}, found {cp.origin!r}")
    return cp


@attrs.frozen
class TlogProof:
    """A parsed c2sp.org/tlog-proof@v1 bundle (not yet verified)."""

    leaf_index: int
    hashes: tuple[bytes, ...] = attrs.field(converter=tuple, repr=lambda hs: repr([h.hex() for h in hs]))
    checkpoint_note: str
    extra: bytes | None = attrs.field(default=None, repr=lambda b: None if b is None else b.hex())


def format_tlog_proof(
    leaf_index: int, hashes: Sequence[bytes], signed_checkpoint: str, extra: bytes | None = None
) -> str:
    """The tlog-proof@v1 text: header, [extra], index, hashes, blank line, checkpoint."""
    if type(leaf_index) is not int or not 0 <= leaf_index <= _MAX_UINT64:
        raise ValueError(f"leaf index: expected a uint64, found {leaf_index!r}")
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ValueError(f"inclusion proof hashes must be {HASH_SIZE} bytes each")
    lines = [TLOG_PROOF_HEADER]
    if extra is not None:
        lines.append("extra " + b64encode(extra))
    lines.append(f"index {leaf_index}")
    lines.extend(b64encode(h) for h in hashes)
    return "".join(line + "\n" for line in lines) + "\n" + signed_checkpoint


def proof_extra(entry_leaf: bytes, key_index: int, key_leaf: bytes, key_hashes: Sequence[bytes]) -> bytes:
    """The ``extra`` data of a claim's tlog-proof: the entry's leaf, and the leaf that registers
    its signer's key with that leaf's inclusion proof (docs/verify.md "One claim, offline").

    Canonical JSON (RFC 8785); ``ledger.verify.claim_proof`` reads it back.
    """
    return canonical_bytes({
        "leaf": b64encode(entry_leaf),
        "key": {"leaf_index": key_index, "leaf": b64encode(key_leaf), "hashes": [b64encode(h) for h in key_hashes]},
    })


def parse_tlog_proof_untrusted(text: str | bytes) -> TlogProof:
    """Parse a tlog-proof@v1 bundle; the checkpoint is kept verbatim, unverified."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FormatError(f"tlog-proof: expected UTF-8, found invalid byte at offset {e.start}") from e
    # Header, extra, index and hashes are lines before the first blank line;
    # everything after it is the signed checkpoint (tlog-proof "Format").
    head, sep, checkpoint_note = text.partition("\n\n")
    if not sep or not checkpoint_note:
        raise FormatError("tlog-proof: expected a blank line followed by the signed checkpoint")
    lines = head.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise FormatError(f"tlog-proof: expected first line {TLOG_PROOF_HEADER!r}, found {lines[0]!r}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = b64decode_canonical(rest.pop(0)[len("extra ") :], "tlog-proof extra data")
    if not rest or not rest[0].startswith("index "):
        found = rest[0] if rest else "nothing"
        raise FormatError(f"tlog-proof: expected 'index N' line, found {found!r}")
    leaf_index = _parse_decimal(rest.pop(0)[len("index ") :], "tlog-proof index")
    hashes = []
    for i, line in enumerate(rest):
        h = b64decode_canonical(line, f"tlog-proof hash {i}")
        if len(h) != HASH_SIZE:
            raise FormatError(f"tlog-proof hash {i}: expected {HASH_SIZE} bytes, found {len(h)}")
        hashes.append(h)
    return TlogProof(leaf_index, tuple(hashes), checkpoint_note, extra)


def verify_tlog_proof(proof: TlogProof, leaf_data: bytes, verifier: Verifier, origin: str) -> Checkpoint:
    """Check the checkpoint's signature and origin, then the leaf's inclusion in it.

    Returns the verified checkpoint. ``proof.extra`` stays unauthenticated.
    """
    cp = open_checkpoint_untrusted(proof.checkpoint_note, verifier, origin)
    verify_inclusion(proof.leaf_index, cp.size, leaf_hash(leaf_data), proof.hashes, cp.root_hash)
    return cp
