"""Reading feed files a piece at a time (``ledger.interop.jsonstream``), HTML pages' JSON-LD
(``htmlpage``), format detection (``shapes``), scripts by language (``language``), and memory that
follows the batch, not the file."""

import io
import json

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger.errors import FormatError
from ledger.interop import jsonstream
from ledger.interop.htmlpage import page_from_untrusted
from ledger.interop.language import contradicting_language
from ledger.interop.shapes import open_feed_untrusted


def _units(data: bytes):
    return [(u.path, u.value, u.container) for u in jsonstream.units_from_untrusted(io.BytesIO(data), "f.json")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _read(data: str, chunk: int):
    old, jsonstream.CHUNK = jsonstream.CHUNK, chunk
    try:
        return [(u.path, u.value) for u in jsonstream.units_from_untrusted(io.BytesIO(data.encode()), "f.json")]
    finally:
        jsonstream.CHUNK = old


@settings(max_examples=100, deadline=None)
@given(st.lists(json_values, max_size=12), st.integers(1, 40))
def test_array_elements_are_what_json_loads_reads_at_any_chunk_size(values, chunk):
    assert _read(json.dumps(values, ensure_ascii=False), chunk) == [(f"$[{i}]", v) for i, v in enumerate(values)]


@settings(max_examples=100, deadline=None)
@given(st.lists(json_values, max_size=12), st.integers(1, 40))
def test_a_container_arrays_elements_are_its_units(values, chunk):
    data = json.dumps({"nextPageToken": "x", "claims": values, "more": [1, 2]}, ensure_ascii=False)
    assert _read(data, chunk) == [(f"$.claims[{i}]", v) for i, v in enumerate(values)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.dictionaries(st.text(alphabet="abc", max_size=3), json_values, max_size=4), min_size=2, max_size=12),
       st.integers(1, 40))
def test_jsonl_lines_are_units_named_by_their_line(values, chunk):
    data = "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in values)
    assert _read(data, chunk) == [(f"line {i + 1}", v) for i, v in enumerate(values)]


def test_several_values_are_named_by_their_line():
    data = b'{"claims": [{"text": "a"}]}\n\n{"claims": [{"text": "b"}, {"text": "c"}]}\n'
    assert [p for p, _, _ in _units(data)] == ["line 1 $.claims[0]", "line 3 $.claims[0]", "line 3 $.claims[1]"]
    assert [p for p, _, _ in _units(b'{"a": 1}{"b": 2}')] == ["line 1", "line 1"]


@pytest.mark.parametrize("data,message", [
    (b'[{"a": 1},]', "f.json is not valid JSON: Expecting value at line 1 column 11"),
    (b'[1 2]', "f.json is not valid JSON: expected ',' or ']' after element 0 of $ at line 1 column 4"),
    (b'{"a": 1, "a": 2}', "f.json is not valid JSON: duplicate object key 'a' at line 1 column 14"),
    (b'{"claims": [], "claims": []}', "f.json is not valid JSON: duplicate object key 'claims' at line 1 column 25"),
    (b'[NaN]', "f.json is not valid JSON: NaN is not valid JSON in the value at line 1"),
    (b'{"a": "\xff"}', "f.json is not UTF-8 text: invalid start byte at byte 7"),
    (b'\n\n[1,\n{"a": tru}]', "f.json is not valid JSON: Expecting value at line 4 column 7"),
])
def test_what_is_not_json_is_one_error_with_its_place(data, message):
    with pytest.raises(FormatError) as e:
        _units(data)
    assert str(e.value) == message


def test_numbers_with_a_fraction_are_decimals_never_floats():
    ((_, value, _),) = _units(b'[{"ratingValue": 2.5}]')
    assert type(value["ratingValue"]).__name__ == "Decimal"


def test_an_html_page_gives_its_jsonld_blocks_and_url():
    html = b"""<html><head><base href="/fr/"><link rel="Canonical alternate" href="https://desk.example/a/b">
    <script type="application/ld+json; charset=utf-8"><!--{"@type": "NewsArticle"}--></script>
    <script type="text/javascript">var x = "<script type='application/ld+json'>";</script></head>
    <body><script type="APPLICATION/LD+JSON">{"@type": "ClaimReview"}</script></body></html>"""
    page = page_from_untrusted(html, "p.html")
    assert [text for _, text in page.blocks] == ['{"@type": "NewsArticle"}', '{"@type": "ClaimReview"}']
    assert (page.url, page.url_from) == ("https://desk.example/fr/", '<base href> against <link rel="canonical">')
    assert page_from_untrusted(html, "p.html", "https://other.example/x/y").url == "https://other.example/fr/"
    assert page_from_untrusted(b"<p>no links</p>", "p.html").url is None


def test_a_script_block_that_is_not_json_is_refused_alone():
    html = b'<script type="application/ld+json">{oops}</script><script type="application/ld+json">{"@type": "ClaimReview"}</script>'
    feed = open_feed_untrusted(io.BytesIO(html), "p.html")
    assert [r.path for r in feed.refused] == ["script[1]"]
    assert feed.refused[0].reason.startswith("script[1] (line 1) is not valid JSON")
    assert [u.path for u in feed.units] == ["script[2] $"]


@pytest.mark.parametrize("data,fmt,message", [
    (b"", None, "f.json is empty"),
    (b"  \n", None, "f.json is empty"),
    (b"[]", None, "f.json holds nothing to import (an empty array or object)"),
    (b'{"items": [1]}', None, "f.json: cannot tell the format from its first value at $ (['items']); "
                              "give --format claimreview, factcheck-api or jsonl"),
    (b"<html><p>hello</p></html>", None, 'f.json is an HTML page with no <script type="application/ld+json"> block'),
    (b'<script type="application/ld+json">{}</script>', "factcheck-api",
     "f.json is an HTML page, not --format factcheck-api: its JSON-LD is read as ClaimReview (use --format claimreview, "
     "or leave --format out)"),
])
def test_detection_errors(data, fmt, message):
    with pytest.raises(FormatError) as e:
        open_feed_untrusted(io.BytesIO(data), "f.json", fmt)
    assert str(e.value) == message


@pytest.mark.parametrize("tag,text,found", [
    ("en", "الصين تزود روسيا بكل الرقائق الإلكترونية", "ar"),
    ("en", "چین همه تراشه‌های روسیه را تأمین می‌کند", "fa"),
    ("pt", "Китай поставляет России все микросхемы", "und-Cyrl"),
    ("ar", "China supplies all of Russia's microchips", "und-Latn"),
    ("ar", "الصين تزود روسيا", None),  # agrees
    ("en", "Ukraine's ministry (وزارة) said on Monday", None),  # mostly Latin: not clear
    ("sr", "Кина снабдева Русију", None),  # Serbian is written in two scripts
    (None, "الصين", None), ("und", "الصين تزود", None), ("en", "12 %", None),
])
def test_a_language_tag_the_script_contradicts(tag, text, found):
    assert contradicting_language(tag, text) == found


# --- a feed's records are valid however odd the feed (the planner does not check them again) --------
odd_text = st.one_of(st.text(max_size=40), st.text(alphabet="ab \n\t\r\u202b\u2066\ue000\x00\x85\u200f", max_size=30),
                     st.sampled_from(["x" * 1500, "y " * 1200, "https://e.example/" + "p" * 1500, "/relative/path", "//host/x"]))
odd_value = st.one_of(st.none(), odd_text, st.integers(-5000, 5000), st.lists(odd_text, max_size=3),
                      st.dictionaries(st.sampled_from(["name", "url", "@id", "@type"]), odd_text, max_size=3))
odd_date = st.one_of(st.none(), st.sampled_from(["2024-02-30", "2024-02-29T10:00:00Z", "2025-04-28T19:23+0300",
                                                 "2025-04-28T19:23:46", "12 avril 2024", "2024", "2024-13"]), odd_text)


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({
    "claimReviewed": odd_text, "url": st.one_of(odd_value, st.just("https://desk.example/a")), "headline": odd_value,
    "datePublished": odd_date, "inLanguage": st.one_of(odd_value, st.just("pt-BR")), "reviewBody": odd_value,
    "author": odd_value, "reviewRating": st.fixed_dictionaries({"alternateName": odd_value, "ratingValue": odd_value,
                                                                "bestRating": odd_value, "worstRating": odd_value}),
    "itemReviewed": st.fixed_dictionaries({"author": odd_value, "datePublished": odd_date, "appearance": odd_value,
                                           "firstAppearance": odd_value})}), st.booleans())
def test_the_records_of_any_item_are_valid(node, with_base):
    from ledger.interop import claimreview
    from ledger.interop.feed import FeedItem, ReadContext
    from ledger.interop.feed_records import records_of, review_key
    from ledger.interop.identity import Identity
    from ledger.interop.jsonstream import Unit
    from ledger.records import Record

    context = ReadContext("https://desk.example/page/" if with_base else None, "--base-url" if with_base else None)
    (result,) = claimreview.items_from_units([Unit("$", {"@type": "ClaimReview", **node}, None)], context)
    event("read" if isinstance(result, FeedItem) else "refused")
    if not isinstance(result, FeedItem):
        return
    identity = Identity("review:cr-0123456789abcdef", "claim:cr-0123456789abcdef")
    for record in records_of(result, identity, review_key(result) or "k", ("unrated", "unrated: not in a map"), "note"):
        Record.check_dict({**record, "version": 1, "created": "2025-01-01T00:00:00Z"})
