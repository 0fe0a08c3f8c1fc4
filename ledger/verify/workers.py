"""The worker processes of one verification (docs/verify.md, "How the reference implementation uses the cores").

The replay runs in one process; the checks that need no replay state run
on a process pool beside it: the Ed25519 signatures (step 2.3), sent in
chunks as the replay reaches them, and a ledger file's SQLite checks.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Optional

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey



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
        self._pool: Optional[concurrent.futures.ProcessPoolExecutor] = None
        self._signature_results: list = []

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
