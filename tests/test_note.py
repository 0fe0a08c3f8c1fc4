"""Tests for ledger.note: C2SP signed notes and verifier keys."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ledger.errors import FormatError, SignatureError
from ledger.note import (
    Note,
    NoteSignature,
    Signer,
    Verifier,
    format_verifier_key,
    key_id,
    open_note_untrusted,
    parse_verifier_key_untrusted,
    sign_note,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "signed-note.json").read_text())

ALICE = Signer.from_seed("example.com/alice", bytes(range(32)))
BOB = Signer.from_seed("bob.example/log", bytes(32))
TEXT = "hello\nworld\n"


@pytest.mark.parametrize("case", VECTORS, ids=[c["source"] for c in VECTORS])
def test_signed_note_vectors(case):
    verifier = parse_verifier_key_untrusted(case["vkey"])
    assert verifier.vkey == case["vkey"]
    if case["valid"]:
        note = open_note_untrusted(case["note"], [verifier])
        assert note.text == case["text"]
        assert [(s.name, s.key_id) for s in note.signatures] == [(verifier.name, verifier.key_id)]
        assert note.unverified == ()
        # Ed25519 is deterministic, but we cannot sign without their private
        # keys; check the bytes form opens the same.
        assert open_note_untrusted(case["note"].encode(), [verifier]) == note
    else:
        with pytest.raises(SignatureError):
            open_note_untrusted(case["note"], [verifier])


def test_go_example_signer_reproduces_signature():
    # golang/mod sumdb/note doc: PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK... is seed AYEK...[1:].
    seed = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
    signer = Signer.from_seed("PeterNeumann", seed)
    case = VECTORS[1]
    assert signer.vkey == case["vkey"]
    assert sign_note(case["text"], [signer]) == case["note"]


def test_key_id_and_vkey():
    assert key_id(ALICE.name, ALICE.public_key) == ALICE.key_id
    vkey = format_verifier_key(ALICE.name, ALICE.public_key)
    assert vkey == ALICE.vkey
    name, hex_id, b64 = vkey.split("+", 2)
    assert name == "example.com/alice" and hex_id == ALICE.key_id.hex()
    assert base64.b64decode(b64) == b"\x01" + ALICE.public_key
    v = parse_verifier_key_untrusted(vkey)
    assert v == ALICE.verifier
    assert ALICE.key_id.hex() in repr(v) and ALICE.public_key.hex() in repr(v)
    assert "private" not in repr(ALICE).lower()


def _vkey(name="example.com/alice", hex_id=None, key=None):
    key = b"\x01" + ALICE.public_key if key is None else key
    hex_id = hex_id if hex_id is not None else __import__("hashlib").sha256(name.encode() + b"\n" + key).digest()[:4].hex()
    return f"{name}+{hex_id}+{base64.b64encode(key).decode()}"


@pytest.mark.parametrize(
    "vkey",
    [
        pytest.param("", id="empty"),
        pytest.param("example.com/alice", id="no-plus"),
        pytest.param(_vkey(name=""), id="empty-name"),
        pytest.param(_vkey(name="a b"), id="space-in-name"),
        pytest.param(_vkey(name="a\tb"), id="tab-in-name"),
        pytest.param(_vkey(name="a\u00a0b"), id="nbsp-in-name"),
        pytest.param(_vkey(hex_id="1234567"), id="short-hex"),
        pytest.param(_vkey(hex_id="123456789"), id="long-hex"),
        pytest.param(_vkey(hex_id=ALICE.key_id.hex().upper()), id="uppercase-hex"),
        pytest.param(_vkey(hex_id="00000000"), id="wrong-key-id"),
        pytest.param(_vkey(key=b"\x02" + ALICE.public_key), id="algorithm-2"),
        pytest.param(_vkey(key=b"\x01" + ALICE.public_key[:31]), id="short-key"),
        pytest.param(_vkey(key=b"\x01" + ALICE.public_key + b"\x00"), id="long-key"),
        pytest.param(_vkey(key=b""), id="no-key"),
        pytest.param(ALICE.vkey + "=", id="bad-base64"),
        pytest.param(ALICE.vkey[:-1] + "\n", id="newline-base64"),
    ],
)
def test_verifier_key_rejections(vkey):
    with pytest.raises(FormatError):
        parse_verifier_key_untrusted(vkey)


def test_name_with_plus_rejected():
    with pytest.raises(FormatError):
        parse_verifier_key_untrusted("a+b+" + ALICE.vkey.split("+", 2)[2])
    with pytest.raises(FormatError):
        Signer.from_seed("a+b", bytes(32))


def test_round_trip_multiple_signers():
    signed = sign_note(TEXT, [ALICE, BOB])
    note = open_note_untrusted(signed, [ALICE.verifier, BOB.verifier])
    assert note.text == TEXT
    assert [s.name for s in note.signatures] == [ALICE.name, BOB.name]
    only_bob = open_note_untrusted(signed, [BOB.verifier])
    assert [s.name for s in only_bob.signatures] == [BOB.name]
    assert only_bob.unverified == (
        NoteSignature(ALICE.name, ALICE.key_id, ALICE.sign(TEXT.encode())),
    )
    assert isinstance(only_bob, Note)


def test_signature_covers_text_with_final_newline():
    signed = sign_note(TEXT, [ALICE])
    sig = base64.b64decode(signed.rsplit(" ", 1)[1])
    assert sig[:4] == ALICE.key_id
    ALICE.verifier.verify(TEXT.encode(), sig[4:])
    with pytest.raises(SignatureError):
        ALICE.verifier.verify(TEXT.encode()[:-1], sig[4:])
    with pytest.raises(SignatureError):
        ALICE.verifier.verify(TEXT.encode(), sig[4:-1])


def test_sign_rejects_bad_text():
    for text in ["no newline", "tab\there\n", "cr\r\n"]:
        with pytest.raises(FormatError):
            sign_note(text, [ALICE])


SIGNED = sign_note(TEXT, [ALICE])
SIG_LINE = SIGNED[len(TEXT) + 1 :]


@pytest.mark.parametrize(
    "note, error",
    [
        pytest.param(TEXT + SIG_LINE, FormatError, id="missing-blank-line"),
        pytest.param(TEXT + "\n\n" + SIG_LINE, SignatureError, id="extra-blank-line-before-sigs"),
        pytest.param(SIGNED + "\n", FormatError, id="extra-blank-line-after-sigs"),
        pytest.param(SIGNED[:-1], FormatError, id="no-final-newline"),
        pytest.param(TEXT + "\n", FormatError, id="no-signatures"),
        pytest.param(TEXT + "\n" + SIG_LINE.replace("\u2014", "-"), FormatError, id="hyphen-not-em-dash"),
        pytest.param(TEXT + "\n" + SIG_LINE.replace(" ", "  ", 1), FormatError, id="double-space"),
        pytest.param(SIGNED[:-2] + "!\n", FormatError, id="bad-base64"),
        pytest.param(SIGNED[:-3] + "B=\n", FormatError, id="non-canonical-base64"),
        pytest.param(TEXT + "\n\u2014 " + ALICE.name + " AAAA\n", FormatError, id="signature-too-short"),
        pytest.param("hel\x01lo\n\n" + SIG_LINE, FormatError, id="control-char"),
        pytest.param("hello\r\n\n" + SIG_LINE, FormatError, id="carriage-return"),
        pytest.param(TEXT.replace("world", "w0rld") + "\n" + SIG_LINE, SignatureError, id="tampered-text"),
        pytest.param(
            sign_note(TEXT, [BOB]), SignatureError, id="unknown-key-only"
        ),
        pytest.param(
            TEXT + "\n" + SIG_LINE.replace(ALICE.name, "example.com/mallory"), SignatureError, id="unknown-name"
        ),
        pytest.param(
            TEXT + "\n" + "\u2014 " + ALICE.name + " " + base64.b64encode(b"\0\0\0\0" + ALICE.sign(TEXT.encode())).decode() + "\n",
            SignatureError,
            id="bad-key-id",
        ),
    ],
)
def test_open_rejections(note, error):
    with pytest.raises(error):
        open_note_untrusted(note, [ALICE.verifier])


def test_open_rejects_non_utf8():
    with pytest.raises(FormatError):
        open_note_untrusted(b"hello \xff\n\n" + SIG_LINE.encode(), [ALICE.verifier])
    with pytest.raises(FormatError):
        open_note_untrusted("hello \udcff\n\n" + SIG_LINE, [ALICE.verifier])


def test_known_key_bad_signature_fails_even_with_a_good_one():
    other = Signer.from_seed(ALICE.name, bytes([7]) * 32)
    forged = "\u2014 " + ALICE.name + " " + base64.b64encode(ALICE.key_id + other.sign(TEXT.encode())).decode() + "\n"
    with pytest.raises(SignatureError):
        open_note_untrusted(SIGNED + forged, [ALICE.verifier])


def test_signature_limit():
    unknown = [Signer.from_seed(f"w{i}.example", bytes([i]) * 32) for i in range(120)]
    ok = sign_note(TEXT, [ALICE] + unknown[:99])
    assert len(open_note_untrusted(ok, [ALICE.verifier]).unverified) == 99
    with pytest.raises(FormatError):
        open_note_untrusted(sign_note(TEXT, [ALICE] + unknown[:100]), [ALICE.verifier])


def test_duplicate_signatures_collapse():
    doubled = SIGNED + SIG_LINE + sign_note(TEXT, [BOB])[len(TEXT) + 1 :] * 2
    note = open_note_untrusted(doubled, [ALICE.verifier])
    assert len(note.signatures) == 1 and len(note.unverified) == 1


def test_text_may_contain_blank_lines():
    # c2sp.org/signed-note: the note text MAY contain empty lines; the last
    # blank line separates the signatures.
    poem = "line one\n\nline two\n"
    note = open_note_untrusted(sign_note(poem, [ALICE]), [ALICE.verifier])
    assert note.text == poem


def test_verifier_validates_fields():
    with pytest.raises(FormatError):
        Verifier(ALICE.name, b"\0\0\0\0", ALICE.public_key)
    with pytest.raises(FormatError):
        Verifier(ALICE.name, ALICE.key_id, ALICE.public_key[:31])
    with pytest.raises(FormatError):
        Verifier("", ALICE.key_id, ALICE.public_key)
