"""A log published as C2SP tlog-tiles as a verify source (docs/verify.md "Sources", docs/log.md "Tiles").

The site's ``/-/tlog/``, ``ledger publish``'s ``tlog/`` folder or any static
mirror of them: a ``checkpoint`` and the tiles. The entries come from the
entry bundles, each checked against its leaf hash in a level-0 tile, and
every tile against the checkpoint's root (``tiles.TileHashReader``: at most
one tile per level plus the right-edge partial tiles), before the replay
checks them as it checks any source. A mirror serves no snapshots and no
browsing tables: those steps are skipped, and only the latest checkpoint is
there to check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

from ledger.checkpoint import parse_checkpoint_untrusted
from ledger.errors import FormatError
from ledger.tiles import TILE_WIDTH, TileHashReader, directory_fetcher, http_fetcher

# Leaves read at a time: whole entry bundles, fetched in parallel by the reader.
CHUNK = 16 * TILE_WIDTH


def is_tile_location(spec: str) -> bool:
    """A URL whose path ends in ``tlog`` or ``tlog/``, or a folder holding ``checkpoint`` and ``tile/``."""
    if spec.startswith(("http://", "https://")):
        return spec.rstrip("/").endswith("/tlog")
    path = Path(spec)
    return (path / "checkpoint").is_file() and (path / "tile").is_dir()


class TileSource:
    """A tiled log under a URL prefix or in a folder, read through ``tiles.TileHashReader``."""

    snapshots_available = False
    key_origin = "entry 0 of the tiles"

    def __init__(self, location: str):
        remote = location.startswith(("http://", "https://"))
        self.name = location if not remote or location.endswith("/") else location + "/"
        self._fetch = http_fetcher(self.name) if remote else directory_fetcher(location)
        try:
            self.note = self._fetch("checkpoint").decode("utf-8")
            checkpoint = parse_checkpoint_untrusted(self.note.split("\n\n", 1)[0] + "\n")
        except (UnicodeDecodeError, FormatError) as e:
            raise FormatError(f"the checkpoint of {self.name} is not a checkpoint: {e}") from e
        self.reader = TileHashReader(checkpoint.size, checkpoint.root_hash, self._fetch)

    def size(self) -> int:
        return self.reader.tree_size

    def leaves(self) -> Iterator[tuple[int, bytes, None]]:
        for start in range(0, self.reader.tree_size, CHUNK):
            end = min(start + CHUNK, self.reader.tree_size)
            for index, leaf in enumerate(self.reader.read_leaves(start, end), start):
                yield index, leaf, None

    def checkpoint_notes(self) -> list[tuple[Optional[int], str]]:
        return [(None, self.note)]

    def snapshot(self, sha256: str) -> None:
        return None

    def snapshot_names(self) -> list[str]:
        return []

    def ledger_file(self) -> None:
        return None

    def table_rows(self, table: str) -> None:
        return None
