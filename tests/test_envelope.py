"""ledger.envelope: signed envelopes are canonical leaf bytes; parsing them trusts nothing."""

import base64
import json

import pytest
from hypothesis import given, settings, strategies as st

from ledger.canonical import canonical_bytes, is_canonical
from ledger.envelope import MESSAGE_PREFIX, Entry, signed_message
from ledger.errors import FormatError, LedgerError, RecordError, SignatureError
from ledger.schema import DISPLAY_UNSAFE  # characters no record's text may hold
from ledger.note import Signer
from ledger.records import Claim
from ledger.tree import leaf_hash

ORIGIN = "example.org/ledger"
SIGNER = Signer.from_seed("ana@desk.example", bytes(range(32)))
RECORD = Claim(id="claim:x", created="2024-04-15T10:00:00Z", text="În 2023 aproximativ 90% 😀", language="ro",
               source="source:y", tags=("a", "b"))


def entry():
    return Entry.sign(3, RECORD, SIGNER, ORIGIN)


def test_leaf_is_canonical_envelope():
    e = entry()
    assert is_canonical(e.leaf)
    envelope = json.loads(e.leaf)
    assert set(envelope) == {"record", "signer", "sig"}
    assert envelope["record"] == RECORD.to_dict()
    assert envelope["signer"] == SIGNER.verifier.signer_id == f"ana@desk.example+{SIGNER.key_id.hex()}"
    assert base64.b64decode(envelope["sig"]) == e.signature
    assert e.leaf_hash == leaf_hash(e.leaf)
    assert e.leaf == canonical_bytes(envelope)


def test_signature_is_over_domain_separated_message():
    e = entry()
    message = MESSAGE_PREFIX + ORIGIN.encode() + b"\n" + canonical_bytes(RECORD.to_dict())
    assert signed_message(ORIGIN, e.record_bytes) == signed_message(ORIGIN, canonical_bytes(RECORD.to_dict())) == message
    SIGNER.verifier.verify(message, e.signature)
    with pytest.raises(SignatureError):
        SIGNER.verifier.verify(signed_message("other.example/log", e.record_bytes), e.signature)


def test_leaf_does_not_depend_on_index():
    assert Entry.sign(0, RECORD, SIGNER, ORIGIN).leaf == Entry.sign(9, RECORD, SIGNER, ORIGIN).leaf


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=50).filter(lambda t: all(c >= " " and c != "\x7f" for c in t) and not DISPLAY_UNSAFE.search(t)),
       st.integers(0, 10**6))
def test_sign_parse_round_trip(text, index):
    record = RECORD.evolve(text=text)
    signed = Entry.sign(index, record, SIGNER, ORIGIN)
    parsed = Entry.from_leaf_untrusted(index, signed.leaf)
    assert parsed == signed
    assert parsed.record == record


def _still_valid(leaf, index=3):
    """True if the leaf parses and its signature verifies under the original signer."""
    try:
        e = Entry.from_leaf_untrusted(index, leaf)
    except LedgerError:
        return False
    if e.signer != SIGNER.verifier.signer_id:
        return False  # the rules would refuse an unregistered signer
    try:
        SIGNER.verifier.verify(signed_message(ORIGIN, e.record_bytes), e.signature)
    except SignatureError:
        return False
    return True


def test_original_leaf_is_valid():
    assert _still_valid(entry().leaf)


@pytest.mark.parametrize("bit", [0x01, 0x20, 0x80])
def test_flipping_any_byte_invalidates(bit):
    leaf = entry().leaf
    sig_start = leaf.index(b'"sig":"') + 7
    positions = set(range(0, len(leaf), 3)) | set(range(sig_start, sig_start + 84))
    survivors = []
    for i in sorted(positions):
        tampered = bytearray(leaf)
        tampered[i] ^= bit
        if _still_valid(bytes(tampered)):
            survivors.append(i)
    assert survivors == []


def test_non_canonical_base64_signature_padding_bits():
    # The last base64 character of a 64-byte signature carries 4 data bits and
    # 2 padding bits that must be zero; a leaf whose padding bits are set is a
    # second encoding of the same signature.
    e = entry()
    envelope = json.loads(e.leaf)
    sig = envelope["sig"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(sig[-3])
    assert last & 3 == 0
    envelope["sig"] = sig[:-3] + alphabet[last | 1] + "=="
    leaf = canonical_bytes(envelope)
    assert leaf != e.leaf
    with pytest.raises(FormatError):
        Entry.from_leaf_untrusted(3, leaf)




NOT_CANONICAL = "entry 3: leaf bytes are not the RFC 8785 canonical form of their JSON"


@pytest.mark.parametrize("mangle", [
    lambda leaf: leaf.replace(b'{"record":', b'{"record": ', 1),
    lambda leaf: b" " + leaf,
    lambda leaf: leaf + b"\n",
    lambda leaf: _reorder(leaf),
    lambda leaf: json.dumps(json.loads(leaf), sort_keys=True, separators=(",", ":")).encode(),  # \u escapes
], ids=["space", "leading-space", "trailing-newline", "reordered-keys", "ascii-escapes"])
def test_non_canonical_leaf_refused(mangle):
    leaf = mangle(entry().leaf)
    assert leaf != entry().leaf
    with pytest.raises(FormatError) as e:
        Entry.from_leaf_untrusted(3, leaf)
    assert str(e.value) == NOT_CANONICAL


def _reorder(leaf):
    envelope = json.loads(leaf)
    reordered = {"sig": envelope["sig"], "signer": envelope["signer"], "record": envelope["record"]}
    return json.dumps(reordered, ensure_ascii=False, separators=(",", ":")).encode()


def test_invalid_envelope_names_the_entry():
    envelope = json.loads(entry().leaf)
    envelope["extra"] = 1
    with pytest.raises(RecordError) as e:
        Entry.from_leaf_untrusted(7, canonical_bytes(envelope))
    assert str(e.value).startswith("entry 7: $: unknown field 'extra'")


def test_invalid_record_names_the_entry_and_path():
    envelope = json.loads(entry().leaf)
    del envelope["record"]["text"]
    with pytest.raises(RecordError) as e:
        Entry.from_leaf_untrusted(7, canonical_bytes(envelope))
    assert str(e.value) == "entry 7: $.record: missing required field 'text'"


def test_float_in_leaf_refused():
    leaf = entry().leaf.replace(b'"version":1', b'"version":1.0')
    with pytest.raises(FormatError) as e:
        Entry.from_leaf_untrusted(3, leaf)
    assert str(e.value) == "number 1.0 has a fraction or exponent; use a decimal string"


def test_repr_shows_hashes_as_hex():
    e = entry()
    assert e.leaf_hash.hex() in repr(e)
    assert "leaf=" not in repr(e)


# JSON values of the kinds records hold, with keys and strings that need escaping or sort
# differently by UTF-16 code units than by code points.
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_json_values, st.text(), st.text())
def test_envelope_bytes_is_the_canonical_envelope(record, sig, signer):
    # Appending builds the leaf by concatenation rather than canonicalizing the
    # envelope (the record is canonicalized once): byte for byte the same.
    from ledger.envelope import envelope_bytes

    try:
        expected = canonical_bytes({"record": record, "sig": sig, "signer": signer})
    except FormatError:
        return  # e.g. lone surrogates: no canonical form either way
    assert envelope_bytes(canonical_bytes(record), sig, signer) == expected


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=50).filter(lambda t: all(c >= " " and c != "\x7f" for c in t) and not DISPLAY_UNSAFE.search(t)))
def test_signed_leaf_is_canonical_envelope_and_message_is_its_record(text):
    e = Entry.sign(0, RECORD.evolve(text=text), SIGNER, ORIGIN)
    envelope = json.loads(e.leaf)
    assert e.leaf == canonical_bytes(envelope)
    assert signed_message(ORIGIN, e.record_bytes) == signed_message(ORIGIN, canonical_bytes(envelope["record"]))
    parsed = Entry.from_leaf_untrusted(0, e.leaf)
    assert parsed.record_bytes == e.record_bytes
