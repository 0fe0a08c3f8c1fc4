"""Tests for ledger.checkpoint, and the worked example of docs/log.md."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from ledger.checkpoint import (
    Checkpoint,
    TlogProof,
    format_checkpoint,
    format_tlog_proof,
    open_checkpoint_untrusted,
    parse_checkpoint_untrusted,
    parse_tlog_proof_untrusted,
    sign_checkpoint,
    verify_tlog_proof,
)
from ledger.errors import FormatError, ProofError, SignatureError
from ledger.note import Signer, parse_verifier_key_untrusted, sign_note
from ledger.tree import (
    MemoryHashStore,
    leaf_hash,
    prove_consistency,
    prove_inclusion,
    tree_hash,
    verify_consistency,
)

ORIGIN = "example.org/ledger"
SIGNER = Signer.from_seed(ORIGIN, bytes(range(32)))
ROOT = bytes(range(32))
ROOT64 = base64.b64encode(ROOT).decode()


def test_format_and_parse():
    cp = Checkpoint(ORIGIN, 1234, ROOT)
    text = format_checkpoint(cp)
    assert text == f"{ORIGIN}\n1234\n{ROOT64}\n"
    assert parse_checkpoint_untrusted(text) == cp
    ext = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "ext-two"))
    assert format_checkpoint(ext).endswith("\next one\next-two\n")
    assert parse_checkpoint_untrusted(format_checkpoint(ext)) == ext
    assert ROOT.hex() in repr(cp)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"{ORIGIN}\n01\n{ROOT64}\n", id="leading-zero"),
        pytest.param(f"{ORIGIN}\n00\n{ROOT64}\n", id="double-zero"),
        pytest.param(f"{ORIGIN}\n+5\n{ROOT64}\n", id="plus-sign"),
        pytest.param(f"{ORIGIN}\n-5\n{ROOT64}\n", id="minus-sign"),
        pytest.param(f"{ORIGIN}\n 5\n{ROOT64}\n", id="space"),
        pytest.param(f"{ORIGIN}\n5_000\n{ROOT64}\n", id="underscore"),
        pytest.param(f"{ORIGIN}\n\u0665\n{ROOT64}\n", id="arabic-digit"),
        pytest.param(f"{ORIGIN}\n{2**64}\n{ROOT64}\n", id="over-uint64"),
        pytest.param(f"{ORIGIN}\n\n{ROOT64}\n", id="empty-size"),
        pytest.param(f"{ORIGIN}\n5\n{base64.b64encode(ROOT[:31]).decode()}\n", id="short-root"),
        pytest.param(f"{ORIGIN}\n5\n{base64.b64encode(ROOT + b'x').decode()}\n", id="long-root"),
        pytest.param(f"{ORIGIN}\n5\n{ROOT64.rstrip('=')}\n", id="unpadded-root"),
        pytest.param(f"{ORIGIN}\n5\n{base64.urlsafe_b64encode(bytes([251]) * 32).decode()}\n", id="urlsafe-root"),
        pytest.param(f"{ORIGIN}\n5\n{ROOT64[:-2]}B=\n", id="non-canonical-root"),
        pytest.param(f"{ORIGIN}\n5\n{ROOT64}", id="missing-newline"),
        pytest.param(f"{ORIGIN}\n5\n", id="missing-root"),
        pytest.param(f"\n5\n{ROOT64}\n", id="empty-origin"),
        pytest.param(f"{ORIGIN}\n5\n{ROOT64}\n\n", id="empty-extension"),
        pytest.param(f"{ORIGIN}\n5\n{ROOT64}\nbad\x01ext\n", id="control-char"),
    ],
)
def test_parse_rejections(text):
    with pytest.raises(FormatError):
        parse_checkpoint_untrusted(text)


def test_checkpoint_validates_fields():
    for args in [("", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, True, ROOT), (ORIGIN, 1, ROOT[:31]), (ORIGIN, 1, ROOT, ("",))]:
        with pytest.raises(FormatError):
            Checkpoint(*args)


def test_sign_and_open():
    cp = Checkpoint(ORIGIN, 7, ROOT)
    note = sign_checkpoint(cp, SIGNER)
    assert open_checkpoint_untrusted(note, SIGNER.verifier) == cp
    assert open_checkpoint_untrusted(note.encode(), SIGNER.verifier, ORIGIN) == cp
    with pytest.raises(SignatureError):
        open_checkpoint_untrusted(note, SIGNER.verifier, "example.org/other")
    other = Signer.from_seed(ORIGIN, bytes(32))
    with pytest.raises(SignatureError):
        open_checkpoint_untrusted(note, other.verifier, ORIGIN)
    with pytest.raises(SignatureError):
        open_checkpoint_untrusted(note.replace("\n7\n", "\n8\n"), SIGNER.verifier, ORIGIN)
    # A signed note that is not a checkpoint.
    with pytest.raises(FormatError):
        open_checkpoint_untrusted(sign_note("hello\n", [SIGNER]), SIGNER.verifier)


def test_open_sum_golang_checkpoint():
    vkey = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
    note = (
        "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n"
        "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
    )
    cp = open_checkpoint_untrusted(note, parse_verifier_key_untrusted(vkey), "go.sum database tree")
    assert cp.size == 6476701


def _tree(datas):
    store = MemoryHashStore()
    for d in datas:
        store.append_leaf(d)
    return store


def test_tlog_proof_round_trip():
    datas = [f"leaf {i}".encode() for i in range(11)]
    store = _tree(datas)
    note = sign_checkpoint(Checkpoint(ORIGIN, 11, tree_hash(11, store)), SIGNER)
    for extra in [None, b"", b"\x00context"]:
        for i in range(11):
            text = format_tlog_proof(i, prove_inclusion(11, i, store), note, extra)
            proof = parse_tlog_proof_untrusted(text)
            assert proof == TlogProof(i, tuple(prove_inclusion(11, i, store)), note, extra)
            assert format_tlog_proof(proof.leaf_index, proof.hashes, proof.checkpoint_note, proof.extra) == text
            assert verify_tlog_proof(proof, datas[i], SIGNER.verifier, ORIGIN).size == 11
            with pytest.raises(ProofError):
                verify_tlog_proof(proof, b"other", SIGNER.verifier, ORIGIN)
    with pytest.raises(SignatureError):
        verify_tlog_proof(proof, datas[10], SIGNER.verifier, "example.org/other")


def test_tlog_proof_spec_layout():
    store = _tree([b"a", b"b", b"c"])
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, tree_hash(3, store)), SIGNER)
    text = format_tlog_proof(2, prove_inclusion(3, 2, store), note, b"hi")
    lines = text.split("\n")
    assert lines[:4] == ["c2sp.org/tlog-proof@v1", "extra aGk=", "index 2", base64.b64encode(tree_hash(2, store)).decode()]
    assert lines[4] == "" and text.endswith(note)


def _proof_text():
    store = _tree([b"a", b"b", b"c"])
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, tree_hash(3, store)), SIGNER)
    return format_tlog_proof(1, prove_inclusion(3, 1, store), note)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"), id="wrong-header"),
        pytest.param(lambda t: t.replace("index 1", "index 01"), id="leading-zero-index"),
        pytest.param(lambda t: t.replace("index 1", "index +1"), id="signed-index"),
        pytest.param(lambda t: t.replace("index 1", "index  1"), id="double-space-index"),
        pytest.param(lambda t: t.replace("index 1\n", ""), id="missing-index"),
        pytest.param(lambda t: t.replace("index 1\n", "index 1\nextra aGk=\n"), id="extra-after-index"),
        pytest.param(lambda t: t.replace("index 1\n", "extra !!\nindex 1\n"), id="bad-extra"),
        pytest.param(lambda t: t.replace("Aippeebat6pa5MPl5F9+l3ESp+Y1k4INvsHsc4ok+Tw=", "Aippeebat6pa5MPl5F9+l3ESp+Y1k4INvsHsc4ok+T"), id="short-hash"),
        pytest.param(lambda t: t.replace("Aippeebat6pa5MPl5F9+l3ESp+Y1k4INvsHsc4ok+Tw=", "Aippeebat6pa5MPl5F9+l3ESp+Y1k4INvsHsc4ok+Tx="), id="non-canonical-hash"),
        pytest.param(lambda t: t.split("\n\n", 1)[0] + "\n", id="no-checkpoint"),
        pytest.param(lambda t: t.encode("utf-8").replace(b"index", b"ind\xffx"), id="non-utf8"),
    ],
)
def test_tlog_proof_parse_rejections(mangle):
    with pytest.raises(FormatError):
        parse_tlog_proof_untrusted(mangle(_proof_text()))


# --- docs/log.md worked example. --------------------------------------------

DOC = Path(__file__).parent.parent / "docs" / "log.md"


def doc_examples():
    text = DOC.read_text(encoding="utf-8")
    blocks = dict(re.findall(r"<!-- example: (\S+) -->\n```\n(.*?)```\n", text, re.DOTALL))
    assert "## Leaves of this ledger" in text
    return blocks


def test_doc_worked_example():
    ex = doc_examples()
    store = _tree([b"a", b"b", b"c"])
    hexes = lambda hs: "".join(h.hex() + "\n" for h in hs)  # noqa: E731
    assert ex["leaf-hashes"] == hexes(leaf_hash(d) for d in [b"a", b"b", b"c"])
    assert ex["stored-hashes"] == hexes(store.hashes)
    assert ex["root-3"] == hexes([tree_hash(3, store)])
    assert ex["inclusion-1-in-3"] == hexes(prove_inclusion(3, 1, store))
    assert ex["consistency-2-to-3"] == hexes(prove_consistency(2, 3, store))
    verify_consistency(2, 3, tree_hash(2, store), tree_hash(3, store), prove_consistency(2, 3, store))

    signer = Signer.from_seed("example.org/ledger", bytes(range(32)))
    assert ex["public-key"] == signer.public_key.hex() + "\n"
    assert ex["vkey"] == signer.vkey + "\n"
    verifier = parse_verifier_key_untrusted(ex["vkey"].strip())
    cp = Checkpoint("example.org/ledger", 3, tree_hash(3, store))
    assert ex["signed-checkpoint"] == sign_checkpoint(cp, signer)
    assert open_checkpoint_untrusted(ex["signed-checkpoint"], verifier, "example.org/ledger") == cp

    bundle = format_tlog_proof(1, prove_inclusion(3, 1, store), ex["signed-checkpoint"])
    assert ex["tlog-proof"] == bundle
    assert verify_tlog_proof(parse_tlog_proof_untrusted(ex["tlog-proof"]), b"b", verifier, "example.org/ledger") == cp
