"""Quote anchors: where exactly a claim's quote sits in a source snapshot.

A quote is stored as a W3C Web Annotation TextQuoteSelector (``exact``,
``prefix``, ``suffix``) and TextPositionSelector (``start``, ``end``), with
offsets in Unicode code points of the snapshot decoded as UTF-8
(https://www.w3.org/TR/annotation-model/#text-quote-selector). Positions
make the anchor exact; prefix and suffix keep it findable if a reader has a
copy with a different header.
"""

from __future__ import annotations

from typing import Callable, Optional

from ledger.errors import RecordError
from ledger.records import Quote
from ledger.schema import DISPLAY_UNSAFE

CONTEXT = 32  # code points of prefix and suffix stored around a quote


def snapshot_text(content: bytes, media_type: str) -> Optional[str]:
    """The text a quote is anchored in, or None for a snapshot that is not text."""
    if not media_type.startswith("text/"):
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


class SnapshotCache:
    """Stored snapshots read once and decoded once, for one batch or one replay.

    Claims quoting a source all read the same snapshot: reading its bytes
    from SQLite and decoding them for every claim cost more than anchoring
    or checking the quote. Calling the cache gives what ``read(sha256)``
    gives, (media type, content) or None; ``text(sha256)`` the snapshot's
    text as ``snapshot_text`` gives it. ``read_so_far`` maps each SHA-256
    asked for to what ``read`` gave.
    """

    def __init__(self, read: Callable[[str], Optional[tuple[str, bytes]]]):
        self._read = read
        self.read_so_far: dict[str, Optional[tuple[str, bytes]]] = {}
        self._texts: dict[str, Optional[str]] = {}

    def __call__(self, sha256: str) -> Optional[tuple[str, bytes]]:
        if sha256 not in self.read_so_far:
            self.read_so_far[sha256] = self._read(sha256)
        return self.read_so_far[sha256]

    def text(self, sha256: str) -> Optional[str]:
        """The text of the stored snapshot ``sha256`` (None when it is not text); it must be stored."""
        if sha256 not in self._texts:
            media_type, content = self(sha256)
            self._texts[sha256] = snapshot_text(content, media_type)
        return self._texts[sha256]


def stored_snapshot_text(read_snapshot: Callable[[str], Optional[tuple[str, bytes]]], sha256: str) -> Optional[str]:
    """The text of the stored snapshot ``sha256`` read with ``read_snapshot``, decoded once when that is a ``SnapshotCache``."""
    if isinstance(read_snapshot, SnapshotCache):
        return read_snapshot.text(sha256)
    media_type, content = read_snapshot(sha256)
    return snapshot_text(content, media_type)


def anchor_quote(text: str, exact: str, prefix: Optional[str] = None, suffix: Optional[str] = None,
                 start: Optional[int] = None) -> Quote:
    """Find ``exact`` in ``text`` and return the full anchor.

    The quote must occur exactly once, or be singled out by ``prefix``,
    ``suffix`` or ``start``: an ambiguous quote is an error, never a guess.
    """
    if not exact:
        raise RecordError("the quote is empty")
    positions = []
    at = text.find(exact)
    while at != -1:
        positions.append(at)
        at = text.find(exact, at + 1)
    if not positions:
        raise RecordError(f"quote not found in the snapshot: {_short(exact)} (copy it exactly, including diacritics and punctuation)")
    if start is not None:
        positions = [p for p in positions if p == start]
    if prefix is not None:
        positions = [p for p in positions if text[max(0, p - len(prefix)):p] == prefix]
    if suffix is not None:
        positions = [p for p in positions if text[p + len(exact):p + len(exact) + len(suffix)] == suffix]
    if not positions:
        raise RecordError(f"the quote {_short(exact)} occurs in the snapshot, but not with the given prefix, suffix or start")
    if len(positions) > 1:
        raise RecordError(f"the quote {_short(exact)} occurs {len(positions)} times in the snapshot; give --start, a prefix or a suffix")
    begin, end = positions[0], positions[0] + len(exact)
    # The context stops before any character no record may show (C1 controls,
    # bidirectional controls, private use: schema/claim.schema.json), so a
    # snapshot holding one next to the quote can still be quoted.
    prefix = DISPLAY_UNSAFE.split(text[max(0, begin - CONTEXT):begin])[-1]
    suffix = DISPLAY_UNSAFE.split(text[end:end + CONTEXT])[0]
    return Quote(exact=exact, prefix=prefix, suffix=suffix, start=begin, end=end)


def anchor_in_snapshot(snapshot: Optional[tuple[str, bytes]], source_id: str, exact: str, prefix: Optional[str] = None,
                       suffix: Optional[str] = None, start: Optional[int] = None, *,
                       text: Optional[str] = None) -> Optional[Quote]:
    """The full anchor of a quote in its source's stored snapshot, (media type, content).

    None when the source has no stored snapshot: there is nothing to anchor
    the quote in. The one way quotes are anchored, for ``Ledger.add_claim``
    and for claims appended with only ``exact``.
    """
    if snapshot is None:
        return None
    if text is None:  # not decoded already (SnapshotCache.text)
        media_type, content = snapshot
        text = snapshot_text(content, media_type)
    if text is None:
        raise RecordError(f"the snapshot of {source_id} is not UTF-8 text")
    return anchor_quote(text, exact, prefix, suffix, start)


def check_quote(text: Optional[str], quote: Quote, where: str) -> None:
    """The quote's exact text, prefix and suffix sit at its start/end offsets (code points)."""
    if text is None:
        raise RecordError(f"{where}: the source's snapshot is not UTF-8 text, so a quote cannot be anchored in it")
    if quote.start is None or quote.end is None:
        raise RecordError(f"{where}: a quote from a source with a snapshot needs start and end offsets")
    if text[quote.start:quote.end] != quote.exact or quote.end - quote.start != len(quote.exact):
        raise RecordError(f"{where}: the quote is not at code points {quote.start}-{quote.end} of the snapshot")
    if quote.prefix is not None and text[max(0, quote.start - len(quote.prefix)):quote.start] != quote.prefix:
        raise RecordError(f"{where}: the quote's prefix does not match the snapshot")
    if quote.suffix is not None and text[quote.end:quote.end + len(quote.suffix)] != quote.suffix:
        raise RecordError(f"{where}: the quote's suffix does not match the snapshot")


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
