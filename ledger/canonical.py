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


def _check(value, path):
    # Walk once before rfc8785 so the error can name the offending field.
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
    _check(value, "$")
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

    def no_float(text):
        raise FormatError(f"number {text} has a fraction or exponent; use a decimal string")

    try:
        return json.loads(
            data,
            object_pairs_hook=_no_duplicates,
            parse_float=no_float,
            parse_constant=_reject_constant,
        )
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
