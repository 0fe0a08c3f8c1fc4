"""schema.org ClaimReview JSON-LD, read as feed items.

``items_from_units`` reads the units of a file (``shapes``): ClaimReview
nodes alone, in arrays, in a JSON-LD ``@graph``, in a schema.org ``DataFeed``
(``dataFeedElement``, each a ClaimReview or a ``DataFeedItem`` whose ``item``
holds them), in an ``ItemList`` (``itemListElement`` of ``ListItem``), or in
an HTML page's JSON-LD blocks. ``{"@id": ...}`` references to other nodes
of the file are resolved, also to a node given later (such a ClaimReview is
read when the file ends). Nodes of other types (``NewsArticle``,
``WebPage``, ``Organization``) are skipped, with a line in the report.

The nesting follows schema.org: ``itemReviewed`` a ``Claim`` with
``author``, ``datePublished``, ``appearance`` and ``firstAppearance``
(``CreativeWork`` with ``url``, ``archivedAt``, ``headline``);
``reviewRating`` a ``Rating`` with ``alternateName``, ``ratingValue``,
``bestRating``, ``worstRating``; ``author`` an ``Organization`` or
``Person``. The older form, ``itemReviewed`` a ``CreativeWork`` whose
``url`` is where the claim appeared, is read too. The field mapping is in
docs/interop.md; writing ClaimReview is ``claimreview_export``.
"""

from __future__ import annotations

from typing import Iterator, Optional

from ledger.interop.jsonstream import member
from ledger.interop.feed import (
    Appearance, FeedItem, Party, ReadContext, Refusal, Refused, Skip, claim_text_from_untrusted, date_from_untrusted,
    explanation, integer_from_untrusted, label_or_refusal, language_from_untrusted, review_url_or_refusal,
    text_from_untrusted, time_from_untrusted, url_from_untrusted,
)

CONTEXT = "https://schema.org"
_ORGANIZATIONS = {"Organization", "NewsMediaOrganization", "GovernmentOrganization", "NGO", "Corporation",
                  "EducationalOrganization", "PoliticalParty"}
HOLD = 10_000  # ClaimReviews held, at most, until a node they name is given (items_from_units)
# Wrappers whose members are the nodes: (type, member holding them).
_WRAPPERS = (("DataFeed", "dataFeedElement"), ("ItemList", "itemListElement"), ("DataFeedItem", "item"), ("ListItem", "item"))


def types_of(node) -> set:
    t = node.get("@type") if isinstance(node, dict) else None
    return {t} if isinstance(t, str) else set(x for x in t if isinstance(x, str)) if isinstance(t, list) else set()


def nodes_of(value, path: str) -> Iterator[tuple[str, object]]:
    """(path, node) of every node a value holds: through arrays, ``@graph``, and DataFeed, ItemList and their items."""
    if isinstance(value, list):
        for i, element in enumerate(value):
            yield from nodes_of(element, member(path, f"[{i}]"))
        return
    if isinstance(value, dict):
        if isinstance(value.get("@graph"), (list, dict)):
            yield from nodes_of(value["@graph"], member(path, '["@graph"]'))
            return
        types = types_of(value)
        for kind, name in _WRAPPERS:
            inner = value.get(name)
            if (kind in types or (not types and name == "dataFeedElement")) and isinstance(inner, (list, dict)):
                yield from nodes_of(inner, member(path, f".{name}"))
                return
    yield path, value


class _References:
    """The file's nodes by ``@id``, and whether a lookup missed (the node may come later)."""

    def __init__(self):
        self.by_id: dict[str, dict] = {}
        self.missed = False

    def add(self, node: dict) -> None:
        if isinstance(node.get("@id"), str) and "ClaimReview" not in types_of(node):
            self.by_id.setdefault(node["@id"], node)

    def resolve(self, value, field: str = "", warnings: Optional[list] = None):
        if isinstance(value, dict) and set(value) == {"@id"}:
            found = self.by_id.get(value["@id"])
            if found is None:
                self.missed = True
                if warnings is not None:
                    warnings.append(f"{field}: {value['@id']!r} names no node of this file; left out")
                return None
            return found
        return value

    def one(self, value, field, warnings):
        """The first of a list (with a warning when there are more), references resolved."""
        if isinstance(value, list):
            if len(value) > 1:
                warnings.append(f"{field}: {len(value)} given; only the first is kept")
            value = value[0] if value else None
        return self.resolve(value, field, warnings)


def items_from_units(units, context: ReadContext) -> Iterator[object]:
    """A FeedItem, Refusal or Skip for every node, in file order.

    A ClaimReview that names a node not given yet (``{"@id": "#desk"}`` before
    the desk's node) is held, and so is every ClaimReview after it, so that
    they are read in file order once the file ends, or once HOLD of them
    wait (then a reference still missing is left out with a warning).
    """
    refs, held = _References(), []
    for unit in units:
        for path, node in nodes_of(unit.value, unit.path):
            if not isinstance(node, dict):
                yield Refusal(path, f"expected a JSON object, found {type(node).__name__}", foreign=True)
                continue
            refs.add(node)
            if "ClaimReview" not in types_of(node):
                yield Skip(path, f"not a ClaimReview (@type {node.get('@type')!r})")
                continue
            if not held:
                refs.missed = False
                result = _item_or_refusal(path, node, refs, context)
                if not refs.missed:
                    yield result
                    continue
            held.append((path, node))
            if len(held) >= HOLD:
                yield from (_item_or_refusal(p, n, refs, context) for p, n in held)
                held = []
    yield from (_item_or_refusal(path, node, refs, context) for path, node in held)


def _item_or_refusal(path, node, refs, context):
    warnings: list[str] = []
    try:
        return item_from_node(path, node, refs, context, warnings)
    except Refused as e:
        return Refusal(path, str(e), warnings)


def party_from_untrusted(value, field, warnings, refs, context) -> Optional[Party]:
    value = refs.one(value, field, warnings)
    if value is None:
        return None
    if isinstance(value, str):
        name = text_from_untrusted(value, field, warnings)
        return Party(name=name) if name else None
    if not isinstance(value, dict):
        warnings.append(f"{field}: expected a Person or Organization, found {type(value).__name__}; left out")
        return None
    types = types_of(value)
    kind = "person" if "Person" in types else "organization" if types & _ORGANIZATIONS else "other"
    name = text_from_untrusted(value.get("name"), f"{field}.name", warnings)
    url = url_from_untrusted(value.get("url") or (value.get("@id") if isinstance(value.get("@id"), str)
                                                  and value["@id"].startswith("http") else None),
                             f"{field}.url", warnings, context)
    if not name and not url:
        return None
    return Party(name=name, type=kind, url=url)


def appearance_from_untrusted(value, field, warnings, refs, context) -> Optional[Appearance]:
    value = refs.resolve(value, field, warnings)
    if isinstance(value, str):
        url = url_from_untrusted(value, field, warnings, context)
        return Appearance(url=url) if url else None
    if not isinstance(value, dict):
        warnings.append(f"{field}: expected a CreativeWork, found {type(value).__name__}; left out")
        return None
    archived = value.get("archivedAt")
    archived = archived if isinstance(archived, list) else [archived] if archived is not None else []
    archives = []
    for i, a in enumerate(archived):
        url = url_from_untrusted(a, f"{field}.archivedAt[{i}]", warnings, context)
        if url and url not in archives:
            archives.append(url)
    appearance = Appearance(
        url=url_from_untrusted(value.get("url"), f"{field}.url", warnings, context),
        archives=tuple(archives),
        title=text_from_untrusted(value.get("headline") or value.get("name"), f"{field}.headline", warnings),
        published=date_from_untrusted(value.get("datePublished"), f"{field}.datePublished", warnings),
    )
    return appearance if appearance.url or appearance.archives or appearance.title else None


def appearances_from_untrusted(item: dict, warnings: list, refs, context) -> list[Appearance]:
    """Where the reviewed claim appeared: its ``firstAppearance``, then each ``appearance``, without repeats."""
    first = item.get("firstAppearance")
    listed = item.get("appearance")
    listed = listed if isinstance(listed, list) else [listed] if listed is not None else []
    if not first and not listed and "Claim" not in types_of(item) and item.get("url"):
        listed = [{"url": item.get("url")}]  # the older form: a CreativeWork whose url is the appearance
    fields = [("itemReviewed.firstAppearance", first)] + [(f"itemReviewed.appearance[{i}]", v) for i, v in enumerate(listed)]
    appearances = []
    for field, value in fields:
        if value is None:
            continue
        appearance = appearance_from_untrusted(value, field, warnings, refs, context)
        if appearance and appearance not in appearances:
            appearances.append(appearance)
    return appearances


def item_from_node(path: str, node: dict, refs: _References, context: ReadContext, warnings: list) -> FeedItem:
    """One ClaimReview node as a FeedItem; raises Refused when it lacks what a record needs."""
    text = claim_text_from_untrusted(node.get("claimReviewed"), "claimReviewed", warnings)
    rating = refs.one(node.get("reviewRating"), "reviewRating", warnings)
    rating = rating if isinstance(rating, dict) else {}
    label_field = "reviewRating.alternateName" if rating.get("alternateName") not in (None, "") else "reviewRating.name"
    label, prose = label_or_refusal(rating.get(label_field.split(".")[1]), label_field, warnings,
                                    "reviewRating has no alternateName" if rating else "no reviewRating")
    review_url = review_url_or_refusal(node.get("url"), warnings, context)
    item = refs.resolve(node.get("itemReviewed"), "itemReviewed", warnings)
    item = item if isinstance(item, dict) else {}
    language = language_from_untrusted(node.get("inLanguage"), "inLanguage", warnings)
    if node.get("correction"):
        warnings.append("correction: correction notices in the feed are not imported as correction records (they need both versions)")
    node_id = node.get("@id") if isinstance(node.get("@id"), str) else None
    return FeedItem(
        path=path, claim_text=text, review_key=review_url or node_id or "", label=label, node_id=node_id,
        claimant=party_from_untrusted(item.get("author"), "itemReviewed.author", warnings, refs, context),
        claim_date=date_from_untrusted(item.get("datePublished"), "itemReviewed.datePublished", warnings),
        appearances=appearances_from_untrusted(item, warnings, refs, context), review_url=review_url,
        review_title=text_from_untrusted(node.get("headline") or node.get("name"), "headline", warnings),
        review_date=time_from_untrusted(node.get("datePublished"), "datePublished", warnings),
        review_language=language,
        claim_language=language_from_untrusted(item.get("inLanguage"), "itemReviewed.inLanguage", warnings) or language,
        review_body=explanation(prose, text_from_untrusted(node.get("reviewBody"), "reviewBody", warnings, line=False)),
        publisher=party_from_untrusted(node.get("author") or node.get("publisher"), "author", warnings, refs, context),
        value=integer_from_untrusted(rating.get("ratingValue"), "reviewRating.ratingValue", warnings),
        best=integer_from_untrusted(rating.get("bestRating"), "reviewRating.bestRating", warnings),
        worst=integer_from_untrusted(rating.get("worstRating"), "reviewRating.worstRating", warnings),
        warnings=warnings,
    )
