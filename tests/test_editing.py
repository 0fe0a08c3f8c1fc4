"""ledger.editing: unsigned records from an editor's options and files (no ledger needed)."""

import re

import pytest

from conftest import test_signer
from ledger.editing import (changes_from_edits, claim_fields, claim_record, drop_empty, json_object_file, key_record,
                            parse_link, review_record, signer_id, snapshot_file, source_record)
from ledger.errors import FormatError, RecordError
from ledger.records import Record

CREATED = "2024-05-01T10:00:00Z"


def test_drop_empty_keeps_false_and_zero():
    assert drop_empty({"a": None, "b": [], "c": (), "d": False, "e": 0, "f": ""}) == {"d": False, "e": 0, "f": ""}


def test_source_record_is_a_valid_source():
    record = source_record("source:s", "Title", created=CREATED, snapshot=(b"abc", "text/plain"), links=["cites=source:t"],
                           archives=["https://archive.example/x"], publisher="P", public=False, url=None)
    assert record == {
        "kind": "source", "id": "source:s", "version": 1, "created": CREATED, "type": "article", "title": "Title",
        "publisher": "P", "public": False,
        "snapshot": {"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "media_type": "text/plain",
                     "size": 3},
        "archives": ["https://archive.example/x"], "links": [{"rel": "cites", "source": "source:t"}],
    }
    assert Record.from_dict(record).to_dict() == record


def test_parse_link():
    assert parse_link("translation-of=source:ap") == {"rel": "translation-of", "source": "source:ap"}
    with pytest.raises(RecordError) as e:
        parse_link("translation-of")
    assert str(e.value) == "--link 'translation-of': expected REL=SOURCE_ID, e.g. translation-of=source:ap"


def test_claim_fields_write_nested_fields_only_with_their_main_option():
    assert claim_fields(unit="%", subject="s", translation_language="ro", anonymous=True, tags=()) == {}
    assert claim_fields(text="t", translation="x", quantity="5", unit="%", attributed_to="them") == {
        "text": "t", "translation": {"language": "en", "text": "x"}, "quantity": {"value": "5", "unit": "%"},
        "attribution": {"text": "them"}}


def test_claim_record_text_defaults_to_the_quote():
    record = claim_record("source:s", {"exact": "the words"}, "en", created=CREATED, tags=["t"])
    assert re.fullmatch(r"claim:[0-9a-f]{12}", record.pop("id"))
    assert record == {"kind": "claim", "version": 1, "created": CREATED, "source": "source:s",
                      "quote": {"exact": "the words"}, "text": "the words", "language": "en", "tags": ["t"]}


def test_review_record():
    record = review_record("claim:x", "Fals", "false", created=CREATED, evidence=["source:s"], url=None)
    assert re.fullmatch(r"review:x-[0-9a-f]{6}", record.pop("id"))
    assert record == {"kind": "review", "version": 1, "created": CREATED, "claim": "claim:x",
                      "rating": {"label": "Fals", "normalized": "false"}, "evidence": ["source:s"]}


@pytest.mark.parametrize("name, slug", [("ana@desk.example", "ana-desk.example"), ("desk.example/ledger", "desk.example-ledger"),
                                        ("Ăna_X", "ăna_x"), ("@@", "editor")])
def test_key_record_id_is_a_slug_of_the_name_and_the_key_id(name, slug):
    signer = test_signer(name)
    record = key_record(signer.vkey, "Someone", created=CREATED)
    assert record.id == f"key:{slug}-{signer.key_id.hex()}"
    assert (record.role, record.status, record.vkey) == ("editor", "active", signer.vkey)


def test_signer_id_of_a_verifier_key_or_of_itself():
    signer = test_signer("ana@desk.example")
    assert signer_id(signer.vkey) == signer_id(f"ana@desk.example+{signer.key_id.hex()}") == f"ana@desk.example+{signer.key_id.hex()}"


def test_changes_from_edits_copies_nested_objects():
    current = {"translation": {"language": "en", "text": "old"}}
    changes = changes_from_edits(current, ["translation.text=new", "version=2"], ["note"])
    assert changes == {"translation": {"language": "en", "text": "new"}, "version": 2, "note": None}
    assert current == {"translation": {"language": "en", "text": "old"}}


def test_snapshot_file_media_types(tmp_path):
    (tmp_path / "a.TXT").write_bytes(b"x")
    (tmp_path / "b.bin").write_bytes(b"y")
    assert snapshot_file(tmp_path / "a.TXT") == (b"x", "text/plain; charset=utf-8")
    assert snapshot_file(tmp_path / "b.bin") == (b"y", "application/octet-stream")
    assert snapshot_file(tmp_path / "b.bin", "image/png") == (b"y", "image/png")


def test_json_object_file(tmp_path):
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(FormatError) as e:
        json_object_file(tmp_path / "list.json", "a JSON object with 'title' and 'labels'")
    assert str(e.value) == f"{tmp_path / 'list.json'}: expected a JSON object with 'title' and 'labels'"
