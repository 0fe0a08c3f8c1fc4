"""Ed25519 verification with OpenSSL (``cryptography``) and libsodium (PyNaCl): speed and verdicts.

``differential`` runs both libraries over the ledger's own signatures and
over the edge cases where Ed25519 implementations are known to differ
(Chalkias et al., "Taming the many EdDSAs", 2020): mutated signatures,
non-canonical S (S + L), small-order and non-canonical public keys and R.
"""

from __future__ import annotations

import time

L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point (RFC 8032 §5.1)

# Encodings of the points of small order (the 8-torsion), and non-canonical encodings of some.
SMALL_ORDER = [bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4 (sign bit)
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "0100000000000000000000000000000000000000000000000000000000000080",  # identity, non-canonical (x = -0)
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1: non-canonical identity
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p: non-canonical 0
)]


def pynacl_version():
    try:
        import nacl

        return nacl.__version__
    except ImportError:
        return None


def openssl_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def sodium_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import BadSignatureError, ValueError as NaclValueError

    try:
        crypto_sign_open(signature + message, public_key)  # libsodium's crypto_sign_verify_detached
        return True
    except (BadSignatureError, NaclValueError, ValueError, TypeError):
        return False


def verify_many(items, lib: str) -> int:
    """How many of (public key, message, signature) verify, with one library (a worker's job)."""
    fn = openssl_verify if lib == "openssl" else sodium_verify
    if lib == "openssl":
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        keys, good = {}, 0
        for public_key, message, signature in items:
            key = keys.get(public_key) or keys.setdefault(public_key, Ed25519PublicKey.from_public_bytes(public_key))
            try:
                key.verify(signature, message)
                good += 1
            except InvalidSignature:
                pass
        return good
    return sum(fn(*item) for item in items)


def edge_cases(items) -> list[tuple[str, bytes, bytes, bytes]]:
    """(label, public key, message, signature) cases around the ledger's real signatures."""
    cases = []
    for n, (pk, msg, sig) in enumerate(items[:200]):
        cases.append(("valid", pk, msg, sig))
        cases.append(("other message", pk, msg + b" ", sig))
        bit = n * 7 % 512
        flipped = bytearray(sig)
        flipped[bit // 8] ^= 1 << (bit % 8)
        cases.append(("flipped signature bit", pk, msg, bytes(flipped)))
        s = int.from_bytes(sig[32:], "little")
        cases.append(("non-canonical S (S + L)", pk, msg, sig[:32] + (s + L).to_bytes(32, "little")))
        flipped_key = bytearray(pk)
        flipped_key[n % 32] ^= 1 << (n % 8)
        cases.append(("flipped public key bit", bytes(flipped_key), msg, sig))
    msg = items[0][1] if items else b"fact-ledger"
    for a in SMALL_ORDER:
        for r in SMALL_ORDER:
            # With A and R of small order and S = 0, the cofactorless equation
            # [S]B = R + [k]A holds for some messages: the classic forgery.
            for s in (0, 1, L):
                cases.append(("small-order A and R", a, msg, r + s.to_bytes(32, "little")))
        if items:
            cases.append(("small-order A, real signature", a, msg, items[0][2]))
    return cases


def differential(items) -> dict:
    """Verdicts of both libraries on ``edge_cases(items)``; every disagreement listed."""
    cases = edge_cases(items)
    disagreements = []
    accepted = {"openssl": 0, "pynacl": 0}
    for label, pk, msg, sig in cases:
        a, b = openssl_verify(pk, msg, sig), sodium_verify(pk, msg, sig)
        accepted["openssl"] += a
        accepted["pynacl"] += b
        if a != b:
            disagreements.append({"case": label, "public_key": pk.hex(), "signature": sig.hex(), "openssl": a, "pynacl": b})
    return {"cases": len(cases), "accepted": accepted, "disagreements": disagreements}


def single_core_rate(items, lib: str, limit: int = 5000) -> float:
    sample = items[:limit]
    t = time.perf_counter()
    verify_many(sample, lib)
    return len(sample) / (time.perf_counter() - t)


def compare(items) -> dict:
    """Speed of both libraries on one core and their differential, for the report."""
    out = {"pynacl_available": pynacl_version() is not None, "openssl_rate": single_core_rate(items, "openssl")}
    if out["pynacl_available"]:
        out["pynacl_rate"] = single_core_rate(items, "pynacl")
        out["differential"] = differential(items)
    return out


def compare_signing(private_key, messages) -> dict:
    """Signing on one core with both libraries, and whether every signature is the same bytes."""
    from ledger.signing import libsodium_signer

    sodium = libsodium_signer(private_key.private_bytes_raw())
    # In alternating rounds, so a change in the machine's speed touches both alike.
    seconds = {"openssl": 0.0, "pynacl": 0.0}
    openssl_sigs, sodium_sigs = [], []
    for start in range(0, len(messages), 250):
        chunk = messages[start:start + 250]
        t = time.perf_counter()
        openssl_sigs += [private_key.sign(m) for m in chunk]
        seconds["openssl"] += time.perf_counter() - t
        t = time.perf_counter()
        sodium_sigs += [sodium(m) for m in chunk]
        seconds["pynacl"] += time.perf_counter() - t
    return {"messages": len(messages), "openssl_rate": len(messages) / seconds["openssl"],
            "pynacl_rate": len(messages) / seconds["pynacl"],
            "different": sum(a != b for a, b in zip(openssl_sigs, sodium_sigs))}


def describe_signing(g: dict) -> str:
    return (f"Signing, one core, in alternating rounds: OpenSSL {g['openssl_rate']:,.0f} signatures/s, libsodium "
            f"{g['pynacl_rate']:,.0f}/s ({g['pynacl_rate'] / g['openssl_rate']:.2f}× OpenSSL); the two signatures differ on {g['different']} of "
            f"{g['messages']:,} of the ledger's signed messages. Ed25519 signing is deterministic (RFC 8032 §5.1.6), so "
            "they cannot differ: **the bulk-append workers sign with libsodium** (`ledger/signing.py`; "
            "`tests/test_signing.py` checks the RFC 8032 vectors). Verification is another matter, below.")


def describe(e: dict, raw_openssl=None, raw_pynacl=None) -> str:
    if not e["pynacl_available"]:
        return "PyNaCl is not installed (`pip install -e '.[bench]'`): libsodium not measured."
    d = e["differential"]
    faster = e["pynacl_rate"] / e["openssl_rate"]
    lines = [
        f"One core: OpenSSL {e['openssl_rate']:,.0f} verifications/s, libsodium {e['pynacl_rate']:,.0f}/s "
        f"({faster:.2f}× OpenSSL)."
        + (f" All cores: OpenSSL {raw_openssl:,.0f}/s, libsodium {raw_pynacl:,.0f}/s." if raw_openssl and raw_pynacl else ""),
        f"Differential over {d['cases']:,} cases (the ledger's signatures, each mutated, S + L, flipped keys, "
        f"every pair of small-order A and R): OpenSSL accepts {d['accepted']['openssl']}, libsodium {d['accepted']['pynacl']}; "
        f"{len(d['disagreements'])} disagreement(s).",
    ]
    kinds = sorted({x["case"] for x in d["disagreements"]})
    if d["disagreements"]:
        example = d["disagreements"][0]
        lines.append(f"They disagree on: {', '.join(kinds)} (e.g. public key {example['public_key']}, signature "
                     f"{example['signature']}: OpenSSL {'accepts' if example['openssl'] else 'rejects'}, "
                     f"libsodium {'accepts' if example['pynacl'] else 'rejects'}).")
        lines.append("**Decision: not adopted.** libsodium is faster but does not give the same verdict on every "
                     "signature, so switching would change what `ledger verify` accepts.")
    elif faster > 1:
        lines.append("Same verdict on every case and faster: libsodium could be adopted.")
    else:
        lines.append("**Decision: not adopted** (not faster here).")
    return "\n".join(lines)
