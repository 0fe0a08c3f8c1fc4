"""Bulk-append workers sign with libsodium: the same signatures as OpenSSL, byte for byte.

Ed25519 signing is deterministic (RFC 8032 §5.1.6), so two correct
implementations give the same 64 bytes for the same seed and message. The
first check uses the RFC 8032 §7.1 test vectors (TEST 1-3), the rest the
ledger's own messages and random ones.
"""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.canonical import canonical_bytes, parse_json_untrusted
from ledger.envelope import EntrySigner, Prepared, signed_message
from ledger.note import Signer
from ledger.records import Record
from ledger.signing import _Preparer, libsodium_signer
from ledger.tree import leaf_hash

# RFC 8032 §7.1: (secret key, public key, message, signature), hex.
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


@pytest.mark.parametrize("secret, public, message, signature", RFC8032)
def test_libsodium_signs_the_rfc8032_vectors_as_openssl_does(secret, public, message, signature):
    seed, message = bytes.fromhex(secret), bytes.fromhex(message)
    openssl = Ed25519PrivateKey.from_private_bytes(seed)
    assert openssl.public_key().public_bytes_raw().hex() == public
    assert openssl.sign(message).hex() == signature
    assert libsodium_signer(seed)(message).hex() == signature


def test_libsodium_and_openssl_signatures_agree_on_ledger_messages_and_random_ones():
    signer = Signer.from_seed("ana@example.org", hashlib.sha256(b"signing test").digest())
    sodium = libsodium_signer(signer.private_key.private_bytes_raw())
    messages = [signed_message("example.org/log", canonical_bytes({"kind": "claim", "id": f"claim:c{i}", "text": "ș" * i}))
                for i in range(200)]
    messages += [os.urandom(n) for n in range(0, 2000, 7)]
    for message in messages:
        assert sodium(message) == signer.private_key.sign(message)


def test_a_worker_and_this_process_prepare_the_same_entry():
    # What a worker returns (libsodium, leaf made there) is what EntrySigner makes here.
    signer = Signer.from_seed("ana@example.org", hashlib.sha256(b"signing test").digest())
    entry_signer = EntrySigner.of(signer, "example.org/log")
    record = {"kind": "claim", "id": "claim:c1", "version": 1, "created": "2024-05-01T10:00:00Z",
              "source": "source:s1", "language": "ro", "text": "În 2023, circa 90% din microelectronice"}
    worker = _Preparer(EntrySigner(libsodium_signer(signer.private_key.private_bytes_raw()), "example.org/log",
                                   signer.verifier.signer_id))  # as _start_worker makes it
    prepared = worker(1, record)
    entry = entry_signer.sign(7, Record.from_dict(record))
    assert prepared == Prepared(record_bytes=entry.record_bytes, signature=entry.signature, leaf=entry.leaf, leaf_hash=entry.leaf_hash)
    assert prepared.leaf_hash == leaf_hash(prepared.leaf)


def test_a_checked_record_dict_is_its_own_canonical_form(demo_db):
    # What lets a worker canonicalize the dict it checked without building the record:
    # every record of the demo ledger (every kind, nested values, lists) gives the same bytes.
    from ledger.api import Ledger

    with Ledger.open(demo_db) as ledger:
        entries = [ledger.entry(i) for i in range(ledger.size)]
    kinds = set()
    for entry in entries:
        data = parse_json_untrusted(entry.leaf)["record"]  # as JSON gives it: lists, nested objects
        Record.check_dict(data)
        assert Record.from_dict(data).to_dict() == data
        assert canonical_bytes(data) == entry.record_bytes
        kinds.add(data["kind"])
    assert kinds >= {"key", "source", "claim", "review", "correction"}


@pytest.mark.parametrize("signer_id", ["ana@example.org+0123abcd", 'ș"\\\u2028 ana+00ff00ff', "x" * 300 + "+deadbeef"])
def test_a_prepared_leaf_is_the_canonical_envelope(signer_id):
    for n in range(0, 300, 7):
        record_bytes = canonical_bytes({"kind": "claim", "n": n, "text": "ă" * n})
        signature = os.urandom(64)
        prepared = EntrySigner(lambda message: signature, "example.org/log", signer_id).prepare(record_bytes)
        assert prepared.leaf == canonical_bytes(
            {"record": parse_json_untrusted(record_bytes), "sig": base64.b64encode(signature).decode(), "signer": signer_id})
