"""The search index's format and its read side: queries, facets and paging (docs/site.md, "Search").

The projection (ledger/projection.py) keeps the index: a ``claim_terms`` row for every
claims row (same rowid), holding the claim's facet tokens and the folded terms of its
text, translation and quote (``folding.index_terms``); the FTS5 table ``claims_fts``
indexes those columns, and ``search_facets`` counts the claims of every facet value.
This module says what a facet token is and reads the index; it owns the SQL that
searches, and only reads.

Facet tokens. Each claim has the facets ``language`` (its BCP 47 tag as recorded),
``translation_language``, ``verdict`` (the normalized rating, ``none`` when no review
rates it), ``source`` (the quoting source's ID) and ``tag`` (each of its tags). The
token of a facet value is ``FACET:VALUE`` with every ASCII character of the value other
than a-z, 0-9, "." and "-" written ``%XX`` (two lower-case hex digits): ``language:pt-%42%52``
for pt-BR, ``source:source%3aro-article``, ``tag:mașini-unelte``. No token of one value
equals another's, no term contains ":" and FTS5's ascii tokenizer keeps a token whole.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

# The facets a reader filters by, in the order the search page shows them.
FACETS = ("language", "verdict", "source", "tag")
NOT_RATED = "none"  # the verdict facet's value for a claim no review rates
_TOKEN_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_ESCAPE = re.compile("%([0-9a-f]{2})")


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
                 tags: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """A claim's (facet, value) pairs, sorted, each once."""
    pairs = {("language", language), ("verdict", verdict or NOT_RATED), ("source", source_id)}
    if translation_language:
        pairs.add(("translation_language", translation_language))
    pairs.update(("tag", tag) for tag in tags if isinstance(tag, str))
    return tuple(sorted(pairs))
