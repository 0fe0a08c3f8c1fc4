"""Canonical bytes: RFC 8785 JSON Canonicalization Scheme (JCS).

This is the one function that turns a value into the bytes that get signed,
hashed and stored as a Merkle leaf. Nothing signed is ever produced with plain
``json.dumps``.

Floats are refused (RFC 8785 §3.2.2.3 serializes IEEE 754 doubles, whose
rounding would make a quantity like 0.1 mean different things to different
readers); quantities are decimal strings or integers. Integers are limited to
the I-JSON safe range (RFC 7493 §2.2) so every JSON parser reads them exactly.
"""

import json

import rfc8785

from ledger.errors import FormatError

MAX_SAFE_INTEGER = 2**53 - 1


# RFC 8785 serializes strings (§3.2.2.2) and integers in the I-JSON range
# (§3.2.2.3) exactly as Python's json module does with ensure_ascii=False and
# no spaces: control characters U+0000..U+001F as \b \t \n \f \r or \u00xx
# (lower-case hex), '"' and '\\' escaped, everything else as itself. The one
# difference is the order of object members: RFC 8785 §3.2.3 sorts names by
# UTF-16 code units, sort_keys by code points. The two orders agree unless a
# name holds a character outside the Basic Multilingual Plane (a surrogate
# pair in UTF-16), so only such values go through the rfc8785 package.
# tests/test_canonical.py checks both paths give the same bytes (Hypothesis).
def _no_default(value):
    raise TypeError(f"{type(value).__name__} is not a JSON value")  # never reached: _walk checks types first


if json.encoder.c_make_encoder is not None:
    # The C encoder json.dumps would build on every call, built once:
    # (markers, default, string encoder, indent, key separator, item separator,
    # sort_keys, skipkeys, allow_nan), as json.encoder.JSONEncoder.iterencode does.
    _c_encoder = json.encoder.c_make_encoder(None, _no_default, json.encoder.encode_basestring, None, ":", ",", True, False, False)

    def _fast_encode(value) -> str:
        return "".join(_c_encoder(value, 0))
else:  # pragma: no cover - CPython always has the C accelerator
    _fast_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                                    allow_nan=False, check_circular=False).encode
_SIMPLE = (str, bool, type(None))


def _walk(value) -> bool:
    """Check that value can be signed; True when json's key order is RFC 8785's.

    Raises FormatError without a path; _check walks again to name the field.
    """
    kind = type(value)
    if kind in _SIMPLE:
        return True
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return True
        raise FormatError
    if kind is dict:
        return _walk_object(value)
    if kind is list or kind is tuple:
        return _walk_array(value)
    # Subclasses of str, int, dict or list, floats and anything else go to
    # _check (which refuses what cannot be signed) and then to rfc8785.
    raise FormatError


def _walk_object(value: dict) -> bool:
    fast = True
    for key, item in value.items():
        if type(key) is not str:
            raise FormatError
        if not key.isascii() and max(key) > "\uffff":
            fast = False  # a name outside the BMP: UTF-16 order differs from code point order
        if type(item) not in _SIMPLE and not _walk(item):
            fast = False
    return fast


def _walk_array(value) -> bool:
    fast = True
    for item in value:
        if type(item) not in _SIMPLE and not _walk(item):
            fast = False
    return fast


def _check(value, path):
    # The slow walk that names the offending field in its error.
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise FormatError(f"{path}: integer {value} is outside the I-JSON safe range")
        return
    if isinstance(value, float):
        raise FormatError(f"{path}: floats are not allowed in signed data; use a decimal string")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise FormatError(f"{path}: object keys must be strings, found {key!r}")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    raise FormatError(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_bytes(value) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value."""
    if type(value) is str and value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        # Printable ASCII without '"' or '\\' needs no escape (§3.2.2.2): an
        # entry's signature and signer ID.
        return b'"' + value.encode("ascii") + b'"'
    try:
        fast = _walk(value)
    except FormatError:
        _check(value, "$")  # raises the error, naming the field
        fast = False  # only unusual types (e.g. a str subclass): leave them to rfc8785
    if fast:
        try:
            return _fast_encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 give its error below
    return _rfc8785_bytes(value)


def _rfc8785_bytes(value) -> bytes:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError) as e:
        raise FormatError(f"cannot canonicalize: {e}") from e


def _reject_constant(name):
    raise FormatError(f"{name} is not valid JSON")


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise FormatError(f"duplicate object key {key!r}")
        obj[key] = value
    return obj


def _reject_float(text):
    raise FormatError(f"number {text} has a fraction or exponent; use a decimal string")


# One decoder for every parse: json.loads with hooks builds a new one (and its
# scanner) on every call, which costs more than parsing a small record.
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_float=_reject_float, parse_constant=_reject_constant)


def parse_json_untrusted(data) -> object:
    """Parse JSON from outside: strict UTF-8, no NaN/Infinity, no duplicate keys, no floats.

    Numbers with a fraction or exponent are rejected rather than silently
    turned into floats, since they could never be signed.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FormatError(f"not valid UTF-8 at byte {e.start}") from e
    if data.startswith("\ufeff"):
        data = data[1:]
    try:
        return _STRICT_DECODER.decode(data)
    except json.JSONDecodeError as e:
        raise FormatError(f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    except ValueError as e:
        # Python refuses to convert integers of more than 4300 digits.
        raise FormatError("malformed JSON: an integer has too many digits") from e
    except RecursionError as e:
        raise FormatError("malformed JSON: nested too deeply") from e


def is_canonical(data: bytes) -> bool:
    """True when ``data`` is exactly the canonical form of the JSON it holds."""
    try:
        return canonical_bytes(parse_json_untrusted(data)) == data
    except FormatError:
        return False
