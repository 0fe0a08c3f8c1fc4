"""The rating map: desks' verdict labels and numeric ratings to normalized ratings.

The map is a signed, versioned ``ratingmap`` record (schema/ratingmap.schema.json),
so a change of mapping is visible in the ledger's history. ``ratingmap:default``
follows the table shipped with the package (``default_ratings.json``); a desk's
own ``ratingmap:desk`` (``ledger ratings set``) is consulted first.

Labels match after ``fold_label``: Unicode NFC, case folded, whitespace
collapsed, surrounding quotes and final ``!`` or ``.`` removed. A numeric
rating is placed on its scale as the exact fraction
``(value - worst) / (best - worst)`` — so reversed scales (worst 5, best 1)
come out right — and maps only when that position is listed. A label the map
does not know and a position it does not list stay ``unrated``.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Optional

from ledger.ratings import fold_label

DEFAULT_MAP_ID = "ratingmap:default"
DESK_MAP_ID = "ratingmap:desk"
DEFAULT_MAP_PATH = Path(__file__).resolve().parent / "default_ratings.json"


def default_map() -> dict:
    """The packaged default table as an unsigned ``ratingmap`` record (no created/version)."""
    return json.loads(DEFAULT_MAP_PATH.read_text(encoding="utf-8"))


class RatingTable:
    """Lookups over one or more rating maps; the first map that knows a label wins."""

    def __init__(self, maps: list[dict]):
        self.maps = maps
        self.labels: dict[str, str] = {}
        self.positions: dict[Fraction, str] = {}
        for data in maps:
            for entry in data.get("labels", ()):
                self.labels.setdefault(fold_label(entry["label"]), entry["normalized"])
            for position in data.get("positions", ()):
                self.positions.setdefault(Fraction(position["at"]), position["normalized"])

    def normalize(self, label: Optional[str], value=None, best=None, worst=None) -> tuple[str, Optional[str]]:
        """(normalized rating, how): how is "label", "scale" or None when it stays unrated."""
        if label:
            found = self.labels.get(fold_label(label))
            if found:
                return found, "label"
        position = scale_position(value, best, worst)
        if position is not None and position in self.positions:
            return self.positions[position], "scale"
        return "unrated", None


def scale_position(value, best, worst) -> Optional[Fraction]:
    """Where ``value`` sits between ``worst`` (0) and ``best`` (1); None when the scale is unknown or broken."""
    if value is None or best is None or worst is None or best == worst:
        return None
    position = Fraction(value - worst, best - worst)
    return position if 0 <= position <= 1 else None
