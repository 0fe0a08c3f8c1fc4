"""The records an import will append, kept in a temporary file instead of memory.

An import plans every record before it appends any (one atomic batch), and a
feed of 100,000 reviews plans some 300,000 records. ``PlannedBatch`` writes
each one, as canonical JSON, to a temporary file and hands them to
``Ledger.append`` as ``RecordText`` (a ``Sequence``: ``len`` and index), which
the signing workers parse; a record planned again later (a field the first
occurrence did not give) is rewritten in its place. Memory holds two numbers
a record.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections.abc import Sequence

from ledger.canonical import canonical_bytes, parse_json_untrusted
from ledger.signing import RecordText

_FLUSH = 1 << 20


class PlannedBatch(Sequence):
    """Records in append order; ``batch[i]`` is record i as ``RecordText`` (its "line" is its place, from 1)."""

    def __init__(self, name: str):
        self.name = name
        self._file = tempfile.TemporaryFile(prefix="ledger-import-")
        self._fd = self._file.fileno()
        self._offsets, self._lengths = array("Q"), array("L")
        self._live: array = None  # after seal(): the places that were not dropped, in order
        self._from: list = []  # where in the feed file each record comes from (for errors)
        self._written = 0  # bytes in the file
        self._pending = bytearray()  # bytes after them, not written yet

    def add(self, record: dict, at: str) -> int:
        """Append a record that item ``at`` of the file gives; returns its place."""
        self._from.append(at)
        self._offsets.append(self._written + len(self._pending))
        data = canonical_bytes(record)
        self._lengths.append(len(data))
        self._pending += data
        if len(self._pending) >= _FLUSH:
            self._flush()
        return len(self._offsets) - 1

    def replace(self, place: int, record: dict) -> None:
        """Record ``place`` becomes ``record`` (its bytes go to the end of the file; its place is kept)."""
        data = canonical_bytes(record)
        self._offsets[place] = self._written + len(self._pending)
        self._lengths[place] = len(data)
        self._pending += data

    def drop(self, place: int) -> None:
        """Record ``place`` is not appended after all (a later line of a records file undid it)."""
        self._lengths[place] = 0

    def seal(self) -> None:
        """Planning is over: index the records that stay, and write what is pending."""
        self._flush()
        self._live = array("L", (place for place, length in enumerate(self._lengths) if length))

    def origin(self, index: int) -> str:
        """Where in the feed file record ``index`` of the sealed batch comes from."""
        return self._from[self._live[index]]

    def record(self, place: int) -> dict:
        return parse_json_untrusted(self._bytes(place))

    def _bytes(self, place: int) -> bytes:
        offset, length = self._offsets[place], self._lengths[place]
        if offset >= self._written:
            start = offset - self._written
            return bytes(self._pending[start:start + length])
        return os.pread(self._fd, length, offset)

    def _flush(self) -> None:
        if self._pending:
            os.pwrite(self._fd, self._pending, self._written)
            self._written += len(self._pending)
            self._pending = bytearray()

    def __len__(self) -> int:
        return len(self._live)

    def __getitem__(self, index):
        """Record ``index`` of the sealed batch, as ``RecordText``."""
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return RecordText(self._bytes(self._live[index]), self.name, index + 1)

    def close(self) -> None:
        self._file.close()
