"""JSON values read from a feed file a piece at a time, so memory follows the piece, not the file.

A feed file holds one JSON value (an array, an object), several values one
after the other (JSONL, or API pages pasted together), or a page's worth of
JSON-LD. ``units_from_untrusted`` yields its *units*: the elements of a
top-level array, the elements of the one big array of a top-level object
(``claims``, ``@graph``, ``dataFeedElement``, ``itemListElement``), or a
whole value. Each unit is parsed on its own (``json``'s decoder on a window of
the text), with where it is in the file (``$.claims[3]``, ``line 5``), so a
200 MB dump costs the memory of its largest unit.

The parser is as lenient as the feeds it reads need (RFC 8259 JSON; numbers
with a fraction become ``Decimal``, never float) and as strict as signed data
needs: a duplicate object key or NaN is an error, and so is anything that is
not JSON between values.
"""

from __future__ import annotations

import codecs
import decimal
import json
from typing import BinaryIO, Callable, Iterator, NamedTuple, Optional

from ledger import canonical
from ledger.errors import FormatError

# The keys whose array is a feed's list of units (docs/interop.md "Accepted shapes").
CONTAINER_KEYS = ("claims", "@graph", "dataFeedElement", "itemListElement")
CHUNK = 1 << 18
# The units of the first top-level value are held back, while they come from the first
# HOLD characters of the file, to learn whether more values follow it (then every
# unit is named by its line): enough for an API page, little memory.
HOLD = 1 << 20


class Unit(NamedTuple):
    """One piece of a feed file: ``value`` at ``path``; ``container`` is the key or
    ``"[]"`` of the array it is an element of, None for a whole top-level value."""

    path: str
    value: object
    container: Optional[str]


# The strict parser's own refusals (a duplicate key, NaN), with the fractions feeds carry as decimals.
DECODER = json.JSONDecoder(object_pairs_hook=canonical._no_duplicates, parse_float=decimal.Decimal,
                           parse_constant=canonical._reject_constant)


def parse_value_untrusted(text: str, where: str) -> object:
    """One whole JSON value from ``text`` (an HTML script block, a line)."""
    try:
        value, end = DECODER.raw_decode(text, len(text) - len(text.lstrip()))
    except json.JSONDecodeError as e:
        raise FormatError(f"{where} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except (ValueError, RecursionError) as e:
        raise FormatError(f"{where} is not valid JSON: {e}") from e
    if text[end:].strip():
        raise FormatError(f"{where} is not valid JSON: more text after the value at character {end}")
    return value


class _Text:
    """The file's text, decoded as UTF-8 a chunk at a time, with a read position and its line."""

    def __init__(self, stream: BinaryIO, name: str, on_read: Optional[Callable[[int], None]] = None):
        self.stream, self.name, self.on_read = stream, name, on_read
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buf, self.pos, self.eof, self.bytes_read = "", 0, False, 0
        self.dropped = 0  # characters read and dropped from buf
        # The line of buf[counted] (lines are counted lazily, forward only).
        self.counted, self.counted_line = 0, 1
        self.fill()
        if self.buf.startswith("\ufeff"):
            self.pos = 1

    def fill(self) -> bool:
        """Read one more chunk; False at the end of the file."""
        if self.eof:
            return False
        data = self.stream.read(CHUNK)
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raise FormatError(f"{self.name} is not UTF-8 text: {e.reason} at byte {self.bytes_read + e.start}") from e
        self.bytes_read += len(data)
        self.eof = not data
        if self.on_read and data:
            self.on_read(len(data))
        if self.pos > CHUNK:  # drop what was read, keeping the line count
            self.line_at(self.pos)
            self.dropped += self.pos
            self.buf, self.counted, self.pos = self.buf[self.pos:], 0, 0
        self.buf += text
        return True

    def line_at(self, pos: int) -> int:
        """The line of ``buf[pos]``, for ``pos`` at or after the last position asked about."""
        if pos >= self.counted:
            self.counted_line += self.buf.count("\n", self.counted, pos)
        else:
            self.counted_line -= self.buf.count("\n", pos, self.counted)
        self.counted = pos
        return self.counted_line

    def peek(self) -> str:
        """The next character that is not white space ("" at the end), without reading it."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or not self.fill():
                return self.buf[self.pos:self.pos + 1]

    def expect(self, char: str, what: str) -> None:
        found = self.peek()
        if found != char:
            self.error(f"expected {what}, found {found!r}" if found else f"expected {what}, found the end of the file")
        self.pos += 1

    def value(self) -> object:
        """The JSON value at the read position; reads more of the file until it is whole."""
        self.peek()
        while True:
            try:
                value, end = DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if self._may_continue(e) and self.fill():
                    continue
                raise FormatError(f"{self.name} is not valid JSON: {e.msg} at {self.where(max(e.pos, self.pos))}") from e
            except FormatError as e:  # a duplicate key, NaN: from the decoder's hooks
                raise FormatError(f"{self.name} is not valid JSON: {e} in the value at line {self.line_at(self.pos)}") from e
            except (ValueError, RecursionError) as e:
                raise FormatError(f"{self.name} is not valid JSON at line {self.line_at(self.pos)}: {e}") from e
            # A value that ends where the text read so far ends (a number, a word) may go on.
            if end < len(self.buf) or not self.fill():
                self.pos = end
                return value

    def _may_continue(self, e: json.JSONDecodeError) -> bool:
        # What a value cut by the end of the text read so far looks like: an error
        # at (or a few characters before) that end, or a string left open.
        return e.pos >= len(self.buf) - 12 or e.msg.startswith("Unterminated string")

    def where(self, pos: int) -> str:
        """"line L column C" of ``buf[pos]`` (columns from 1, in characters)."""
        return f"line {self.line_at(pos)} column {pos - self.buf.rfind(chr(10), 0, pos)}"

    def error(self, message: str):
        raise FormatError(f"{self.name} is not valid JSON: {message} at {self.where(self.pos)}")

    def current_line(self) -> int:
        return self.line_at(self.pos)


def _elements(text: _Text, path: str, container: str) -> Iterator[Unit]:
    """The elements of the array at the read position, one unit each."""
    text.expect("[", "'['")
    if text.peek() == "]":
        text.pos += 1
        return
    index = 0
    while True:
        yield Unit(f"{path}[{index}]", text.value(), container)
        index += 1
        after = text.peek()
        text.pos += 1
        if after == "]":
            return
        if after != ",":
            text.pos -= 1
            text.error(f"expected ',' or ']' after element {index - 1} of {path}")


def _object_units(text: _Text, path: str) -> Iterator[Unit]:
    """The units of the object at the read position: its container array's elements,
    else the whole object (the rest of it is read and dropped, or kept when it is small)."""
    text.expect("{", "'{'")
    rest, streamed = {}, None
    while text.peek() != "}":
        if rest or streamed:
            text.expect(",", "',' between members")
        if text.peek() != '"':
            text.error("expected a member name in double quotes")
        key = text.value()
        text.expect(":", "':' after a member name")
        if key in CONTAINER_KEYS and not streamed and text.peek() == "[":
            streamed = key
            yield from _elements(text, f"{path}.{key}" if key.isidentifier() else f'{path}["{key}"]', key)
        else:
            if key in rest or key == streamed:
                text.error(f"duplicate object key {key!r}")
            rest[key] = text.value()
    text.pos += 1
    if not streamed:
        yield Unit(path, rest, None)


def _top_units(text: _Text, path: str) -> Iterator[Unit]:
    first = text.peek()
    if first == "[":
        yield from _elements(text, path, "[]")
    elif first == "{":
        yield from _object_units(text, path)
    else:
        yield Unit(path, text.value(), None)


def units_from_untrusted(stream: BinaryIO, name: str, on_read: Optional[Callable[[int], None]] = None) -> Iterator[Unit]:
    """Every unit of a JSON, concatenated-JSON or JSONL file, in file order.

    With one top-level value, paths start at ``$``; with several, each value
    is named by the line it starts on (``line 3``, ``line 3 $.claims[0]``).
    ``on_read(n)`` is told of every ``n`` bytes read (a progress bar).
    """
    text = _Text(stream, name, on_read)
    if not text.peek():
        raise FormatError(f"{name} is empty")
    held, single = [], None
    units = _top_units(text, "$")
    for unit in units:
        held.append(unit)
        if text.dropped + text.pos >= HOLD:
            single = True
            break
    if single is None:
        single = not text.peek()
    if single:
        yield from held
        yield from units
    else:
        yield from (_on_line(unit, 1) for unit in held)
    while text.peek():
        line = text.current_line()
        yield from (_on_line(unit, line) for unit in _top_units(text, "$"))


def member(path: str, suffix: str) -> str:
    """The path of ``suffix`` (``.claims[2]``, ``[0]``) inside the value at ``path``: ``$.x.claims[2]``,
    ``line 4 $.claims[2]`` for a value named by its line."""
    return f"{path}{suffix}" if "$" in path else f"{path} ${suffix}"


def _on_line(unit: Unit, line: int) -> Unit:
    return unit._replace(path=f"line {line}" if unit.path == "$" else f"line {line} {unit.path}")
