"""The rating vocabulary: how verdict labels are compared, and what makes a rating map valid.

A ``ratingmap`` record (schema/ratingmap.schema.json) maps desks' verdict
labels and positions on numeric scales to the normalized ratings
(``records.RATINGS``). Labels match after ``fold_label``: Unicode NFC, case
folded, whitespace collapsed, surrounding quotes and a final ``!`` or ``.``
removed. The append rules refuse a map in which two labels fold alike or a
position is listed twice (``check_rating_map``); ``ledger.interop.ratings``
looks labels up with the same folding.
"""

from __future__ import annotations

import re
import unicodedata

from ledger.errors import RecordError

_SPACE = re.compile(r"\s+")
_STRIP = "\"'“”„«»‘’ "


def fold_label(label: str) -> str:
    """The form labels are compared in: NFC, case folded, spaces collapsed, no quotes or final ! or ."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFC", label)).strip(_STRIP).rstrip("!.").strip(_STRIP)
    return text.casefold()


def check_rating_map(record, where: str) -> None:
    """Raise RecordError unless every label and position of a rating map is unambiguous."""
    # Imported here: fractions brings in decimal, which no other record needs.
    from fractions import Fraction

    seen = {}
    for i, entry in enumerate(record.labels):
        key = fold_label(entry.label)
        if not key:
            raise RecordError(f"{where}: labels[{i}] {entry.label!r} is empty once folded")
        if key in seen:
            raise RecordError(f"{where}: labels[{i}] {entry.label!r} is the same label as labels[{seen[key]}] (compared case-insensitively)")
        seen[key] = i
    positions = set()
    for i, position in enumerate(record.positions or ()):
        at = Fraction(position.at)
        if not 0 <= at <= 1:
            raise RecordError(f"{where}: positions[{i}].at must be between 0 (worst) and 1 (best); found {position.at}")
        if at in positions:
            raise RecordError(f"{where}: positions[{i}].at {position.at} is listed twice")
        positions.add(at)
