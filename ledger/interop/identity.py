"""Which review and which claim a feed item is.

A review is named by its URL (``review:cr-<hex(URL)>``), and a claim by its
text and claimant, but a fact-check page often reviews several claims
(several ClaimReview nodes, one URL), and a desk sometimes edits the claim
text of a review it published. ``Identities.resolve`` tells them apart
(docs/interop.md "One review URL, several claims"):

- a review the ledger already has under the URL *and* this claim
  (``review:cr-<hex(URL, claim)>``) is that review;
- a review the ledger has under the URL alone is that review when its claim
  has this text and claimant; another claim text is another claim on the same
  page, with its own review under (URL, claim) -- unless, once the whole file
  is read, it is the only text the file gives for that URL and none matched:
  then the desk edited the claim's text, and the claim is revised;
- a URL the ledger does not know: the first claim text of the file takes
  ``review:cr-<hex(URL)>``, each other text its own (URL, claim) review.

A ClaimReview this ledger exported carries ``@id``
``urn:fact-ledger:<origin>:<review ID>`` (``claimreview_export``): it is that
review, and when the desk wrote it here (not imported) it is only compared,
never changed by an import.
"""

from __future__ import annotations

from typing import Iterator, Optional

import attrs

from ledger.interop.feed import FeedItem
from ledger.interop.feed_records import claim_id, claim_key, claim_key_of, hex16, review_key

URN_PREFIX = "urn:fact-ledger:"


def review_urn(origin: str, review_id: str) -> str:
    """The JSON-LD ``@id`` of a review of the ledger named ``origin``."""
    return f"{URN_PREFIX}{origin}:{review_id}"


@attrs.frozen
class Identity:
    review_id: str
    claim_id: str
    own: bool = False  # a review this ledger's desk wrote (not imported): compared, never changed


class Identities:
    """Review and claim IDs for the items of one file, read against ``records`` (``head``, ``current``)."""

    def __init__(self, records, origin: str):
        self.records = records
        self.urn = review_urn(origin, "")
        self.taken: dict[str, str] = {}  # review ID by URL -> claim_id(claim key) of this file's item that has it
        self.deferred: dict[str, list] = {}  # review ID by URL -> items that may edit its claim (see settle)

    def _current(self, record_id: str) -> Optional[dict]:
        return self.records.current(record_id) if self.records.head(record_id) else None

    def resolve(self, item: FeedItem) -> Optional[Identity]:
        """The item's identity, or None when it waits for the end of the file (``settle``)."""
        if item.node_id and item.node_id.startswith(self.urn):
            own = self._current(item.node_id[len(self.urn):])
            if own is not None and own["kind"] == "review":
                return Identity(own["id"], own["claim"], own=not own["id"].startswith("review:cr-"))
        key, ck = review_key(item), claim_key(item)
        base, alt = f"review:cr-{hex16(key)}", f"review:cr-{hex16(key + chr(10) + ck)}"
        claim = claim_id(ck)  # names the claim key in ``taken`` (a claim text can be 20,000 characters)
        existing = self._current(base)
        # A review under (URL, claim) is only ever made beside one under the URL, which stays.
        alternative = self._current(alt) if existing is not None else None
        if alternative is not None:
            return Identity(alt, alternative["claim"])
        if existing is None:
            if self.taken.setdefault(base, claim) == claim:
                return Identity(base, claim)
            return self._another_claim(item, key, alt, ck)
        if existing["claim"] == claim or claim_key_of(self.records.current(existing["claim"])) == ck:
            self.taken.setdefault(base, claim)
            return Identity(base, existing["claim"])
        if base in self.taken:
            return self._another_claim(item, key, alt, ck)
        self.deferred.setdefault(base, []).append(item)
        return None

    def _another_claim(self, item: FeedItem, key: str, alt: str, ck: str) -> Identity:
        item.warnings.append(f"{key} reviews another claim too: this claim and its review are separate records ({alt})")
        return Identity(alt, claim_id(ck))

    def settle(self) -> Iterator[tuple[FeedItem, Identity]]:
        """The identities of the items that waited: the one text a file gives for a URL whose review no item
        matched edits that review's claim; several texts are each a claim of their own."""
        for base, items in self.deferred.items():
            keys = {claim_key(item) for item in items}
            if base not in self.taken and len(keys) == 1:
                existing = self.records.current(base)
                for item in items:
                    item.warnings.append(f"{review_key(item)}: the claim this review reviews in the ledger "
                                         f"({existing['claim']}) has another text; it is revised")
                    yield item, Identity(base, existing["claim"])
                continue
            for item in items:
                key, ck = review_key(item), claim_key(item)
                yield item, self._another_claim(item, key, f"review:cr-{hex16(key + chr(10) + ck)}", ck)
