"""ledger.readable: how values read on the site's pages."""

import hashlib
import subprocess

import pytest

from ledger.readable import (NOT_YET_RATED, RATING_GLOSSES, grouped_fingerprint, key_fingerprint, rating_gloss,
                             readable_date, readable_time, readable_url, text_direction)
from ledger.records import RATINGS


@pytest.mark.parametrize("language, direction", [
    ("ar", "rtl"), ("ar-EG", "rtl"), ("he", "rtl"), ("fa", "rtl"), ("ur", "rtl"), ("yi", "rtl"), ("ckb", "rtl"),
    ("az-Arab", "rtl"), ("pa-Arab-PK", "rtl"), ("ro", "ltr"), ("en", "ltr"), ("pt-BR", "ltr"), ("ku-Latn", "ltr"),
    ("uz-Cyrl", "ltr"), (None, "auto"), ("", "auto"),
])
def test_the_language_decides_the_direction_and_no_language_leaves_it_to_the_browser(language, direction):
    assert text_direction(language) == direction


def test_urls_show_their_decoded_path_and_keep_their_host():
    url = "https://ar.example.org/%D8%AA%D8%AD%D9%82%D9%82/%D8%BA%D8%B2%D8%A9?q=%D8%A7&x=1#%D8%A8"
    assert readable_url(url) == "ar.example.org/تحقق/غزة?q=ا&x=1#ب"
    assert readable_url("https://example.org/") == "example.org"
    assert readable_url("http://xn--mgbh0fb.example/") == "xn--mgbh0fb.example"  # a decoded host could imitate another


@pytest.mark.parametrize("escaped", ["%2F", "%20", "%E2%80%AE", "%E2%80%8F", "%FF", "%D8", "%00"])
def test_escapes_that_would_mislead_stay_escaped(escaped):
    # ASCII, white space, bidi controls, bytes that are not UTF-8 and controls: the text must not read as another URL.
    assert readable_url(f"https://example.org/a{escaped}b") == f"example.org/a{escaped}b"


def test_long_urls_are_shortened_in_the_middle_without_cutting_a_mark_from_its_letter():
    url = "https://example.org/" + "x" * 100 + "/end.html"
    shown = readable_url(url)
    assert len(shown) == 64 and shown.startswith("example.org/xxx") and shown.endswith("xxx/end.html") and "…" in shown
    marked = "https://example.org/" + "بّ" * 60
    head, tail = readable_url(marked).split("…")
    assert not head.endswith("ب") and not tail.startswith("ّ")


def test_dates_read_in_english_words():
    assert readable_date("2024-04-15T10:00:00Z") == readable_date("2024-04-15") == "15 April 2024"
    assert readable_time("2024-04-15T10:00:00Z") == "15 April 2024, 10:00 UTC"
    assert readable_time("2024-04-15") == "15 April 2024"
    assert readable_date("2023-Q4") == "2023-Q4" and readable_date(None) is None


def test_every_normalized_rating_has_a_gloss_and_not_yet_rated_is_distinct():
    assert set(RATING_GLOSSES) == set(RATINGS)
    keys = {rating_gloss(r).key for r in RATINGS} | {rating_gloss(None).key}
    assert len(keys) == len(RATINGS) + 1 and rating_gloss(None) == NOT_YET_RATED
    assert rating_gloss("unproven").name == "Unproven" and rating_gloss("unrated").name != NOT_YET_RATED.name


def test_the_fingerprint_is_what_sha256sum_prints_for_the_vkey_line():
    vkey = "demo.fact-ledger.example/log+cc66d7ae+AdDDcrgi8OzdHMITHS2Z9XMcTa7MK4zsg1PlGi/o+6A6"
    printed = subprocess.run(["sha256sum"], input=(vkey + "\n").encode(), capture_output=True, check=True).stdout
    assert key_fingerprint(vkey) == printed.decode().split()[0] == hashlib.sha256(vkey.encode() + b"\n").hexdigest()
    assert grouped_fingerprint(key_fingerprint(vkey)) == (
        "c1964207 18b3bc9f 4575fd49 228dbdbc 0804a0c6 c55b1378 f89579f1 af6df620")
