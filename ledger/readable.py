"""How ledger values read on the site's pages: direction, URLs, dates, ratings, the log key's fingerprint.

Pure functions over values the pages show (docs/site.md, "Reader pages").
Nothing here changes what is signed; it only decides how a person sees it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime
from typing import NamedTuple, Optional
from urllib.parse import quote, urlsplit

# --- direction (HTML's dir attribute) ---------------------------------------------------------------

# Scripts written right to left (ISO 15924 codes of BCP 47 script subtags).
RTL_SCRIPTS = {"arab", "hebr", "syrc", "thaa", "nkoo", "adlm", "rohg", "samr", "mand", "yezi", "mend", "hung"}
# Languages whose usual script is one of those (BCP 47 primary subtags; CLDR's likely scripts).
RTL_LANGUAGES = {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ji", "ks", "lrc", "mzn", "nqo", "pnb", "ps", "prs", "sd",
                 "syr", "ug", "ur", "yi", "glk", "bal", "bqi", "azb", "khw", "sdh"}


def text_direction(language: Optional[str]) -> str:
    """``rtl`` or ``ltr`` for a text in a known BCP 47 language (its script subtag first), ``auto`` when unknown.

    With no language, the browser decides from the text's first strong
    character (HTML's ``dir="auto"``); with one, the language decides, so an
    Arabic sentence that opens with a Latin name still reads right to left.
    """
    if not language:
        return "auto"
    subtags = language.lower().replace("_", "-").split("-")
    script = next((s for s in subtags[1:] if len(s) == 4 and s.isalpha()), None)
    if script is not None:
        return "rtl" if script in RTL_SCRIPTS else "ltr"
    return "rtl" if subtags[0] in RTL_LANGUAGES else "ltr"


# --- URLs as text -----------------------------------------------------------------------------------

URL_SHOWN = 64  # characters of a URL shown before it is shortened in the middle


_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _printable(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cn")


def _decoded_run(match: re.Match) -> str:
    """One run of %-escapes, with the non-ASCII characters it spells in UTF-8 decoded.

    ASCII stays escaped (a decoded %2F would read as another path), and so do
    controls, white space and bidirectional formatting characters (a decoded
    U+202E could make the link text read as another URL), and bytes that are
    not UTF-8.
    """
    try:
        text = bytes.fromhex(match[0].replace("%", "")).decode("utf-8")
    except UnicodeDecodeError:
        return match[0]
    return "".join(c if ord(c) > 127 and _printable(c) else quote(c, safe="") for c in text)


def _readable_part(part: str) -> str:
    return _ESCAPES.sub(_decoded_run, part)


def _shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head, tail = (limit * 3) // 5, limit - (limit * 3) // 5 - 1
    start, end = head, len(text) - tail
    # Never cut a mark from its letter.
    while start > 0 and unicodedata.category(text[start])[0] == "M":
        start -= 1
    while end < len(text) and unicodedata.category(text[end])[0] == "M":
        end += 1
    return text[:start] + "…" + text[end:]


def readable_url(url: str, limit: int = URL_SHOWN) -> str:
    """The URL as a reader should see it: no scheme, the path decoded, long ones shortened in the middle.

    The host stays as written (``xn--`` labels included): a decoded host
    could imitate another site's name. The link's ``href`` is always the
    URL itself; this is only its text.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _shortened(url, limit)
    shown = parts.netloc + _readable_part(parts.path)
    if parts.query:
        shown += "?" + _readable_part(parts.query)
    if parts.fragment:
        shown += "#" + _readable_part(parts.fragment)
    return _shortened(shown.rstrip("/") if parts.path in ("", "/") and not parts.query else shown, limit)


# --- dates ------------------------------------------------------------------------------------------

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # English, whatever the server's locale


def _parsed(value: str, patterns) -> Optional[datetime]:
    for pattern in patterns:
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    return None


def readable_date(value: Optional[str]) -> Optional[str]:
    """``2024-04-15`` or ``2024-04-15T10:00:00Z`` as "15 April 2024" (UTC); other texts as they are."""
    when = _parsed(value, ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d")) if value else None
    return f"{when.day} {MONTHS[when.month - 1]} {when.year}" if when else value


def readable_time(value: Optional[str]) -> Optional[str]:
    """``2024-04-15T10:00:00Z`` as "15 April 2024, 10:00 UTC"; a date alone as ``readable_date``."""
    when = _parsed(value, ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")) if value else None
    return f"{readable_date(value)}, {when:%H:%M} UTC" if when else readable_date(value)


# --- ratings ----------------------------------------------------------------------------------------

class Gloss(NamedTuple):
    """A normalized rating in English: its name, and what it means in a few words."""

    key: str
    name: str
    meaning: str


NOT_YET_RATED = Gloss("not-yet-rated", "Not yet rated", "the desk has not reviewed this claim yet")
RATING_GLOSSES = {
    "true": Gloss("true", "True", "accurate, with nothing significant missing"),
    "mostly-true": Gloss("mostly-true", "Mostly true", "accurate, but needs clarification or more context"),
    "mixed": Gloss("mixed", "Mixed", "partly accurate and partly not"),
    "mostly-false": Gloss("mostly-false", "Mostly false", "has an element of truth but leaves out facts that change it"),
    "false": Gloss("false", "False", "not accurate"),
    "misleading": Gloss("misleading", "Misleading", "facts presented so that they give a false impression"),
    "unproven": Gloss("unproven", "Unproven", "the evidence available neither proves nor disproves it"),
    "unrated": Gloss("unrated", "Not on the common scale", "the desk's own label has no normalized rating"),
}


def rating_gloss(normalized: Optional[str]) -> Gloss:
    """The English gloss of a normalized rating (``ledger.records.RATINGS``); None is "not yet rated"."""
    if normalized is None:
        return NOT_YET_RATED
    return RATING_GLOSSES.get(normalized, Gloss(normalized, normalized, "a rating this site does not know"))


# --- the log key's fingerprint ----------------------------------------------------------------------

def key_fingerprint(vkey: str) -> str:
    """SHA-256, in hex, of the verifier key line as ``/-/vkey`` serves it (the key and "\\n").

    Anyone recomputes it with ``curl -s SITE/-/vkey | sha256sum`` or
    ``ledger key vkey DB | sha256sum``; publish/static/ledger-verify.js
    computes the same (docs/browser-verify.md, "What it trusts").
    """
    return hashlib.sha256((vkey + "\n").encode("utf-8")).hexdigest()


def grouped_fingerprint(fingerprint: str) -> str:
    """The fingerprint in groups of eight hex digits, as every page shows it (and ledger-verify.js)."""
    return " ".join(fingerprint[i:i + 8] for i in range(0, len(fingerprint), 8))
