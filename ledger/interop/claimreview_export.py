"""schema.org ClaimReview JSON-LD of the ledger's reviews: one node per review, for exports and pages.

``claimreview_node(ledger, review_id, base_url=None)`` is the node of one
review, built from the ledger's records only; ``ledger export --format
claimreview`` is every such node in a ``@graph`` (``export_claimreviews``),
and a claim page's JSON-LD is the same function's result, so page and export
never disagree. The fields follow Google's ClaimReview structured-data
documentation (required: ``claimReviewed``, ``reviewRating.alternateName``,
``url``; recommended: ``author``, ``datePublished``, ``itemReviewed`` a
``Claim`` with ``author``, ``datePublished``, ``appearance``,
``firstAppearance``; ``reviewRating`` ``name``, ``ratingValue``,
``bestRating``, ``worstRating``); the mapping is in docs/interop.md.

Who published a review is never guessed: a review imported from a feed names
the publisher the feed named, found by ID among the sources the import made
(``source:cr-publisher-<hex(name, site or URL)>``), or none (and the export
says so); a review the desk wrote here names the desk (the log key's display
name, and ``base_url``).

Every node carries ``@id`` ``urn:fact-ledger:<origin>:<review ID>``, by
which ``ledger import`` knows this ledger's own reviews when they come back.
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import quote

from ledger.interop.claimreview import CONTEXT
from ledger.interop.feed import REVIEW_PAGE_ID_PREFIX, TITLE_NOT_GIVEN, UNKNOWN_SOURCE_ID
from ledger.interop.feed_records import hex16, publisher_ids
from ledger.interop.identity import review_urn

# The links along which a claim's text appears again: a copy, or a translation.
_SAME_TEXT = ("republishes", "translation-of")


def claim_page_url(base_url: str, claim_id: str) -> str:
    """The site's canonical page of a claim (publish/plugin.py serves ``/claim/<slug>``)."""
    return base_url.rstrip("/") + "/claim/" + quote(claim_id.split(":", 1)[1], safe="")


def is_imported(review_id: str) -> bool:
    """A review ``ledger import`` made from a feed (its ID says so); others are the desk's own."""
    return review_id.startswith("review:cr-")


def _given(**fields) -> dict:
    """The fields that have a value (not None, not empty), in order."""
    return {name: value for name, value in fields.items() if value}


class ClaimReviewWriter:
    """Builds ClaimReview nodes, reading the records each review names from ``ledger``.

    ``without_url`` and ``without_author`` list the reviews a reader of the
    export should know about (``notes``).
    """

    def __init__(self, ledger, base_url: Optional[str] = None):
        self.ledger = ledger
        self.base_url = base_url.rstrip("/") if base_url else None
        self.desk = _desk_name(ledger)
        self.without_url: list[str] = []  # reviews with no URL of their own and no base_url to name their claim page
        self.without_author: list[str] = []  # imported reviews whose feed named no publisher

    def notes(self) -> list[str]:
        """What is missing from the nodes written so far, and why."""
        out = []
        if self.without_url:
            out.append(f"{_count(self.without_url)} no url: the review has none, and without --base-url its claim page's "
                       f"URL is not known ({_some(self.without_url)})")
        if self.without_author:
            out.append(f"{_count(self.without_author)} no author: the feed it was imported from named no publisher, "
                       f"and an import never names one ({_some(self.without_author)})")
        return out

    def record(self, record_id):
        return self.ledger.current(record_id).record if record_id and self.ledger.head(record_id) else None

    def node(self, review) -> Optional[dict]:
        """The node of ``review`` (a Review record), or None when the review or its claim is retracted."""
        if self.ledger.head(review.id).status == "retracted" or self.ledger.head(review.claim).status == "retracted":
            return None
        claim = self.record(review.claim)
        page = self.review_page(review)
        url = review.url or (claim_page_url(self.base_url, claim.id) if self.base_url else None)
        if url is None:
            self.without_url.append(review.id)
        node = {"@type": "ClaimReview", "@id": review_urn(self.ledger.origin, review.id), "identifier": review.id,
                **_given(url=url), "claimReviewed": claim.text, **_given(
                    datePublished=review.reviewed, inLanguage=review.rating.label_language,
                    headline=page.title if page and page.description != TITLE_NOT_GIVEN and page.title != page.url else None,
                    reviewBody=review.explanation)}
        author = self.author(review, page)
        if author is not None:
            node["author"] = author
        node["itemReviewed"] = self.claim(claim)
        node["reviewRating"] = _rating_node(review.rating)
        corrections = self.corrections(review, claim)
        if corrections:
            node["correction"] = corrections
        return node

    def review_page(self, review):
        """The published fact-check an import recorded for a review: by the review's ID, else by its URL."""
        if not is_imported(review.id):
            return None
        page = self.record(REVIEW_PAGE_ID_PREFIX + review.id.removeprefix("review:cr-"))
        if page is None and review.url:
            page = self.record(REVIEW_PAGE_ID_PREFIX + hex16(review.url))
        return page

    def author(self, review, page) -> Optional[dict]:
        """Who published the review: the publisher the feed named, the desk for its own reviews, else no one."""
        if not is_imported(review.id):
            if self.desk is None:
                return None
            return {"@type": "Organization", "name": self.desk, **_given(url=self.base_url and self.base_url + "/")}
        if page is None or not page.publisher:
            self.without_author.append(review.id)
            return None
        source = next((s for s in map(self.record, publisher_ids(page.publisher)) if s is not None and s.title == page.publisher),
                      None)
        author = _party(page.publisher, source)
        author.setdefault("@type", "Organization")
        return author

    def claim(self, claim) -> dict:
        item = {"@type": "Claim"}
        attribution = claim.attribution
        if attribution:
            item["author"] = _party(attribution.text, self.record(attribution.source))
        if claim.claim_date:
            item["datePublished"] = claim.claim_date
        if claim.language != "und":
            item["inLanguage"] = claim.language
        source = self.record(claim.source)
        # A source that is a person or body, or the claimant, says who made the claim, not where it appeared.
        if source and source.id != UNKNOWN_SOURCE_ID and source.type not in ("person", "organization") \
                and not (attribution and attribution.source == source.id):
            appearances = [self.appearance(s) for s in [source, *self.same_text(source)]]
            item["firstAppearance"] = appearances[0]
            item["appearance"] = appearances
        return item

    def same_text(self, source) -> list:
        """The sources in which a source's text appears again: copies and translations, either way round."""
        ids = [other for other, rel in self.ledger.links_to(source.id) if rel in _SAME_TEXT]
        ids += [link.source for link in source.links or () if link.rel in _SAME_TEXT]
        found = []
        for record_id in dict.fromkeys(ids):
            record = self.record(record_id)
            if record is not None and record.type not in ("person", "organization"):
                found.append(record)
        return found

    def appearance(self, source) -> dict:
        node = {"@type": "CreativeWork"}
        if source.url:
            node["url"] = source.url
        if source.title and source.description != TITLE_NOT_GIVEN and source.title != source.url:
            node["headline"] = source.title
        archives = list(source.archives or ())
        if source.snapshot and self.base_url:
            archives.append(f"{self.base_url}/-/snapshots/{source.snapshot.sha256}")
        if archives:
            node["archivedAt"] = archives if len(archives) > 1 else archives[0]
        if source.published:
            node["datePublished"] = source.published
        return node

    def corrections(self, review, claim) -> list[dict]:
        """The corrections of the review and of the claim, oldest first."""
        notices = sorted(self.ledger.notices_for(review.id) + self.ledger.notices_for(claim.id), key=lambda entry: entry.index)
        return [{"@type": "CorrectionComment", "text": entry.record.reason, "datePublished": entry.record.created[:10]}
                for entry in notices if entry.record.kind == "correction"]


def _count(ids: list) -> str:
    return "1 review has" if len(ids) == 1 else f"{len(ids):,} reviews have"


def _some(ids: list) -> str:
    return ", ".join(ids[:3]) + (f" and {len(ids) - 3:,} more" if len(ids) > 3 else "")


def _party(name, source) -> dict:
    node = {"name": name}
    if source is not None:
        kind = {"person": "Person", "organization": "Organization"}.get(source.type)
        if kind:
            node = {"@type": kind, **node}
        if source.url:
            node["url"] = source.url
    return node


def _rating_node(rating) -> dict:
    node = {"@type": "Rating", "alternateName": rating.label, "name": rating.label}
    for name, value in (("ratingValue", rating.value), ("bestRating", rating.best), ("worstRating", rating.worst)):
        if value is not None:
            node[name] = value
    return node


def _desk_name(ledger) -> Optional[str]:
    """The display name of the log key: the desk that publishes the ledger."""
    for key in ledger.registered_keys():
        if key.role == "log":
            return ledger.current(key.record_id).record.display_name
    return None


def claimreview_node(ledger, review_id: str, base_url: Optional[str] = None) -> Optional[dict]:
    """The ClaimReview node of one review (with ``@context``, ready for a page's JSON-LD); None when the review
    or its claim is retracted. ``base_url`` is the site's: it gives the node its URL when the review has none."""
    node = ClaimReviewWriter(ledger, base_url).node(ledger.current(review_id).record)
    return {"@context": CONTEXT, **node} if node is not None else None


def export_claimreviews(ledger, base_url: Optional[str] = None, notes: Optional[list] = None) -> dict:
    """schema.org ClaimReview JSON-LD (``@graph``) for every current review of a current claim;
    what a reader should know about it is added to ``notes``."""
    writer = ClaimReviewWriter(ledger, base_url)
    graph = [node for node in (writer.node(ledger.entry(head.entry_idx).record) for head in ledger.heads("review")) if node]
    if notes is not None:
        notes.extend(writer.notes())
    return {"@context": CONTEXT, "@graph": graph}
