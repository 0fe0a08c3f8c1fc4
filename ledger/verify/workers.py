"""The worker processes of one verification (docs/verify.md, "How the reference implementation uses the cores").

The replay runs in one process; the checks that need no replay state run
on a process pool beside it: the Ed25519 signatures (step 2.3), and on the
fast path each leaf's full check (step 2.1) and a ledger file's SQLite
checks. Work goes out in chunks as the replay reaches it, so the cores
check while the replay goes on.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Optional

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.envelope import Entry
from ledger.errors import FormatError, RecordError


def check_signatures(items) -> list[int]:
    """Indexes whose signature fails; items are (index, public key, message, signature)."""
    keys, bad = {}, []
    for index, public_key, message, signature in items:
        key = keys.get(public_key) or keys.setdefault(public_key, Ed25519PublicKey.from_public_bytes(public_key))
        try:
            key.verify(signature, message)
        except InvalidSignature:
            bad.append(index)
    return bad


def check_leaves(items) -> list[int]:
    """Indexes of the leaves ``Entry.from_leaf_untrusted`` refuses; items are (index, leaf)."""
    bad = []
    for index, leaf in items:
        try:
            Entry.from_leaf_untrusted(index, leaf)
        except (FormatError, RecordError):
            bad.append(index)
    return bad


class Workers:
    """The process pool of one verification, started at the first chunk sent to it.

    ``signatures`` is where ``rules.check_entry`` leaves each signature to
    check; every full chunk goes to the pool at once. A ledger smaller than
    one chunk never starts a pool. Use as a context manager.
    """

    CHUNK = 2000

    def __init__(self, workers: Optional[int]):
        self.processes = workers or os.cpu_count() or 1
        self.parallel = self.processes > 1
        self.signatures: list = []
        self.signatures_checked = 0
        self._leaves: list = []
        self._pool: Optional[concurrent.futures.ProcessPoolExecutor] = None
        self._signature_results: list = []
        self._leaf_results: list = []

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, fn, *args) -> concurrent.futures.Future:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=self.processes)
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def send_full_chunk(self) -> None:
        """Send the signatures waiting in ``signatures`` once they fill a chunk."""
        if len(self.signatures) < self.CHUNK or not self.parallel:
            return
        self._signature_results.append(self.submit(check_signatures, self.signatures))
        self.signatures_checked += len(self.signatures)
        self.signatures = []

    def bad_signatures(self) -> list[int]:
        """Indexes whose signature fails, in order, once every signature is checked."""
        self.signatures_checked += len(self.signatures)
        if self._pool is None:
            bad = check_signatures(self.signatures)
        else:
            if self.signatures:
                self._signature_results.append(self._pool.submit(check_signatures, self.signatures))
            bad = sorted(index for future in self._signature_results for index in future.result())
            self.close()
        self.signatures = []
        return bad

    def check_leaf(self, index: int, leaf: bytes) -> None:
        """Queue a leaf for the full check of step 2.1 (the fast path)."""
        self._leaves.append((index, leaf))
        if len(self._leaves) >= self.CHUNK:
            self._leaf_results.append(self.submit(check_leaves, self._leaves))
            self._leaves = []

    def refused_leaves(self) -> list[int]:
        """Indexes of every queued leaf the full check refuses."""
        if not self._leaf_results:
            # A ledger smaller than a chunk is checked here rather than start workers for it.
            return check_leaves(self._leaves)
        self._leaf_results.append(self.submit(check_leaves, self._leaves))
        return [index for future in self._leaf_results for index in future.result()]
