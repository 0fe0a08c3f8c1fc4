"""ledger.diff: field changes between versions, and word-by-word differences inside a text."""

from hypothesis import given, strategies as st

from ledger.diff import DELETED, INSERTED, SAME, diff_records, word_diff, words


def shown(pieces) -> list[tuple[str, str]]:
    return [(p.kind, p.text) for p in pieces]


def test_a_changed_word_is_deleted_then_inserted_and_the_rest_is_kept():
    old = "Nearly 70% of Russia's imports of about $900 billion in the last quarter of 2023 came from China."
    new = "Nearly 70% of Russia's imports of about $900 million in the last quarter of 2023 came from China."
    assert shown(word_diff(old, new)) == [
        (SAME, "Nearly 70% of Russia's imports of about $900 "), (DELETED, "billion"), (INSERTED, "million"),
        (SAME, " in the last quarter of 2023 came from China.")]


def test_neighbouring_changed_words_read_as_one_change():
    assert shown(word_diff("the red fox jumps", "the blue cat jumps")) == [
        (SAME, "the "), (DELETED, "red fox"), (INSERTED, "blue cat"), (SAME, " jumps")]


def test_marks_stay_with_their_letters():
    # A shadda added to غزة changes the word, not a lone mark; accents written apart stay on their letter too.
    assert shown(word_diff("غزة مدينة", "غزّة مدينة كبيرة")) == [
        (DELETED, "غزة"), (INSERTED, "غزّة"), (SAME, " مدينة"), (INSERTED, " كبيرة")]
    assert words("mas\u0326ini-unelte (2023).") == ["mas\u0326ini-unelte", " ", "(", "2023", ")", "."]


def test_numbers_and_joined_words_change_as_a_whole():
    assert words("Russia's 1,200.5 - x.") == ["Russia's", " ", "1,200.5", " ", "-", " ", "x", "."]
    assert shown(word_diff("reached 2.1 million dunums.", "reached 1.2 million dunums.")) == [
        (SAME, "reached "), (DELETED, "2.1"), (INSERTED, "1.2"), (SAME, " million dunums.")]


def test_added_and_removed_texts():
    assert shown(word_diff(None, "new text")) == [(INSERTED, "new text")]
    assert shown(word_diff("old text", "")) == [(DELETED, "old text")]
    assert word_diff("same", "same") == word_diff("same", "same") and shown(word_diff("same", "same")) == [(SAME, "same")]


texts = st.text(alphabet=st.sampled_from(list("ab ,.\u064b\u0627\u0628\n")), max_size=30)


@given(texts, texts)
def test_the_pieces_rebuild_both_texts(old, new):
    pieces = word_diff(old, new)
    assert "".join(p.text for p in pieces if p.kind != INSERTED) == old
    assert "".join(p.text for p in pieces if p.kind != DELETED) == new
    assert all(p.text for p in pieces)
    assert all(a.kind != b.kind for a, b in zip(pieces, pieces[1:]))  # adjacent pieces of one kind are merged


def test_field_changes_name_each_changed_field():
    old = {"kind": "claim", "version": 1, "text": "a", "translation": {"language": "en", "text": "b"}}
    new = {"kind": "claim", "version": 2, "text": "a", "translation": {"language": "en", "text": "c"}, "tags": ["x"]}
    assert [c.describe() for c in diff_records(old, new)] == ['tags added: ["x"]', "translation.text: b → c"]
