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
already filled in), which the worker checks against its schema,
canonicalizes (without building it: see ``Record.check_dict``) and signs,
or canonical record bytes the appending process made itself (a
claim whose quote it anchored in a snapshot), which the worker only signs.
The result is ("ok", record bytes, signature, leaf, leaf hash): the entry's
leaf is the envelope around them (``EntrySigner.leaf``) and depends on
nothing else, so the worker makes it too. Or it is ("record", message) for
a record its schema refuses, or ("error", exception) for anything else a
record can fail on; the caller raises it at the record's turn.

The workers sign with libsodium (PyNaCl), which signs about 1.5x faster
than OpenSSL here (benchmarks/RESULTS.md). Ed25519 signing is deterministic
(RFC 8032 §5.1.6: the nonce is a hash of the key and the message), so both
give the same 64 bytes for the same key and message; tests/test_signing.py
checks this on the RFC 8032 test vectors and on ledger messages. Only
signing changes library: verify stays with OpenSSL, because the two do not
accept exactly the same signatures (benchmarks/RESULTS.md).

The workers also take records given as JSON text (``parse``), two windows
ahead: they parse each strictly and prepare it as above, so the appending
process neither parses it nor sends it back; only a claim whose quote it
must anchor comes back to it as a dict to complete and submit.

Small batches, and machines with one core, run the same code in the
calling process with OpenSSL: starting a worker costs more than a few
hundred records, and a one-record append need not import libsodium.
"""

from __future__ import annotations

import os
from collections import deque
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from ledger.envelope import EntrySigner

# Below this many records a batch is prepared in the calling process.
PARALLEL_MIN = 2000
CHUNK = 1024


class _Preparer:
    """What a worker (or the calling process) does with one task.

    ``sign`` signs a message with the editor's key; ``leaf`` makes the
    entry's leaf from the record bytes and signature (``EntrySigner.leaf``).
    """

    def __init__(self, sign: Callable[[bytes], bytes], prefix: bytes, leaf: Callable[[bytes, bytes], bytes]):
        from ledger.canonical import canonical_bytes
        from ledger.errors import LedgerError
        from ledger.records import Record
        from ledger.tree import leaf_hash

        self.sign, self.prefix, self.leaf, self.leaf_hash = sign, prefix, leaf, leaf_hash
        self.canonical_bytes, self.check_dict, self.LedgerError = canonical_bytes, Record.check_dict, LedgerError

    def __call__(self, task):
        record_bytes = task
        if isinstance(task, dict):
            try:
                self.check_dict(task)
            except self.LedgerError as e:
                return ("record", str(e))
            try:
                # The record's canonical form without building it: for data
                # check_dict accepts, from_dict(data).to_dict() == data.
                record_bytes = self.canonical_bytes(task)
            except self.LedgerError as e:
                return ("error", e)
        signature = self.sign(self.prefix + record_bytes)
        leaf = self.leaf(record_bytes, signature)
        return ("ok", record_bytes, signature, leaf, self.leaf_hash(leaf))


def prepare_texts(texts: list, created: str, preparer: Optional["_Preparer"] = None) -> list:
    """Each (text, file, line) parsed strictly (``parse_json_untrusted``) and, when it can be, prepared.

    The result is ``preparer``'s (by default the worker's) for the record,
    with the record dict added to an "ok" result, once 'created' (``created``
    when it is left out) and 'version' are filled in; ("parsed", value) for
    what the appending process must complete itself (a claim whose quote it
    anchors, or a value that is not an object); or ("error", FormatError)
    naming the file and line, which it raises at the record's turn.
    """
    from ledger.canonical import parse_json_untrusted
    from ledger.errors import FormatError
    from ledger.records import complete_defaults, quote_to_anchor

    preparer = preparer or _worker
    out = []
    for text, file, line in texts:
        try:
            data = parse_json_untrusted(text)
        except FormatError as e:
            out.append(("error", FormatError(f"{file} line {line}: {e}")))
            continue
        if not isinstance(data, dict):
            out.append(("parsed", data))
            continue
        complete_defaults(data, lambda: created)
        if quote_to_anchor(data):
            out.append(("parsed", data))
            continue
        result = preparer(data)
        out.append(result + (data,) if result[0] == "ok" else result)
    return out


def libsodium_signer(seed: bytes) -> Callable[[bytes], bytes]:
    """Ed25519 signing with libsodium for the RFC 8032 seed ``seed``: the same
    signatures as OpenSSL (see the module docstring), made faster."""
    from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

    secret = crypto_sign_seed_keypair(seed)[1]  # libsodium's 64-byte secret key: seed || public key
    # crypto_sign returns signature || message (NaCl's "signed message").
    return lambda message: crypto_sign(message, secret)[:64]


_worker: Optional[_Preparer] = None


def _start_worker(seed: bytes, prefix: bytes, signer_id: str) -> None:
    global _worker
    from ledger.envelope import leaf_maker

    _worker = _Preparer(libsodium_signer(seed), prefix, leaf_maker(signer_id))


def _prepare_chunk(tasks: list) -> list:
    return [_worker(task) for task in tasks]


class BatchPreparer:
    """Prepares tasks in submission order; ``take(n)`` gives the next n results.

    Use as a context manager: the worker processes stop on leaving it, also
    when the batch fails.
    """

    def __init__(self, entry_signer: "EntrySigner", count: int, workers: Optional[int] = None):
        self._entry_signer = entry_signer
        cores = os.cpu_count() or 1
        # One core stays with the appending process, which has the most work.
        self.workers = workers if workers is not None else (cores - 1 if count >= PARALLEL_MIN else 0)
        self._pool = None
        self._here: Optional[_Preparer] = None
        self._waiting: list = []
        self._sent: deque = deque()  # futures, or lists of results made here
        self._ready: deque = deque()
        self._parsing: deque = deque()  # the same, for parse()

    def __enter__(self) -> "BatchPreparer":
        if self.workers > 0:
            # Imported here: a one-record append (ledger claim add) never starts workers.
            import concurrent.futures
            import multiprocessing

            seed = self._entry_signer.signer.private_key.private_bytes_raw()  # the 32-byte RFC 8032 seed
            # fork: the workers need only the key and the package already
            # imported; a fork starts in milliseconds where spawn would import
            # everything again. The workers never touch the parent's SQLite
            # connection and leave with os._exit, so it is not closed or
            # finalized behind its back.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker, initargs=(seed, self._entry_signer.message(b""), self._entry_signer.signer_id))
        else:
            self._here = _Preparer(self._entry_signer.signer.private_key.sign, self._entry_signer.message(b""), self._entry_signer.leaf)
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

    def parse(self, texts: list, created: str) -> None:
        """Start parsing and preparing [(JSON text, file, line)]; ``parsed()`` gives
        the results in turn (see prepare_texts)."""
        self._parsing.append(self._pool.submit(prepare_texts, texts, created) if self._pool is not None
                             else prepare_texts(texts, created, self._here))

    def parsed(self) -> list:
        """The results of the oldest ``parse`` not yet taken (waits for the workers)."""
        result = self._parsing.popleft()
        return result if isinstance(result, list) else result.result()

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
