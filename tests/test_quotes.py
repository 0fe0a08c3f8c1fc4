"""ledger.quotes: W3C TextQuote/TextPosition anchors, offsets in code points."""

import pytest
from hypothesis import given, settings, strategies as st

from ledger.errors import RecordError
from ledger.quotes import CONTEXT, anchor_in_snapshot, anchor_quote, check_quote, snapshot_text
from ledger.records import Quote

TEXT = "China a crescut vânzările. Rusia a primit optică. Rusia a primit optică militară."


def test_unique_quote():
    q = anchor_quote(TEXT, "vânzările")
    assert (q.start, q.end) == (16, 25)
    assert TEXT[q.start:q.end] == "vânzările"
    assert q.prefix == TEXT[:16] and q.suffix == TEXT[25:25 + CONTEXT]
    check_quote(TEXT, q, "here")


def test_ambiguous_quote():
    with pytest.raises(RecordError) as e:
        anchor_quote(TEXT, "Rusia a primit optică")
    assert str(e.value) == "the quote 'Rusia a primit optică' occurs 2 times in the snapshot; give --start, a prefix or a suffix"


def test_not_found():
    with pytest.raises(RecordError) as e:
        anchor_quote(TEXT, "vanzarile")
    assert str(e.value) == ("quote not found in the snapshot: 'vanzarile' (copy it exactly, including diacritics and "
                            "punctuation)")


def test_empty_quote():
    with pytest.raises(RecordError, match="^the quote is empty$"):
        anchor_quote(TEXT, "")


def test_prefix_disambiguates():
    q = anchor_quote(TEXT, "Rusia a primit optică", prefix="optică. ")
    assert q.start == TEXT.rindex("Rusia a primit optică")


def test_suffix_and_start_disambiguate():
    first = TEXT.index("Rusia a primit optică")
    assert anchor_quote(TEXT, "Rusia a primit optică", suffix=".").start == first
    assert anchor_quote(TEXT, "Rusia a primit optică", start=first).start == first


def test_no_match_with_prefix():
    with pytest.raises(RecordError) as e:
        anchor_quote(TEXT, "Rusia a primit optică", prefix="nowhere ")
    assert str(e.value) == "the quote 'Rusia a primit optică' occurs in the snapshot, but not with the given prefix, suffix or start"


def test_anchor_in_snapshot_is_anchor_quote_in_its_text():
    snapshot = ("text/plain; charset=utf-8", TEXT.encode())
    assert anchor_in_snapshot(snapshot, "source:s", "vânzările") == anchor_quote(TEXT, "vânzările")
    first = TEXT.index("Rusia a primit optică")
    assert anchor_in_snapshot(snapshot, "source:s", "Rusia a primit optică", start=first).start == first


def test_anchor_in_snapshot_without_a_snapshot_anchors_nothing():
    assert anchor_in_snapshot(None, "source:s", "anything") is None


@pytest.mark.parametrize("snapshot", [("image/png", b"\x89PNG"), ("text/plain", b"\xff\xfe")], ids=["not-text", "not-utf8"])
def test_anchor_in_snapshot_that_is_not_text(snapshot):
    with pytest.raises(RecordError) as e:
        anchor_in_snapshot(snapshot, "source:png", "PNG")
    assert str(e.value) == "the snapshot of source:png is not UTF-8 text"


def test_overlapping_occurrences_are_counted():
    with pytest.raises(RecordError, match="occurs 2 times"):
        anchor_quote("aaa", "aa")


def test_offsets_are_code_points_with_combining_characters_and_emoji():
    # "s" + U+0326 COMBINING COMMA BELOW is two code points; the emoji is one
    # code point (two UTF-16 units, four UTF-8 bytes).
    text = "s\u0326i 😀👍🏽 — ținta e aici"
    q = anchor_quote(text, "ținta")
    assert (q.start, q.end) == (10, 15)
    assert text[10:15] == "ținta"
    assert len(text[:10].encode("utf-16-le")) // 2 == 13  # not UTF-16 units
    assert len(text[:10].encode("utf-8")) == 22  # not bytes
    check_quote(text, q, "x")


def test_combining_sequence_is_not_the_precomposed_letter():
    with pytest.raises(RecordError, match="^quote not found"):
        anchor_quote("s\u0326i", "\u0219i")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40), st.text(min_size=1, max_size=10), st.text(max_size=40))
def test_anchor_then_check(before, exact, after):
    text = before + exact + after
    try:
        q = anchor_quote(text, exact, start=len(before))
    except RecordError:
        pytest.fail("the quote is at the given start")
    assert (q.start, q.end) == (len(before), len(before) + len(exact))
    check_quote(text, q, "x")


@pytest.mark.parametrize("quote, message", [
    (Quote(exact="vânzările", start=17, end=26), "w: the quote is not at code points 17-26 of the snapshot"),
    (Quote(exact="vânzările", start=16, end=26), "w: the quote is not at code points 16-26 of the snapshot"),
    (Quote(exact="vânzările"), "w: a quote from a source with a snapshot needs start and end offsets"),
    (Quote(exact="vânzările", start=16, end=25, prefix="x"), "w: the quote's prefix does not match the snapshot"),
    (Quote(exact="vânzările", start=16, end=25, suffix="x"), "w: the quote's suffix does not match the snapshot"),
])
def test_check_quote_refusals(quote, message):
    with pytest.raises(RecordError) as e:
        check_quote(TEXT, quote, "w")
    assert str(e.value) == message


def test_check_quote_non_text():
    with pytest.raises(RecordError) as e:
        check_quote(None, Quote(exact="a", start=0, end=1), "w")
    assert str(e.value) == "w: the source's snapshot is not UTF-8 text, so a quote cannot be anchored in it"


@pytest.mark.parametrize("content, media_type, expected", [
    ("ș".encode(), "text/plain; charset=utf-8", "ș"),
    (b"<p>x</p>", "text/html", "<p>x</p>"),
    (b"\xff\xfe", "text/plain", None),
    (b"abc", "application/pdf", None),
    (b"abc", "image/png", None),
])
def test_snapshot_text(content, media_type, expected):
    assert snapshot_text(content, media_type) == expected


def test_snapshot_cache_reads_and_decodes_each_snapshot_once():
    # Issue 17: a batch (or a replay) of claims quoting one source read and
    # decoded its snapshot once per claim; the cache does it once per batch.
    from ledger.quotes import SnapshotCache, stored_snapshot_text

    stored = {"a" * 64: ("text/plain; charset=utf-8", "Le ministère a dit.".encode()),
              "b" * 64: ("image/png", b"\x89PNG")}
    reads = []

    def read(sha256):
        reads.append(sha256)
        return stored.get(sha256)

    cache = SnapshotCache(read)
    for _ in range(3):
        assert cache("a" * 64) == stored["a" * 64]
        assert stored_snapshot_text(cache, "a" * 64) == "Le ministère a dit."
        assert cache("c" * 64) is None  # not stored: asked once too
        assert cache.text("b" * 64) is None  # not text
    assert reads == ["a" * 64, "c" * 64, "b" * 64]
    assert cache.read_so_far == {"a" * 64: stored["a" * 64], "c" * 64: None, "b" * 64: stored["b" * 64]}
    text = cache.text("a" * 64)
    assert cache.text("a" * 64) is text  # decoded once
    # A plain reader is read and decoded every time, with the same result.
    assert stored_snapshot_text(read, "a" * 64) == text and reads[-1] == "a" * 64
