"""The rating map: labels of the common desks, folding, numeric scales (also reversed), and its rule."""

import pytest

from ledger.errors import RecordError
from ledger.interop.ratings import RatingTable, default_map, fold_label, scale_position
from ledger.records import Record

TABLE = RatingTable([default_map()])


@pytest.mark.parametrize("label,normalized", [
    # PolitiFact
    ("True", "true"), ("Mostly True", "mostly-true"), ("Half True", "mixed"), ("Mostly False", "mostly-false"),
    ("False", "false"), ("Pants on Fire", "false"), ("Pants on Fire!", "false"),
    # Snopes, Reuters, Full Fact, AAP
    ("Mixture", "mixed"), ("Unproven", "unproven"), ("Misattributed", "false"), ("Missing context", "misleading"),
    ("Partly false", "mixed"), ("Incorrect", "false"), ("Somewhat False", "mostly-false"),
    # AFP in French, Romanian (both comma and cedilla), Arabic, Spanish, Portuguese, German
    ("Faux", "false"), ("Trompeur", "misleading"), ("Plutôt vrai", "mostly-true"),
    ("Fals", "false"), ("Adevărat", "true"), ("Parțial adevărat", "mixed"), ("Parţial adevărat", "mixed"),
    ("زائف", "false"), ("مضلل", "misleading"), ("صحيح", "true"),
    ("Falso", "false"), ("Engañoso", "misleading"), ("Enganoso", "misleading"), ("Verdadeiro", "true"),
    ("Falsch", "false"), ("Irreführend", "misleading"),
    # folding: case, spaces, quotes
    ("  MOSTLY   true ", "mostly-true"), ("“False”", "false"),
])
def test_default_map_knows_the_common_labels(label, normalized):
    assert TABLE.normalize(label) == (normalized, "label")


@pytest.mark.parametrize("label,normalized", [
    # Arabic desks' commonest labels (red on main: unrated), with tashkeel, tatweel and alef/yeh forms folded
    ("خبر كاذب", "false"), ("غير صحيح", "false"), ("خاطئ", "false"), ("كاذب", "false"), ("صحيح جزئياً", "mixed"),
    ("صحيح جزئيا", "mixed"), ("مضلّل", "misleading"), ("مـضـلـل", "misleading"), ("زائف جزئيا", "mixed"),
    ("غير مؤكد", "unproven"), ("خبر مضلل", "misleading"),
    # English, Portuguese, Spanish, French, Romanian scales of IFCN signatories
    ("False Context", "misleading"), ("Altered", "false"), ("Needs context", "misleading"),
    ("Errado", "false"), ("Enganador", "misleading"), ("Verdadeiro, mas...", "mostly-true"), ("Insustentável", "unproven"),
    ("Bulo", "false"), ("Verdadero, pero", "mostly-true"), ("Inchequeable", "unproven"), ("Descontextualizado", "misleading"),
    ("Hors contexte", "misleading"), ("Partiellement vrai", "mixed"),
    ("Trunchiat", "misleading"), ("Imposibil de verificat", "unproven"),
    # folded as search folds: diacritics, punctuation, emoji, case
    ("PARTIAL ADEVARAT", "mixed"), ("❌ Falso", "false"), ("faux.", "false"), ("Engañoso", "misleading"),
])
def test_default_map_knows_what_desks_publish(label, normalized):
    assert TABLE.normalize(label) == (normalized, "label")


def test_no_two_labels_of_the_default_map_fold_to_different_ratings():
    assert TABLE.ambiguous == []
    record = Record.from_dict(_map())  # and the append rule's own comparison accepts it
    from ledger.ratings import check_rating_map
    check_rating_map(record, "ratingmap:default")


def test_a_map_whose_labels_fold_alike_is_reported():
    table = RatingTable([{"id": "ratingmap:desk", "labels": [{"label": "Fals", "normalized": "false"},
                                                              {"label": "FALS!", "normalized": "true"}]}])
    assert table.normalize("fals") == ("false", "label")
    assert table.ambiguous == ["ratingmap:desk: labels 'Fals' (false) and 'FALS!' (true) are the same label once folded; "
                               "the first is used"]


def test_an_unknown_label_stays_unrated():
    assert TABLE.normalize("Ceva ciudat") == ("unrated", None)
    assert TABLE.normalize("Four Pinocchios") == ("unrated", None)


def test_label_wins_over_the_scale():
    assert TABLE.normalize("False", 5, 5, 1) == ("false", "label")


@pytest.mark.parametrize("value,best,worst,expected", [
    (5, 5, 1, "true"), (1, 5, 1, "false"), (3, 5, 1, "mixed"), (4, 5, 1, "mostly-true"),
    # reversed scale: 1 is best, 5 is worst
    (1, 1, 5, "true"), (5, 1, 5, "false"), (2, 1, 5, "mostly-true"), (4, 1, 5, "mostly-false"),
    (2, 3, 1, "mixed"),
    # ambiguous or broken: unrated
    (2, 6, 1, "unrated"), (3, 3, 3, "unrated"), (7, 5, 1, "unrated"), (3, None, 1, "unrated"), (None, 5, 1, "unrated"),
])
def test_numeric_scales(value, best, worst, expected):
    assert TABLE.normalize("Etichetă necunoscută", value, best, worst)[0] == expected


def test_scale_position_is_exact():
    assert str(scale_position(2, 1, 5)) == "3/4"
    assert scale_position(1, 1, 1) is None


def test_fold_label():
    # Lookups fold as search does (ledger.folding): case, punctuation, spacing and diacritics.
    assert fold_label(" Pants  on FIRE! ") == "pants on fire"
    assert fold_label("Parțial Adevărat") == "partial adevarat"


def _map(**changes):
    return {**default_map(), "version": 1, "created": "2024-05-01T10:00:00Z", **changes}


def test_default_map_is_a_valid_record():
    record = Record.from_dict(_map())
    assert record.to_dict() == _map()


def test_rule_refuses_a_label_twice(ledger_db):
    from conftest import TEST_EDITOR, TEST_ORIGIN, test_signer
    from ledger.api import Ledger

    bad = _map(labels=[{"label": "False", "normalized": "false"}, {"label": "false ", "normalized": "true"}])
    with Ledger.open(ledger_db) as ledger, pytest.raises(RecordError, match=r"labels\[1\] 'false ' is the same label as labels\[0\]"):
        ledger.append([bad], test_signer(TEST_EDITOR), test_signer(TEST_ORIGIN))


def test_rule_refuses_a_position_off_the_scale(ledger_db):
    from conftest import TEST_EDITOR, TEST_ORIGIN, test_signer
    from ledger.api import Ledger

    bad = _map(positions=[{"at": "1.5", "normalized": "true"}])
    with Ledger.open(ledger_db) as ledger, pytest.raises(RecordError, match=r"positions\[0\].at must be between 0"):
        ledger.append([bad], test_signer(TEST_EDITOR), test_signer(TEST_ORIGIN))
