"""Ed25519 signing of a large batch on the machine's other cores.

A bulk append spends about a third of its time in Ed25519 signing
(benchmarks/RESULTS.md), which needs nothing but the key and the message.
``BatchSigner`` hands messages to worker processes in chunks and gives the
signatures back in order, so the appending process completes, checks and
stores entries while the other cores sign. Ed25519 signatures are
deterministic (RFC 8032 §5.1.6): a signature made in a worker is
byte-for-byte the one the appending process would have made.

Small batches, and machines with one core, sign in the calling process:
starting a worker costs more than signing a few hundred records.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Optional

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Below this many records a batch is signed in the calling process.
PARALLEL_MIN = 2000
CHUNK = 1024

_worker_key: Optional[Ed25519PrivateKey] = None


def _start_worker(seed: bytes) -> None:
    global _worker_key
    _worker_key = Ed25519PrivateKey.from_private_bytes(seed)


def _sign_chunk(messages: list[bytes]) -> list[bytes]:
    sign = _worker_key.sign
    return [sign(m) for m in messages]


class BatchSigner:
    """Signs messages in submission order; ``take(n)`` gives the next n signatures.

    Use as a context manager: the worker processes stop on leaving it, also
    when the batch fails.
    """

    def __init__(self, private_key: Ed25519PrivateKey, count: int, workers: Optional[int] = None):
        self._key = private_key
        cores = os.cpu_count() or 1
        # One core stays with the appending process, which has the most work.
        self.workers = workers if workers is not None else (cores - 1 if count >= PARALLEL_MIN else 0)
        self._pool = None
        self._waiting: list[bytes] = []
        self._sent: deque = deque()  # futures, or lists of signatures made here
        self._ready: deque = deque()

    def __enter__(self) -> "BatchSigner":
        if self.workers > 0:
            # Imported here: a one-record append (ledger claim add) never starts workers.
            import concurrent.futures
            import multiprocessing

            seed = self._key.private_bytes_raw()  # the 32-byte RFC 8032 seed
            # fork: the workers need only the key, and a fork starts in
            # milliseconds where spawn would import the package again. The
            # workers never touch the parent's SQLite connection and leave
            # with os._exit, so it is not closed or finalized behind its back.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker, initargs=(seed,))
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, message: bytes) -> None:
        self._waiting.append(message)
        if len(self._waiting) >= CHUNK:
            self._send()

    def _send(self) -> None:
        chunk, self._waiting = self._waiting, []
        if self._pool is None:
            sign = self._key.sign
            self._sent.append([sign(m) for m in chunk])
        else:
            self._sent.append(self._pool.submit(_sign_chunk, chunk))

    def take(self, count: int) -> list[bytes]:
        """The next ``count`` signatures, in submission order (waits for the workers)."""
        out = []
        while len(out) < count:
            if not self._ready:
                if not self._sent:
                    if not self._waiting:
                        raise IndexError("more signatures taken than messages submitted")
                    self._send()
                result = self._sent.popleft()
                self._ready.extend(result if isinstance(result, list) else result.result())
            out.append(self._ready.popleft())
        return out
