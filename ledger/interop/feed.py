"""What a fact-check feed says about one review, whatever its format.

``claimreview`` and ``factcheck_api`` turn their input into ``FeedItem``s;
``importer`` turns items into records. Helpers here read the loosely typed
values feeds carry (``*_from_untrusted``): a value that is not what the
field needs is left out and the reason is added to the item's warnings, so
nothing is guessed and nothing disappears without a word.
"""

from __future__ import annotations

import decimal
import json
import re
from typing import Optional

import attrs

from ledger.errors import FormatError

_DATE = re.compile(r"^([0-9]{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12][0-9]|3[01]))?)?(?=$|[T ])")
_URL = re.compile(r"^https?://[^\u0000-\u0020\u007f\"<>\\^`{|}]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")
_CONTROL = re.compile(r"[\u0000-\u001f\u007f]")

# What ``importer`` names and writes in the sources it makes; the ClaimReview
# export reads them back (docs/interop.md).
UNKNOWN_SOURCE_ID = "source:cr-unknown-appearance"
PUBLISHER_ID_PREFIX = "source:cr-publisher-"
REVIEW_PAGE_ID_PREFIX = "source:cr-review-"
TITLE_NOT_GIVEN = "Title not given by the feed"


@attrs.frozen
class Party:
    """A person or organization as a feed names it."""

    name: Optional[str]
    type: str = "other"  # person, organization or other (the source types)
    url: Optional[str] = None
    site: Optional[str] = None


@attrs.frozen
class Appearance:
    """A document in which the claim appeared."""

    url: Optional[str]
    archives: tuple = ()
    title: Optional[str] = None
    published: Optional[str] = None


@attrs.define
class FeedItem:
    path: str
    claim_text: str
    review_key: str
    label: Optional[str] = None
    claim_language: Optional[str] = None
    claimant: Optional[Party] = None
    claim_date: Optional[str] = None
    appearances: list = attrs.Factory(list)
    review_url: Optional[str] = None
    review_title: Optional[str] = None
    review_date: Optional[str] = None
    review_language: Optional[str] = None
    review_body: Optional[str] = None
    publisher: Optional[Party] = None
    value: Optional[int] = None
    best: Optional[int] = None
    worst: Optional[int] = None
    warnings: list = attrs.Factory(list)


class Refused(Exception):
    """One item of a feed cannot be imported; the message says why."""


def parse_feed_untrusted(data: bytes, name: str):
    """JSON from a feed file; numbers with a fraction become Decimal (never float)."""
    try:
        return json.loads(data.decode("utf-8-sig"), parse_float=decimal.Decimal)
    except UnicodeDecodeError as e:
        raise FormatError(f"{name} is not UTF-8 text: {e.reason} at byte {e.start}") from e
    except json.JSONDecodeError as e:
        raise FormatError(f"{name} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e


def text_from_untrusted(value, field: str, warnings: list, *, line: bool = True) -> Optional[str]:
    """A non-empty string (one line when ``line``), stripped; anything else is left out with a warning."""
    if value is None:
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if len(value) > 1:
            warnings.append(f"{field}: {len(value)} values given; only the first is kept")
        value = value[0]
    if not isinstance(value, str):
        warnings.append(f"{field}: expected text, found {type(value).__name__}; left out")
        return None
    text = " ".join(value.split()) if line else value.strip()
    if line and len(text) > 1000:
        warnings.append(f"{field}: longer than 1000 characters; left out")
        return None
    return text or None


def date_from_untrusted(value, field: str, warnings: list) -> Optional[str]:
    """YYYY, YYYY-MM or YYYY-MM-DD from a date or an RFC 3339 timestamp; otherwise left out."""
    if value is None or value == "":
        return None
    match = _DATE.match(value) if isinstance(value, str) else None
    if not match:
        warnings.append(f"{field}: {value!r} is not a date (YYYY-MM-DD); left out")
        return None
    return match.group(0)


def url_from_untrusted(value, field: str, warnings: list) -> Optional[str]:
    """An http(s) URL exactly as given (short links are not followed); otherwise left out."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        value = value.get("url") or value.get("@id")
    if isinstance(value, str) and _URL.match(value.strip()) and len(value.strip()) <= 2048:
        return value.strip()
    warnings.append(f"{field}: {value!r} is not an http(s) URL; left out")
    return None


def language_from_untrusted(value, field: str, warnings: list) -> Optional[str]:
    """A BCP 47 tag (the primary subtag lower-cased); otherwise left out."""
    if isinstance(value, dict):
        value = value.get("alternateName") or value.get("name")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        head, _, rest = value.strip().replace("_", "-").partition("-")
        tag = head.lower() + ("-" + rest if rest else "")
        if _LANGUAGE.match(tag):
            return tag
    warnings.append(f"{field}: {value!r} is not a language tag such as 'en' or 'ro'; left out")
    return None


def integer_from_untrusted(value, field: str, warnings: list) -> Optional[int]:
    """An integer in [-1000, 1000] from a number or a numeric string; otherwise left out."""
    if value is None or value == "":
        return None
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, (decimal.Decimal, str)):
        try:
            d = decimal.Decimal(str(value).strip())
            number = int(d) if d == d.to_integral_value() else None
        except (decimal.InvalidOperation, ValueError):
            number = None
    if number is None or not -1000 <= number <= 1000:
        warnings.append(f"{field}: {value!r} is not a whole number between -1000 and 1000; left out")
        return None
    return number
