"""Which format a feed file is in, and its units (docs/interop.md "Accepted shapes" and "Detection").

``open_feed_untrusted`` reads the start of a file and decides, when no
format is given, in this order:

1. it starts with ``<`` (after white space): an HTML page; its JSON-LD is ClaimReview;
2. its first line is one JSON object that is a ledger record (``kind`` and
   ``id``) or an entry of a ledger export (``record`` and ``sig``): ``jsonl``;
3. otherwise the first unit of the JSON (``jsonstream``) decides: a unit of a
   ``claims`` array, an object with ``claims`` or ``claimReview``, or with
   ``text`` and ``claimant``: ``factcheck-api``; a unit of ``@graph``,
   ``dataFeedElement`` or ``itemListElement``, or an object with ``@type`` or
   ``@context``: ``claimreview``;
4. anything else is refused: the error names the first value's keys and asks for ``--format``.

A given ``--format`` that the file contradicts (an HTML page as
``factcheck-api``) is refused the same way. ``FeedFile.shape`` says in words
what was found ("a JSON array of claims", "an HTML page with 3 JSON-LD blocks").
"""

from __future__ import annotations

import io
import itertools
from typing import BinaryIO, Callable, Iterator, Optional

import attrs

from ledger.errors import FormatError
from ledger.interop.factcheck_api import is_claim, is_response
from ledger.interop.feed import ReadContext, Refusal
from ledger.interop.htmlpage import looks_like_html, page_from_untrusted
from ledger.interop.jsonstream import Unit, parse_value_untrusted, units_from_untrusted

FORMATS = ("claimreview", "factcheck-api", "jsonl")
_RECORD_KINDS = {"source", "claim", "review", "correction", "retraction", "key", "ratingmap"}
HEAD = 1 << 16


@attrs.define
class FeedFile:
    format: str
    shape: str
    detected: bool  # the format was found here, not given
    units: Iterator[Unit]
    context: ReadContext
    refused: list = attrs.Factory(list)  # Refusal of blocks that could not be read (an HTML script that is not JSON)


class _Rejoined(io.RawIOBase):
    """The bytes already read (``head``), then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self.head, self.stream = head, stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.head:
            part, self.head = (self.head, b"") if size < 0 or size >= len(self.head) else (self.head[:size], self.head[size:])
            return part
        return self.stream.read(size)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def open_feed_untrusted(stream: BinaryIO, name: str, fmt: Optional[str] = None, base_url: Optional[str] = None,
                        on_read: Optional[Callable[[int], None]] = None) -> FeedFile:
    """The format, shape and units of a feed file (``fmt`` None: detected); ``on_read(n)`` hears of the bytes read."""
    if fmt is not None and fmt not in FORMATS:
        raise FormatError(f"unknown import format {fmt!r}; expected one of {', '.join(FORMATS)}")
    head = stream.read(HEAD)
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise FormatError(f"{name} is empty")
    if looks_like_html(head):
        data = head + stream.read()
        if on_read:
            on_read(len(data))
        return _html_feed(data, name, fmt, base_url)
    return _json_feed(head, stream, name, fmt, ReadContext(base_url, "--base-url" if base_url else None), on_read)


def _json_feed(head: bytes, stream: BinaryIO, name: str, fmt: Optional[str], context: ReadContext,
               on_read: Optional[Callable[[int], None]]) -> FeedFile:
    """A JSON or JSON-lines feed: records a line, or units found in its first value's shape."""
    rest = _Rejoined(head, stream)
    starts_array = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")
    if (fmt == "jsonl" and not starts_array) or (fmt in (None, "jsonl") and _first_line_is_record(head)):
        return FeedFile("jsonl", "records, one a line", fmt is None, _lines(rest, name, on_read), context)
    units = units_from_untrusted(rest, name, on_read)
    first = next(units, None)
    if first is None:
        if fmt is None:
            raise FormatError(f"{name} holds nothing to import (an empty array or object)")
        return FeedFile(fmt, "empty", False, iter(()), context)
    found = _format_of(first)
    if fmt is None and found is None:
        keys = sorted(first.value)[:8] if isinstance(first.value, dict) else type(first.value).__name__
        raise FormatError(f"{name}: cannot tell the format from its first value at {first.path} ({keys}); "
                          "give --format claimreview, factcheck-api or jsonl")
    detected = fmt is None
    fmt = fmt or found
    return FeedFile(fmt, _shape(fmt, first), detected, itertools.chain([first], units), context)


def _first_line_is_record(head: bytes) -> bool:
    line = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    try:
        value = parse_value_untrusted(line.decode("utf-8"), "the first line")
    except (FormatError, UnicodeDecodeError):
        return False
    return isinstance(value, dict) and ((value.get("kind") in _RECORD_KINDS and "id" in value)
                                        or ("record" in value and "sig" in value))


def _lines(stream, name: str, on_read=None) -> Iterator[Unit]:
    """Each non-empty line of a JSONL file of records as a unit; a line that is not JSON is a unit whose value is
    its FormatError (that line is refused, the others are read)."""
    for number, line in enumerate(io.BufferedReader(stream, 1 << 20), 1):
        if on_read:
            on_read(len(line))
        if not line.strip():
            continue
        try:
            value = parse_value_untrusted(line.decode("utf-8-sig" if number == 1 else "utf-8"), "the line")
        except UnicodeDecodeError as e:
            value = FormatError(f"the line is not UTF-8 text: {e.reason} at byte {e.start}")
        except FormatError as e:
            value = e
        yield Unit(f"line {number}", value, None)


def _format_of(unit: Unit) -> Optional[str]:
    value = unit.value
    if unit.container == "claims" or is_response(value) or is_claim(value):
        return "factcheck-api"
    if unit.container in ("@graph", "dataFeedElement", "itemListElement"):
        return "claimreview"
    if isinstance(value, dict) and ("@type" in value or "@context" in value or "@graph" in value):
        return "claimreview"
    if isinstance(value, dict) and value.get("kind") in _RECORD_KINDS and "id" in value:
        return "jsonl"  # records in a JSON array (or one record)
    return None


def _shape(fmt: str, first: Unit) -> str:
    several = first.path.startswith("line ")
    if fmt == "factcheck-api":
        if first.container == "claims":
            return "several API responses, one after another" if several else "an API response ({\"claims\": [...]})"
        if is_response(first.value):
            return "a JSON array of API responses" if first.container == "[]" else "API responses, one a line"
        return "a JSON array of claims" if first.container == "[]" else "claims, one a line" if several else "one claim"
    if fmt == "claimreview":
        by_container = {"@graph": "JSON-LD with an @graph", "dataFeedElement": "a schema.org DataFeed",
                        "itemListElement": "a schema.org ItemList", "[]": "a JSON array of ClaimReview nodes"}
        if first.container in by_container:
            return by_container[first.container] + (", several one after another" if several else "")
        return "ClaimReview nodes, one a line" if several else "one JSON-LD object"
    return "a JSON array of records" if first.container == "[]" else "records, one a line" if several else "one record"


def _html_feed(data: bytes, name: str, fmt: Optional[str], base_url: Optional[str]) -> FeedFile:
    if fmt not in (None, "claimreview"):
        raise FormatError(f"{name} is an HTML page, not --format {fmt}: its JSON-LD is read as ClaimReview "
                          "(use --format claimreview, or leave --format out)")
    page = page_from_untrusted(data, name, base_url)
    units, refused = [], []
    for number, (line, text) in enumerate(page.blocks, 1):
        where = f"script[{number}]"
        try:
            value = parse_value_untrusted(text, f"{where} (line {line})")
        except FormatError as e:
            refused.append(Refusal(where, str(e)))
            continue
        units.append(Unit(f"{where} $", value, "script"))
    if not page.blocks:
        raise FormatError(f"{name} is an HTML page with no <script type=\"application/ld+json\"> block")
    count = len(page.blocks)
    shape = f"an HTML page with {count} JSON-LD block{'s' if count > 1 else ''}"
    return FeedFile("claimreview", shape, fmt is None, iter(units), ReadContext(page.url, page.url_from), refused)

