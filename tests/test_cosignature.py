"""Tests for ledger.cosignature: c2sp.org/tlog-cosignature cosignature/v1, against the spec's
example, a real checkpoint cosigned by four public witnesses, Go's vectors, and docs/witness.md."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from ledger import tree
from ledger.checkpoint import Checkpoint, format_checkpoint, sign_checkpoint
from ledger.cosignature import (
    MAX_TIMESTAMP,
    Cosignature,
    CosignatureSigner,
    add_cosignatures,
    cosignature_message,
    cosigner_key_id,
    open_cosigned_checkpoint_untrusted,
    parse_cosigner_vkey_untrusted,
    parse_signature_lines_untrusted,
    sign_cosignature,
    verify_cosignature,
)
from ledger.errors import FormatError, SignatureError
from ledger.note import NoteSignature, Signer, parse_verifier_key_untrusted

VECTORS = json.loads((Path(__file__).parent / "vectors" / "cosignature.json").read_text(encoding="utf-8"))
DOC = Path(__file__).parent.parent / "docs" / "witness.md"

LOG = Signer.from_seed("example.org/ledger", bytes(range(32)))
WITNESS = CosignatureSigner(Signer.from_seed("witness.example.org/w1", bytes(range(64, 96))))
OTHER = CosignatureSigner(Signer.from_seed("witness.example.org/w2", bytes(range(96, 128))))


def checkpoint_text(size: int = 3, extensions=()) -> str:
    store = tree.MemoryHashStore()
    for i in range(size):
        store.append_leaf(b"%d" % i)
    return format_checkpoint(Checkpoint("example.org/ledger", size, tree.tree_hash(size, store), extensions))


def name_and_key_id(vkey: str) -> str:
    return "+".join(vkey.split("+", 2)[:2])


def signature_block(note: str) -> str:
    return note[note.rfind("\n\n") + 2:]


# --- the spec's example ------------------------------------------------------------------------


def test_spec_example_layout():
    ex = VECTORS["spec_cosigned_checkpoint"]
    text = ex["note"][: ex["note"].rfind("\n\n") + 1]
    lines = parse_signature_lines_untrusted(signature_block(ex["note"]))
    assert [s.name for s in lines] == ["example.com/behind-the-sofa", ex["cosigner"]]
    cosignature = Cosignature.from_note_signature_untrusted(lines[1])
    assert bytes(cosignature.key_id).hex() == ex["key_id"]
    assert cosignature.timestamp == ex["timestamp"]
    # The spec's example signed message is exactly ours for that checkpoint and time.
    assert cosignature_message(text, ex["timestamp"]) == ex["message"].encode()
    assert cosignature.line == signature_block(ex["note"]).splitlines(keepends=True)[1]


# --- a real checkpoint and four public witnesses --------------------------------------------------------


def test_public_witnesses_cosignatures_verify():
    ex = VECTORS["public_witnesses"]
    witnesses = [parse_cosigner_vkey_untrusted(v) for v in ex["witness_vkeys"]]
    log = parse_verifier_key_untrusted(ex["log_vkey"])
    opened = open_cosigned_checkpoint_untrusted(ex["note"], log, witnesses, "arche2025h1.staging.ct.transparency.dev")
    assert opened.checkpoint.size == 1432088532
    assert [c.name for c in opened.cosignatures] == [w.name for w in witnesses]
    assert set(opened.cosigners().values()) == {ex["timestamp"]}
    assert set(opened.cosigners()) == set(name_and_key_id(v) for v in ex["witness_vkeys"])
    # The first line is an RFC 6962 TreeHeadSignature (type 0x05): unknown, so ignored.
    assert [s.name for s in opened.unknown] == ["arche2025h1.staging.ct.transparency.dev"]
    for witness in witnesses:
        alone = open_cosigned_checkpoint_untrusted(ex["note"], log, [witness])
        assert [c.name for c in alone.cosignatures] == [witness.name]
        assert len(alone.unknown) == 4
    # Any change to the checkpoint breaks the log's signature first.
    with pytest.raises(SignatureError):
        open_cosigned_checkpoint_untrusted(ex["note"].replace("1432088532", "1432088533"), log, witnesses)


def test_public_witness_signature_is_over_the_exact_message():
    ex = VECTORS["public_witnesses"]
    remora = parse_cosigner_vkey_untrusted(ex["witness_vkeys"][2])
    text = ex["note"][: ex["note"].rfind("\n\n") + 1]
    line = next(s for s in parse_signature_lines_untrusted(signature_block(ex["note"])) if remora.matches(s))
    cosignature = Cosignature.from_note_signature_untrusted(line)
    verify_cosignature(text, cosignature, remora)
    with pytest.raises(SignatureError, match=r"remora.n621.de\+da77ade7 \(time 1779573025\) does not verify"):
        verify_cosignature(text, Cosignature(cosignature.name, cosignature.key_id, ex["timestamp"] + 1,
                                             cosignature.signature), remora)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(text + "extension\n", cosignature, remora)


# --- Go's vectors ----------------------------------------------------------------------------------


def test_go_timestamp_vector():
    ex = VECTORS["go_timestamp"]
    raw = base64.b64decode(ex["signature"])
    cosignature = Cosignature.from_note_signature_untrusted(NoteSignature("w", raw[:4], raw[4:]))
    assert cosignature.timestamp == ex["timestamp"]
    raw = base64.b64decode(ex["not_a_cosignature"])
    with pytest.raises(FormatError, match="expected 72 bytes after the key ID"):
        Cosignature.from_note_signature_untrusted(NoteSignature("w", raw[:4], raw[4:]))


def test_vkey_vectors():
    for vkey in VECTORS["vkeys"]["valid"]:
        verifier = parse_cosigner_vkey_untrusted(vkey)
        assert verifier.vkey == vkey
        assert verifier.key_id == cosigner_key_id(verifier.name, verifier.public_key)
    for vkey in VECTORS["vkeys"]["invalid"]:
        with pytest.raises(FormatError):
            parse_cosigner_vkey_untrusted(vkey)
    with pytest.raises(FormatError, match=r"expected type 0x04 \(cosignature/v1\), found 0x01 \(0x01 is a log or editor key"):
        parse_cosigner_vkey_untrusted(LOG.vkey)
    with pytest.raises(FormatError, match="key ID expected"):
        parse_cosigner_vkey_untrusted(WITNESS.vkey.replace("+480e2ca5+", "+480e2ca6+"))
    with pytest.raises(FormatError, match="expected standard base64"):
        parse_cosigner_vkey_untrusted(WITNESS.vkey[:-1] + "!")


# --- docs/witness.md worked example ---------------------------------------------------------------


def doc_examples() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- example: (\S+) -->\n```\n(.*?)```\n", text, re.DOTALL))


def test_doc_cosignature_example():
    ex = doc_examples()
    assert WITNESS.public_key.hex() + "\n" == ex["witness-public-key"]
    assert WITNESS.vkey + "\n" == ex["witness-vkey"]
    text = checkpoint_text_of_log_md()
    assert cosignature_message(text, 1700000000).decode() == ex["cosignature-message"]
    cosignature = sign_cosignature(text, WITNESS, 1700000000)
    assert cosignature.line == ex["cosignature-line"]
    note = add_cosignatures(sign_checkpoint(parse_text(text), LOG), [cosignature])
    assert note == ex["cosigned-checkpoint"]
    opened = open_cosigned_checkpoint_untrusted(note, LOG.verifier, [parse_cosigner_vkey_untrusted(WITNESS.vkey)])
    assert opened.cosigners() == {"witness.example.org/w1+480e2ca5": 1700000000}


def checkpoint_text_of_log_md() -> str:
    store = tree.MemoryHashStore()
    for leaf in (b"a", b"b", b"c"):
        store.append_leaf(leaf)
    return format_checkpoint(Checkpoint("example.org/ledger", 3, tree.tree_hash(3, store)))


def parse_text(text: str) -> Checkpoint:
    from ledger.checkpoint import parse_checkpoint_untrusted

    return parse_checkpoint_untrusted(text)


# --- signing and verifying ---------------------------------------------------------------------------


def test_round_trip_and_tampering():
    text = checkpoint_text(10, ["extension line"])
    cosignature = sign_cosignature(text, WITNESS, 1_700_000_123)
    verify_cosignature(text, cosignature, WITNESS.verifier)
    line = parse_signature_lines_untrusted(cosignature.line)[0]
    assert Cosignature.from_note_signature_untrusted(line) == cosignature
    flipped = bytearray(cosignature.signature)
    for i in (0, 31, 63):
        flipped[i] ^= 1
        with pytest.raises(SignatureError, match="does not verify"):
            verify_cosignature(text, Cosignature(cosignature.name, cosignature.key_id, cosignature.timestamp,
                                                 bytes(flipped)), WITNESS.verifier)
        flipped[i] ^= 1
    cases = [
        (checkpoint_text(11, ["extension line"]), cosignature),                      # another tree
        (checkpoint_text(10, ["extension lime"]), cosignature),                      # extension lines are covered
        (text, Cosignature(cosignature.name, cosignature.key_id, 1_700_000_124, cosignature.signature)),
    ]
    for other_text, other in cases:
        with pytest.raises(SignatureError, match="does not verify"):
            verify_cosignature(other_text, other, WITNESS.verifier)
    with pytest.raises(SignatureError, match="is not by the witness witness.example.org/w2"):
        verify_cosignature(text, cosignature, OTHER.verifier)


def test_the_key_id_commits_to_the_type():
    # Same name and key as a log key: a different key ID (0x04, not 0x01), so a
    # cosignature can never be taken for a log signature or the other way round.
    twin = CosignatureSigner(Signer.from_seed(LOG.name, bytes(range(32))))
    assert twin.public_key == LOG.public_key
    assert twin.verifier.key_id != LOG.key_id
    assert twin.verifier.key_id == cosigner_key_id(LOG.name, LOG.public_key)


@pytest.mark.parametrize("text, timestamp, message", [
    ("not a checkpoint\n", 1, "checkpoint"),
    (checkpoint_text(0).replace("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", base64.b64encode(b"\1" * 32).decode()),
     1, "size 0: expected the root hash of the empty tree"),
    (checkpoint_text(3), 0, "expected POSIX seconds > 0"),
    (checkpoint_text(3), MAX_TIMESTAMP + 1, "expected an integer from 0 to 2"),
])
def test_sign_refuses(text, timestamp, message):
    with pytest.raises(FormatError, match=message):
        sign_cosignature(text, WITNESS, timestamp)


def test_empty_tree_can_be_cosigned():
    text = checkpoint_text(0)
    verify_cosignature(text, sign_cosignature(text, WITNESS, MAX_TIMESTAMP), WITNESS.verifier)


def test_timestamp_over_2_63_is_refused_when_parsing():
    raw = (2**63).to_bytes(8, "big") + b"\0" * 64
    with pytest.raises(FormatError, match="from 0 to 2\\^63-1"):
        Cosignature.from_note_signature_untrusted(NoteSignature("w", b"abcd", raw))


# --- notes with cosignatures -------------------------------------------------------------------------


def test_open_note_with_several_cosignatures():
    text = checkpoint_text(7)
    note = sign_checkpoint(parse_text(text), LOG)
    a, b = sign_cosignature(text, WITNESS, 100), sign_cosignature(text, OTHER, 200)
    cosigned = add_cosignatures(note, [a, b])
    assert cosigned == note + a.line + b.line
    opened = open_cosigned_checkpoint_untrusted(cosigned, LOG.verifier, [WITNESS.verifier, OTHER.verifier])
    assert opened.cosignatures == (a, b)
    assert opened.cosigners() == {name_and_key_id(WITNESS.vkey): 100, name_and_key_id(OTHER.vkey): 200}
    assert [s.name for s in opened.log_signatures] == [LOG.name]
    # A witness nobody configured is ignored, not an error.
    opened = open_cosigned_checkpoint_untrusted(cosigned, LOG.verifier, [WITNESS.verifier])
    assert opened.cosignatures == (a,) and [s.name for s in opened.unknown] == [OTHER.name]
    # A known witness's line that does not verify rejects the note (signed-note "Signatures").
    forged = Cosignature(OTHER.name, OTHER.verifier.key_id, 200, a.signature)
    with pytest.raises(SignatureError, match="witness.example.org/w2"):
        open_cosigned_checkpoint_untrusted(note + a.line + forged.line, LOG.verifier, [WITNESS.verifier, OTHER.verifier])
    # Cosignatures alone are not a checkpoint: the log's signature is required.
    with pytest.raises(SignatureError, match="expected a signature by a known key"):
        open_cosigned_checkpoint_untrusted(text + "\n" + a.line, LOG.verifier, [WITNESS.verifier])
    with pytest.raises(SignatureError, match="origin"):
        open_cosigned_checkpoint_untrusted(cosigned, LOG.verifier, [WITNESS.verifier], origin="example.org/other")


def test_add_cosignatures_keeps_the_newest_per_witness():
    text = checkpoint_text(7)
    note = sign_checkpoint(parse_text(text), LOG)
    old, new, other = sign_cosignature(text, WITNESS, 100), sign_cosignature(text, WITNESS, 150), sign_cosignature(text, OTHER, 5)
    once = add_cosignatures(note, [old, other])
    assert add_cosignatures(once, [new]) == note + other.line + new.line
    assert add_cosignatures(once, [old]) == once
    assert add_cosignatures(add_cosignatures(once, [new]), [old]) == note + other.line + new.line
    assert add_cosignatures(note, []) == note
    with pytest.raises(FormatError):
        add_cosignatures(text, [old])


@pytest.mark.parametrize("body", [
    "",
    "\n",
    "— w1 AAAAAAAA",                          # no final newline
    "— w1 AAAAAAAA\n\n",                      # a blank line
    "- w1 AAAAAAAA\n",                        # not an em dash
    "— w1  AAAAAAAA\n",                       # two spaces
    "— w1 AAAAAAB=\n",                        # non-canonical base64
    "— w1 AAAA\n",                            # shorter than a key ID and a signature
    "— w+1 AAAAAAAA\n",
])
def test_signature_lines_rejections(body):
    with pytest.raises(FormatError):
        parse_signature_lines_untrusted(body)


def test_spec_witness_response_parses():
    lines = parse_signature_lines_untrusted(VECTORS["spec_add_checkpoint"]["response"])
    assert [s.name for s in lines] == ["witness.example/w1", "witness.example/w1", "witness.example/w2"]
    assert all(len(s.signature) == 72 for s in lines)
