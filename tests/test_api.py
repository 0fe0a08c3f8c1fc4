"""ledger.api: the verbs a library user has, the same ones the CLI calls.

Each verb is checked for what it appends, and each refusal for the exact
error text the CLI prints after ``Error: `` and for a ledger file that is
byte-identical afterwards. Real ledgers, real keys (``conftest``).
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from conftest import TEST_EDITOR, TEST_ORIGIN, sha256_of_file, test_signer
from ledger.api import Ledger, RecordText
from ledger.demo import ARTICLE_PATH
from ledger.errors import FormatError, KeyFileError, LedgerError, NotFoundError, RecordError
from ledger.signing import PARALLEL_MIN

LOG = test_signer(TEST_ORIGIN)
ANA = test_signer(TEST_EDITOR)
BOB = test_signer("bob@test.fact-ledger.example")
ARTICLE = ARTICLE_PATH.read_bytes()
ARTICLE_TEXT = ARTICLE.decode("utf-8")
QUOTE_90 = "în 2023 aproximativ 90% din microelectronica Rusiei a venit din China"


@pytest.fixture
def desk(ledger_db):
    """The fresh test ledger (log key, then Ana's key) with an AP report and the article, open."""
    with Ledger.open(ledger_db) as ledger:
        ledger.add_source("source:ap", "AP report", ANA, LOG)
        ledger.add_source("source:article", "Articol", ANA, LOG, language="ro", third_party=True,
                          snapshot=(ARTICLE, "text/plain; charset=utf-8"), links=["translation-of=source:ap"])
        yield ledger


@pytest.fixture
def claimed(desk):
    desk.add_claim("source:article", QUOTE_90, "ro", ANA, LOG, record_id="claim:c90", translation="in 2023 about 90%")
    return desk


def refused(ledger: Ledger, verb, *args, **kwargs) -> str:
    """Run a verb that must refuse; return its message, having checked the file did not change."""
    before = sha256_of_file(ledger.path)
    size = ledger.size
    with pytest.raises(LedgerError) as e:
        verb(*args, **kwargs)
    assert ledger.size == size
    assert sha256_of_file(ledger.path) == before
    return str(e.value)


# --- appending --------------------------------------------------------------------------------
def test_add_source_stores_the_snapshot_and_links(desk):
    record = desk.current("source:article").record.to_dict()
    assert record["snapshot"] == {"sha256": hashlib.sha256(ARTICLE).hexdigest(), "media_type": "text/plain; charset=utf-8",
                                  "size": len(ARTICLE)}
    assert record["links"] == [{"rel": "translation-of", "source": "source:ap"}]
    assert (record["type"], record["language"], record["third_party"]) == ("article", "ro", True)
    assert desk.read_snapshot(record["snapshot"]["sha256"]) == ("text/plain; charset=utf-8", ARTICLE)


def test_add_source_refusals(desk):
    assert refused(desk, desk.add_source, "source:x", "X", ANA, LOG, links=["translation-of"]) == (
        "--link 'translation-of': expected REL=SOURCE_ID, e.g. translation-of=source:ap")
    assert refused(desk, desk.add_source, "source:x", "X", ANA, LOG, published="12 April 2024") == (
        'record 1: $.published: "12 April 2024" is not valid here '
        "(A calendar date, or a year or year-month when only that is known.)")
    assert refused(desk, desk.add_source, "source:ap", "Again", ANA, LOG) == (
        "record 1: entry 4 (source:ap v1): ID source:ap already exists (version 1); revise it instead of adding it again")


def test_add_claim_anchors_the_quote(claimed):
    entry = claimed.current("claim:c90")
    record = entry.record.to_dict()
    start = ARTICLE_TEXT.index(QUOTE_90)
    assert record["quote"] == {"exact": QUOTE_90, "start": start, "end": start + len(QUOTE_90),
                               "prefix": ARTICLE_TEXT[start - 32:start],
                               "suffix": ARTICLE_TEXT[start + len(QUOTE_90):start + len(QUOTE_90) + 32]}
    assert record["text"] == QUOTE_90  # the text defaults to the quote
    assert record["translation"] == {"language": "en", "text": "in 2023 about 90%"}
    assert entry.signer == f"{ANA.name}+{ANA.key_id.hex()}"


def test_add_claim_options_build_the_nested_fields(desk):
    (entry,) = desk.add_claim("source:article", QUOTE_90, "ro", ANA, LOG, attributed_to="two officials", anonymous=True,
                              attribution_source="source:ap", quantity="90", unit="%", period="2023", tags=["a", "b"],
                              claim_date="2024-04-12")
    record = entry.record.to_dict()
    assert re.fullmatch(r"claim:[0-9a-f]{12}", record["id"])
    assert record["attribution"] == {"text": "two officials", "anonymous": True, "source": "source:ap"}
    assert record["quantity"] == {"value": "90", "unit": "%", "period": "2023"}
    assert (record["tags"], record["claim_date"]) == (["a", "b"], "2024-04-12")


def test_add_claim_with_start_picks_one_occurrence(desk):
    second = ARTICLE_TEXT.index("China", ARTICLE_TEXT.index("China") + 1)
    (entry,) = desk.add_claim("source:article", "China", "ro", ANA, LOG, start=second)
    assert (entry.record.quote.start, entry.record.quote.end) == (second, second + 5)


def test_add_claim_refusals(desk):
    assert refused(desk, desk.add_claim, "source:article", "nu apare în articol", "ro", ANA, LOG) == (
        "quote not found in the snapshot: 'nu apare în articol' (copy it exactly, including diacritics and punctuation)")
    assert refused(desk, desk.add_claim, "source:article", "China", "ro", ANA, LOG).endswith(
        "times in the snapshot; give --start, a prefix or a suffix")
    assert refused(desk, desk.add_claim, "source:nope", "China", "ro", ANA, LOG, record_id="claim:x") == (
        "record 1: entry 4 (claim:x v1): source source:nope is not a source in this ledger")


def test_add_claim_in_a_snapshot_that_is_not_text(desk):
    png = b"\x89PNG\r\n\x1a\n" + bytes(20)
    desk.add_source("source:png", "A picture", ANA, LOG, snapshot=(png, "image/png"))
    assert refused(desk, desk.add_claim, "source:png", "PNG", "en", ANA, LOG) == "the snapshot of source:png is not UTF-8 text"


def test_add_review(claimed):
    (entry,) = claimed.add_review("claim:c90", "Neverificabil", "unproven", ANA, LOG, label_language="ro",
                                  explanation="Not public.", evidence=["source:ap"], reviewed="2024-04-16")
    record = entry.record.to_dict()
    assert re.fullmatch(r"review:c90-[0-9a-f]{6}", record["id"])
    assert record["rating"] == {"label": "Neverificabil", "label_language": "ro", "normalized": "unproven"}
    assert (record["claim"], record["evidence"], record["explanation"]) == ("claim:c90", ["source:ap"], "Not public.")


def test_add_review_of_an_unknown_claim_is_refused(claimed):
    message = refused(claimed, claimed.add_review, "claim:nope", "x", "false", ANA, LOG, record_id="review:x")
    assert message.startswith("record 1: entry 5 (review:x v1): ")


def test_register_and_revoke_a_key(desk):
    (entry,) = desk.register_key(BOB.vkey, "Bob", LOG)  # the log key signs its own checkpoint
    assert entry.record.id == f"key:bob-test.fact-ledger.example-{BOB.key_id.hex()}"
    assert (entry.record.role, entry.record.status, entry.record.display_name) == ("editor", "active", "Bob")
    (revocation,) = desk.revoke_key(f"{BOB.name}+{BOB.key_id.hex()}", "laptop stolen", LOG, LOG)
    assert (revocation.record.version, revocation.record.status, revocation.record.reason) == (2, "revoked", "laptop stolen")
    assert revocation.record.note == "Revoked: laptop stolen"
    assert refused(desk, desk.add_source, "source:bob", "Bob's", BOB, LOG).startswith(
        f"record 1: entry 6 (source:bob v1): signed by {BOB.name}+{BOB.key_id.hex()}, which was revoked at entry 5")


def test_revoke_key_by_its_full_verifier_key(desk):
    (entry,) = desk.revoke_key(ANA.vkey, "left the desk", LOG)
    assert entry.record.id == "key:ana" and entry.record.status == "revoked"


def test_key_refusals(desk):
    assert refused(desk, desk.register_key, "not-a-key", "X", LOG) == "verifier key: expected name+keyid+key, found 'not-a-key'"
    assert refused(desk, desk.register_key, BOB.vkey, "Bob", ANA, LOG) == (
        f"record 1: entry 4 (key:bob-test.fact-ledger.example-{BOB.key_id.hex()} v1): only the log key may register or "
        f"revoke keys; signed by editor key {ANA.name}+{ANA.key_id.hex()}")
    assert refused(desk, desk.register_key, ANA.vkey, "Ana again", LOG).endswith("is already registered")
    assert refused(desk, desk.revoke_key, "eve@elsewhere.example+00000000", "r", LOG) == (
        f"eve@elsewhere.example+00000000 is not a registered key in {desk.path}")


def test_a_batch_signed_by_an_editor_needs_the_log_key_for_its_checkpoint(desk):
    assert refused(desk, desk.add_source, "source:x", "X", ANA) == (
        f"the checkpoint key {ANA.vkey} is not this ledger's log key {LOG.vkey}")


# --- editing ----------------------------------------------------------------------------------
def test_apply_changes(claimed):
    changes = claimed.apply_changes("claim:c90", ["translation.text=In 2023", "tags=[\"a\"]", "claim_date=2024-04-12"],
                                    ["quantity"])
    assert changes == {"translation": {"language": "en", "text": "In 2023"}, "tags": ["a"], "claim_date": "2024-04-12",
                       "quantity": None}
    assert claimed.apply_changes("claim:c90", ["translation.text=null"]) == {"translation": {"language": "en"}}
    assert claimed.apply_changes("claim:c90", ["attribution.text=officials"]) == {"attribution": {"text": "officials"}}


@pytest.mark.parametrize("sets, unsets, message", [
    (["published"], [], "--set 'published': expected FIELD=VALUE, e.g. --set translation.text='...'"),
    (["=x"], [], "--set '=x': expected FIELD=VALUE, e.g. --set translation.text='...'"),
    (["translation.text.deep=1"], [], "--set text.deep: text is not an object"),
    ([], [], "nothing to change: give --set FIELD=VALUE or --unset FIELD"),
])
def test_apply_changes_refusals(claimed, sets, unsets, message):
    assert refused(claimed, claimed.apply_changes, "claim:c90", sets, unsets) == message


def test_revise_and_revise_claim(claimed):
    (entry,) = claimed.revise("source:ap", "Date added", ANA, LOG, sets=["published=2024-04-12"])
    assert (entry.record.version, entry.record.published, entry.record.note) == (2, "2024-04-12", "Date added")
    (entry,) = claimed.revise_claim("claim:c90", "Fuller translation", ANA, LOG, translation="In 2023 about 90% of it",
                                    tags=["x"], unsets=["claim_date"])
    assert entry.record.translation.text == "In 2023 about 90% of it" and entry.record.tags == ("x",)
    assert entry.record.replaces == claimed.history("claim:c90")[0].hash_hex
    (entry,) = claimed.revise("source:article", "Not third-party after all", ANA, LOG, changes={"third_party": None})
    assert entry.record.third_party is None


def test_revise_refusals(claimed):
    assert refused(claimed, claimed.revise, "claim:nope", "n", ANA, LOG, sets=["text=x"]) == "no record 'claim:nope' in this ledger"
    assert refused(claimed, claimed.revise_claim, "source:ap", "n", ANA, LOG, text="x") == "source:ap is a source, not a claim"
    assert refused(claimed, claimed.revise, "claim:c90", "n", ANA, LOG) == (
        "nothing to change: give the fields to change or --set FIELD=VALUE")
    assert refused(claimed, claimed.revise, "source:ap", "n", ANA, LOG, sets=["kind=claim"]) == (
        "a revision cannot set 'kind': it keeps the record's kind and ID, and the ledger sets the rest")


def test_correct_with_apply_changes_then_retract(claimed):
    revised, notice = claimed.correct("claim:c90", "Percent spelled out",
                                      claimed.apply_changes("claim:c90", ["translation.text=In 2023 about 90 percent"]),
                                      ANA, LOG)
    assert revised.record.note == "Correction: Percent spelled out"
    assert (notice.record.id, notice.record.corrected_entry) == ("correction:claim.c90.v1", revised.hash_hex)
    assert claimed.status("claim:c90") == "corrected"
    (retraction,) = claimed.retract("claim:c90", "Duplicate", ANA, LOG)
    assert retraction.record.id == "retraction:claim.c90.v2" and claimed.status("claim:c90") == "retracted"
    assert refused(claimed, claimed.retract, "claim:c90", "again", ANA, LOG) == (
        "record 1: entry 8 (retraction:claim.c90.v2 v1): ID retraction:claim.c90.v2 already exists (version 1); "
        "revise it instead of adding it again")


def test_rating_maps_and_set_rating_map(desk):
    assert [m["id"] for m in desk.rating_maps()] == ["ratingmap:default"]
    assert desk.rating_maps()[0]["note"].startswith("packaged default")
    labels = [{"label": "Fals", "normalized": "false", "language": "ro"}]
    (entry,) = desk.set_rating_map({"title": "Our labels", "labels": labels, "id": "ignored"}, ANA, LOG)
    assert (entry.record.id, entry.record.version) == ("ratingmap:desk", 1)
    assert [m["id"] for m in desk.rating_maps()] == ["ratingmap:desk", "ratingmap:default"]
    assert refused(desk, desk.set_rating_map, {"title": "Changed", "labels": labels}, ANA, LOG) == (
        "ratingmap:desk exists: say why it changes with --note")
    (entry,) = desk.set_rating_map({"title": "Changed", "labels": labels}, ANA, LOG, note="Renamed")
    assert (entry.record.version, entry.record.title, entry.record.note) == (2, "Changed", "Renamed")


# --- reading ----------------------------------------------------------------------------------
def test_entries_meta_status_and_counts(claimed, ledger_db):
    entries = list(claimed.entries())
    assert [(e.index, e.record.id) for e in entries] == [(0, "key:log"), (1, "key:ana"), (2, "source:ap"),
                                                         (3, "source:article"), (4, "claim:c90")]
    assert [e.record.id for e in claimed.entries(1, 3)] == ["key:ana", "source:ap"]
    assert [e.leaf for e in claimed.entries()] == [claimed.entry(i).leaf for i in range(claimed.size)]
    assert list(claimed.entries(5, 50)) == []
    meta = claimed.meta()
    assert (meta["origin"], meta["log_vkey"], meta["log_key_file"]) == (TEST_ORIGIN, LOG.vkey, "log.key")
    assert claimed.status("claim:c90") == "active"
    assert refused(claimed, claimed.status, "claim:nope") == "no record 'claim:nope' in this ledger"
    assert (claimed.record_count("source"), claimed.record_count("claim"), claimed.record_count("key")) == (2, 1, 2)


# --- choosing the checkpoint's signer ---------------------------------------------------------
def test_log_signer_for(desk, ledger_db):
    read = []

    def read_key(path):
        read.append(path)
        return LOG

    assert desk.log_signer_for(LOG, read_key) is LOG and read == []
    assert desk.log_signer_for(ANA, read_key) is LOG and read == [str(ledger_db.parent / "log.key")]
    assert desk.log_signer_for(None, read_key, "elsewhere.key") is LOG and read[-1] == "elsewhere.key"


def test_log_key_file_without_a_hint(tmp_path):
    with Ledger.create(tmp_path / "bare.db", LOG) as ledger:
        assert ledger.log_key_file("given.key") == "given.key"
        with pytest.raises(KeyFileError) as e:
            ledger.log_key_file()
    assert str(e.value) == "signing a checkpoint needs the log key: pass --log-key FILE or set LEDGER_LOG_KEY"


def test_create_remembers_the_log_key_file_relative_to_the_ledger(tmp_path):
    (tmp_path / "keys").mkdir()
    with Ledger.create(tmp_path / "desk.db", LOG, log_key_file=tmp_path / "keys" / "log.key") as ledger:
        assert ledger.meta()["log_key_file"] == "keys/log.key"
        assert ledger.log_key_file() == str(tmp_path / "keys" / "log.key")


# --- records from a file ------------------------------------------------------------------------
def _claim(i):
    return {"kind": "claim", "id": f"claim:bulk-{i}", "text": f"claim {i}", "language": "en", "source": "source:ap"}


def test_records_from_file_json_array_and_jsonl(tmp_path):
    one, array, jsonl = tmp_path / "one.json", tmp_path / "array.json", tmp_path / "lines.jsonl"
    one.write_text(json.dumps(_claim(1)))
    array.write_text(json.dumps([_claim(1), _claim(2)]))
    jsonl.write_text(json.dumps(_claim(1)) + "\n\n" + json.dumps(_claim(2)) + "\n")
    assert Ledger.records_from_file(one) == [_claim(1)]
    assert Ledger.records_from_file(array) == [_claim(1), _claim(2)]
    assert Ledger.records_from_file(jsonl) == [_claim(1), _claim(2)]
    assert Ledger.records_from_file("-", (json.dumps(_claim(3)) + "\n").encode()) == [_claim(3)]


def test_records_from_a_large_jsonl_file_are_left_to_the_signing_workers(tmp_path):
    lines = [json.dumps(_claim(i)).encode() for i in range(PARALLEL_MIN)]
    records = Ledger.records_from_file("big.jsonl", b"\n".join(lines) + b"\n{broken\n")
    assert len(records) == PARALLEL_MIN + 1 and all(isinstance(r, RecordText) for r in records)
    assert records[0] == RecordText(lines[0], "big.jsonl", 1)
    assert records[-1] == RecordText(b"{broken", "big.jsonl", PARALLEL_MIN + 1)


def test_records_from_file_refusals(tmp_path):
    with pytest.raises(FormatError) as e:
        Ledger.records_from_file("r.jsonl", (json.dumps(_claim(1)) + "\n" + '{"kind": \n').encode())
    assert str(e.value).startswith("r.jsonl line 2: malformed JSON at line 1 column 10: ")
    with pytest.raises(FormatError) as e:
        Ledger.records_from_file("r.json", b'{"kind": "source",')
    assert str(e.value).startswith("r.json: malformed JSON at line 1 column 19: ")
    with pytest.raises(LedgerError) as e:
        Ledger.records_from_file(tmp_path / "nope.jsonl")
    assert str(e.value) == f"cannot read {tmp_path / 'nope.jsonl'}: No such file or directory"


def test_an_empty_file_is_an_empty_batch(desk, tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"\n")
    records = Ledger.records_from_file(tmp_path / "empty.jsonl")
    assert records == []
    assert refused(desk, desk.append, records, ANA, LOG) == "nothing to append: the batch is empty"


def test_missing_records_are_not_found(desk):
    with pytest.raises(NotFoundError):
        desk.apply_changes("claim:nope", ["text=x"])
    with pytest.raises(RecordError):
        desk.add_source("source:y", "", ANA, LOG)
