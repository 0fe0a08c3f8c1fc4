"""The search index's format and its read side: queries, facets and paging (docs/site.md, "Search").

The projection (ledger/projection.py) keeps the index: a ``claim_terms`` row for every
claims row (same rowid), holding the claim's facet tokens and the folded terms of its
text, translation and quote (``folding.index_terms``); the FTS5 table ``claims_fts``
indexes those columns, and ``search_facets`` counts the claims of every facet value.
This module says what a facet token is and reads the index; it owns the SQL that
searches, and only reads.

Facet tokens. Each claim has the facets ``language`` (its BCP 47 tag as recorded),
``translation_language``, ``verdict`` (the normalized rating, ``none`` when no review
rates it), ``source`` (the quoting source's ID), ``tag`` (each of its tags) and
``status`` (active, corrected or retracted). The
token of a facet value is ``FACET:VALUE`` with every ASCII character of the value other
than a-z, 0-9, "." and "-" written ``%XX`` (two lower-case hex digits): ``language:pt-%42%52``
for pt-BR, ``source:source%3aro-article``, ``tag:mașini-unelte``. No token of one value
equals another's, no term contains ":" and FTS5's ascii tokenizer keeps a token whole.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import re
import sqlite3
import time
from typing import Iterable, Iterator, Optional

import attrs

from ledger.errors import FormatError, LedgerError
from ledger.folding import fts_terms, matching_spans, primary_language, query_terms

# The facets a reader filters by, in the order the search page shows them.
FACETS = ("language", "verdict", "source", "tag", "status")
NOT_RATED = "none"  # the verdict facet's value for a claim no review rates
_TOKEN_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_ESCAPE = re.compile("%([0-9a-f]{2})")


@functools.lru_cache(maxsize=4096)
def facet_token(facet: str, value: str) -> str:
    """The index token of one facet value (see the module docstring)."""
    return facet + ":" + "".join(c if c in _TOKEN_SAFE or c > "\x7f" else f"%{ord(c):02x}" for c in value)


def facet_pair(token: str) -> tuple[str, str]:
    """(facet, value) of a token made by ``facet_token``."""
    facet, _, escaped = token.partition(":")
    return facet, _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), escaped)


def facet_tokens(pairs: Iterable[tuple[str, str]]) -> str:
    """The ``facets`` column of claim_terms: the tokens of (facet, value) pairs, space-separated."""
    return " ".join(facet_token(facet, value) for facet, value in pairs)


def facet_pairs(tokens: str) -> list[tuple[str, str]]:
    """The (facet, value) pairs of a ``facets`` column."""
    return [facet_pair(token) for token in tokens.split()]


def claim_facets(language: str, translation_language: Optional[str], verdict: Optional[str], source_id: str,
                 tags: Iterable[str], status: str) -> tuple[tuple[str, str], ...]:
    """A claim's (facet, value) pairs, sorted, each once."""
    pairs = {("language", language), ("verdict", verdict or NOT_RATED), ("source", source_id), ("status", status)}
    if translation_language:
        pairs.add(("translation_language", translation_language))
    pairs.update(("tag", tag) for tag in tags if isinstance(tag, str))
    return tuple(sorted(pairs))


# --- the read side ---------------------------------------------------------------------------

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Matches are counted up to COUNT_CAP (beyond it: "more than 10,000"), and paged as far:
# counting or skipping every match of a word in a million claims would take seconds.
COUNT_CAP = 10_000
# Facet counts of a search are those of its newest FACET_WINDOW matches when it has more.
FACET_WINDOW = 2_000
# "Best match first" ranks (BM25) the newest BEST_WINDOW matches.
BEST_WINDOW = 2_000
FACET_VALUES_SHOWN = 12
MAX_QUERY_CHARS = 500
MAX_QUERY_WORDS = 32
MAX_FACET_VALUE_CHARS = 300
SORTS = ("newest", "best")
TIME_LIMIT_SECONDS = 5.0
# bm25() weights of claims_fts's columns: facets (never ranked), text, translation, quote
# (the quote mostly repeats the text's words).
BM25_WEIGHTS = "0.0, 1.0, 1.0, 0.5"
TERM_COLUMNS = "{text translation quote}"

LANGUAGE_NAMES = {
    "ar": "Arabic", "bn": "Bengali", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch",
    "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish",
    "sw": "Swahili", "ta": "Tamil", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}


STATUS_LABELS = {"active": "current", "corrected": "corrected", "retracted": "retracted"}


class SearchTimeout(LedgerError):
    """A search ran longer than TIME_LIMIT_SECONDS."""


def value_label(facet: str, value: str) -> str:
    """How a facet value reads on the page (a source's title is looked up apart)."""
    if facet == "verdict":
        return "not yet rated" if value == NOT_RATED else value.replace("-", " ")
    if facet == "status":
        return STATUS_LABELS.get(value, value)
    if facet in ("language", "translation_language"):
        name = LANGUAGE_NAMES.get(primary_language(value))
        return f"{name} ({value})" if name and value != primary_language(value) else name or value
    return value


def _one_param(params: list[tuple[str, str]], name: str) -> Optional[str]:
    values = [value for key, value in params if key == name]
    if len(values) > 1:
        raise FormatError(f"{name}: given {len(values)} times; give it once")
    return values[0] if values else None


def _bounded_int(value: Optional[str], name: str, default: int, highest: int) -> int:
    if value is None or value == "":
        return default
    if not re.fullmatch(r"[0-9]{1,9}", value) or not 1 <= int(value) <= highest:
        raise FormatError(f"{name}: expected a whole number from 1 to {highest:,}, found {value[:40]!r}")
    return int(value)


@attrs.frozen
class SearchQuery:
    """What a reader asked for: words, facet filters (at most one value per facet), order and page."""

    text: str = ""
    filters: tuple[tuple[str, str], ...] = ()
    sort: str = "newest"
    page: int = 1
    size: int = PAGE_SIZE

    @classmethod
    def from_untrusted(cls, params: Iterable[tuple[str, str]]) -> "SearchQuery":
        """The query of a request's parameters (q, sort, page, size and one per facet); others are ignored."""
        params = list(params)
        text = (_one_param(params, "q") or "").strip()
        if len(text) > MAX_QUERY_CHARS:
            raise FormatError(f"q: at most {MAX_QUERY_CHARS} characters, found {len(text):,}")
        sort = _one_param(params, "sort") or "newest"
        if sort not in SORTS:
            raise FormatError(f"sort: expected one of {', '.join(SORTS)}, found {sort[:40]!r}")
        size = _bounded_int(_one_param(params, "size"), "size", PAGE_SIZE, MAX_PAGE_SIZE)
        page = _bounded_int(_one_param(params, "page"), "page", 1, last_page(COUNT_CAP, size))
        filters = []
        for facet in FACETS:
            value = _one_param(params, facet)
            if value:
                if len(value) > MAX_FACET_VALUE_CHARS:
                    raise FormatError(f"{facet}: at most {MAX_FACET_VALUE_CHARS} characters")
                filters.append((facet, value))
        return cls(text, tuple(filters), sort, page, size)

    def params(self, **changes) -> list[tuple[str, str]]:
        """This query as URL parameters, with ``changes`` (q, sort, page, or a facet: None removes it);
        defaults are left out, and a change other than of the page goes back to page 1."""
        values = {"q": self.text, **dict(self.filters), "sort": self.sort, "page": self.page, "size": self.size}
        if set(changes) - {"page"}:
            values["page"] = 1
        values.update(changes)
        defaults = {"q": "", "sort": "newest", "page": 1, "size": PAGE_SIZE}
        order = ("q",) + FACETS + ("sort", "page", "size")
        return [(name, str(values[name])) for name in order
                if values.get(name) not in (None, "") and values[name] != defaults.get(name)]


@attrs.frozen
class Hit:
    """One claim found, with the spans of its words that match the query (for <mark>)."""

    claim_id: str
    version: int
    text: str
    language: str
    translation: Optional[str]
    translation_language: Optional[str]
    quote: Optional[str]
    verdict: Optional[str]
    verdict_label: Optional[str]
    status: str
    status_reason: Optional[str]
    source_id: str
    source_title: str
    source_published: Optional[str]
    claim_date: Optional[str]
    first_created: str
    created: str
    entry_index: int
    tags: tuple[str, ...] = ()
    text_marks: tuple[tuple[int, int], ...] = ()
    translation_marks: tuple[tuple[int, int], ...] = ()
    quote_marks: tuple[tuple[int, int], ...] = ()


@attrs.frozen
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool


@attrs.frozen
class Facet:
    """One facet's values, most claims first; ``counted_over``: None when counted over every
    match (or every claim), else the number of newest matches counted."""

    name: str
    values: tuple[FacetValue, ...]
    counted_over: Optional[int]


@attrs.frozen
class SearchResults:
    query: SearchQuery
    total: int  # the number of matches, or COUNT_CAP when there are more (``more``)
    more: bool
    hits: tuple[Hit, ...]
    facets: tuple[Facet, ...]
    languages: tuple[str, ...]  # the languages query words were stemmed in
    words: int  # the query words searched for (at most MAX_QUERY_WORDS)

    @property
    def pages(self) -> int:
        return last_page(self.total, self.query.size) if self.total else 0


def last_page(matches: int, size: int) -> int:
    """The last page a reader can reach: as far as matches are counted."""
    return max(1, -(-min(matches, COUNT_CAP) // size))


def published_languages(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The languages the ledger publishes claims and translations in (from search_facets)."""
    return tuple(row[0] for row in conn.execute(
        "SELECT DISTINCT value FROM search_facets WHERE facet IN ('language', 'translation_language') ORDER BY value"))


def table_search_expression(text: str, published: Iterable[str]) -> str:
    """What Datasette's own table search (``?_search=``) matches in claims_fts: the folded
    query words in the claim's terms; an expression that matches nothing when it has no words."""
    terms = fts_terms(query_terms(text, published)[:MAX_QUERY_WORDS])
    return f"{TERM_COLUMNS} : ({terms})" if terms else '""'


def _match_expression(groups, filters) -> Optional[str]:
    parts = [f"{TERM_COLUMNS} : ({fts_terms(groups)})"] if groups else []
    parts += [f'facets : "{facet_token(facet, value)}"' for facet, value in filters]
    return " AND ".join(parts) or None


@contextlib.contextmanager
def _time_limit(conn: sqlite3.Connection) -> Iterator[None]:
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    conn.set_progress_handler(lambda: time.monotonic() > deadline, 1_000)
    try:
        yield
    except sqlite3.OperationalError as e:
        if time.monotonic() > deadline:
            raise SearchTimeout(f"the search took longer than {TIME_LIMIT_SECONDS:g} s; try fewer or rarer words") from e
        raise
    finally:
        conn.set_progress_handler(None, 0)


def search(conn: sqlite3.Connection, query: SearchQuery) -> SearchResults:
    """The claims that match ``query``: one page of them (retracted claims after the others),
    how many there are, and the facets."""
    languages = published_languages(conn)
    groups = query_terms(query.text, languages)[:MAX_QUERY_WORDS]
    if query.text and not groups:  # punctuation only: nothing to look for
        return SearchResults(query, 0, False, (), (), languages, 0)
    match = _match_expression(groups, query.filters)
    with _time_limit(conn):
        if match is None:
            total, more = _count_claims(conn), False
            facets = _collection_facets(conn, query.filters)
        else:
            total, more = _count_matches(conn, match, query.filters if not groups else ())
            facets = _match_facets(conn, match, total, more, query.filters)
        hits = _hits(conn, _page(conn, match, query, bool(groups)), groups)
    return SearchResults(query, total, more, hits, facets, languages, len(groups))


RETRACTED = f'facets : "{facet_token("status", "retracted")}"'


def _page(conn, match: Optional[str], query: SearchQuery, ranked: bool) -> list[int]:
    """The rowids of one page of results: the matches not retracted first, newest or best
    first, then the retracted ones in the same order."""
    offset, size = (query.page - 1) * query.size, query.size
    if match is None:
        retracted = _facet_count(conn, "status", "retracted")
        live_count = _count_claims(conn) - retracted
        rows = [row[0] for row in conn.execute("SELECT rowid FROM claims WHERE status != 'retracted'"
                                               " ORDER BY rowid DESC LIMIT ? OFFSET ?", (size, offset))]
        fetch, dead = _newest, RETRACTED
    else:
        live, dead = f"({match}) NOT {RETRACTED}", f"({match}) AND {RETRACTED}"
        fetch = _ranked if ranked and query.sort == "best" else _newest
        live_count = _capped_count(conn, live)[0]
        rows = fetch(conn, live, size, offset) if offset < live_count else []
    if len(rows) < size:
        rows += fetch(conn, dead, size - len(rows), max(0, offset - live_count))
    return rows


def _count_claims(conn) -> int:
    # Every claim has exactly one language.
    return conn.execute("SELECT coalesce(sum(claims), 0) FROM search_facets WHERE facet = 'language'").fetchone()[0]


def _facet_count(conn, facet: str, value: str) -> int:
    row = conn.execute("SELECT claims FROM search_facets WHERE facet = ? AND value = ?", (facet, value)).fetchone()
    return row[0] if row else 0


def _count_matches(conn, match: str, only_filters) -> tuple[int, bool]:
    if len(only_filters) == 1:  # one facet value and no words: counted already
        return _facet_count(conn, *only_filters[0]), False
    return _capped_count(conn, match)


def _capped_count(conn, match: str) -> tuple[int, bool]:
    """(matches, whether there are more than COUNT_CAP): counting stops after COUNT_CAP + 1."""
    found = conn.execute("SELECT count(*) FROM (SELECT rowid FROM claims_fts WHERE claims_fts MATCH ? LIMIT ?)",
                         (match, COUNT_CAP + 1)).fetchone()[0]
    return min(found, COUNT_CAP), found > COUNT_CAP


def _newest(conn, match: str, limit: int, offset: int = 0) -> list[int]:
    # FTS5 walks its doclists newest (highest rowid) first and stops at the limit.
    return [row[0] for row in conn.execute(
        "SELECT rowid FROM claims_fts WHERE claims_fts MATCH ? ORDER BY rowid DESC LIMIT ? OFFSET ?", (match, limit, offset))]


def _ranked(conn, match: str, limit: int, offset: int = 0) -> list[int]:
    # BM25 over the newest BEST_WINDOW matches: ranking every match of a word in a
    # million claims would score them all.
    floor = conn.execute("SELECT rowid FROM claims_fts WHERE claims_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
                         (match, BEST_WINDOW - 1)).fetchone()
    return [row[0] for row in conn.execute(
        f"SELECT rowid FROM claims_fts WHERE claims_fts MATCH ? AND rowid >= ?"
        f" ORDER BY bm25(claims_fts, {BM25_WEIGHTS}), rowid DESC LIMIT ? OFFSET ?",
        (match, floor[0] if floor else 0, limit, offset))]


def _facet(name: str, counts: dict, filters, counted_over: Optional[int], titles: dict) -> Facet:
    selected = dict(filters).get(name)
    shown = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:FACET_VALUES_SHOWN]
    if selected is not None and selected not in dict(shown):
        shown.append((selected, counts.get(selected, 0)))
    values = tuple(FacetValue(value, titles.get(value) or value_label(name, value), count, value == selected)
                   for value, count in shown)
    return Facet(name, values, counted_over)


def _collection_facets(conn, filters) -> tuple[Facet, ...]:
    """Facets over every claim, from search_facets."""
    facets = []
    for name in FACETS:
        counts = dict(conn.execute("SELECT value, claims FROM search_facets WHERE facet = ? ORDER BY claims DESC, value LIMIT ?",
                                   (name, FACET_VALUES_SHOWN)))
        selected = dict(filters).get(name)
        if selected is not None and selected not in counts:
            row = conn.execute("SELECT claims FROM search_facets WHERE facet = ? AND value = ?", (name, selected)).fetchone()
            counts[selected] = row[0] if row else 0
        facets.append(_facet(name, counts, filters, None, _source_titles(conn, counts) if name == "source" else {}))
    return tuple(facets)


def _match_facets(conn, match: str, total: int, more: bool, filters) -> tuple[Facet, ...]:
    """Facets over the matches, or over the newest FACET_WINDOW of them when there are more."""
    tokens = collections.Counter()
    for (facets,) in conn.execute("SELECT t.facets FROM claims_fts f JOIN claim_terms t ON t.claim_rowid = f.rowid"
                                  " WHERE claims_fts MATCH ? ORDER BY f.rowid DESC LIMIT ?", (match, FACET_WINDOW)):
        tokens.update(facets.split())
    counts = {name: collections.Counter() for name in FACETS}
    for token, n in tokens.items():
        facet, value = facet_pair(token)
        if facet in counts:
            counts[facet][value] += n
    counted_over = None if not more and total <= FACET_WINDOW else FACET_WINDOW
    return tuple(_facet(name, counts[name], filters, counted_over,
                        _source_titles(conn, counts[name]) if name == "source" else {}) for name in FACETS)


def _source_titles(conn, source_ids) -> dict:
    ids = sorted(source_ids)
    return dict(conn.execute("SELECT id, title FROM sources WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)))


HIT_COLUMNS = ("c.rowid, c.id, c.version, c.text, c.language, c.translation, c.translation_language, c.quote, c.verdict,"
               " c.verdict_label, c.status, c.status_reason, c.source_id, c.source_title, s.published, c.claim_date,"
               " c.first_created, c.created, c.entry_idx, c.tags")


def _hits(conn, rowids: list[int], groups) -> tuple[Hit, ...]:
    rows = {row[0]: row[1:] for row in conn.execute(
        f"SELECT {HIT_COLUMNS} FROM claims c LEFT JOIN sources s ON s.id = c.source_id"
        " WHERE c.rowid IN (SELECT value FROM json_each(?))", (json.dumps(rowids),))}
    hits = []
    for rowid in rowids:
        *columns, tags = rows[rowid]
        hit = Hit(*columns, tags=tuple(t for t in json.loads(tags or "[]") if isinstance(t, str)))
        hits.append(attrs.evolve(
            hit, text_marks=tuple(matching_spans(hit.text, hit.language, groups)),
            translation_marks=tuple(matching_spans(hit.translation, hit.translation_language, groups)),
            quote_marks=tuple(matching_spans(hit.quote, hit.language, groups))))
    return tuple(hits)
