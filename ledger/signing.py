"""Preparing a batch of records for the log, on the machine's other cores.

``BatchPreparer`` checks each record against its schema, canonicalizes it
(RFC 8785) and signs it (Ed25519) in worker processes, a window ahead of the
appending process, which checks the rules and stores one window while the
next is signed. Both steps are deterministic (RFC 8032 §5.1.6), so a
worker's entry is byte for byte the one this process would make. Workers
sign with libsodium, which gives OpenSSL's signatures faster; verifying
stays with OpenSSL (tests/test_signing.py). Small batches are prepared in
the calling process: a worker costs more to start than they take. The
workers also fold what the search index stores of each claim they prepare
(``folding.fold_ahead``): the appending process, the pipeline's slower
stage, then only looks it up.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Callable, Iterator, NamedTuple, Optional, Sequence, Union

import attrs

from ledger.canonical import canonical_bytes, parse_json_untrusted
from ledger.envelope import Entry, EntrySigner, Prepared
from ledger.errors import FormatError, LedgerError, RecordError
from ledger.folding import claim_index_texts, fold_ahead, forget_folded_ahead, index_terms
from ledger.records import Record, complete_defaults, quote_to_anchor, utc_now

# Below this many records a batch is prepared in the calling process.
PARALLEL_MIN = 2000
# Records per window: the appender checks and stores a window while the workers
# sign the next; a window's tasks go to a worker as one chunk.
WINDOW = 1024


class RecordText(NamedTuple):
    """One record as JSON text, line ``line`` of the JSONL file ``file``, for ``Ledger.append``.

    It is parsed as strictly as ``parse_json_untrusted`` parses, by the
    workers two windows ahead of its turn (``prepare_texts``). A text that
    does not parse fails the batch at its turn, with the error prefixed by
    "FILE line LINE". (A named tuple, not an attrs class: the CLI makes one
    per line of a large file.)
    """

    text: bytes
    file: str
    line: int


def _same_error(a: LedgerError, b: LedgerError) -> bool:
    return type(a) is type(b) and a.args == b.args


@attrs.frozen
class Refused:
    """Why a record cannot be appended; ``error`` is raised at the record's turn."""

    # Two refusals are equal when they raise the same error with the same
    # message (exceptions themselves compare by identity).
    error: LedgerError = attrs.field(eq=attrs.cmp_using(eq=_same_error), hash=False)


@attrs.frozen
class Parsed:
    """A ``RecordText`` the workers parsed and left to the appender to complete
    (``complete`` in ``BatchPreparer.entries``): its JSON value."""

    value: object


class _Preparer:
    """What a worker (or the calling process) does with one task: a record dict
    to check, canonicalize and sign, or canonical record bytes to sign."""

    def __init__(self, entry_signer: EntrySigner):
        self.entry_signer = entry_signer

    def __call__(self, number: int, task: Union[dict, bytes], parsed: bool = False) -> Union[Prepared, Refused]:
        # parsed: the dict was parsed here, and goes back with what is prepared (Prepared.data).
        record_bytes = task
        if isinstance(task, dict):
            try:
                Record.check_dict(task)
            except LedgerError as e:
                return Refused(RecordError(f"record {number}: {e}"))
            try:
                # The record's canonical form without building it: for data
                # check_dict accepts, from_dict(data).to_dict() == data.
                record_bytes = canonical_bytes(task)
            except LedgerError as e:
                return Refused(e)
        return self.entry_signer.prepare(record_bytes, task if parsed else None)


def prepare_texts(texts: list[tuple[int, bytes, str, int]], created: str, preparer: Optional[_Preparer] = None) -> list:
    """Each (record number, *RecordText) parsed strictly and, when it can be, prepared (by ``preparer``,
    the worker's by default), once 'created' (``created`` when left out) and 'version' are filled in.

    Gives a ``Prepared`` (with its ``data``) for each record prepared, a
    ``Parsed`` for a value that is not an object or a claim whose quote the
    appender anchors, or a ``Refused``: a FormatError naming the file and
    line, or the record's own error.
    """
    preparer = preparer or _worker
    out = []
    for number, text, file, line in texts:
        try:
            data = parse_json_untrusted(text)
        except FormatError as e:
            out.append(Refused(FormatError(f"{file} line {line}: {e}")))
            continue
        if not isinstance(data, dict):
            out.append(Parsed(data))
            continue
        complete_defaults(data, lambda: created)
        if quote_to_anchor(data):
            out.append(Parsed(data))
            continue
        out.append(preparer(number, data, parsed=True))
    return out


def _prepare_texts_folding(texts: list[tuple[int, bytes, str, int]], created: str) -> tuple[list, list]:
    """``prepare_texts`` in a worker, and the search-index folding of each prepared claim
    (``folding.claim_index_texts``), which the appending process then need not do."""
    results = prepare_texts(texts, created)
    folded = [(pair, index_terms(*pair)) for result in results if isinstance(result, Prepared) and result.data is not None
              for pair in claim_index_texts(result.data)]
    return results, folded


def libsodium_signer(seed: bytes) -> Callable[[bytes], bytes]:
    """Ed25519 signing with libsodium for the RFC 8032 seed ``seed``: the same
    signatures as OpenSSL (RFC 8032 §5.1.6: signing is deterministic), made faster."""
    from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

    secret = crypto_sign_seed_keypair(seed)[1]  # libsodium's 64-byte secret key: seed || public key
    # crypto_sign returns signature || message (NaCl's "signed message").
    return lambda message: crypto_sign(message, secret)[:64]


_worker: Optional[_Preparer] = None


def _start_worker(seed: bytes, origin: str, signer_id: str) -> None:
    global _worker
    _worker = _Preparer(EntrySigner(libsodium_signer(seed), origin, signer_id))


def _prepare_chunk(tasks: list) -> list:
    return [_worker(number, task) for number, task in tasks]


# What BatchPreparer.entries calls for each record, in record order: see there.
Complete = Callable[[dict, int], Optional[Record]]


class BatchPreparer:
    """Prepares a batch's records, in worker processes for a large batch.

    ``entries`` is the pipeline ``Ledger.append`` runs; ``submit`` and
    ``take`` are its steps. Use as a context manager: the worker processes
    stop on leaving it, also when the batch fails.
    """

    def __init__(self, signer, origin: str, count: int, workers: Optional[int] = None):
        self._signer = signer
        self._entry_signer = EntrySigner.of(signer, origin)
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

            seed = self._signer.private_key.private_bytes_raw()  # the 32-byte RFC 8032 seed
            # fork: the workers need only the key and the package already
            # imported; a fork starts in milliseconds where spawn would import
            # everything again. The workers never touch the parent's SQLite
            # connection and leave with os._exit, so it is not closed or
            # finalized behind its back.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker,
                initargs=(seed, self._entry_signer.origin, self._entry_signer.signer_id))
        else:
            self._here = _Preparer(self._entry_signer)
        return self

    def __exit__(self, *exc) -> None:
        forget_folded_ahead()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def entries(self, records: Sequence, complete: Complete, first_index: int) -> Iterator[list[Entry]]:
        """The entries of ``records`` (Record objects, dicts or RecordText), a window at a time,
        in record order; the first entry's log index is ``first_index``.

        Each record, once a dict with its defaults filled in, goes to
        ``complete(data, number)`` (its place in the batch, from 1), in
        record order, before it is prepared: None leaves the dict to the
        workers, a Record is one the caller completed itself (a claim whose
        quote it anchored), whose canonical bytes are then signed.

        Window k+1 is prepared before window k is handed out, so the workers
        sign it while the caller checks and stores window k. A record that
        cannot be prepared ends the iteration with its error, raised only
        once the entries before it have been handed out: the caller's own
        checks of those come first, so errors come in record order, as one
        record at a time would give them.
        """
        parsing = deque([self._parse(records, 0), self._parse(records, WINDOW)])
        waiting = None
        for start in range(0, len(records), WINDOW):
            window = self._complete_window(records, start, parsing.popleft(), complete)
            if window.refused is None:
                parsing.append(self._parse(records, start + 2 * WINDOW))
            if waiting is not None:
                yield from self._entries_of(waiting, first_index)
            waiting = window
            if window.refused is not None:
                break
        if waiting is not None:
            yield from self._entries_of(waiting, first_index)

    def _complete_window(self, records: Sequence, start: int, parsing, complete: Complete) -> "_Window":
        parsed = self._parsed(parsing)
        window = _Window(start)
        for i in range(start, min(start + WINDOW, len(records))):
            item = parsed.get(i, records[i])
            if isinstance(item, Refused):
                window.refused = item
                break
            try:
                if isinstance(item, Prepared):
                    complete(item.data, i + 1)  # the workers parsed and prepared it; the caller only sees it
                    window.items.append((item.data, item))
                    continue
                data = _record_dict(item.value if isinstance(item, Parsed) else item, i + 1)
                record = complete(data, i + 1)
                self.submit(data if record is None else canonical_bytes(record.to_dict()), i + 1)
            except LedgerError as e:
                window.refused = Refused(e)
                break
            window.items.append((record or data, None))
            window.submitted += 1
        self._send()
        return window

    def _entries_of(self, window: "_Window", first_index: int) -> Iterator[list[Entry]]:
        results = iter(self.take(window.submitted))
        entries = []
        for made, prepared in window.items:
            if prepared is None:
                prepared = next(results)
            if isinstance(prepared, Refused):
                yield entries
                raise prepared.error
            record = made if isinstance(made, Record) else Record.from_checked_dict(made)
            entries.append(self._entry_signer.entry(first_index + window.start + len(entries), record, prepared))
        yield entries
        if window.refused is not None:
            raise window.refused.error

    def submit(self, task: Union[dict, bytes], number: int) -> None:
        """Record ``number``'s dict to check, canonicalize and sign, or its canonical bytes to sign."""
        self._waiting.append((number, task))
        if len(self._waiting) >= WINDOW:
            self._send()

    def take(self, count: int) -> list[Union[Prepared, Refused]]:
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

    def _send(self) -> None:
        if not self._waiting:
            return
        chunk, self._waiting = self._waiting, []
        if self._pool is None:
            self._sent.append([self._here(number, task) for number, task in chunk])
        else:
            self._sent.append(self._pool.submit(_prepare_chunk, chunk))

    def _parse(self, records: Sequence, start: int):
        # The workers parse and prepare the window's RecordText items while
        # this process checks and stores the windows before it.
        texts = [(i + 1, *records[i]) for i in range(start, min(start + WINDOW, len(records)))
                 if isinstance(records[i], RecordText)]
        if not texts:
            return [], []
        created = utc_now()
        return texts, (self._pool.submit(_prepare_texts_folding, texts, created) if self._pool is not None
                       else (prepare_texts(texts, created, self._here), []))

    @staticmethod
    def _parsed(parsing) -> dict:
        # Record index -> Prepared, Parsed or Refused, for the window's RecordText
        # items (waits for the workers).
        texts, done = parsing
        if not texts:
            return {}
        results, folded = done if isinstance(done, tuple) else done.result()
        fold_ahead(folded)
        return {text[0] - 1: result for text, result in zip(texts, results)}


@attrs.define
class _Window:
    """One window of a batch on its way through the workers."""

    start: int  # the index of its first record in the batch
    # (dict or Record, Prepared by the workers ahead, or None when submitted):
    # up to the first record that cannot be prepared, ``refused``.
    items: list = attrs.Factory(list)
    submitted: int = 0
    refused: Optional[Refused] = None


def _record_dict(item, number: int) -> dict:
    # A copy of the record as a dict, with what an editor may leave out filled in.
    data = item.to_dict() if isinstance(item, Record) else dict(item) if isinstance(item, dict) else item
    if not isinstance(data, dict):
        raise RecordError(f"record {number}: a record must be a JSON object")
    complete_defaults(data)
    return data
