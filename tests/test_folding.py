"""Folding for search and labels (ledger/folding.py): the same rule at index and query time."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import unicodedata

from ledger.folding import (MARKS_UNICODE_VERSION, fold_label, fts_match, index_terms, mark_ranges, matching_spans, query_terms,
                            word_spans, word_terms, words)

PUBLISHED = ("ro", "en", "ar", "pt", "fr", "es")
ARABIC = json.loads((Path(__file__).parent / "fixtures" / "search" / "arabic_claims.json").read_text("utf-8"))


def finds(query: str, text: str, language: str) -> bool:
    """What the search index does: every query word shares a term with some word of the text."""
    indexed = set(index_terms(text, language).split())
    groups = query_terms(query, PUBLISHED)
    return bool(groups) and all(group & indexed for group in groups)


def test_romanian_inflections_and_diacritics_meet():
    claim = "Rusia a importat microelectronice și mașini-unelte din China"
    for query in ("microelectronica", "microelectronice", "microelectronicii", "MICROELECTRONICA",
                  "masini", "mașinile", "unelte", "masini-unelte"):
        assert finds(query, claim, "ro"), query
    assert not finds("semiconductori", claim, "ro")


def test_arabic_plain_alef_finds_hamza_tashkeel_and_clitic_forms():
    for text in ("قالت إسرائيل", "وإسرائيل قالت", "بإسرائيل", "لإسرائيل", "الإسرائيلي", "إِسْرَائِيل", "فإسرائيل"):
        assert finds("اسرائيل", text, "ar"), text
    assert finds("إسرائيل", "اسرائيل", "ar")
    assert not finds("اسرائيل", "فلسطين", "ar")


@pytest.mark.parametrize("query", sorted(ARABIC["queries"]))
def test_arabic_fixture_queries_find_exactly_their_claims(query):
    # The fixture's claims are indexed as the projection indexes them: text in Arabic, translation in English.
    found = [c["id"].removeprefix("claim:ar-") for c in ARABIC["claims"]
             if finds(query, c["text"], "ar") or finds(query, c["translation"], "en")]
    assert found == ARABIC["queries"][query]


def test_arabic_hamza_spellings_and_digits_meet():
    assert finds("مسؤول", "قال المسئول", "ar") and finds("مسئول", "قال المسؤول", "ar")
    assert finds("اسراييل", "إسرائيل", "ar")  # typed without the hamza
    assert finds("2024", "في ٢٠٢٤", "ar") and finds("١٤", "page 14", "en") and finds("۱۴", "page 14", "en")


def test_arabic_clitics_are_stripped_from_claims_not_from_queries():
    # Light stemming finds a word behind و ف ب ك ل ال in a claim...
    for text in ("بغزة", "لغزة", "وغزة", "فغزة", "الغزة", "وبغزة"):
        assert finds("غزة", text, "ar"), text
    # ...but a query word is taken as typed: كبير (big) is not ك + بير (a well),
    # and كلام (speech) is not ك + لام.
    assert not finds("كبير", "بئر نفط جديدة", "ar")
    assert not finds("كلام", "حرف اللام", "ar")
    assert not finds("لبنان", "بنان", "ar")
    # A query keeps its stems without the definite article: واللقاحات finds اللقاح.
    assert finds("واللقاحات", "اللقاح الصيني", "ar")


def test_portuguese_without_diacritics_and_in_other_inflections():
    for query, text in (("vacinacao", "a vacinação obrigatória"), ("vacinas", "a vacinação obrigatória"),
                        ("informacoes", "informação falsa"), ("informacao", "várias informações"),
                        ("eleicao", "as eleições de 2022"), ("eleições", "a eleição presidencial"),
                        ("nao", "isso não é verdade"), ("leoes", "o leão fugiu"), ("eletronicas", "urna eletrônica")):
        assert finds(query, text, "pt"), (query, text)
    assert not finds("vacinacao", "a eleição presidencial", "pt")


def test_romanian_cedilla_and_comma_below_meet():
    # Older Romanian text writes ş ţ (cedilla) where today's writes ș ț (comma below).
    assert finds("mașinile", "maşini-unelte", "ro") and finds("importațiile", "importaţii", "ro")
    assert finds("rusesti", "vehiculele blindate rușești", "ro")


def test_arabic_shadda_teh_marbuta_and_tatweel_fold():
    assert finds("غزة", "قصف غزّة", "ar") and finds("غزّة", "قصف غزة", "ar")
    assert finds("غزه", "قصف غزة", "ar")
    assert finds("مضلل", "خبر مضـــلّل", "ar")


def test_label_folding():
    assert fold_label("مضلّل") == fold_label("مضلل") == fold_label("مُضَلِّل")
    assert fold_label("صحيح جزئياً") == fold_label("صحيح جزئيا")
    assert fold_label("Mostly  False!") == fold_label("mostly false") == "mostly false"
    assert fold_label("Enganoso") == fold_label("Enganôso") == "enganoso"
    assert fold_label("خبر كاذب") != fold_label("خبر صحيح")
    assert fold_label("") == ""


def test_fts_match_quotes_every_term():
    assert fts_match('"OR" NEAR(* microelectronica) -x', PUBLISHED).count('"') % 2 == 0
    expression = fts_match("microelectronica China", ("ro",))
    assert expression == '("microelectron" OR "microelectronica") AND ("chin" OR "china")'
    assert fts_match("... ــ ,", PUBLISHED) is None  # no words, or words of tatweel only


def test_matching_spans_mark_the_original_words():
    text = "China a crescut vânzările către Rusia de mașini-unelte și microelectronice"
    spans = matching_spans(text, "ro", query_terms("masini microelectronica", PUBLISHED))
    assert [text[a:b] for a, b in spans] == ["mașini", "microelectronice"]
    arabic = "وإسرائيل لم تسمح بدخول المساعدات إلى غزّة"
    spans = matching_spans(arabic, "ar", query_terms("اسرائيل غزة", PUBLISHED))
    assert [arabic[a:b] for a, b in spans] == ["وإسرائيل", "غزّة"]


def test_words_keep_marks_and_split_at_underscores_and_punctuation():
    assert words("إِسْرَائِيلُ mașini-unelte snake_case 𑄃𑄧") == ["إِسْرَائِيلُ", "mașini", "unelte", "snake", "case", "𑄃𑄧"]
    text = "a_b c"
    assert [text[s:e] for s, e in word_spans(text)] == ["a", "b", "c"]


words_strategy = st.text(alphabet=st.characters(categories=("L", "M", "N")), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(words_strategy, st.sampled_from(PUBLISHED + ("de", "xx", "")))
def test_every_word_finds_itself(word, language):
    # Whatever a claim says, typing one of its own words finds it.
    terms = word_terms(word, (language,))
    for group in query_terms(word, PUBLISHED):
        assert group & set(index_terms(word, language).split()), (word, terms)


def test_the_table_of_marks_is_unicodes():
    if unicodedata.unidata_version != MARKS_UNICODE_VERSION:
        pytest.skip(f"this Python knows Unicode {unicodedata.unidata_version}; the table is of {MARKS_UNICODE_VERSION}")
    marks = {cp for first, last in mark_ranges() for cp in range(first, last + 1)}
    assert marks == {cp for cp in range(0x30000) if unicodedata.category(chr(cp)).startswith("M")}
