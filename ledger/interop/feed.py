"""What a fact-check feed says about one review, whatever its format.

``claimreview`` and ``factcheck_api`` turn their input into ``FeedItem``s;
``importer`` turns items into records. Helpers here read the loosely typed
values feeds carry (``*_from_untrusted``): a value that is not what the
field needs is left out, shortened or changed only with a line in the item's
warnings saying what and why, so nothing disappears without a word and
nothing is guessed (docs/interop.md "What is kept, changed or dropped").
"""

from __future__ import annotations

import datetime
import decimal
import re
from typing import Optional
from urllib.parse import urljoin

import attrs


_DATE = re.compile(r"^([0-9]{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12][0-9]|3[01]))?)?(?=$|[Tt ])")
# RFC 3339 §5.6 date-time; seconds may be left out, and an offset written +hhmm (ISO 8601 basic) is read too.
_TIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(\.[0-9]{1,9})?)?"
                   r"([Zz]|[+-][0-9]{2}:?[0-9]{2})$")
# The schema's url: http(s), no spaces, controls, bidirectional controls or private-use characters.
_URL = re.compile("^https?://[^\u0000-\u0020\u007f-\u009f\u202a-\u202e\u2066-\u2069\ue000-\uf8ff\U000f0000-\U0010ffff"
                  "\"<>\\\\^`{|}]+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")
# What the schemas' text and line refuse and a reader never sees: controls (a line also
# refuses tab and newline), bidirectional embeddings, overrides and isolates, private use.
_INVISIBLE = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069"
                        "\ue000-\uf8ff\U000f0000-\U0010ffff\ud800-\udfff]")
_SENTENCE_END = re.compile(r"(?<=[.!?؟。])\s")

LINE_MAX = 1000
TEXT_MAX = 20_000
LABEL_MAX = 200  # longer "labels" are prose: the first line or sentence is the label

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
    review_key: str  # the review's URL, else its @id
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
    node_id: Optional[str] = None  # the ClaimReview's @id (this ledger's own reviews are named by it)
    warnings: list = attrs.Factory(list)


class Refused(Exception):
    """One item of a feed cannot be imported; the message says why, ``warnings`` what else was found on the way."""

    def __init__(self, reason: str, warnings: list = ()):
        super().__init__(reason)
        self.warnings = list(warnings)


@attrs.frozen
class Refusal:
    """What a reader gives for an item it cannot read: where, why, and what it noticed before."""

    path: str
    reason: str
    warnings: list = attrs.Factory(list)
    foreign: bool = False  # the value is not of the file's format at all (not a claim, not a node)


@attrs.frozen
class Skip:
    """A node that is not a review (a WebPage), or a record another ledger signed."""

    path: str
    reason: str


@attrs.frozen
class ReadContext:
    """What every reader of one file needs besides the file: the URL relative URLs resolve against."""

    base_url: Optional[str] = None
    base_from: Optional[str] = None  # where base_url came from (--base-url, <link rel="canonical">), for the report


# --- text ------------------------------------------------------------------------------------
def _first(value, field: str, warnings: list):
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if len(value) > 1:
            warnings.append(f"{field}: {len(value)} values given; only the first is kept")
        return value[0]
    return value


def _visible(text: str, field: str, warnings: list) -> str:
    if text.isprintable():  # no control, format (bidirectional), private-use or surrogate character
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    cleaned, count = _INVISIBLE.subn("", text)
    if count:
        warnings.append(f"{field}: {count} invisible control character{'s' if count > 1 else ''} "
                        "(bidirectional, private-use or C0/C1 controls) removed")
    return cleaned


def shortened(text: str, limit: int) -> str:
    """``text`` cut at the last space before ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def text_from_untrusted(value, field: str, warnings: list, *, line: bool = True, limit: Optional[int] = -1) -> Optional[str]:
    """A non-empty string, stripped (one line, spaces collapsed, when ``line``); anything else is left out with a warning.

    Longer than ``limit`` characters (default: what the record field holds,
    1,000 for a line, 20,000 for text) it is cut at a word with a warning;
    ``limit=None`` keeps it whole for the caller to judge.
    """
    value = _first(value, field, warnings)
    if value is None:
        return None
    if not isinstance(value, str):
        warnings.append(f"{field}: expected text, found {type(value).__name__}; left out")
        return None
    text = _visible(value, field, warnings)
    text = " ".join(text.split()) if line else text.strip()
    limit = (LINE_MAX if line else TEXT_MAX) if limit == -1 else limit
    if limit is not None and len(text) > limit:
        warnings.append(f"{field}: {len(text):,} characters; the first {limit:,} are kept (cut at a word)")
        text = shortened(text, limit)
    return text or None


def label_from_untrusted(value, field: str, warnings: list) -> tuple[Optional[str], Optional[str]]:
    """(label, the whole text when the label is prose): a label is one short line.

    Desks sometimes put their whole verdict in the rating's name. Longer than
    LABEL_MAX characters or over several lines, its first line is the label
    (else its first sentence, else its first LABEL_MAX characters cut at a
    word) and the whole text goes to the review's explanation.
    """
    text = text_from_untrusted(value, field, warnings, line=False, limit=None)
    if text is None:
        return None, None
    lines = [" ".join(part.split()) for part in text.split("\n") if part.strip()]
    if len(lines) == 1 and len(lines[0]) <= LABEL_MAX:
        return lines[0], None
    label = lines[0]
    if len(label) > LABEL_MAX:
        label = _SENTENCE_END.split(label, 1)[0]
    label = shortened(label, LABEL_MAX)
    how = "first line is" if label == lines[0] else "first sentence is" if not label.endswith("…") else \
        f"first {LABEL_MAX} characters are"
    warnings.append(f"{field}: {len(text):,} characters over {len(lines)} line{'s' if len(lines) > 1 else ''}: "
                    f"its {how} the label and the whole text the explanation")
    return label, shortened(text, TEXT_MAX)


# --- what an item cannot do without ----------------------------------------------------------
def claim_text_from_untrusted(value, field: str, warnings: list) -> str:
    """The text of the reviewed claim; refused when it is missing or longer than a claim holds."""
    text = text_from_untrusted(value, field, warnings, line=False, limit=None)
    if not text:
        reason = next((w for w in warnings if w.startswith(field)), None)
        raise Refused(f"no {field}: the text of the claim is required" + (f" ({reason})" if reason else ""))
    if len(text) > TEXT_MAX:
        raise Refused(f"{field}: {len(text):,} characters; a claim's text holds at most {TEXT_MAX:,}")
    return text


def label_or_refusal(value, field: str, warnings: list, what: str) -> tuple[str, Optional[str]]:
    """The desk's label (and the whole text when it was prose); refused, with the real reason, when there is none."""
    label, prose = label_from_untrusted(value, field, warnings)
    if label:
        return label, prose
    reasons = [w for w in warnings if w.startswith(field)]
    raise Refused(f"{what}: the desk's own label is required" + (f" ({'; '.join(reasons)})" if reasons else ""))


def review_url_or_refusal(value, warnings: list, context: ReadContext, field: str = "url") -> Optional[str]:
    """The review's URL, a relative one resolved against the page's URL; refused when that is not known."""
    raw = value[0] if isinstance(value, list) and value else value
    if is_relative_url(raw) and context.base_url is None:
        raise Refused(f"{field} {raw.strip()!r} is relative and the URL of the page it came from is not known; "
                      "give it with --base-url (or import the HTML page, whose canonical link names it)")
    return url_from_untrusted(raw, field, warnings, context)


def explanation(prose: Optional[str], body: Optional[str]) -> Optional[str]:
    """The review's explanation: a label's prose, then the review body (when it is not the same text)."""
    if prose and body and body not in prose:
        return (prose + "\n\n" + body)[:TEXT_MAX]
    return prose or body



# --- dates and times ---------------------------------------------------------------------------
def _real_date(text: str) -> bool:
    parts = [int(p) for p in text.split("-")]
    try:
        datetime.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        return False
    return True


def date_from_untrusted(value, field: str, warnings: list) -> Optional[str]:
    """YYYY, YYYY-MM or YYYY-MM-DD (a day that exists) from a date or a timestamp's date part; otherwise left out."""
    if value is None or value == "":
        return None
    match = _DATE.match(value.strip()) if isinstance(value, str) else None
    if not match or not _real_date(match.group(0)):
        warnings.append(f"{field}: {value!r} is not a date (YYYY-MM-DD); left out")
        return None
    return match.group(0)


def time_from_untrusted(value, field: str, warnings: list) -> Optional[str]:
    """An RFC 3339 date-time as given (``T`` and ``Z`` upper case, ``:00`` seconds added when left out,
    ``+hhmm`` written ``+hh:mm``), or the date when that is all the value holds or its time has no zone."""
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else None
    match = _TIME.match(text) if text else None
    if match is None:
        date = date_from_untrusted(value, field, warnings)
        if date and date != text:
            warnings.append(f"{field}: {text!r} is not an RFC 3339 time (a time needs its zone, Z or +hh:mm); the date is kept")
        return date
    day, hour, minute, second, fraction, zone = match.groups()
    zone = "Z" if zone in "Zz" else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        datetime.datetime.fromisoformat(f"{day}T{hour}:{minute}:{second or '00'}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        warnings.append(f"{field}: {value!r} is not a date and time that exists; left out")
        return None
    return f"{day}T{hour}:{minute}:{second or '00'}{fraction or ''}{zone}"


# --- URLs and languages ------------------------------------------------------------------------
def is_relative_url(value) -> bool:
    """A string that names a place relative to a page (``/path``, ``../x``, ``//host/x``), not a URL with a scheme."""
    return isinstance(value, str) and bool(value.strip()) and not _SCHEME.match(value.strip())


def url_from_untrusted(value, field: str, warnings: list, base: Optional[ReadContext] = None) -> Optional[str]:
    """An http(s) URL exactly as given (short links are not followed), a relative one resolved against
    the page's URL when it is known; otherwise left out with a warning."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        value = value.get("url") or value.get("@id")
    text = value.strip() if isinstance(value, str) else None
    if text and is_relative_url(text):
        if base is None or base.base_url is None:
            warnings.append(f"{field}: {text!r} is a relative URL and the page's URL is not known; left out (give --base-url)")
            return None
        resolved = urljoin(base.base_url, text)
        warnings.append(f"{field}: relative URL {text!r} resolved against {base.base_url} ({base.base_from})")
        text = resolved
    if text and _URL.match(text) and len(text) <= 2048:
        return text
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
            number = int(d) if d.is_finite() and d == d.to_integral_value() else None
        except (decimal.InvalidOperation, ValueError):
            number = None
    if number is None or not -1000 <= number <= 1000:
        warnings.append(f"{field}: {value!r} is not a whole number between -1000 and 1000; left out")
        return None
    return number
