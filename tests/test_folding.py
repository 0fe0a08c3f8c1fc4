"""Folding for search and labels (ledger/folding.py): the same rule at index and query time."""

from hypothesis import given, settings, strategies as st

from ledger.folding import fold_label, fts_match, index_terms, matching_spans, query_terms, word_terms

PUBLISHED = ("ro", "en", "ar", "pt", "fr", "es")


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


words_strategy = st.text(alphabet=st.characters(categories=("L", "M", "N")), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(words_strategy, st.sampled_from(PUBLISHED + ("de", "xx", "")))
def test_every_word_finds_itself(word, language):
    # Whatever a claim says, typing one of its own words finds it.
    terms = word_terms(word, (language,))
    for group in query_terms(word, PUBLISHED):
        assert group & set(index_terms(word, language).split()), (word, terms)
