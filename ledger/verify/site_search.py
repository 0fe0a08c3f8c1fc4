"""Step 5 for a site: every claim is found by its own words through the site's search.

A search index can hide a claim without changing any table a listing
shows: delete its entries from the index, and the claim page still opens,
but nobody searching for it finds it. The file check compares a file's
index with one rebuilt from its claims (``sqlite_checks``); over a URL the
verifier asks the site's own search instead, for each claim: does a search
for the words of its text find it?

``claims_not_found`` is the one place that knows how the site searches:
the full-text match the site's search makes of a reader's words,
``claims_fts MATCH escape_fts(words)`` (``escape_fts`` is the function the
site gives its connections for the claims table's search box; the
``/search`` pages fold words the same way), asked for many claims in one
read-only SQL query, each claim with its rowid (the index's rowid is the
claims row's). Point it at another search route and nothing else changes.
"""

from __future__ import annotations

import re
import urllib.parse

from ledger.errors import LedgerError
from ledger.verify.replay import Replay
from ledger.verify.report import Report
from ledger.verify.site_source import QueryTimeout, SiteSource

# A text with no letter or digit has no words to search for (the index's
# unicode61 tokenizer keeps only letters, digits and marks).
_WORD_CHARACTER = re.compile(r"[^\W_]")
# Claims asked about in one request: bounded by the length of the URL (servers
# refuse request lines much over 8 KiB) and by the rows the site returns whole.
_URL_BUDGET = 6000
_MAX_PER_REQUEST = 40
# Every word of a claim must match, so its first words find it as surely as all of them.
_MAX_WORDS = 24


def check_findable(site: SiteSource, replay: Replay, report: Report) -> None:
    """Report each claim a search for the words of its own text does not find."""
    claims = [(rowid, claim_id, " ".join(text.split()[:_MAX_WORDS])) for rowid, claim_id, text in
              replay.db.execute("SELECT rowid, id, text FROM claims ORDER BY rowid") if _WORD_CHARACTER.search(text)]
    try:
        missing = claims_not_found(site, claims)
    except LedgerError as e:
        report.fail("search", f"the site's search cannot be asked: {e}")
        return
    for claim_id in missing[:20]:
        report.fail("search", f"{claim_id} is not found by a search for the words of its own text (the search index hides it)")
    if len(missing) > 20:
        report.fail("search", f"... and {len(missing) - 20} more claims are not found by their own words")
    report.claims_found = len(claims) - len(missing)


def claims_not_found(site: SiteSource, claims: list[tuple[int, str, str]]) -> list[str]:
    """IDs of the claims (rowid, ID, text) that the site's search does not find by their own text."""
    missing = []
    for batch in _batches(claims, min(_MAX_PER_REQUEST, site.ROWS)):
        found = _found(site, batch)
        missing += [claim_id for _, claim_id, _ in batch if claim_id not in found]
    return missing


def _found(site: SiteSource, batch) -> set[str]:
    """The claims of ``batch`` that the site's full-text match finds by their own words, in one query."""
    selects, params = [], {}
    for n, (rowid, claim_id, text) in enumerate(batch):
        selects.append(f"select :i{n} as id from claims_fts where claims_fts match escape_fts(:q{n}) and rowid = :r{n}")
        params.update({f"i{n}": claim_id, f"q{n}": text, f"r{n}": rowid})
    try:
        return {row["id"] for row in site.query(" union all ".join(selects), **params)}
    except QueryTimeout:
        if len(batch) == 1:
            raise
        half = len(batch) // 2
        return _found(site, batch[:half]) | _found(site, batch[half:])


def _batches(claims, most: int):
    batch, length = [], 0
    for claim in claims:
        size = len(urllib.parse.quote(claim[2])) + len(claim[1]) + 150
        if batch and (length + size > _URL_BUDGET or len(batch) >= most):
            yield batch
            batch, length = [], 0
        batch.append(claim)
        length += size
    if batch:
        yield batch
