"""A JSONL export or a bundle folder as a verify source (docs/verify.md "Sources", docs/interop.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

from ledger.errors import FormatError


class ExportSource:
    """A JSONL export (line i = leaf i) with a checkpoint file; optional snapshot folder and
    folder of every checkpoint (``checkpoints/<tree size>``, as in a bundle)."""

    key_origin = "entry 0 of the export"

    def __init__(self, jsonl_path, checkpoint_path, snapshot_dir=None, checkpoints_dir=None):
        self.name = str(jsonl_path)
        try:
            self.data = Path(jsonl_path).read_bytes()
            self.note = Path(checkpoint_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise FormatError(f"cannot read the export: {e}") from e
        if self.data and not self.data.endswith(b"\n"):
            raise FormatError(f"{jsonl_path}: the last line has no newline; the export is truncated")
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self.snapshots_available = bool(self.snapshot_dir)
        self.older_notes = _notes_by_size(Path(checkpoints_dir)) if checkpoints_dir else []

    def size(self) -> int:
        return self.data.count(b"\n")

    def leaves(self) -> Iterator[tuple[int, bytes, None]]:
        for i, line in enumerate(self.data.split(b"\n")[:-1]):
            yield i, line, None

    def checkpoint_notes(self) -> list[tuple[Optional[int], str]]:
        return self.older_notes + [(None, self.note)]

    def snapshot(self, sha256: str) -> Optional[tuple[str, bytes]]:
        if self.snapshot_dir is None:
            return None
        path = self.snapshot_dir / sha256
        if not path.is_file():
            return None
        meta = self.snapshot_dir / f"{sha256}.type"
        media_type = meta.read_text().strip() if meta.is_file() else "application/octet-stream"
        return media_type, path.read_bytes()

    def snapshot_names(self) -> list[str]:
        """The snapshot files of the folder (named by SHA-256; ``<sha256>.type`` beside each holds its media type)."""
        if self.snapshot_dir is None:
            return []
        return sorted(p.name for p in self.snapshot_dir.iterdir() if not p.name.endswith(".type"))

    def ledger_file(self) -> None:
        return None

    def table_rows(self, table: str) -> None:
        return None


def _notes_by_size(folder: Path) -> list[tuple[int, str]]:
    """The checkpoints of a bundle's ``checkpoints/`` folder, each file named by its tree size, smallest first."""
    notes = []
    for item in sorted(folder.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not item.name.isdigit():
            raise FormatError(f"{item}: files in {folder} are named by tree size")
        notes.append((int(item.name), item.read_text(encoding="utf-8")))
    return notes
