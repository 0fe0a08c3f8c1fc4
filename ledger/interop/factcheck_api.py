"""The Google Fact Check Tools API ``claims:search`` shape, read as feed items.

    {"claims": [{"text": ..., "claimant": ..., "claimDate": ...,
                 "claimReview": [{"publisher": {"name": ..., "site": ...}, "url": ..., "title": ...,
                                  "reviewDate": ..., "textualRating": ..., "languageCode": ...}]}]}

Each element of ``claimReview`` is one item; the claim's fields are shared by
its reviews. The API says nothing about where the claim appeared and gives
the claimant as a bare name, so the claim's source is the claimant (type
``other``: the API does not say person or organization) or, when there is
no claimant either, the shared "unknown appearance" source (docs/interop.md).
"""

from __future__ import annotations

from ledger.errors import FormatError
from ledger.interop.feed import (
    FeedItem, Party, date_from_untrusted, language_from_untrusted, text_from_untrusted, url_from_untrusted,
)


def items_from_untrusted(data) -> tuple[list[FeedItem], list[tuple[str, str]], list[tuple[str, str]]]:
    """(items, refused, skipped) of a claims:search response (or several, in a JSON array)."""
    pages = data if isinstance(data, list) else [data]
    items, refused = [], []
    for p, page in enumerate(pages):
        base = f"$[{p}]" if isinstance(data, list) else "$"
        if not isinstance(page, dict) or not isinstance(page.get("claims"), list):
            raise FormatError(f"{base}: not the Fact Check Tools API shape: expected an object with a 'claims' array")
        for i, claim in enumerate(page["claims"]):
            claim_items, claim_refused = _claim_items(f"{base}.claims[{i}]", claim)
            items += claim_items
            refused += claim_refused
    return items, refused, []


def _claim_items(path: str, claim) -> tuple[list[FeedItem], list[tuple[str, str]]]:
    """(items, refused) of one claim: an item per review, sharing the claim's fields and their warnings."""
    if not isinstance(claim, dict):
        return [], [(path, f"expected a JSON object, found {type(claim).__name__}")]
    shared: list[str] = []
    text = text_from_untrusted(claim.get("text"), "text", shared, line=False)
    claimant_name = text_from_untrusted(claim.get("claimant"), "claimant", shared)
    claim_date = date_from_untrusted(claim.get("claimDate"), "claimDate", shared)
    reviews = claim.get("claimReview")
    if not text:
        return [], [(path, "no text: the text of the claim is required")]
    if not isinstance(reviews, list) or not reviews:
        return [], [(path, "no claimReview: a claim without a review has no verdict to import")]
    items, refused = [], []
    for j, review in enumerate(reviews):
        rpath = f"{path}.claimReview[{j}]"
        if not isinstance(review, dict):
            refused.append((rpath, f"expected a JSON object, found {type(review).__name__}"))
            continue
        claimant = Party(name=claimant_name) if claimant_name else None
        items.append(_review_item(rpath, review, text, claimant, claim_date, list(shared)))
    return items, refused


def _review_item(path: str, review: dict, text: str, claimant, claim_date, warnings: list) -> FeedItem:
    publisher = review.get("publisher") if isinstance(review.get("publisher"), dict) else {}
    name = text_from_untrusted(publisher.get("name"), "publisher.name", warnings)
    site = text_from_untrusted(publisher.get("site"), "publisher.site", warnings)
    url = url_from_untrusted(review.get("url"), "url", warnings)
    language = language_from_untrusted(review.get("languageCode"), "languageCode", warnings)
    return FeedItem(
        path=path, claim_text=text, review_key=url or "",
        label=text_from_untrusted(review.get("textualRating"), "textualRating", warnings),
        claim_language=language, claimant=claimant, claim_date=claim_date, review_url=url,
        review_title=text_from_untrusted(review.get("title"), "title", warnings),
        review_date=date_from_untrusted(review.get("reviewDate"), "reviewDate", warnings),
        review_language=language,
        publisher=Party(name=name, type="organization", site=site) if name or site else None,
        warnings=warnings,
    )
