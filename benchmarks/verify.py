"""2. Verify: ``ledger verify`` of the appended ledger against the all-core raw Ed25519 verify rate.

Also measured here: the leaf check alone (docs/verify.md step 1), and
OpenSSL against libsodium on the ledger's own signatures (``ed25519``).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from pathlib import Path

from benchmarks import ed25519
from benchmarks.workload import EDITOR, exported_leaves, in_turn, installed_env, ledger_cmd, signer


def leaf_check_seconds(leaves: list[bytes]) -> float:
    """CPU seconds per leaf for docs/verify.md step 1 alone: parse, canonical form, schema (Entry.from_leaf_untrusted)."""
    from ledger.envelope import Entry

    t = time.process_time()
    for index, leaf in enumerate(leaves):
        Entry.from_leaf_untrusted(index, leaf)
    return (time.process_time() - t) / len(leaves)


def signatures_of(path: Path, directory: Path) -> list[tuple[bytes, bytes, bytes]]:
    """(public key, signed message, signature) of every entry, as the library reads them from the leaves."""
    from ledger.api import Ledger
    from ledger.envelope import Entry, signed_message
    from ledger.note import parse_verifier_key_untrusted

    with Ledger.open(path, readonly=True) as ledger:
        origin = ledger.origin
    keys, out = {}, []
    for index, leaf in enumerate(exported_leaves(path, directory)):
        entry = Entry.from_leaf_untrusted(index, leaf)
        if entry.record.kind == "key":  # registered before any entry it signs
            verifier = parse_verifier_key_untrusted(entry.record.vkey)
            keys[verifier.signer_id] = verifier.public_key
        out.append((keys[entry.signer], signed_message(origin, entry.record_bytes), entry.signature))
    return out


def _verify_all(items, lib):
    return ed25519.verify_many(items, lib)


def raw_verify_rate(items, lib: str = "openssl", workers: int | None = None) -> float:
    """Signatures verified per second on ``workers`` processes (all cores by default), pool already warm."""
    workers = workers or os.cpu_count() or 1
    chunks = [items[i::workers] for i in range(workers)]
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_verify_all, [c[:10] for c in chunks], [lib] * workers))  # start the workers
        t = time.perf_counter()
        results = list(pool.map(_verify_all, chunks, [lib] * workers))
        elapsed = time.perf_counter() - t
    assert sum(results) == len(items), "a benchmark signature failed to verify"
    return len(items) / elapsed


def bench_verify(path: Path) -> dict:
    from ledger.api import Ledger

    with Ledger.open(path) as ledger:
        size, vkey = ledger.size, ledger.log_vkey
    items = signatures_of(path, path.parent)
    env = installed_env()

    def ledger_run(run):
        wall, done = ledger_cmd("verify", path, "--vkey", vkey, "--json", env=env)
        assert json.loads(done.stdout)["ok"], done.stdout[:500]
        return size / wall

    rates, raws = in_turn(ledger_run, lambda run: raw_verify_rate(items, "openssl"))
    leaves = [leaf for leaf, _ in zip(exported_leaves(path, path.parent), range(20_000))]
    result = {"size": size, "ledger_rate": max(rates), "raw_rate": max(raws), "ledger_rates": rates, "raw_rates": raws,
              "leaf_check_us": min(leaf_check_seconds(leaves) for _ in range(3)) * 1e6}
    result["ed25519"] = ed25519.compare(items)
    result["signing"] = ed25519.compare_signing(signer(EDITOR).private_key, [m for _, m, _ in items[:5000]])
    if result["ed25519"]["pynacl_available"]:
        result["raw_rate_pynacl"] = raw_verify_rate(items, "pynacl")
    return result
