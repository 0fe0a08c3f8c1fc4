"""The records one feed item becomes: sources, a claim and a review, with stable IDs.

Identity (docs/interop.md "Identity"): IDs are
``<kind>:cr-<role>-<first 16 hex digits of SHA-256(key)>``; the keys fold
names with ``ledger.ratings.fold_label`` (NFC, case, spaces, quotes), which
never changes, so the IDs of records imported by an earlier version stay
the same. Which review and which claim an item is (a review URL with two
claim texts, this ledger's own reviews) is decided by ``identity``; here
the records are built once that is known.
"""

from __future__ import annotations

import hashlib
from typing import Optional

from ledger.interop.feed import (
    LINE_MAX, PUBLISHER_ID_PREFIX, REVIEW_PAGE_ID_PREFIX, TITLE_NOT_GIVEN, UNKNOWN_SOURCE_ID, Appearance, FeedItem, Party,
    shortened,
)
from ledger.interop.language import contradicting_language
from ledger.ratings import fold_label as fold_key


def line(text: Optional[str]) -> Optional[str]:
    """A title or name as a record's one-line field holds it: a URL standing in for a title can be longer."""
    return shortened(text, LINE_MAX) if text else text


def hex16(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != ()}


def claimant_name(item: FeedItem) -> Optional[str]:
    return line(item.claimant.name or item.claimant.url) if item.claimant else None


def claim_key(item: FeedItem) -> str:
    """What identifies a claim: its text and its claimant, folded."""
    return fold_key(item.claim_text) + "\n" + fold_key(claimant_name(item) or "")


def claim_key_of(claim: dict) -> str:
    """``claim_key`` of a claim record in the ledger."""
    return fold_key(claim["text"]) + "\n" + fold_key((claim.get("attribution") or {}).get("text") or "")


def claim_id(key: str) -> str:
    return f"claim:cr-{hex16(key)}"


def review_key(item: FeedItem) -> str:
    """What identifies the review: its URL (or @id), else its publisher, claim text and date."""
    if item.review_key:
        return item.review_key
    who = item.publisher.name or item.publisher.site or "" if item.publisher else ""
    return "content\n" + fold_key(who) + "\n" + " ".join(item.claim_text.split()) + "\n" + (item.review_date or "")


def publisher_title(publisher: Party) -> str:
    return line(publisher.name or publisher.site or publisher.url)


def publisher_ids(title: str) -> list[str]:
    """The IDs a publisher source titled ``title`` can have: by name, URL or site (as ``publisher_source`` makes them)."""
    return list(dict.fromkeys(f"{PUBLISHER_ID_PREFIX}{hex16(key)}" for key in (fold_key(title), title, title.lower())))


def publisher_source(publisher: Party, note: str) -> dict:
    # By name, the one thing every format gives (ClaimReview has no 'site', the API no URL); else URL, else site.
    key = fold_key(publisher.name) if publisher.name else publisher.url or (publisher.site or "").lower()
    return drop_none({
        "kind": "source", "id": f"{PUBLISHER_ID_PREFIX}{hex16(key)}", "type": "organization",
        "title": publisher_title(publisher), "url": publisher.url,
        "description": f"Site as given by the feed: {publisher.site}" if publisher.site else None, "note": note,
    })


def review_page_source(item: FeedItem, page_id: str, note: str) -> dict:
    """The published fact-check; its ``publisher`` is the title of the publisher source (found by ID on export)."""
    title = line(item.review_title or item.review_url or f"Fact-check by {publisher_title(item.publisher)}")
    return drop_none({
        "kind": "source", "id": page_id, "type": "article", "title": title, "url": item.review_url,
        "publisher": publisher_title(item.publisher) if item.publisher else None, "language": item.review_language,
        "published": item.review_date[:10] if item.review_date else None, "note": note,
        "description": TITLE_NOT_GIVEN if not item.review_title and not item.review_url else None,
    })


def claimant_source(claimant: Party, note: str) -> dict:
    return drop_none({"kind": "source", "id": f"source:cr-claimant-{hex16(claimant.url or fold_key(claimant.name or ''))}",
                      "type": claimant.type, "title": line(claimant.name or claimant.url), "url": claimant.url, "note": note})


def appearance_sources(appearances: list[Appearance], note: str) -> list[dict]:
    """One source per appearance; each after the first republishes the first."""
    sources = []
    for a in appearances:
        links = [{"rel": "republishes", "source": sources[0]["id"]}] if sources else None
        sources.append(drop_none({
            "kind": "source", "id": f"source:cr-appearance-{hex16(a.url or (a.archives[0] if a.archives else '') or a.title)}",
            "type": "document", "title": line(a.title or a.url or a.archives[0]),
            "url": a.url, "published": a.published, "archives": list(a.archives), "links": links,
            "description": None if a.title else TITLE_NOT_GIVEN, "note": note,
        }))
    return sources


def unknown_source(note: str) -> dict:
    return {"kind": "source", "id": UNKNOWN_SOURCE_ID, "type": "other",
            "title": "Unknown appearance (not given by the feed)",
            "description": "The source of claims whose feed said neither where the claim appeared nor who made it.",
            "note": note}


def sources_of(item: FeedItem, review_key_: str, note: str) -> tuple[list[dict], str, Optional[str]]:
    """(sources, the claim's source ID, the claimant's source ID) of an item."""
    publisher = publisher_source(item.publisher, note) if item.publisher else None
    page_id = f"{REVIEW_PAGE_ID_PREFIX}{hex16(item.review_url or review_key_)}"
    page = review_page_source(item, page_id, note) if item.review_url or item.review_title or item.publisher else None
    claimant = claimant_source(item.claimant, note) if item.claimant else None
    appearances = appearance_sources(item.appearances, note)
    sources = [source for source in (publisher, page, claimant) if source] + appearances
    # Where the claim appeared, else who made it, else the shared unknown source.
    if appearances:
        return sources, appearances[0]["id"], claimant["id"] if claimant else None
    if claimant:
        return sources, claimant["id"], claimant["id"]
    return sources + [unknown_source(note)], UNKNOWN_SOURCE_ID, None


def claim_language(item: FeedItem) -> str:
    """The claim's language: the feed's, unless the script of its text clearly says another (then that, with a warning)."""
    found = contradicting_language(item.claim_language, item.claim_text)
    if found:
        kept = f" (the review keeps {item.review_language!r})" if item.review_language else ""
        item.warnings.append(f"language: the claim's text is in the script of {found!r}, not of {item.claim_language!r} "
                             f"as the feed says; the claim's language is recorded as {found!r}{kept}")
        return found
    return item.claim_language or "und"


def claim_record(item: FeedItem, record_id: str, source_id: str, claimant_id: Optional[str], note: str) -> dict:
    name = claimant_name(item)
    return drop_none({
        "kind": "claim", "id": record_id, "text": item.claim_text, "language": claim_language(item), "source": source_id,
        "attribution": drop_none({"text": name, "source": claimant_id}) if name else None,
        "claim_date": item.claim_date, "note": note,
    })


def review_record(item: FeedItem, record_id: str, claim_id_: str, rating: tuple[str, str], note: str) -> dict:
    """``rating`` is (normalized, what the note says about it)."""
    normalized, how = rating
    return drop_none({
        "kind": "review", "id": record_id, "claim": claim_id_,
        "rating": drop_none({"label": item.label, "label_language": item.review_language, "normalized": normalized,
                             "value": item.value, "best": item.best, "worst": item.worst}),
        "explanation": item.review_body, "reviewed": item.review_date, "url": item.review_url,
        "note": f"{note}; rating {how}",
    })


def records_of(item: FeedItem, identity, review_key_: str, rating: tuple[str, str], note: str) -> list[dict]:
    """The sources, the claim and the review an item becomes, with the IDs ``identity`` gave it."""
    sources, source_id, claimant_id = sources_of(item, review_key_, note)
    claim = claim_record(item, identity.claim_id, source_id, claimant_id, note)
    return sources + [claim, review_record(item, identity.review_id, identity.claim_id, rating, note)]
