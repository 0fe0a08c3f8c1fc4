"""The Google Fact Check Tools API shape, read as feed items.

    {"claims": [{"text": ..., "claimant": ..., "claimDate": ...,
                 "claimReview": [{"publisher": {"name": ..., "site": ...}, "url": ..., "title": ...,
                                  "reviewDate": ..., "textualRating": ..., "languageCode": ...}]}]}

The units of a file (``shapes``) are either such responses (pages of a
``claims:search``, alone, in an array, pasted one after another or one a
line) or the claims themselves (a bare JSON array of claims, what
concatenating pages gives; JSONL of claims). Each element of a claim's
``claimReview`` is one item; the claim's fields are shared by its reviews.
The API says nothing about where the claim appeared and gives the claimant
as a bare name, so the claim's source is the claimant (type ``other``: the
API does not say person or organization) or, when there is no claimant
either, the shared "unknown appearance" source (docs/interop.md).
"""

from __future__ import annotations

from typing import Iterator

from ledger.interop.jsonstream import member
from ledger.interop.feed import (
    FeedItem, Party, ReadContext, Refusal, Refused, claim_text_from_untrusted, date_from_untrusted, explanation,
    label_or_refusal, language_from_untrusted, review_url_or_refusal, text_from_untrusted, time_from_untrusted,
)


def is_response(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("claims"), list)


def is_claim(value) -> bool:
    return isinstance(value, dict) and ("claimReview" in value or ("text" in value and "claimant" in value))


def items_from_units(units, context: ReadContext) -> Iterator[object]:
    """A FeedItem or Refusal for every review of every claim, in file order."""
    for unit in units:
        values = [(unit.path, unit.value)] if not isinstance(unit.value, list) else \
            [(member(unit.path, f"[{i}]"), v) for i, v in enumerate(unit.value)]
        for path, value in values:
            if is_response(value):
                for i, claim in enumerate(value["claims"]):
                    yield from _claim_items(member(path, f".claims[{i}]"), claim, context)
            elif is_claim(value) or unit.container == "claims":
                yield from _claim_items(path, value, context)
            elif isinstance(value, dict) and not value.get("claims") and set(value) <= {"claims", "nextPageToken"}:
                continue  # an empty page (no claims matched)
            else:
                yield Refusal(path, "not a Fact Check Tools API claim (an object with 'text' and 'claimReview') "
                                    "or response (an object with a 'claims' array)", foreign=True)


def _claim_items(path: str, claim, context: ReadContext) -> Iterator[object]:
    """An item per review, sharing the claim's fields and their warnings (or the claim's refusal)."""
    if not isinstance(claim, dict):
        yield Refusal(path, f"expected a JSON object, found {type(claim).__name__}")
        return
    shared: list[str] = []
    try:
        text = claim_text_from_untrusted(claim.get("text"), "text", shared)
    except Refused as e:
        yield Refusal(path, str(e), shared)
        return
    claimant_name = text_from_untrusted(claim.get("claimant"), "claimant", shared)
    claim_date = date_from_untrusted(claim.get("claimDate"), "claimDate", shared)
    reviews = claim.get("claimReview")
    if not isinstance(reviews, list) or not reviews:
        yield Refusal(path, "no claimReview: a claim without a review has no verdict to import", shared)
        return
    for j, review in enumerate(reviews):
        rpath = member(path, f".claimReview[{j}]")
        if not isinstance(review, dict):
            yield Refusal(rpath, f"expected a JSON object, found {type(review).__name__}", list(shared))
            continue
        warnings = list(shared)
        try:
            yield _review_item(rpath, review, text, Party(name=claimant_name) if claimant_name else None, claim_date,
                               warnings, context)
        except Refused as e:
            yield Refusal(rpath, str(e), warnings)


def _review_item(path: str, review: dict, text: str, claimant, claim_date, warnings: list, context) -> FeedItem:
    label, prose = label_or_refusal(review.get("textualRating"), "textualRating", warnings, "no textualRating")
    publisher = review.get("publisher") if isinstance(review.get("publisher"), dict) else {}
    name = text_from_untrusted(publisher.get("name"), "publisher.name", warnings)
    site = text_from_untrusted(publisher.get("site"), "publisher.site", warnings)
    url = review_url_or_refusal(review.get("url"), warnings, context)
    language = language_from_untrusted(review.get("languageCode"), "languageCode", warnings)
    return FeedItem(
        path=path, claim_text=text, review_key=url or "", label=label,
        claim_language=language, claimant=claimant, claim_date=claim_date, review_url=url,
        review_title=text_from_untrusted(review.get("title"), "title", warnings),
        review_date=time_from_untrusted(review.get("reviewDate"), "reviewDate", warnings),
        review_language=language, review_body=explanation(prose, None),
        publisher=Party(name=name, type="organization", site=site) if name or site else None,
        warnings=warnings,
    )
