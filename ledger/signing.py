"""Checking, canonicalizing and signing a large batch on the machine's other cores.

A bulk append spends most of its time on work each record needs on its own:
checking it against its schema, RFC 8785 and Ed25519 signing
(benchmarks/RESULTS.md). ``BatchPreparer`` hands that work to worker
processes in chunks and gives the results back in order, so the appending
process checks the rules and stores entries while the other cores prepare
the next records. Ed25519 signatures are deterministic (RFC 8032 §5.1.6)
and RFC 8785 bytes depend only on the record, so what a worker returns is
byte-for-byte what the appending process would have made.

Each task is either a record (a dict with ``created`` and ``version``
already filled in), which the worker validates, builds, canonicalizes and
signs, or canonical record bytes the appending process made itself (a
claim whose quote it anchored in a snapshot), which the worker only signs.
The result is ("ok", record bytes, signature), ("record", message) for a
record its schema refuses, or ("error", exception) for anything else a
record can fail on; the caller raises it at the record's turn.

Small batches, and machines with one core, run the same code in the
calling process: starting a worker costs more than a few hundred records.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Optional

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Below this many records a batch is prepared in the calling process.
PARALLEL_MIN = 2000
CHUNK = 1024


class _Preparer:
    """What a worker (or the calling process) does with one task."""

    def __init__(self, private_key: Ed25519PrivateKey, prefix: bytes):
        from ledger.canonical import canonical_bytes
        from ledger.errors import LedgerError
        from ledger.records import Record

        self.sign, self.prefix = private_key.sign, prefix
        self.canonical_bytes, self.from_dict, self.LedgerError = canonical_bytes, Record.from_dict, LedgerError

    def __call__(self, task):
        record_bytes = task
        if isinstance(task, dict):
            try:
                record = self.from_dict(task)
            except self.LedgerError as e:
                return ("record", str(e))
            try:
                record_bytes = self.canonical_bytes(record.to_dict())
            except self.LedgerError as e:
                return ("error", e)
        return ("ok", record_bytes, self.sign(self.prefix + record_bytes))


_worker: Optional[_Preparer] = None


def _start_worker(seed: bytes, prefix: bytes) -> None:
    global _worker
    _worker = _Preparer(Ed25519PrivateKey.from_private_bytes(seed), prefix)


def _prepare_chunk(tasks: list) -> list:
    return [_worker(task) for task in tasks]


class BatchPreparer:
    """Prepares tasks in submission order; ``take(n)`` gives the next n results.

    Use as a context manager: the worker processes stop on leaving it, also
    when the batch fails.
    """

    def __init__(self, private_key: Ed25519PrivateKey, prefix: bytes, count: int, workers: Optional[int] = None):
        self._key, self._prefix = private_key, prefix
        cores = os.cpu_count() or 1
        # One core stays with the appending process, which has the most work.
        self.workers = workers if workers is not None else (cores - 1 if count >= PARALLEL_MIN else 0)
        self._pool = None
        self._here: Optional[_Preparer] = None
        self._waiting: list = []
        self._sent: deque = deque()  # futures, or lists of results made here
        self._ready: deque = deque()

    def __enter__(self) -> "BatchPreparer":
        if self.workers > 0:
            # Imported here: a one-record append (ledger claim add) never starts workers.
            import concurrent.futures
            import multiprocessing

            seed = self._key.private_bytes_raw()  # the 32-byte RFC 8032 seed
            # fork: the workers need only the key and the package already
            # imported; a fork starts in milliseconds where spawn would import
            # everything again. The workers never touch the parent's SQLite
            # connection and leave with os._exit, so it is not closed or
            # finalized behind its back.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker, initargs=(seed, self._prefix))
        else:
            self._here = _Preparer(self._key, self._prefix)
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, task) -> None:
        """A record dict to check, canonicalize and sign, or canonical record bytes to sign."""
        self._waiting.append(task)
        if len(self._waiting) >= CHUNK:
            self._send()

    def _send(self) -> None:
        chunk, self._waiting = self._waiting, []
        if self._pool is None:
            self._sent.append([self._here(task) for task in chunk])
        else:
            self._sent.append(self._pool.submit(_prepare_chunk, chunk))

    def take(self, count: int) -> list:
        """The next ``count`` results, in submission order (waits for the workers)."""
        out = []
        while len(out) < count:
            if not self._ready:
                if not self._sent:
                    if not self._waiting:
                        raise IndexError("more results taken than tasks submitted")
                    self._send()
                result = self._sent.popleft()
                self._ready.extend(result if isinstance(result, list) else result.result())
            out.append(self._ready.popleft())
        return out
