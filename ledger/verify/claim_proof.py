"""One claim, offline, from a C2SP tlog-proof bundle (docs/verify.md "One claim, offline").

The bundle's ``extra`` data (``checkpoint.proof_extra``) carries the claim's
entry and the entry that registers the key that signed it, with that
entry's inclusion proof, so both can be checked against the one signed
checkpoint the bundle ends with.
"""

from __future__ import annotations

import base64

import attrs

from ledger import tree
from ledger.canonical import parse_json_untrusted
from ledger.checkpoint import parse_tlog_proof_untrusted, verify_tlog_proof
from ledger.envelope import Entry, signed_message
from ledger.errors import FormatError, ProofError, SignatureError
from ledger.note import parse_verifier_key_untrusted


@attrs.frozen
class ClaimProofReport:
    claim_id: str
    leaf_index: int
    tree_size: int
    signer: str
    record: dict
    key_leaf_index: int

    def to_json(self) -> dict:
        return attrs.asdict(self)


@attrs.frozen
class ProofExtra:
    """The parsed ``extra`` of a claim's tlog-proof (not yet verified)."""

    leaf: bytes
    key_index: int
    key_leaf: bytes
    key_hashes: tuple[bytes, ...]


def parse_proof_extra_untrusted(extra: bytes) -> ProofExtra:
    """Parse what ``checkpoint.proof_extra`` makes."""
    data = parse_json_untrusted(extra)
    try:
        leaf = base64.b64decode(data["leaf"], validate=True)
        key = data["key"]
        key_leaf = base64.b64decode(key["leaf"], validate=True)
        key_index = int(key["leaf_index"])
        key_hashes = tuple(base64.b64decode(h, validate=True) for h in key["hashes"])
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"the bundle's extra data is not in the expected form: {e}") from e
    return ProofExtra(leaf=leaf, key_index=key_index, key_leaf=key_leaf, key_hashes=key_hashes)


def verify_claim_proof(claim_id: str, proof_text, vkey: str) -> ClaimProofReport:
    """Verify one claim offline from a tlog-proof bundle made by ``ledger prove --format tlog-proof``.

    Checks: the checkpoint is signed by the log key ``vkey``; the claim's
    entry is included in it at the stated index; the editor key that signed
    the entry is registered by an entry (signed by the log key) included in
    the same checkpoint; and the entry's signature verifies under that key.
    It cannot show the key was not revoked later: verify the full ledger for that.
    """
    log_key = parse_verifier_key_untrusted(vkey)
    origin = log_key.name
    proof = parse_tlog_proof_untrusted(proof_text)
    if proof.extra is None:
        raise FormatError("the bundle has no 'extra' line: it does not carry the entry; make it with 'ledger prove --format tlog-proof'")
    extra = parse_proof_extra_untrusted(proof.extra)
    checkpoint = verify_tlog_proof(proof, extra.leaf, log_key, origin)
    entry = Entry.from_leaf_untrusted(proof.leaf_index, extra.leaf)
    if entry.record.id != claim_id:
        raise ProofError(f"the bundle proves {entry.record.id}, not {claim_id}")
    key_entry = Entry.from_leaf_untrusted(extra.key_index, extra.key_leaf)
    tree.verify_inclusion(extra.key_index, checkpoint.size, tree.leaf_hash(extra.key_leaf), extra.key_hashes, checkpoint.root_hash)
    if key_entry.record.kind != "key" or key_entry.signer != log_key.signer_id:
        raise SignatureError(f"entry {extra.key_index} is not a key registration signed by the log key")
    log_key.verify(signed_message(origin, key_entry.record_bytes), key_entry.signature)
    editor = parse_verifier_key_untrusted(key_entry.record.vkey)
    if editor.signer_id != entry.signer:
        raise SignatureError(f"entry {extra.key_index} registers {editor.signer_id}, but the claim is signed by {entry.signer}")
    if extra.key_index >= proof.leaf_index:
        raise SignatureError(f"the signer's key was registered at entry {extra.key_index}, after the claim's entry {proof.leaf_index}")
    try:
        editor.verify(signed_message(origin, entry.record_bytes), entry.signature)
    except SignatureError as e:
        raise SignatureError(f"the claim's signature does not verify under {editor.vkey}") from e
    return ClaimProofReport(claim_id=claim_id, leaf_index=proof.leaf_index, tree_size=checkpoint.size, signer=editor.vkey,
                            record=entry.record.to_dict(), key_leaf_index=extra.key_index)
