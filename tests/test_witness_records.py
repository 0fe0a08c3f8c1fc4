"""The log's witnesses as records in the log (kind ``witness``), the cosignatures it stores, and the
65,535-byte entry limit of tlog-tiles: rules with their exact messages, the browsing table, the
``Ledger`` verbs, and the append-only ``cosignatures`` table (real ledger files, real witnesses in process)."""

from __future__ import annotations

import base64
import re
import shutil
import sqlite3

import pytest

from ledger.api import Ledger
from ledger.cosignature import Cosignature, CosignatureSigner, open_cosigned_checkpoint_untrusted, parse_signature_lines_untrusted
from ledger.errors import FormatError, NotFoundError, RecordError, SignatureError
from ledger.note import Signer
from ledger.records import Record
from ledger.witness import Witness, format_add_checkpoint, init

T = "2024-05-01T00:00:00Z"
LOG = Signer.from_seed("test.example/log", b"L" * 32)
ANA = Signer.from_seed("ana@test.example", b"A" * 32)
W1 = CosignatureSigner(Signer.from_seed("witness.example/w1", b"1" * 32))
W2 = CosignatureSigner(Signer.from_seed("witness.example/w2", b"2" * 32))
W1_ID = f"witness.example/w1+{W1.verifier.key_id.hex()}"


def witness(i="witness:w1", vkey=W1.vkey, **kw):
    return {"kind": "witness", "id": i, "vkey": vkey, "url": "https://w1.example/", "status": "active", "created": T, **kw}


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger.create(tmp_path / "l.db", LOG, created=T)
    ledger.register_key(ANA.vkey, "Ana", LOG)
    yield ledger
    ledger.close()


def refused(ledger, records, signer=LOG, error=RecordError):
    size = ledger.size
    with pytest.raises(error) as e:
        ledger.append(records, signer, LOG)
    assert ledger.size == size
    return str(e.value)


# --- the record and its rules ---------------------------------------------------------------------


def test_a_witness_record_round_trips_and_is_shown(ledger):
    [entry] = ledger.add_witness(W1.vkey, "https://w1.example/", LOG, display_name="Witness One")
    record = entry.record
    assert record.to_dict() == {"kind": "witness", "id": "witness:witness.example-w1-" + W1.verifier.key_id.hex(),
                                "version": 1, "created": record.created, "vkey": W1.vkey, "url": "https://w1.example/",
                                "status": "active", "display_name": "Witness One"}
    assert Record.from_dict(record.to_dict()) == record
    [state] = ledger.witnesses()
    assert (state.witness, state.vkey, state.url, state.status, state.added_idx, state.removed_idx) == (
        W1_ID, W1.vkey, "https://w1.example/", "active", entry.index, None)
    row = sqlite3.connect(ledger.path).execute("SELECT name, key_id, display_name, signer FROM witnesses").fetchone()
    assert row == ("witness.example/w1", W1.verifier.key_id.hex(), "Witness One", LOG.verifier.signer_id)


def test_only_the_log_key_adds_or_removes_witnesses(ledger):
    assert refused(ledger, [witness()], ANA, SignatureError) == (
        f"record 1: entry 2 (witness:w1 v1): only the log key may add or remove witnesses; signed by editor key "
        f"{ANA.verifier.signer_id}")


@pytest.mark.parametrize("record, message", [
    (witness(vkey=ANA.vkey), "$.vkey: "),
    (witness(status="removed", reason="gone"), "a new witness must be added with status active"),
    (witness(status="removed"), "removing a witness must say why in 'reason'"),
    (witness(url="ftp://w1.example/"), "$.url: "),
    (witness(id="key:w1"), "a witness ID must start with 'witness:'"),
])
def test_malformed_witness_records(ledger, record, message):
    assert message in refused(ledger, [record])


def test_a_witness_key_is_named_once_and_never_changes(ledger):
    [first] = ledger.append([witness()], LOG, LOG)
    assert refused(ledger, [witness("witness:again")]) == (
        f"record 1: entry 3 (witness:again v1): witness {W1_ID} is already witness:w1; revise that record instead")
    moved = ledger.revision("witness:w1", "Key rotation", vkey=W2.vkey)
    assert refused(ledger, [moved]).endswith(
        "a witness record's verifier key cannot change; add the new key as another witness")


def test_remove_and_add_again(ledger):
    ledger.add_witness(W1.vkey, "https://w1.example/", LOG)
    [removal] = ledger.remove_witness(W1_ID, "operator retired it", LOG)
    assert (removal.record.status, removal.record.reason, removal.record.note) == (
        "removed", "operator retired it", "Removed: operator retired it")
    [state] = ledger.witnesses()
    assert (state.status, state.removed_idx) == ("removed", removal.index)
    assert ledger.witnesses(active_only=True) == []
    with pytest.raises(RecordError, match=re.escape(f"witness {W1_ID} was already removed, at entry {removal.index}")):
        ledger.remove_witness(W1.vkey, "again", LOG)
    [back] = ledger.add_witness(W1.vkey, "https://w1-new.example/", LOG)
    assert (back.record.version, back.record.status, back.record.note, back.record.reason) == (3, "active", "Added again", None)
    [state] = ledger.witnesses(active_only=True)
    assert (state.url, state.removed_idx) == ("https://w1-new.example/", None)
    with pytest.raises(RecordError, match="is already active at https://w1-new.example/"):
        ledger.add_witness(W1.vkey, "https://w1-new.example/", LOG)
    [moved] = ledger.add_witness(W1.vkey, "https://w1-moved.example/", LOG)
    assert moved.record.note == "Answers at https://w1-moved.example/"
    with pytest.raises(NotFoundError, match="witness.example/w2.* is not a witness of this ledger"):
        ledger.remove_witness(W2.vkey, "never added", LOG)


def test_remove_by_record_id_and_log_key_check(ledger):
    ledger.add_witness(W1.vkey, "https://w1.example/", LOG, record_id="witness:first")
    with pytest.raises(SignatureError, match="only the log key may add or remove witnesses"):
        ledger.remove_witness("witness:first", "no", ANA, LOG)
    ledger.remove_witness("witness:first", "yes", LOG)
    assert ledger.witnesses()[0].status == "removed"


# --- the entry size limit (tlog-tiles entry bundles) ----------------------------------------------


def test_an_entry_over_65535_bytes_is_refused(ledger):
    ledger.append([{"kind": "source", "id": "source:s", "type": "other", "title": "T", "created": T}], ANA, LOG)
    long = "ș" * 20000  # 40,000 bytes of UTF-8 in each of two fields
    claim = {"kind": "claim", "id": "claim:big", "source": "source:s", "language": "ro", "text": long,
             "translation": {"language": "en", "text": long}, "created": T}
    message = refused(ledger, [claim], ANA)
    assert message.startswith("record 1: entry 3 (claim:big v1): the entry is 80,")
    assert message.endswith("bytes, over the limit of 65,535 bytes per entry (c2sp.org/tlog-tiles entry bundles): "
                            "shorten the record, or keep long text in a snapshot")
    claim["translation"]["text"] = "ș" * 2000
    [entry] = ledger.append([claim], ANA, LOG)
    assert 40_000 < len(entry.leaf) <= 65_535


# --- cosignatures: stored beside the checkpoints, append-only -----------------------------------------


def cosignatures_by(witness_: Witness, ledger: Ledger, old: int = 0) -> list[Cosignature]:
    proof = [base64.b64decode(h) for h in ledger.prove_consistency(old)["hashes"]] if old else []
    response = witness_.add_checkpoint(format_add_checkpoint(old, proof, ledger.latest_checkpoint_note()))
    assert response.status == 200, response
    return [Cosignature.from_note_signature_untrusted(s) for s in parse_signature_lines_untrusted(response.body)]


@pytest.fixture
def w1(tmp_path):
    init(tmp_path / "w1", W1.name, None, signer=W1)
    return Witness(tmp_path / "w1", [LOG.vkey])


def test_cosignatures_are_checked_stored_and_added_to_the_checkpoint(ledger, w1):
    ledger.add_witness(W1.vkey, "https://w1.example/", LOG)
    size = ledger.size
    cosignatures = cosignatures_by(w1, ledger)
    assert ledger.add_cosignatures(size, cosignatures) == 1
    assert ledger.add_cosignatures(size, cosignatures) == 0  # the same line again: nothing new
    assert ledger.cosignatures() == [(size, cosignatures[0])]
    note = ledger.cosigned_checkpoint_note()
    assert note == ledger.latest_checkpoint_note() + cosignatures[0].line
    opened = open_cosigned_checkpoint_untrusted(note, LOG.verifier, [W1.verifier], LOG.name)
    assert opened.cosigners() == {W1_ID: cosignatures[0].timestamp}
    assert ledger.cosigned_checkpoint_note(size - 1) == ledger.checkpoint_note(size - 1)
    row = sqlite3.connect(ledger.path).execute("SELECT * FROM cosignatures").fetchone()
    assert row == (size, W1_ID, cosignatures[0].timestamp, cosignatures[0].line)


def test_cosignatures_of_unknown_witnesses_or_other_checkpoints_are_refused(ledger, w1, tmp_path):
    size = ledger.size
    before = (ledger.path).read_bytes()
    with pytest.raises(NotFoundError, match=re.escape(f"{W1_ID} is not a witness of this ledger")):
        ledger.add_cosignatures(size, cosignatures_by(w1, ledger))
    ledger.add_witness(W1.vkey, "https://w1.example/", LOG)
    good = cosignatures_by(w1, ledger, old=size)
    with pytest.raises(SignatureError, match=re.escape(f"cosignature by {W1_ID} ") + ".* does not verify"):
        ledger.add_cosignatures(size, good)  # a cosignature of size + 1, filed under size
    with pytest.raises(NotFoundError, match="no checkpoint was signed at tree size 99"):
        ledger.add_cosignatures(99, good)
    assert ledger.cosignatures() == []
    assert ledger.path.read_bytes() != before  # the witness record was appended; nothing else
    assert sqlite3.connect(ledger.path).execute("SELECT count(*) FROM cosignatures").fetchone() == (0,)


@pytest.mark.parametrize("op", ["UPDATE cosignatures SET timestamp = timestamp + 1", "DELETE FROM cosignatures"])
def test_the_cosignatures_table_is_append_only(ledger, w1, op):
    ledger.add_witness(W1.vkey, "https://w1.example/", LOG)
    ledger.add_cosignatures(ledger.size, cosignatures_by(w1, ledger))
    conn = sqlite3.connect(ledger.path)
    with pytest.raises(sqlite3.IntegrityError, match="cosignatures is append-only"):
        conn.execute(op)
    conn.close()


def test_a_file_written_before_witnesses_gets_their_tables_when_opened_for_writing(ledger, tmp_path):
    ledger.close()
    old = tmp_path / "old.db"
    shutil.copyfile(ledger.path, old)
    conn = sqlite3.connect(old)
    for statement in ("DROP TABLE witnesses", "DROP TRIGGER cosignatures_no_update", "DROP TRIGGER cosignatures_no_delete",
                      "DROP TABLE cosignatures"):
        conn.execute(statement)
    conn.commit()
    conn.close()
    with Ledger.open(old, readonly=True) as reading:
        assert reading.cosignatures() == [] and reading.cosigned_checkpoint_note() == reading.latest_checkpoint_note()
    with Ledger.open(old) as upgraded:
        upgraded.add_witness(W1.vkey, "https://w1.example/", LOG)
        assert [w.witness for w in upgraded.witnesses()] == [W1_ID]
    schema = sqlite3.connect(old).execute("SELECT name FROM sqlite_master WHERE name LIKE 'cosignatures%'").fetchall()
    assert sorted(schema) == [("cosignatures",), ("cosignatures_no_delete",), ("cosignatures_no_update",)]
    # Only the tables added since the first files may be missing.
    conn = sqlite3.connect(old)
    conn.execute("DROP TABLE snapshots")
    conn.commit()
    conn.close()
    with pytest.raises(FormatError, match="not a fact-ledger file"):
        Ledger.open(old)
