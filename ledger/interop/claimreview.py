"""schema.org ClaimReview JSON-LD: read feed items from it, write it from the ledger.

Reading (``items_from_untrusted``) accepts one object, an array, ``@graph``
(with ``{"@id": ...}`` references to other nodes of the graph resolved) and
schema.org's nesting: ``itemReviewed`` a ``Claim`` with ``author``,
``datePublished``, ``appearance`` and ``firstAppearance`` (``CreativeWork``
with ``url``, ``archivedAt``, ``headline``); ``reviewRating`` a ``Rating``
with ``alternateName``, ``ratingValue``, ``bestRating``, ``worstRating``;
``author`` an ``Organization`` or ``Person``. The older form, ``itemReviewed``
a ``CreativeWork`` whose ``url`` is where the claim appeared, is read too.

Writing (``export_claimreviews``) gives one ClaimReview per review that is not
retracted, of a claim that is not retracted; corrections of the review or the
claim are listed as ``correction`` (``CorrectionComment``). The field mapping
is in docs/interop.md.
"""

from __future__ import annotations

from typing import Optional

from ledger.interop.feed import (
    PUBLISHER_ID_PREFIX, REVIEW_PAGE_ID_PREFIX, TITLE_NOT_GIVEN, UNKNOWN_SOURCE_ID, Appearance, FeedItem, Party, Refused,
    date_from_untrusted, integer_from_untrusted, language_from_untrusted, text_from_untrusted, url_from_untrusted,
)

CONTEXT = "https://schema.org"


def _types(node) -> set:
    t = node.get("@type") if isinstance(node, dict) else None
    return {t} if isinstance(t, str) else set(x for x in t if isinstance(x, str)) if isinstance(t, list) else set()


def nodes_from_untrusted(data) -> list[tuple[str, object]]:
    """(path, node) for every top-level node: an object, an array, or a @graph (also inside an array)."""
    found = []

    def walk(value, path):
        if isinstance(value, dict) and "@graph" in value and isinstance(value["@graph"], list):
            for i, item in enumerate(value["@graph"]):
                walk(item, f'{path}["@graph"][{i}]')
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        else:
            found.append((path, value))

    walk(data, "$")
    return found


def items_from_untrusted(data) -> tuple[list[FeedItem], list[tuple[str, str]], list[tuple[str, str]]]:
    """(items, refused, skipped): refused are ClaimReviews that cannot be imported, with the reason;
    skipped are other nodes (a WebPage, an Organization) that are not reviews."""
    nodes = nodes_from_untrusted(data)
    by_id = {node["@id"]: node for _, node in nodes if isinstance(node, dict) and isinstance(node.get("@id"), str)}
    items, refused, skipped = [], [], []
    for path, node in nodes:
        if not isinstance(node, dict):
            refused.append((path, f"expected a JSON object, found {type(node).__name__}"))
            continue
        if "ClaimReview" not in _types(node):
            skipped.append((path, f"not a ClaimReview (@type {node.get('@type')!r})"))
            continue
        try:
            items.append(item_from_node(path, node, by_id))
        except Refused as e:
            refused.append((path, str(e)))
    return items, refused, skipped


def _resolve(value, by_id):
    if isinstance(value, dict) and set(value) == {"@id"} and value["@id"] in by_id:
        return by_id[value["@id"]]
    return value


def _one(value, field, warnings, by_id):
    """The first of a list (with a warning when there are more), references resolved."""
    if isinstance(value, list):
        if len(value) > 1:
            warnings.append(f"{field}: {len(value)} given; only the first is kept")
        value = value[0] if value else None
    return _resolve(value, by_id)


def party_from_untrusted(value, field, warnings, by_id) -> Optional[Party]:
    value = _one(value, field, warnings, by_id)
    if value is None:
        return None
    if isinstance(value, str):
        name = text_from_untrusted(value, f"{field}", warnings)
        return Party(name=name) if name else None
    if not isinstance(value, dict):
        warnings.append(f"{field}: expected a Person or Organization, found {type(value).__name__}; left out")
        return None
    types = _types(value)
    kind = "person" if "Person" in types else "organization" if types & {"Organization", "NewsMediaOrganization", "GovernmentOrganization"} else "other"
    name = text_from_untrusted(value.get("name"), f"{field}.name", warnings)
    url = url_from_untrusted(value.get("url"), f"{field}.url", warnings)
    if not name and not url:
        return None
    return Party(name=name, type=kind, url=url)


def appearance_from_untrusted(value, field, warnings, by_id) -> Optional[Appearance]:
    value = _resolve(value, by_id)
    if isinstance(value, str):
        url = url_from_untrusted(value, field, warnings)
        return Appearance(url=url) if url else None
    if not isinstance(value, dict):
        warnings.append(f"{field}: expected a CreativeWork, found {type(value).__name__}; left out")
        return None
    archived = value.get("archivedAt")
    archived = archived if isinstance(archived, list) else [archived] if archived is not None else []
    archives = []
    for i, a in enumerate(archived):
        url = url_from_untrusted(a, f"{field}.archivedAt[{i}]", warnings)
        if url and url not in archives:
            archives.append(url)
    appearance = Appearance(
        url=url_from_untrusted(value.get("url"), f"{field}.url", warnings),
        archives=tuple(archives),
        title=text_from_untrusted(value.get("headline") or value.get("name"), f"{field}.headline", warnings),
        published=date_from_untrusted(value.get("datePublished"), f"{field}.datePublished", warnings),
    )
    return appearance if appearance.url or appearance.archives or appearance.title else None


def item_from_node(path: str, node: dict, by_id: dict) -> FeedItem:
    """One ClaimReview node as a FeedItem; raises Refused when it lacks what a record needs."""
    warnings: list[str] = []
    text = text_from_untrusted(node.get("claimReviewed"), "claimReviewed", warnings, line=False)
    if not text:
        raise Refused("no claimReviewed: the text of the claim is required")
    rating = _one(node.get("reviewRating"), "reviewRating", warnings, by_id)
    rating = rating if isinstance(rating, dict) else {}
    label = text_from_untrusted(rating.get("alternateName") or rating.get("name"), "reviewRating.alternateName", warnings)
    review_url = url_from_untrusted(node.get("url"), "url", warnings)
    item = _resolve(node.get("itemReviewed"), by_id)
    item = item if isinstance(item, dict) else {}
    appearances = appearances_from_untrusted(item, warnings, by_id)
    language = language_from_untrusted(node.get("inLanguage"), "inLanguage", warnings)
    if node.get("correction"):
        warnings.append("correction: correction notices in the feed are not imported as correction records (they need both versions)")
    return FeedItem(
        path=path, claim_text=text,
        review_key=review_url or (node["@id"] if isinstance(node.get("@id"), str) else ""),
        label=label,
        claimant=party_from_untrusted(item.get("author"), "itemReviewed.author", warnings, by_id),
        claim_date=date_from_untrusted(item.get("datePublished"), "itemReviewed.datePublished", warnings),
        appearances=appearances, review_url=review_url,
        review_title=text_from_untrusted(node.get("headline") or node.get("name"), "headline", warnings),
        review_date=date_from_untrusted(node.get("datePublished"), "datePublished", warnings),
        review_language=language,
        claim_language=language_from_untrusted(item.get("inLanguage"), "itemReviewed.inLanguage", warnings) or language,
        review_body=text_from_untrusted(node.get("reviewBody"), "reviewBody", warnings, line=False),
        publisher=party_from_untrusted(node.get("author"), "author", warnings, by_id),
        value=integer_from_untrusted(rating.get("ratingValue"), "reviewRating.ratingValue", warnings),
        best=integer_from_untrusted(rating.get("bestRating"), "reviewRating.bestRating", warnings),
        worst=integer_from_untrusted(rating.get("worstRating"), "reviewRating.worstRating", warnings),
        warnings=warnings,
    )


def appearances_from_untrusted(item: dict, warnings: list, by_id: dict) -> list[Appearance]:
    """Where the reviewed claim appeared: its ``firstAppearance``, then each ``appearance``, without repeats."""
    first = item.get("firstAppearance")
    listed = item.get("appearance")
    listed = listed if isinstance(listed, list) else [listed] if listed is not None else []
    if not first and not listed and "Claim" not in _types(item) and item.get("url"):
        listed = [{"url": item.get("url")}]  # the older form: a CreativeWork whose url is the appearance
    fields = [("itemReviewed.firstAppearance", first)] + [(f"itemReviewed.appearance[{i}]", v) for i, v in enumerate(listed)]
    appearances = []
    for field, value in fields:
        if value is None:
            continue
        appearance = appearance_from_untrusted(value, field, warnings, by_id)
        if appearance and appearance not in appearances:
            appearances.append(appearance)
    return appearances


# --- writing ---------------------------------------------------------------------------------
def _party(name, source) -> dict:
    node = {"name": name}
    if source is not None:
        kind = {"person": "Person", "organization": "Organization"}.get(source.type)
        if kind:
            node = {"@type": kind, **node}
        if source.url:
            node["url"] = source.url
    return node


def _appearance(source) -> dict:
    node = {"@type": "CreativeWork"}
    if source.url:
        node["url"] = source.url
    if source.title and source.description != TITLE_NOT_GIVEN and source.title != source.url:
        node["headline"] = source.title
    if source.archives:
        node["archivedAt"] = list(source.archives) if len(source.archives) > 1 else source.archives[0]
    if source.published:
        node["datePublished"] = source.published
    return node


def export_claimreviews(ledger) -> dict:
    """schema.org ClaimReview JSON-LD (``@graph``) for every current review of a current claim."""
    writer = _ClaimReviewWriter(ledger)
    graph = []
    for head in ledger.heads("review"):
        review = ledger.entry(head.entry_idx).record
        if head.status != "retracted" and ledger.head(review.claim).status != "retracted":
            graph.append(writer.claimreview(review))
    return {"@context": CONTEXT, "@graph": graph}


def _given(**fields) -> dict:
    """The fields that have a value (not None, not empty), in order."""
    return {name: value for name, value in fields.items() if value}


def _rating_node(rating) -> dict:
    node = {"@type": "Rating", "alternateName": rating.label}
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


def _publisher_ids(ledger) -> dict:
    """Title -> ID of the first (in log order) publisher source an import created with that title."""
    ids = {}
    for head in ledger.heads("source"):
        if head.id.startswith(PUBLISHER_ID_PREFIX):
            ids.setdefault(ledger.entry(head.entry_idx).record.title, head.id)
    return ids


class _ClaimReviewWriter:
    """Builds ClaimReview nodes, reading the records each review names from the ledger."""

    def __init__(self, ledger):
        self.ledger = ledger
        self.desk = _desk_name(ledger)
        self.publishers = _publisher_ids(ledger)

    def record(self, record_id):
        return self.ledger.current(record_id).record if self.ledger.head(record_id) else None

    def claimreview(self, review) -> dict:
        claim = self.record(review.claim)
        # The review's published page, when an import recorded one.
        page = self.record(REVIEW_PAGE_ID_PREFIX + review.id.removeprefix("review:cr-")) if review.id.startswith("review:cr-") else None
        node = {"@type": "ClaimReview", "identifier": review.id, "claimReviewed": claim.text, **_given(
            url=review.url, datePublished=review.reviewed, inLanguage=review.rating.label_language,
            headline=page.title if page and page.title != page.url else None, reviewBody=review.explanation)}
        author = self.author(page)
        if author is not None:
            node["author"] = author
        node["itemReviewed"] = self.claim(claim)
        node["reviewRating"] = _rating_node(review.rating)
        corrections = self.corrections(review, claim)
        if corrections:
            node["correction"] = corrections
        return node

    def author(self, page) -> Optional[dict]:
        """The review page's publisher, else the desk."""
        if page and page.publisher:
            publisher_id = self.publishers.get(page.publisher)
            author = _party(page.publisher, self.record(publisher_id) if publisher_id else None)
            author.setdefault("@type", "Organization")
            return author
        return {"@type": "Organization", "name": self.desk} if self.desk is not None else None

    def claim(self, claim) -> dict:
        item = {"@type": "Claim"}
        attribution = claim.attribution
        if attribution:
            item["author"] = _party(attribution.text, self.record(attribution.source) if attribution.source else None)
        if claim.claim_date:
            item["datePublished"] = claim.claim_date
        if claim.language != "und":
            item["inLanguage"] = claim.language
        source = self.record(claim.source)
        # A source that is a person or body, or the claimant, says who made the claim, not where it appeared.
        if source and source.id != UNKNOWN_SOURCE_ID and source.type not in ("person", "organization") \
                and not (attribution and attribution.source == source.id):
            item["firstAppearance"] = _appearance(source)
            item["appearance"] = [item["firstAppearance"]] + [
                _appearance(self.record(other)) for other, rel in self.ledger.links_to(source.id) if rel == "republishes"]
        return item

    def corrections(self, review, claim) -> list[dict]:
        """The corrections of the review and of the claim, oldest first."""
        notices = sorted(self.ledger.notices_for(review.id) + self.ledger.notices_for(claim.id), key=lambda entry: entry.index)
        return [{"@type": "CorrectionComment", "text": entry.record.reason, "datePublished": entry.record.created[:10]}
                for entry in notices if entry.record.kind == "correction"]
