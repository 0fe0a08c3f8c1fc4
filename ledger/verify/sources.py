"""Where verify reads a ledger from: the ``Source`` protocol, and ``open_source`` for what a user typed.

docs/verify.md's input is the sequence of leaves, the signed checkpoints, the
snapshots when available and the browsing tables when checking a file or a
site. Each kind of source gives what it has and answers ``None`` for what it
lacks; the steps that need it are skipped:

- ``LedgerFileSource``: leaves with the columns stored beside them,
  checkpoints, snapshots, and the file itself (stored tree hashes, schema,
  meta, search index, browsing tables);
- ``ExportSource``: leaves and checkpoints; snapshots when given a folder of them;
- ``SiteSource``: leaves, checkpoints and snapshots through the site's
  verifier routes, and every table it serves, through its SQL API
  (``site_checks`` then checks what its pages read);
- ``TileSource``: the leaves and the latest checkpoint of a log published as
  C2SP tlog-tiles (a URL ending in ``/tlog/``, or a folder of them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Protocol

from ledger.errors import FormatError, NotFoundError
from ledger.store import Store
from ledger.verify.export_source import ExportSource
from ledger.verify.file_source import LedgerFileSource
from ledger.verify.site_source import SiteSource
from ledger.verify.tile_source import TileSource, is_tile_location

# What a ledger file stores beside each leaf, read back from it (the entries
# table): entry hash (hex), kind, record ID, version, signer.
StoredColumns = tuple


class Source(Protocol):
    """A ledger as published, read by ``verify_ledger``."""

    name: str
    """How the report names the source."""

    snapshots_available: bool
    """False when the source carries no snapshots (a bare export): step 2.6 is skipped."""

    key_origin: str
    """Where an unpinned log key comes from, as the report says it ("entry 0 of the file", "the site")."""

    def size(self) -> Optional[int]:
        """The number of entries, when known before reading them (the length of a progress bar)."""

    def leaves(self) -> Iterator[tuple[int, bytes, Optional[StoredColumns]]]:
        """(index, leaf bytes, stored columns) in order; the columns only from a ledger file, else None."""

    def checkpoint_notes(self) -> list[tuple[Optional[int], str]]:
        """Every signed checkpoint as (the tree size it is filed under, note); None for a latest filed under no size."""

    def snapshot(self, sha256: str) -> Optional[tuple[str, bytes]]:
        """(media type, content) of the snapshot with this SHA-256, None when the source lacks it."""

    def snapshot_names(self) -> list[str]:
        """The SHA-256 of every snapshot the source holds (each must be one a record names)."""

    def ledger_file(self) -> Optional[Store]:
        """The ledger file itself, read-only, when the source is one: its stored tree hashes,
        snapshots, schema, meta, search index and browsing tables are checked too."""

    def table_rows(self, table: str) -> Optional[list[dict]]:
        """Every row of a browsing table as the source serves it; None when it serves none."""


def open_source(spec: str, checkpoint: Optional[str] = None, snapshot_dir: Optional[str] = None) -> Source:
    """A source from what the user typed: a site URL, tiles (a URL ending in /tlog/, or their folder),
    a bundle folder, an export (with ``checkpoint``) or a ledger file."""
    if is_tile_location(spec):
        return TileSource(spec)
    if spec.startswith(("http://", "https://")):
        return SiteSource(spec)
    path = Path(spec)
    if path.is_dir():
        return _bundle(path, checkpoint, snapshot_dir)
    if checkpoint:
        return ExportSource(path, checkpoint, snapshot_dir)
    if not path.is_file():
        raise NotFoundError(f"{spec} not found: give a ledger file, an export with --checkpoint FILE, or a site URL")
    with open(path, "rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise FormatError(f"{spec} is not a ledger file; for a JSONL export also give --checkpoint FILE")
    return LedgerFileSource(path)


def _bundle(path: Path, checkpoint: Optional[str], snapshot_dir: Optional[str]) -> ExportSource:
    # A folder written by 'ledger export --format bundle' (docs/interop.md).
    snapshots = Path(snapshot_dir) if snapshot_dir else (path / "snapshots" if (path / "snapshots").is_dir() else None)
    checkpoints = path / "checkpoints" if (path / "checkpoints").is_dir() else None
    return ExportSource(path / "entries.jsonl", Path(checkpoint) if checkpoint else path / "checkpoint", snapshots, checkpoints)
