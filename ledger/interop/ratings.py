"""The rating map: desks' verdict labels and numeric ratings to normalized ratings.

The map is a signed, versioned ``ratingmap`` record (schema/ratingmap.schema.json),
so a change of mapping is visible in the ledger's history. ``ratingmap:default``
follows the table shipped with the package (``default_ratings.json``); a desk's
own ``ratingmap:desk`` (``ledger ratings set``, ``ledger ratings add``) is
consulted first.

Labels are looked up folded as search folds words (``ledger.folding.fold_label``:
NFKC, case folded, Latin diacritics, Arabic tashkeel, tatweel, alef forms,
ى and ة unified, punctuation and spacing dropped), so "Parţial adevărat"
(cedilla) finds "Parțial adevărat" (comma below), مضلّل finds مضلل, and
"Verdadeiro, mas..." finds "verdadeiro mas". (The append rules keep their own,
older comparison, ``ledger.ratings.fold_label``, to refuse a map that lists a
label twice: a change there could make verify refuse a ledger it accepted.)

A numeric rating is placed on its scale as the exact fraction
``(value - worst) / (best - worst)`` — so reversed scales (worst 5, best 1)
come out right — and maps only when that position is listed. A label the map
does not know and a position it does not list stay ``unrated``.
"""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Optional

from ledger.folding import fold_label

DEFAULT_MAP_ID = "ratingmap:default"
DESK_MAP_ID = "ratingmap:desk"
DEFAULT_MAP_PATH = Path(__file__).resolve().parent / "default_ratings.json"


def default_map() -> dict:
    """The packaged default table as an unsigned ``ratingmap`` record (no created/version)."""
    return json.loads(DEFAULT_MAP_PATH.read_text(encoding="utf-8"))


class RatingTable:
    """Lookups over one or more rating maps; the first map that knows a label wins.

    ``ambiguous`` lists labels of one map that fold alike with different
    ratings (the first in the map is used), for the import report.
    """

    def __init__(self, maps: list[dict]):
        self.maps = maps
        self.labels: dict[str, str] = {}
        self.positions: dict[Fraction, str] = {}
        self.ambiguous: list[str] = []
        for data in maps:
            seen: dict[str, dict] = {}
            for entry in data.get("labels", ()):
                key = fold_label(entry["label"])
                if key in seen and seen[key]["normalized"] != entry["normalized"]:
                    self.ambiguous.append(f"{data['id']}: labels {seen[key]['label']!r} ({seen[key]['normalized']}) and "
                                          f"{entry['label']!r} ({entry['normalized']}) are the same label once folded; "
                                          f"the first is used")
                seen.setdefault(key, entry)
                if key:
                    self.labels.setdefault(key, entry["normalized"])
            for position in data.get("positions", ()):
                self.positions.setdefault(Fraction(position["at"]), position["normalized"])

    def knows(self, label: str) -> bool:
        return fold_label(label) in self.labels

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


def unmapped_labels(table: RatingTable, reviews: Iterable[tuple[str, Optional[str]]]) -> list[dict]:
    """The labels of ``reviews`` ((label, label language) pairs) that ``table`` does not know, commonest first.

    Labels that fold alike are counted together, under their commonest
    spelling; ``languages`` lists the languages they were given in.
    """
    counts: Counter = Counter()
    spellings: dict[str, Counter] = {}
    languages: dict[str, set] = {}
    for label, language in reviews:
        key = fold_label(label)
        if not key or key in table.labels:
            continue
        counts[key] += 1
        spellings.setdefault(key, Counter())[label] += 1
        languages.setdefault(key, set()).add(language or "")
    return [{"label": spellings[key].most_common(1)[0][0], "count": count, "folded": key,
             "languages": sorted(lang for lang in languages[key] if lang),
             "spellings": sorted(spellings[key])}
            for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def maps_for_import(ledger) -> list[dict]:
    """The maps the next import consults: the desk's (in the ledger), then the packaged default."""
    desk = ledger.current(DESK_MAP_ID).record.to_dict() if ledger.head(DESK_MAP_ID) else None
    return ([desk] if desk else []) + [default_map()]


def unmapped_in(ledger) -> list[dict]:
    """``unmapped_labels`` of the current reviews of ``ledger`` against the maps the next import consults,
    each with how many of its reviews are unrated."""
    table = RatingTable(maps_for_import(ledger))
    reviews = [ledger.entry(head.entry_idx).record.rating for head in ledger.heads("review")]
    found = unmapped_labels(table, ((rating.label, rating.label_language) for rating in reviews))
    unrated = Counter(fold_label(rating.label) for rating in reviews if rating.normalized == "unrated")
    return [{**entry, "unrated": unrated.get(entry["folded"], 0)} for entry in found]


def desk_map_with(desk: Optional[dict], labels: Iterable[str], normalized: str, language: Optional[str]) -> dict:
    """The fields of the desk's map (``desk``, or a new one) with ``labels`` mapped to ``normalized``;
    a label the map already has (the same once folded) is mapped anew."""
    keys = {fold_label(label) for label in labels}
    kept = [entry for entry in (desk or {}).get("labels", ()) if fold_label(entry["label"]) not in keys]
    added = [{"label": label, "normalized": normalized, **({"language": language} if language else {})}
             for label in dict.fromkeys(labels)]
    fields = {"title": (desk or {}).get("title", "The desk's own verdict labels"), "labels": kept + added}
    if desk and desk.get("positions"):
        fields["positions"] = desk["positions"]
    return fields
