"""Folding words into search terms and labels into lookup keys: one rule, at index and query time.

A reader types a word in whatever form they know: without diacritics (masini for
mașini), in another inflection (microelectronica for microelectronice), in Arabic
without tashkeel, with a plain alef where the text has a hamza, or without the clitics
Arabic writes attached to the word (اسرائيل for وإسرائيل). SQLite's unicode61 tokenizer
folds only case and Latin diacritics, and Python's sqlite3 cannot register a tokenizer,
so the ledger folds text itself: the search index stores each word's *terms*, and a query
word matches a claim word when the two share a term (docs/site.md, "Search").

Words (``words``): maximal runs of letters, digits and combining marks (Unicode L*, N*,
M*; the marks as listed in ``MARKS``, Unicode 14.0), with the zero-width non-joiner and
joiner Persian writes inside words; everything else separates words (so mașini-unelte is
two words). Letters, digits, NFKC and case folding are Python's ``unicodedata`` (Unicode
14.0 in Python 3.11, 15.0 in 3.12): two verifiers with different Unicode versions fold
alike every character both versions know.

The terms of a word written in a language (``word_terms``):

1. Unicode NFKC, then casefold; Arabic-Indic and Extended Arabic-Indic digits
   (U+0660–0669, U+06F0–06F9) to ASCII digits. NFKC can turn one word into several
   (a presentation form into a letter and a mark): each piece is folded on its own and
   the word's terms are those of every piece.
2. Arabic-script pieces (any letter in U+0620–064A, U+0671–06D3, U+06FA–06FF):
   tashkeel (U+0610–061A, U+064B–065F, U+0670, U+06D6–06ED), tatweel (U+0640) and the
   zero-width (non-)joiners removed; alef forms أ إ آ ٱ to ا; ى and Persian ی to ي;
   Persian ک to ك; ة to ه (a reader types غزه for غزة; in running text ة ends a word).
3. Surface terms. Arabic: the piece with hamza carriers ؤ ئ to their bare letters و ي
   (اسرائيل, اسراييل and إسرائيل meet), and, when it has a hamza on a carrier, the piece
   with ؤ and ئ both written ء (so مسؤول and مسئول, the two spellings of one word,
   meet). Other scripts: the piece with Latin diacritics removed (NFD, marks dropped).
4. Clitic terms, **at index time only**: from each Arabic surface, a leading conjunction
   (و ف) and then one article or preposition (بال كال فال وال ال لل ب ك ل) removed,
   each step kept as a term while at least three letters remain (after Larkey,
   Ballesteros and Connell's "light10", which also strips ب ك ل here because readers
   search بغزة and لإسرائيل by غزة and اسرائيل). A query word is taken as typed, so
   اسرائيل finds وإسرائيل and بإسرائيل while كبير (big) does not find بئر (a well); the
   cost stays on one side: the query بئر finds كبير (ك + بير). At query time only the
   definite article is taken off (ال, and وال فال بال كال لل), and only to stem the rest
   (step 5): واللقاحات finds اللقاح.
5. Stem terms: for each language, the Snowball stemmer of that language (PyStemmer; see
   ``STEMMERS``). A Latin-script piece is stemmed as folded in step 1 (with its
   diacritics: Romanian, French and Portuguese stemmers read them) and as its surface
   without diacritics; for Portuguese also as that surface with the endings a reader
   types without diacritics restored (-coes -cao -oes -aes -ao -avel -ivel -ancia -encia
   to -ções -ção -ões -ães -ão -ável -ível -ância -ência: informacao meets informações).
   An Arabic-script piece is stemmed with only its tashkeel and tatweel removed (the
   Arabic stemmer reads hamzas), as folded in step 2, and as each form step 4 gives.
   Each stem then has a Portuguese final õ written ã (eleições and eleição, leões and
   leão share a stem), Latin diacritics removed, and Arabic letters folded as in step 3.

At index time the language is that of the text (a claim's text and quote: the claim's
language; its translation: the translation's), and clitics are stripped
(``index_terms``). A query word gets steps 1–3 and 5, stemmed in every language the
ledger publishes in that writes in the word's script (``query_languages``), so
``microelectronica`` finds ``microelectronice`` whatever the reader's language
(``query_terms``). A claim matches when every query word shares a term with it.

Labels (``fold_label``) are folded by steps 1–3 (the first surface), without stemming,
with punctuation and spacing dropped to single spaces: "Mostly  False!" and
"mostly false" are one label, as are مضلل and مضلّل.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from typing import Iterable, Iterator, Optional


# Combining marks (Unicode category M*) belong to the word they sit on; Python's \w does
# not match them, so they are added to the word class: the code point ranges (hex) of
# every mark below U+30000 in Unicode 14.0.0 (what Python 3.11's unicodedata knows;
# tests/test_folding.py checks the table against unicodedata). Written out here because
# computing it costs every command that folds a word about 50 ms.
MARKS_UNICODE_VERSION = "14.0.0"
MARKS = (
    "300-36f 483-489 591-5bd 5bf 5c1-5c2 5c4-5c5 5c7 610-61a 64b-65f 670 6d6-6dc 6df-6e4 6e7-6e8 6ea-6ed 711 "
    "730-74a 7a6-7b0 7eb-7f3 7fd 816-819 81b-823 825-827 829-82d 859-85b 898-89f 8ca-8e1 8e3-903 93a-93c "
    "93e-94f 951-957 962-963 981-983 9bc 9be-9c4 9c7-9c8 9cb-9cd 9d7 9e2-9e3 9fe a01-a03 a3c a3e-a42 a47-a48 "
    "a4b-a4d a51 a70-a71 a75 a81-a83 abc abe-ac5 ac7-ac9 acb-acd ae2-ae3 afa-aff b01-b03 b3c b3e-b44 b47-b48 "
    "b4b-b4d b55-b57 b62-b63 b82 bbe-bc2 bc6-bc8 bca-bcd bd7 c00-c04 c3c c3e-c44 c46-c48 c4a-c4d c55-c56 "
    "c62-c63 c81-c83 cbc cbe-cc4 cc6-cc8 cca-ccd cd5-cd6 ce2-ce3 d00-d03 d3b-d3c d3e-d44 d46-d48 d4a-d4d d57 "
    "d62-d63 d81-d83 dca dcf-dd4 dd6 dd8-ddf df2-df3 e31 e34-e3a e47-e4e eb1 eb4-ebc ec8-ecd f18-f19 f35 f37 "
    "f39 f3e-f3f f71-f84 f86-f87 f8d-f97 f99-fbc fc6 102b-103e 1056-1059 105e-1060 1062-1064 1067-106d "
    "1071-1074 1082-108d 108f 109a-109d 135d-135f 1712-1715 1732-1734 1752-1753 1772-1773 17b4-17d3 17dd "
    "180b-180d 180f 1885-1886 18a9 1920-192b 1930-193b 1a17-1a1b 1a55-1a5e 1a60-1a7c 1a7f 1ab0-1ace 1b00-1b04 "
    "1b34-1b44 1b6b-1b73 1b80-1b82 1ba1-1bad 1be6-1bf3 1c24-1c37 1cd0-1cd2 1cd4-1ce8 1ced 1cf4 1cf7-1cf9 "
    "1dc0-1dff 20d0-20f0 2cef-2cf1 2d7f 2de0-2dff 302a-302f 3099-309a a66f-a672 a674-a67d a69e-a69f a6f0-a6f1 "
    "a802 a806 a80b a823-a827 a82c a880-a881 a8b4-a8c5 a8e0-a8f1 a8ff a926-a92d a947-a953 a980-a983 a9b3-a9c0 "
    "a9e5 aa29-aa36 aa43 aa4c-aa4d aa7b-aa7d aab0 aab2-aab4 aab7-aab8 aabe-aabf aac1 aaeb-aaef aaf5-aaf6 "
    "abe3-abea abec-abed fb1e fe00-fe0f fe20-fe2f 101fd 102e0 10376-1037a 10a01-10a03 10a05-10a06 10a0c-10a0f "
    "10a38-10a3a 10a3f 10ae5-10ae6 10d24-10d27 10eab-10eac 10f46-10f50 10f82-10f85 11000-11002 11038-11046 "
    "11070 11073-11074 1107f-11082 110b0-110ba 110c2 11100-11102 11127-11134 11145-11146 11173 11180-11182 "
    "111b3-111c0 111c9-111cc 111ce-111cf 1122c-11237 1123e 112df-112ea 11300-11303 1133b-1133c 1133e-11344 "
    "11347-11348 1134b-1134d 11357 11362-11363 11366-1136c 11370-11374 11435-11446 1145e 114b0-114c3 "
    "115af-115b5 115b8-115c0 115dc-115dd 11630-11640 116ab-116b7 1171d-1172b 1182c-1183a 11930-11935 "
    "11937-11938 1193b-1193e 11940 11942-11943 119d1-119d7 119da-119e0 119e4 11a01-11a0a 11a33-11a39 "
    "11a3b-11a3e 11a47 11a51-11a5b 11a8a-11a99 11c2f-11c36 11c38-11c3f 11c92-11ca7 11ca9-11cb6 11d31-11d36 "
    "11d3a 11d3c-11d3d 11d3f-11d45 11d47 11d8a-11d8e 11d90-11d91 11d93-11d97 11ef3-11ef6 16af0-16af4 "
    "16b30-16b36 16f4f 16f51-16f87 16f8f-16f92 16fe4 16ff0-16ff1 1bc9d-1bc9e 1cf00-1cf2d 1cf30-1cf46 "
    "1d165-1d169 1d16d-1d172 1d17b-1d182 1d185-1d18b 1d1aa-1d1ad 1d242-1d244 1da00-1da36 1da3b-1da6c 1da75 "
    "1da84 1da9b-1da9f 1daa1-1daaf 1e000-1e006 1e008-1e018 1e01b-1e021 1e023-1e024 1e026-1e02a 1e130-1e136 "
    "1e2ae 1e2ec-1e2ef 1e8d0-1e8d6 1e944-1e94a "
)


def mark_ranges() -> list[tuple[int, int]]:
    """The (first, last) code points of every run of marks in MARKS."""
    return [(int(a, 16), int(b or a, 16)) for a, _, b in (r.partition("-") for r in "".join(MARKS).split())]


@functools.lru_cache(maxsize=None)
def _word_pattern() -> re.Pattern:
    # A word: letters, digits (and "_", split off by _words) and marks, with the zero-width
    # (non-)joiners Persian writes inside words. The marks beyond U+FFFF are matched apart,
    # after a cheap test: in one class with the others they make Python's re test every
    # character against each range in turn (5 times slower on every text).
    ranges = mark_ranges()
    bmp = "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges if b <= 0xFFFF)
    astral = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges if a > 0xFFFF)
    return re.compile(f"[\\w{bmp}\u200c\u200d]+(?:(?=[\\U00010000-\\U0010ffff])[{astral}][\\w{bmp}\u200c\u200d]*)*")


def _words(text: str) -> list[str]:
    found = _word_pattern().findall(text)
    if "_" not in text:
        return found
    return [piece for word in found for piece in word.split("_") if piece]


def word_spans(text: Optional[str]) -> Iterator[tuple[int, int]]:
    """The (start, end) of every word of ``text``, in order."""
    for match in _word_pattern().finditer(text or ""):
        start = match.start()
        for piece in match.group().split("_"):
            if piece:
                yield start, start + len(piece)
            start += len(piece) + 1


_ARABIC_LETTER = re.compile("[\u0620-\u064a\u0671-\u06d3\u06fa-\u06ff]")
_TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u200c\u200d]")
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ی": "ي", "ک": "ك", "ة": "ه"})
_HAMZA_CARRIERS = str.maketrans({"ؤ": "و", "ئ": "ي"})
_HAMZA_ALONE = str.maketrans({"ؤ": "ء", "ئ": "ء"})
_DIGITS = str.maketrans({**{chr(0x0660 + i): str(i) for i in range(10)}, **{chr(0x06F0 + i): str(i) for i in range(10)}})
# Light stemming (Larkey, Ballesteros, Connell 2002): one conjunction, then one article or preposition.
_CONJUNCTIONS = ("و", "ف")
_ARTICLES = ("بال", "كال", "فال", "وال", "ال", "لل", "ب", "ك", "ل")
_DEFINITE = _ARTICLES[:6]  # the article ال, alone or after a conjunction or preposition
_MIN_STEM = 3
# Portuguese endings a reader types without diacritics, and the forms the Snowball stemmer knows.
_PORTUGUESE_ENDINGS = (("coes", "ções"), ("cao", "ção"), ("oes", "ões"), ("aes", "ães"), ("ao", "ão"),
                       ("avel", "ável"), ("ivel", "ível"), ("ancia", "ância"), ("encia", "ência"))

# BCP 47 primary language subtag -> Snowball algorithm (the languages PyStemmer ships).
STEMMERS = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "eu": "basque", "fa": "persian", "fi": "finnish", "fr": "french",
    "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian", "nb": "norwegian", "nn": "norwegian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "sv": "swedish",
    "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
# Languages written in the Arabic script, among those with a stemmer.
ARABIC_SCRIPT_LANGUAGES = ("ar", "fa")


def primary_language(tag: Optional[str]) -> str:
    """The primary subtag of a BCP 47 tag, lower case ("pt-BR" -> "pt"); "" for none."""
    return (tag or "").split("-", 1)[0].lower()


@functools.lru_cache(maxsize=None)
def _stemmer(language: str):
    import Stemmer  # PyStemmer: imported on first use, so commands that never fold do not pay for it

    algorithm = STEMMERS.get(language)
    return Stemmer.Stemmer(algorithm) if algorithm else None


def stemmer_version() -> str:
    """PyStemmer's version: its Snowball stemmers decide the stem terms (step 5)."""
    import Stemmer

    return Stemmer.version()


def fold_arabic(word: str) -> str:
    """Arabic normalization (step 2 and the first surface of step 3): tashkeel, tatweel
    and joiners removed; alef, yeh, kaf, teh marbuta and hamza carriers unified."""
    return _TASHKEEL.sub("", word).translate(_ARABIC_LETTERS).translate(_HAMZA_CARRIERS)


def strip_latin_diacritics(word: str) -> str:
    """"mașini" -> "masini": the word decomposed (NFD), its combining marks dropped, recomposed."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def is_arabic_script(word: str) -> bool:
    return _ARABIC_LETTER.search(word) is not None


def _pieces(word: str) -> list[str]:
    # Step 1: the word normalized, and split where NFKC made several words of it.
    return _words(unicodedata.normalize("NFKC", word).casefold().translate(_DIGITS))


def _surfaces(piece: str) -> tuple[str, ...]:
    """Steps 2 and 3: the piece's surface terms, the first of them the one labels use."""
    if not is_arabic_script(piece):
        return (strip_latin_diacritics(piece),)
    letters = _TASHKEEL.sub("", piece).translate(_ARABIC_LETTERS)
    carriers = letters.translate(_HAMZA_CARRIERS)
    return (carriers,) if carriers == letters else (carriers, letters.translate(_HAMZA_ALONE))


def _without_clitics(surface: str) -> Iterator[str]:
    # Step 4. Each step of light stemming is a term of its own: a query without the clitic,
    # or with another one, still meets the word at the step they share.
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


def _without_article(surface: str) -> Iterator[str]:
    # Step 4 at query time: only the definite article, which few words begin with by
    # chance: the word after ال, and after وال فال بال كال also the word with its ال.
    for article in _DEFINITE:
        if surface.startswith(article) and len(surface) - len(article) >= _MIN_STEM:
            if len(article) == 3:
                yield surface[1:]
            yield surface[len(article):]
            return


def _portuguese_typed(surface: str) -> str:
    for typed, written in _PORTUGUESE_ENDINGS:
        if surface.endswith(typed) and len(surface) > len(typed):
            return surface[:-len(typed)] + written
    return surface


def _stems(piece: str, surface: str, stripped: set[str], language: str) -> Iterator[str]:
    # Step 5 for one language; ``stripped``: the piece's clitic terms (step 4), stemmed too.
    stemmer = _stemmer(language)
    if stemmer is None:
        return
    if is_arabic_script(piece):
        # Snowball's Arabic stemmer reads hamzas (it strips و from وإسرائيل, not from واسرائيل):
        # it stems the piece with its letters as written too.
        for stem in stemmer.stemWords(sorted({_TASHKEEL.sub("", piece), fold_arabic(piece)} | stripped)):
            yield fold_arabic(stem)
        return
    inputs = {piece, surface}
    if language == "pt":
        inputs.add(_portuguese_typed(surface))
    for stem in stemmer.stemWords(sorted(inputs)):
        if language == "pt" and stem.endswith("õ"):
            stem = stem[:-1] + "ã"
        yield strip_latin_diacritics(stem)


@functools.lru_cache(maxsize=65536)
def word_terms(word: str, languages: tuple[str, ...], clitics: bool = True) -> frozenset[str]:
    """The search terms of one word, stemmed in each of ``languages`` (primary subtags);
    ``clitics``: with every clitic term of step 4 (index time), or only stems of the word
    without its definite article (query time)."""
    if word.isdigit() and word.isascii():
        return frozenset((word,))  # numbers, common and each different: no step changes them
    terms: set[str] = set()
    for piece in _pieces(word):
        surfaces = _surfaces(piece)
        strip = _without_clitics if clitics else _without_article
        stripped = {s for surface in surfaces for s in strip(surface)} if is_arabic_script(piece) else set()
        terms.update(surfaces, stripped if clitics else ())
        for language in languages:
            terms.update(_stems(piece, surfaces[0], stripped, language))
    terms.discard("")
    return frozenset(terms)


def words(text: Optional[str]) -> list[str]:
    """The words of ``text``, in order."""
    return _words(text or "")


@functools.lru_cache(maxsize=131072)
def _indexed_word(word: str, language: str) -> str:
    # A claim's words repeat across claims: each one is folded once per language.
    return " ".join(sorted(word_terms(word, (language,))))


def index_terms(text: Optional[str], language: Optional[str]) -> str:
    """What the search index stores for ``text`` written in ``language``: every word's terms,
    space-separated, word after word (each word's terms sorted)."""
    if not text:
        return ""
    ahead = _folded_ahead.pop((text, language), None)
    if ahead is not None:
        return ahead
    return " ".join([terms for terms in map(_indexed_word, _words(text), itertools.repeat(primary_language(language))) if terms])


# index_terms results a bulk append's signing worker computed ahead of the
# appending process (ledger.signing), by (text, language), each taken once.
# index_terms is a pure function and the worker runs this same code, so an
# entry is what this process would compute; it saves the process that writes
# the search index that work (benchmarks/RESULTS.md).
_folded_ahead: dict[tuple[str, Optional[str]], str] = {}


def claim_index_texts(record: dict) -> list[tuple[str, Optional[str]]]:
    """The (text, language) pairs the search index folds for a claim given as a dict
    (``projection._terms_row``: its text, translation and quote); [] for anything else."""
    if record.get("kind") != "claim" or not isinstance(record.get("text"), str):
        return []
    language = record.get("language")
    pairs = [(record["text"], language)]
    translation, quote = record.get("translation"), record.get("quote")
    if isinstance(translation, dict) and isinstance(translation.get("text"), str):
        pairs.append((translation["text"], translation.get("language")))
    if isinstance(quote, dict) and isinstance(quote.get("exact"), str):
        pairs.append((quote["exact"], language))
    return pairs


def fold_ahead(pairs: list[tuple[tuple[str, Optional[str]], str]]) -> None:
    """Keep index_terms results computed elsewhere (``((text, language), terms)``) until asked for."""
    _folded_ahead.update(pairs)


def forget_folded_ahead() -> None:
    """Drop what ``fold_ahead`` kept and nobody asked for (a batch that stopped early)."""
    _folded_ahead.clear()


def query_languages(word: str, published: Iterable[str]) -> tuple[str, ...]:
    """The languages to stem a query word in: those the ledger publishes in that write in the word's script."""
    arabic = is_arabic_script(word)
    return tuple(sorted({lang for lang in map(primary_language, published)
                         if lang in STEMMERS and (lang in ARABIC_SCRIPT_LANGUAGES) == arabic}))


def query_terms(query: str, published: Iterable[str]) -> list[frozenset[str]]:
    """One set of terms per query word; a claim matches when each set meets its terms."""
    published = tuple(published)
    groups = (word_terms(word, query_languages(word, published), clitics=False) for word in words(query))
    return [group for group in groups if group]  # a "word" of tatweel or tashkeel alone has no terms


def fts_terms(groups: list[frozenset[str]]) -> Optional[str]:
    """An FTS5 expression for ``query_terms``: every group must match (AND), by any of its terms (OR).
    Terms are quoted, so nothing a reader types is read as an FTS5 operator; None for no groups."""
    if not groups:
        return None
    return " AND ".join("(" + " OR ".join(f'"{t}"' for t in sorted(group)) + ")" for group in groups)


def fts_match(query: str, published: Iterable[str]) -> Optional[str]:
    """An FTS5 MATCH expression for ``query`` over an index of ``index_terms``; None when it has no words."""
    return fts_terms(query_terms(query, published))


def matching_spans(text: str, language: Optional[str], groups: list[frozenset[str]]) -> list[tuple[int, int]]:
    """The (start, end) of each word of ``text`` that shares a term with a query word (for highlighting)."""
    if not text or not groups:
        return []
    wanted = frozenset().union(*groups)
    languages = (primary_language(language),)
    return [(start, end) for start, end in word_spans(text) if wanted & word_terms(text[start:end], languages)]


def fold_label(label: str) -> str:
    """A rating label as a lookup key: normalized as search words are, unstemmed, punctuation and spacing dropped
    to single spaces ("Mostly  False!" -> "mostly false"; مضلّل -> مضلل)."""
    return " ".join(_surfaces(piece)[0] for word in words(label) for piece in _pieces(word))
