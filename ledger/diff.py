"""Readable differences between two versions of a record (for history views).

``diff_records`` lists the fields that changed; ``word_diff`` shows, word by
word, what changed inside one text field (the claim pages mark its deletions
and insertions).
"""

import difflib
import json
import unicodedata

import attrs

_SKIP = {"version", "replaces", "created", "note"}


@attrs.frozen
class Change:
    field: str
    old: object
    new: object

    def describe(self) -> str:
        if self.old is None:
            return f"{self.field} added: {_show(self.new)}"
        if self.new is None:
            return f"{self.field} removed (was {_show(self.old)})"
        return f"{self.field}: {_show(self.old)} → {_show(self.new)}"


def _show(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."


def _flatten(value, prefix, out):
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = value
    return out


def diff_records(old: dict | None, new: dict) -> list[Change]:
    """Field-level changes from ``old`` to ``new`` (record dicts), in a stable order."""
    if old is None:
        return []
    before = _flatten({k: v for k, v in old.items() if k not in _SKIP}, "", {})
    after = _flatten({k: v for k, v in new.items() if k not in _SKIP}, "", {})
    return [Change(key, before.get(key), after.get(key)) for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)]


# --- word by word ---------------------------------------------------------------------------

SAME, DELETED, INSERTED = "same", "deleted", "inserted"


@attrs.frozen
class Piece:
    """A run of text that is unchanged, only in the old text (deleted) or only in the new one (inserted)."""

    kind: str
    text: str


def _char_class(char: str) -> str:
    # Letters, combining marks (Arabic tashkeel, Latin accents written apart)
    # and digits make words; a mark never stands alone, so no diff splits a
    # letter from its shadda or its cedilla.
    if char.isspace():
        return "space"
    return "word" if unicodedata.category(char)[0] in "LMN" else "other"


# A mark between two digits (2.1, 1,200) or two letters (Russia's, mașini-unelte) keeps them one word.
_JOINS = {".": "digit", ",": "digit", "'": "letter", "\u2019": "letter", "-": "letter"}


def _joins(text: str, at: int) -> bool:
    between = _JOINS.get(text[at])
    if between is None or at == 0 or at + 1 == len(text):
        return False
    test = str.isdigit if between == "digit" else str.isalpha
    return test(text[at - 1]) and test(text[at + 1])


def words(text: str) -> list[str]:
    """``text`` as words, runs of white space, and single punctuation marks; joined, they are ``text``."""
    tokens: list[str] = []
    previous = None
    for at, char in enumerate(text):
        kind = "word" if _joins(text, at) else _char_class(char)
        if kind == previous and kind != "other":
            tokens[-1] += char
        else:
            tokens.append(char)
        previous = kind
    return tokens


def _pieces(old_words: list[str], new_words: list[str]) -> list[Piece]:
    matcher = difflib.SequenceMatcher(None, old_words, new_words, autojunk=False)
    pieces = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(Piece(SAME, "".join(old_words[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(Piece(DELETED, "".join(old_words[i1:i2])))
        if j2 > j1:
            pieces.append(Piece(INSERTED, "".join(new_words[j1:j2])))
    return pieces


def _absorb_spaces(pieces: list[Piece]) -> list[Piece]:
    """A space alone between two changes joins both: "~~red fox~~ blue cat", not "~~red~~blue ~~fox~~cat"."""
    out: list[Piece] = []
    for k, piece in enumerate(pieces):
        between_changes = 0 < k < len(pieces) - 1 and pieces[k - 1].kind != SAME and pieces[k + 1].kind != SAME
        if piece.kind == SAME and piece.text.isspace() and between_changes:
            out += [Piece(DELETED, piece.text), Piece(INSERTED, piece.text)]
        else:
            out.append(piece)
    return _grouped(out)


def _grouped(pieces: list[Piece]) -> list[Piece]:
    # Within each run of changes, every deletion first, then every insertion.
    out: list[Piece] = []
    run: list[Piece] = []
    for piece in pieces + [Piece(SAME, "")]:
        if piece.kind != SAME:
            run.append(piece)
            continue
        for kind in (DELETED, INSERTED):
            text = "".join(p.text for p in run if p.kind == kind)
            if text:
                out.append(Piece(kind, text))
        run = []
        if piece.text:
            out.append(piece)
    return out


def word_diff(old: str | None, new: str | None) -> list[Piece]:
    """What changed from ``old`` to ``new``, word by word, in reading order.

    The ``same`` and ``deleted`` pieces joined are ``old``; the ``same`` and
    ``inserted`` ones are ``new``. A missing text is an empty one.
    """
    return _absorb_spaces(_pieces(words(old or ""), words(new or "")))
