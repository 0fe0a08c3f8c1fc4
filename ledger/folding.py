"""Folding words into search terms and labels into lookup keys: one rule, at index and query time.

A reader types a word in whatever form they know: without diacritics (masini for
mașini), in another inflection (microelectronica for microelectronice), in Arabic
without tashkeel, with a plain alef where the text has a hamza, or without the clitics
Arabic writes attached to the word (اسرائيل for وإسرائيل). SQLite's unicode61 tokenizer
folds only case and Latin diacritics, and Python's sqlite3 cannot register a tokenizer,
so the ledger folds text itself: the search index stores each word's *terms*, and a query
word matches a claim word when the two share a term (docs/site.md, "Search").

The terms of a word (``word_terms``):

1. Unicode NFKC, then casefold.
2. Arabic letters (``fold_arabic``): tashkeel (U+0610–U+061A, U+064B–U+065F, U+0670,
   U+06D6–U+06ED) and tatweel (U+0640) removed; alef forms أ إ آ ٱ to ا; ى to ي;
   ة to ه; hamza on a carrier (ؤ ئ) to the bare carrier (و ي).
3. The surface term: the word as normalized, with Latin diacritics removed (NFD, marks dropped).
4. Arabic clitics: the surface with a leading conjunction (و ف), then an article or
   preposition (ال بال كال فال لل ب ك ل) removed, each step kept as a term while at least
   three letters remain (after Larkey et al.'s "light10" stemmer).
5. The stem term: the Snowball stemmer of the word's language (PyStemmer) applied to the
   normalized word before its diacritics are removed (Romanian and French stemmers need
   them), then with diacritics removed.

At index time the language is the record's; a query word is stemmed with every language
the ledger publishes in that writes in the word's script (``query_languages``), so
``microelectronica`` finds ``microelectronice`` whatever the reader's language.

Labels (``fold_label``) are folded the same way, without stemming, and with punctuation
and spacing removed: "Mostly  False!" and "mostly false" are one label, as are مضلل and مضلّل.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Iterable, Iterator, Optional

# Combining marks (Unicode category M*) belong to the word they sit on; Python's \w does
# not match them, so they are added to the word class. Built once, from unicodedata.
def _mark_ranges() -> str:
    ranges, start = [], None
    for cp in range(0x30000):
        is_mark = unicodedata.category(chr(cp))[0] == "M"
        if is_mark and start is None:
            start = cp
        elif not is_mark and start is not None:
            ranges.append(f"\\u{start:04x}-\\u{cp - 1:04x}" if cp - 1 <= 0xFFFF else f"\\U{start:08x}-\\U{cp - 1:08x}")
            start = None
    return "".join(ranges)


@functools.lru_cache(maxsize=None)
def _word_pattern() -> re.Pattern:
    # A word: letters, digits and marks, with the zero-width (non-)joiners Persian writes
    # inside words. Compiled on first use (about 40 ms), not when the CLI starts.
    return re.compile(f"(?:[^\\W_]|[{_mark_ranges()}\u200c\u200d])+")

_ARABIC_LETTER = re.compile("[\u0620-\u064a\u0671-\u06d3\u06fa-\u06ff]")
_TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u200c\u200d]")
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})
# Light stemming (Larkey, Ballesteros, Connell 2002): one conjunction, then one article or preposition.
_CONJUNCTIONS = ("و", "ف")
_ARTICLES = ("بال", "كال", "فال", "وال", "ال", "لل", "ب", "ك", "ل")
_MIN_STEM = 3

# BCP 47 primary language subtag -> Snowball algorithm (the languages PyStemmer ships).
STEMMERS = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "eu": "basque", "fa": "persian", "fi": "finnish", "fr": "french",
    "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian", "nb": "norwegian", "nn": "norwegian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "sv": "swedish",
    "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}


def primary_language(tag: Optional[str]) -> str:
    """The primary subtag of a BCP 47 tag, lower case ("pt-BR" -> "pt"); "" for none."""
    return (tag or "").split("-", 1)[0].lower()


@functools.lru_cache(maxsize=None)
def _stemmer(language: str):
    import Stemmer  # PyStemmer: imported on first use, so commands that never fold do not pay for it

    algorithm = STEMMERS.get(language)
    return Stemmer.Stemmer(algorithm) if algorithm else None


def fold_arabic(word: str) -> str:
    """Arabic normalization: tashkeel and tatweel removed, alef, yeh, teh marbuta and hamza carriers unified."""
    return _TASHKEEL.sub("", word).translate(_ARABIC_LETTERS)


def strip_latin_diacritics(word: str) -> str:
    """"mașini" -> "masini": the word decomposed (NFD), its combining marks dropped, recomposed."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def is_arabic_script(word: str) -> bool:
    return _ARABIC_LETTER.search(word) is not None


def _normalized(word: str) -> str:
    word = unicodedata.normalize("NFKC", word).casefold()
    return fold_arabic(word) if is_arabic_script(word) else word


def _without_clitics(surface: str) -> Iterator[str]:
    # Each step of light stemming is a term of its own: a query without the clitic, or
    # with another one, still meets the word at the step they share.
    for conjunction in ("",) + _CONJUNCTIONS:
        if not surface.startswith(conjunction) or len(surface) - len(conjunction) < _MIN_STEM:
            continue
        rest = surface[len(conjunction):]
        if conjunction:
            yield rest
        for article in _ARTICLES:
            if rest.startswith(article) and len(rest) - len(article) >= _MIN_STEM:
                yield rest[len(article):]
                break


@functools.lru_cache(maxsize=65536)
def word_terms(word: str, languages: tuple[str, ...]) -> frozenset[str]:
    """The search terms of one word, stemmed in each of ``languages`` (primary subtags).

    NFKC can turn one word into several (a presentation form into a space and a
    mark, a ligature into letters): the terms are those of every piece.
    """
    terms: set[str] = set()
    for piece in _word_pattern().findall(_normalized(word)):
        surface = strip_latin_diacritics(piece)
        terms.add(surface)
        if is_arabic_script(piece):
            terms.update(_without_clitics(surface))
        for language in languages:
            stemmer = _stemmer(language)
            if stemmer is not None:
                terms.add(strip_latin_diacritics(stemmer.stemWord(piece)))
    terms.discard("")
    return frozenset(terms)


def words(text: str) -> Iterator[re.Match]:
    """The words of ``text`` as regex matches (their spans index the original text)."""
    return _word_pattern().finditer(text or "")


def index_terms(text: Optional[str], language: Optional[str]) -> str:
    """What the search index stores for ``text`` written in ``language``: every word's terms, space-separated."""
    languages = (primary_language(language),)
    terms: list[str] = []
    for match in words(text or ""):
        terms.extend(sorted(word_terms(match.group(), languages)))
    return " ".join(terms)


def query_languages(word: str, published: Iterable[str]) -> tuple[str, ...]:
    """The languages to stem a query word in: those the ledger publishes in that write in the word's script."""
    arabic = is_arabic_script(word)
    return tuple(sorted({lang for lang in map(primary_language, published)
                         if lang in STEMMERS and (lang in ("ar", "fa")) == arabic}))


def query_terms(query: str, published: Iterable[str]) -> list[frozenset[str]]:
    """One set of terms per query word; a claim matches when each set meets its terms."""
    published = tuple(published)
    groups = (word_terms(m.group(), query_languages(m.group(), published)) for m in words(query))
    return [group for group in groups if group]  # a "word" of tatweel or tashkeel alone has no terms


def fts_match(query: str, published: Iterable[str]) -> Optional[str]:
    """An FTS5 MATCH expression for ``query`` over an index of ``index_terms``; None when it has no words.

    Every query word must match (AND), by any of its terms (OR); terms are quoted, so no
    FTS5 operator in the reader's text is interpreted.
    """
    groups = query_terms(query, published)
    if not groups:
        return None
    return " AND ".join("(" + " OR ".join(f'"{t}"' for t in sorted(group)) + ")" for group in groups)


def matching_spans(text: str, language: Optional[str], groups: list[frozenset[str]]) -> list[tuple[int, int]]:
    """The (start, end) of each word of ``text`` that shares a term with a query word (for highlighting)."""
    wanted = frozenset().union(*groups) if groups else frozenset()
    languages = (primary_language(language),)
    return [m.span() for m in words(text) if wanted & word_terms(m.group(), languages)]


def fold_label(label: str) -> str:
    """A rating label as a lookup key: normalized as search words are, unstemmed, punctuation and spacing dropped
    to single spaces ("Mostly  False!" -> "mostly false"; مضلّل -> مضلل)."""
    pieces = (piece for m in words(label or "") for piece in _word_pattern().findall(_normalized(m.group())))
    return " ".join(strip_latin_diacritics(piece) for piece in pieces)
