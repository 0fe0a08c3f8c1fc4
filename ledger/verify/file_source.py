"""A ledger SQLite file as a verify source (docs/verify.md "Sources")."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

from ledger.store import Store
from ledger.verify.servable import open_as_served


class LedgerFileSource:
    """A ledger SQLite file, read as ``ledger serve`` reads it (``servable.open_as_served``: immutable,
    no WAL applied; a file another reader would read otherwise is refused)."""

    snapshots_available = True
    key_origin = "entry 0 of the file"

    def __init__(self, path):
        self.path = Path(path)
        self.name = str(path)
        self.store = open_as_served(path)
        self.store.conn.text_factory = _text_from_untrusted

    def size(self) -> int:
        return self.store.size()

    def leaves(self) -> Iterator[tuple[int, bytes, tuple]]:
        # The columns stored beside each leaf come with it: one query, not one per entry.
        for row in self.store.entry_rows():
            yield row[0], row[6].encode("utf-8"), row[1:6]

    def checkpoint_notes(self) -> list[tuple[int, str]]:
        return self.store.checkpoints()

    def snapshot(self, sha256: str) -> Optional[tuple[str, bytes]]:
        return self.store.snapshot(sha256)

    def snapshot_names(self) -> list[str]:
        return self.store.snapshot_names()

    def ledger_file(self) -> Store:
        return self.store

    def table_rows(self, table: str) -> None:
        return None  # the file's browsing tables are read in SQLite, through ledger_file()


def _text_from_untrusted(data: bytes) -> str:
    # TEXT that is not UTF-8 was written behind SQLite's back; decode it
    # lossily so that the checks report where it is instead of failing.
    return data.decode("utf-8", "replace")
