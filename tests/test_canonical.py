"""ledger.canonical: RFC 8785 canonical bytes and the strict untrusted JSON parser."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from ledger.canonical import MAX_SAFE_INTEGER, canonical_bytes, is_canonical, parse_json_untrusted
from ledger.errors import FormatError, LedgerError

safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
json_values = st.recursive(
    st.none() | st.booleans() | safe_ints | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_round_trip(value):
    data = canonical_bytes(value)
    assert canonical_bytes(parse_json_untrusted(data)) == data
    assert parse_json_untrusted(data) == value
    assert is_canonical(data)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, min_size=2, max_size=8), st.randoms())
def test_key_order_is_irrelevant(obj, rnd):
    items = list(obj.items())
    rnd.shuffle(items)
    assert canonical_bytes(dict(items)) == canonical_bytes(obj)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=4), safe_ints, min_size=2, max_size=6))
def test_pretty_printed_json_is_not_canonical(obj):
    assert not is_canonical(json.dumps(obj, indent=1).encode())


def test_rfc8785_key_order_by_utf16_code_units():
    # RFC 8785 §3.2.3: sorting by UTF-16 code units puts U+1F600 (a surrogate
    # pair, 0xD83D...) before U+FB33, unlike sorting by code points.
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
             "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}
    data = canonical_bytes(value)
    keys = list(json.loads(data))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize("value, expected", [
    ({"b": 1, "a": [True, None, "x"]}, b'{"a":[true,null,"x"],"b":1}'),
    ("\u20ac\u00e9\n\u001f", '"\u20ac\u00e9\\n\\u001f"'.encode()),
    ("</script>\"\\", b'"</script>\\"\\\\"'),
    (-0, b"0"),
    (MAX_SAFE_INTEGER, b"9007199254740991"),
    (-MAX_SAFE_INTEGER, b"-9007199254740991"),
    ({}, b"{}"),
    ([], b"[]"),
])
def test_known_vectors(value, expected):
    assert canonical_bytes(value) == expected


def test_floats_refused_with_field_path():
    with pytest.raises(FormatError) as e:
        canonical_bytes({"record": {"quantity": [1, {"value": 0.1}]}})
    assert str(e.value) == "$.record.quantity[1].value: floats are not allowed in signed data; use a decimal string"


@pytest.mark.parametrize("n", [2**53, -(2**53), 2**64])
def test_integers_beyond_safe_range_refused(n):
    with pytest.raises(FormatError) as e:
        canonical_bytes({"n": n})
    assert str(e.value) == f"$.n: integer {n} is outside the I-JSON safe range"


@pytest.mark.parametrize("value, message", [
    ({1: "a"}, "$: object keys must be strings, found 1"),
    ({"a": b"x"}, "$.a: bytes is not a JSON value"),
    ({"a": {1, 2}}, "$.a: set is not a JSON value"),
])
def test_non_json_values_refused(value, message):
    with pytest.raises(FormatError) as e:
        canonical_bytes(value)
    assert str(e.value) == message


@pytest.mark.parametrize("data, message", [
    (b'{"a":1,"a":2}', "duplicate object key 'a'"),
    (b'[NaN]', "NaN is not valid JSON"),
    (b'[Infinity]', "Infinity is not valid JSON"),
    (b'[-Infinity]', "-Infinity is not valid JSON"),
    (b'{"x":1.5}', "number 1.5 has a fraction or exponent; use a decimal string"),
    (b'{"x":1e3}', "number 1e3 has a fraction or exponent; use a decimal string"),
    (b'"\xff"', "not valid UTF-8 at byte 1"),
    (b'{"a":\n  1,}', "malformed JSON at line 2 column 5: Expecting property name enclosed in double quotes"),
    (b'[1,\n2,\n3', "malformed JSON at line 3 column 2: Expecting ',' delimiter"),
    (b'', "malformed JSON at line 1 column 1: Expecting value"),
])
def test_parse_untrusted_refusals(data, message):
    with pytest.raises(FormatError) as e:
        parse_json_untrusted(data)
    assert str(e.value) == message


def test_parse_untrusted_accepts_str_and_bytes():
    assert parse_json_untrusted('{"a":[1,"\u0219"]}') == parse_json_untrusted('{"a":[1,"\u0219"]}'.encode()) == {"a": [1, "\u0219"]}


def test_parse_untrusted_huge_integer_is_a_format_error():
    with pytest.raises(LedgerError):
        parse_json_untrusted(b"1" * 5000)


def test_parse_untrusted_deep_nesting_is_a_format_error():
    with pytest.raises(LedgerError):
        parse_json_untrusted(b"[" * 100000)


def test_is_canonical_rejects_whitespace_and_order():
    assert is_canonical(b'{"a":1,"b":2}')
    assert not is_canonical(b'{"b":2,"a":1}')
    assert not is_canonical(b'{"a": 1,"b":2}')
    assert not is_canonical(b'{"a":1,"b":2}\n')
    assert not is_canonical(b'{"a":"\\u00e9"}')  # canonical form writes the character itself


# --- the json fast path against the rfc8785 package ------------------------------------------------
# canonical_bytes serializes with Python's json module unless a member name
# holds a character outside the BMP; both must give RFC 8785's bytes exactly.
import rfc8785  # noqa: E402

from ledger.canonical import _walk  # noqa: E402

any_chars = st.characters(blacklist_categories=())  # surrogates and non-characters included
bmp_edge = st.sampled_from(["\u0000", "\u001f", "\u007f", "\u0080", "\u2028", "\ud7ff", "\ue000", "\ufb33", "\uffff",
                            "\U00010000", "\U0001f600", "\U0010ffff", '"', "\\", "/", "\b", "\f", "\n", "\r", "\t"])
names = st.text(any_chars | bmp_edge, max_size=6)
wide_ints = st.integers(min_value=-(2**60), max_value=2**60) | st.sampled_from([MAX_SAFE_INTEGER, MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 0])
any_json = st.recursive(
    st.none() | st.booleans() | wide_ints | st.text(any_chars | bmp_edge, max_size=12),
    lambda children: st.lists(children, max_size=5) | st.tuples(children, children) | st.dictionaries(names, children, max_size=6),
    max_leaves=30,
)


def _reference(value):
    """rfc8785.dumps with the ledger's own refusals (floats, ints beyond 2**53-1)."""
    try:
        from ledger.canonical import _check
        _check(value, "$")
        return rfc8785.dumps(value)
    except Exception as e:  # noqa: BLE001 - any refusal counts as a refusal
        return type(e)


@settings(max_examples=600, deadline=None)
@given(any_json)
def test_fast_path_matches_rfc8785_package(value):
    expected = _reference(value)
    try:
        got = canonical_bytes(value)
    except FormatError:
        assert isinstance(expected, type), f"refused, but rfc8785 gives {expected!r}"
        return
    assert got == expected


@pytest.mark.parametrize("value, fast", [
    ({"kind": "claim", "text": "mașini-unelte \u20ac", "n": [1, True, None]}, True),
    ({"\u00f6": 1, "\ufb33": 2}, True),
    ({"\U0001f600": 1}, False),
    ({"a": {"b": [{"\U0001f600": 1}]}}, False),
    ("\U0001f600 in a value is fine", True),
])
def test_fast_path_taken_only_when_key_orders_agree(value, fast):
    assert _walk(value) is fast
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_lone_surrogate_refused_on_both_paths():
    for value in ("\ud800", {"a": "x\udfff"}, {"\ud800": 1}):
        with pytest.raises(FormatError):
            canonical_bytes(value)
