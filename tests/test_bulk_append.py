"""Bulk appends: windows of records, signatures made on other cores, rows written in bulk.

``Ledger.append`` completes records a window ahead of storing them and signs
large batches in worker processes (``ledger.signing``); the projection holds
new rows back for ``executemany``. None of that may change a single byte of
the ledger or the order in which errors are reported.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3

import pytest

from conftest import TEST_CREATED, TEST_EDITOR, TEST_ORIGIN, test_signer
from ledger import api, folding, signing
from ledger.api import Ledger
from ledger.canonical import canonical_bytes
from ledger.envelope import EntrySigner, Prepared, envelope_bytes, signed_message
from ledger.errors import FormatError, RecordError
from ledger.records import Record, quote_to_anchor
from ledger.projection import TABLES
from ledger.tree import leaf_hash
from ledger.verify import open_source, verify_ledger

LOG, ANA = test_signer(TEST_ORIGIN), test_signer(TEST_EDITOR)
SNAPSHOT_1 = "Officials said 90% of the microelectronics came from China in 2023.\n"
SNAPSHOT_2 = "Officials later said about 90% of Russia's microelectronics came from China.\n"


def new_ledger(path):
    ledger = Ledger.create(path, LOG, created=TEST_CREATED)
    ledger.append([{"kind": "key", "id": "key:ana", "vkey": ANA.vkey, "display_name": "Ana", "role": "editor",
                    "status": "active", "created": TEST_CREATED}], LOG, LOG)
    return ledger


def source(rid, text, version=1, replaces=None):
    content = text.encode()
    record = {"kind": "source", "id": rid, "version": version, "type": "article", "title": f"Title of {rid}", "created": TEST_CREATED,
              "snapshot": {"sha256": hashlib.sha256(content).hexdigest(), "media_type": "text/plain; charset=utf-8", "size": len(content)}}
    if replaces:
        record.update(replaces=replaces, note="new snapshot")
    return record


def claim(i, src="source:s1", **extra):
    return {"kind": "claim", "id": f"claim:c{i}", "text": f"Claim number {i} about microelectronics", "language": "en",
            "source": src, "created": TEST_CREATED, **extra}


def fingerprint(path) -> dict:
    conn = sqlite3.connect(path)
    tables = ("entries", "tree_hashes", "checkpoints") + tuple(TABLES)
    out = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    out["claims_fts"] = conn.execute("SELECT rowid, * FROM claims_fts ORDER BY rowid").fetchall()
    out["claims_rowid"] = conn.execute("SELECT rowid, id FROM claims ORDER BY rowid").fetchall()
    conn.close()
    return out


def test_parallel_signing_gives_the_same_ledger_as_signing_here(tmp_path, monkeypatch):
    # Only the snapshot a record names: verify fails on a stored snapshot no record refers to (issue 13 item 4).
    snapshots = [(SNAPSHOT_1.encode(), "text/plain; charset=utf-8")]
    results = {}
    for mode in ("parallel", "here"):
        if mode == "here":
            monkeypatch.setattr(signing, "PARALLEL_MIN", 10**9)
        path = tmp_path / f"{mode}.db"
        ledger = new_ledger(path)
        records = [source("source:s1", SNAPSHOT_1)] + [claim(i) for i in range(2500)]
        records.append(claim(9000, quote={"exact": "90% of the microelectronics"}))
        entries = ledger.append(records, ANA, LOG, snapshots=snapshots)
        assert len(entries) == 2502
        assert entries[-1].record.quote.start == SNAPSHOT_1.index("90% of the microelectronics")
        ledger.close()
        results[mode] = fingerprint(path)
        report = verify_ledger(open_source(str(path)), vkey=LOG.vkey)
        assert report.ok, report.failures[:3]
    assert signing.PARALLEL_MIN == 10**9  # the second run really signed in this process
    assert results["parallel"] == results["here"]


def test_windowed_append_equals_one_record_at_a_time(tmp_path):
    """Sources, revisions, a re-anchored quote and a review across windows: same rows as appending singly."""
    snapshots = [(SNAPSHOT_1.encode(), "text/plain; charset=utf-8"), (SNAPSHOT_2.encode(), "text/plain; charset=utf-8")]
    bulk_path, single_path = tmp_path / "bulk.db", tmp_path / "single.db"
    single = new_ledger(single_path)
    single.append([source("source:s1", SNAPSHOT_1)], ANA, LOG, snapshots=snapshots[:1])
    plan = [claim(i) for i in range(1100)]
    plan.append("revise:claim:c3")
    plan += [claim(i) for i in range(1100, 2200)]
    # The newest claims row revised twice in its own window: SQLite reuses its
    # rowid after the DELETE, and the full-text rows must follow.
    plan += ["revise:claim:c2199", "revise:claim:c2199", claim(2200)]
    plan.append("revise:claim:c1500")
    plan.append("revise:source:s1")
    plan.append(claim(9000, source="source:s1", quote={"exact": "about 90% of Russia's microelectronics"}))
    plan.append({"kind": "review", "id": "review:r1", "claim": "claim:c5", "created": TEST_CREATED,
                 "rating": {"label": "Mostly true", "normalized": "mostly-true"}})
    done = []
    for item in plan:
        if isinstance(item, str):
            rid = item.removeprefix("revise:")
            head = single.current(rid)
            if rid.startswith("source:"):
                record = source(rid, SNAPSHOT_2, version=2, replaces=head.hash_hex)
            else:
                record = {**head.record.to_dict(), "version": head.record.version + 1, "replaces": head.hash_hex,
                          "text": f"Revised {rid}", "note": "edit"}
        else:
            record = item
        # Each snapshot with the source record that names it (a snapshot no record names is refused).
        single.append([record], ANA, LOG, snapshots=snapshots[1:] if item == "revise:source:s1" else ())
        done.append(record)
    single.close()

    bulk = new_ledger(bulk_path)
    bulk.append([source("source:s1", SNAPSHOT_1)], ANA, LOG, snapshots=snapshots[:1])
    entries = bulk.append(done, ANA, LOG, snapshots=snapshots[1:])
    assert len(entries) == len(done)
    assert entries[-2].record.quote.start == SNAPSHOT_2.index("about 90%")
    bulk.close()

    a, b = fingerprint(bulk_path), fingerprint(single_path)
    # The logs differ only in their checkpoints (one batch against one per record).
    for table in a:
        if table not in ("checkpoints",):
            assert a[table] == b[table], table
    assert verify_ledger(open_source(str(bulk_path)), vkey=LOG.vkey).ok


def _file_bytes(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ledger_with_source(path):
    """A new ledger holding source:s1 and its snapshot, closed; returns the file's hash."""
    ledger = new_ledger(path)
    ledger.append([source("source:s1", SNAPSHOT_1)], ANA, LOG, snapshots=[(SNAPSHOT_1.encode(), "text/plain; charset=utf-8")])
    ledger.close()
    return _file_bytes(path)


@pytest.mark.parametrize("bad_rule_at, bad_quote_at, reported", [
    (1500, 1900, "record 1501: "),   # the rules' error comes first: it is the earlier record
    (None, 1900, "record 1901: "),   # only a quote that is not in the snapshot
    (2100, 1900, "record 1901: "),   # the quote comes first
    (5, None, "record 6: "),
])
def test_errors_are_reported_in_record_order_and_nothing_is_written(tmp_path, bad_rule_at, bad_quote_at, reported):
    path = tmp_path / "l.db"
    before = _ledger_with_source(path)
    records = [claim(i) for i in range(2300)]
    if bad_rule_at is not None:
        records[bad_rule_at] = claim(3, text="a second version 1 of claim:c3")
    if bad_quote_at is not None:
        records[bad_quote_at] = claim(bad_quote_at, quote={"exact": "words that are not in the snapshot"})
    ledger = Ledger.open(path)
    with pytest.raises(RecordError) as e:
        ledger.append(records, ANA, LOG)
    assert str(e.value).startswith(reported), str(e.value)
    # The same connection appends again after the failure, with nothing left over from it.
    ledger.append([claim(5000)], ANA, LOG)
    ledger.close()
    assert _file_bytes(path) != before
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM claims").fetchone()[0] == 1
    conn.close()
    assert verify_ledger(open_source(str(path)), vkey=LOG.vkey).ok


def test_failed_bulk_batch_leaves_the_file_byte_identical(tmp_path):
    path = tmp_path / "l.db"
    new_ledger(path).close()
    before = _file_bytes(path)
    ledger = Ledger.open(path)
    records = [source("source:s1", SNAPSHOT_1)] + [claim(i) for i in range(2200)] + [claim(1)]  # claim:c1 twice
    with pytest.raises(RecordError, match=r"^record 2202: "):
        ledger.append(records, ANA, LOG, snapshots=[(SNAPSHOT_1.encode(), "text/plain; charset=utf-8")])
    ledger.close()
    assert _file_bytes(path) == before


def test_batch_preparer_keeps_order_and_matches_in_process_results():
    entry_signer = EntrySigner.of(ANA, TEST_ORIGIN)
    tasks = []
    for i in range(signing.WINDOW * 2 + 7):
        if i % 3 == 0:
            tasks.append(f'{{"n":{i}}}'.encode())  # canonical bytes made by the caller: only signed
        elif i % 3 == 1:
            tasks.append({**claim(i), "version": 1})  # a record: checked, canonicalized and signed
        else:
            tasks.append({"kind": "claim", "id": f"claim:bad-{i}", "version": 1})  # refused by its schema
    results = {}
    for workers in (2, 0):
        with signing.BatchPreparer(ANA, TEST_ORIGIN, len(tasks), workers=workers) as preparer:
            for number, task in enumerate(tasks, 1):
                preparer.submit(task, number)
            results[workers] = preparer.take(5) + preparer.take(len(tasks) - 5)
            with pytest.raises(IndexError):
                preparer.take(1)
    assert results[2] == results[0]  # the workers sign with libsodium, this process with OpenSSL

    def prepared(record_bytes):
        signature = ANA.sign(signed_message(TEST_ORIGIN, record_bytes))
        leaf = envelope_bytes(record_bytes, base64.b64encode(signature).decode(), entry_signer.signer_id)
        return Prepared(record_bytes=record_bytes, signature=signature, leaf=leaf, leaf_hash=leaf_hash(leaf))

    for number, (task, result) in enumerate(zip(tasks, results[0]), 1):
        if isinstance(task, bytes):
            assert result == prepared(task)
        elif task["id"].startswith("claim:bad"):
            assert isinstance(result, signing.Refused) and type(result.error) is RecordError
            assert str(result.error).startswith(f"record {number}: $: missing required field")
        else:
            assert result == prepared(canonical_bytes(Record.from_dict(task).to_dict()))


def _as_texts(records):
    return [api.RecordText(json.dumps(r, ensure_ascii=False).encode(), "r.jsonl", n) for n, r in enumerate(records, 1)]


def test_records_as_json_text_give_the_same_ledger_as_dicts(tmp_path, monkeypatch):
    # Parsed by the workers a window ahead (large batch), or here (small one): the same rows either way.
    snapshots = [(SNAPSHOT_1.encode(), "text/plain; charset=utf-8")]
    records = [source("source:s1", SNAPSHOT_1)] + [claim(i) for i in range(2300)]
    # The workers also fold what the search index stores of each claim they prepare (text, translation,
    # quote; folding.fold_ahead): Arabic ones with an English translation among them.
    records += [claim(i, language="ar", text=f"الوزارة قالت إنّ الصادرات ارتفعت {i}",
                      translation={"language": "en", "text": f"The ministry said exports rose {i}"}) for i in range(3000, 3040)]
    records.append(claim(9000, quote={"exact": "90% of the microelectronics"}))  # anchored here, at its turn
    results = {}
    for mode in ("dicts", "texts", "texts-here"):
        if mode == "texts-here":
            monkeypatch.setattr(signing, "PARALLEL_MIN", 10**9)
        path = tmp_path / f"{mode}.db"
        ledger = new_ledger(path)
        ledger.append(records if mode == "dicts" else _as_texts(records), ANA, LOG, snapshots=snapshots)
        ledger.close()
        results[mode] = fingerprint(path)
        assert folding._folded_ahead == {}  # every folding done ahead was used, or dropped with the batch
    assert results["texts"] == results["dicts"] == results["texts-here"]
    # The Arabic claims' folded text and their translations' are in the index.
    assert sum(1 for row in results["texts"]["claim_terms"] if "وزار" in row[2] and "ministri" in row[3]) == 40


@pytest.mark.parametrize("workers", ["parallel", "here"])
def test_a_text_that_does_not_parse_fails_the_batch_at_its_turn(tmp_path, monkeypatch, workers):
    if workers == "here":
        monkeypatch.setattr(signing, "PARALLEL_MIN", 10**9)
    path = tmp_path / "l.db"
    new_ledger(path).close()
    before = _file_bytes(path)
    texts = _as_texts([source("source:s1", SNAPSHOT_1)] + [claim(i) for i in range(2400)])
    texts[2100] = api.RecordText(b'{"kind": "claim",', "r.jsonl", 2101)
    ledger = Ledger.open(path)
    with pytest.raises(FormatError, match=r"^r\.jsonl line 2101: malformed JSON at line 1 column 18: "):
        ledger.append(texts, ANA, LOG, snapshots=[(SNAPSHOT_1.encode(), "text/plain; charset=utf-8")])
    # A record its schema refuses before the malformed line is the error reported (record order).
    texts[1500] = api.RecordText(b'{"kind": "claim", "id": "claim:x"}', "r.jsonl", 1501)
    with pytest.raises(RecordError, match=r"^record 1501: "):
        ledger.append(texts, ANA, LOG, snapshots=[(SNAPSHOT_1.encode(), "text/plain; charset=utf-8")])
    ledger.close()
    assert _file_bytes(path) == before


def test_cli_large_jsonl_with_a_malformed_line(tmp_path, run, file_hash, editor_key_file, log_key_file):
    path = tmp_path / "l.db"
    ledger = new_ledger(path)
    ledger.append([source("source:s1", SNAPSHOT_1)], ANA, LOG, snapshots=[(SNAPSHOT_1.encode(), "text/plain; charset=utf-8")])
    ledger.close()
    lines = [json.dumps(claim(i)) for i in range(2500)]
    lines[2222] = '{"kind": "claim", "id": '
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    before = file_hash(path)
    result = run("append", path, jsonl, "--key", editor_key_file, "--log-key", log_key_file)
    assert result.exit_code == 1
    assert result.stderr_lines == [f"Error: {jsonl} line 2223: malformed JSON at line 1 column 25: Expecting value"]
    assert file_hash(path) == before


def _anchored(i, exact="90% of the microelectronics"):
    return claim(i, quote={"exact": exact})


# (record number -> what goes wrong there); the error reported is that of the first in record order.
BOUNDARY_CASES = {
    "rule-last-of-window-beats-text-first-of-next": ({1024: "rule", 1025: "unparsable"}, RecordError, "record 1024: "),
    "worker-schema-beats-anchoring-a-window-later": ({1025: "schema", 2049: "anchor"}, RecordError, "record 1025: $: "),
    "anchoring-first-of-window-after-rule-last": ({1024: "rule", 1025: "anchor"}, RecordError, "record 1024: "),
    "anchoring-first-of-window-alone": ({1025: "anchor"}, RecordError, "record 1025: "),
    "text-parsed-in-the-loop": ({2049: "unparsable"}, FormatError, "r.jsonl line 2049: "),
    "non-object-last-of-window-before-schema": ({2048: "scalar", 2049: "schema"}, RecordError,
                                                 "record 2048: a record must be a JSON object"),
    "rule-in-last-short-window": ({2300: "rule"}, RecordError, "record 2300: "),
}


@pytest.mark.parametrize("workers", ["parallel", "here"])
@pytest.mark.parametrize("case", list(BOUNDARY_CASES))
def test_errors_at_window_boundaries_come_in_record_order(tmp_path, monkeypatch, workers, case):
    # Each way a record can fail -- the rules (checked here, in order), its schema
    # (in a worker), its quote (anchored here, a window ahead), its text (parsed
    # by the workers two windows ahead) -- at the edges of the windows of 1024.
    if workers == "here":
        monkeypatch.setattr(signing, "PARALLEL_MIN", 10**9)
    faults, error_type, reported = BOUNDARY_CASES[case]
    path = tmp_path / "l.db"
    before = _ledger_with_source(path)
    records = [claim(i) for i in range(2300)]
    texts = {}
    for number, fault in faults.items():
        i = number - 1
        if fault == "rule":
            records[i] = claim(3, text="a second version 1 of claim:c3")
        elif fault == "schema":
            records[i] = {"kind": "claim", "id": f"claim:c{i}"}
        elif fault == "anchor":
            records[i] = _anchored(i, "words that are not in the snapshot")
        elif fault == "unparsable":
            texts[i] = b'{"kind": "claim",'
        elif fault == "scalar":
            texts[i] = b"42"
    items = _as_texts(records)
    for i, text in texts.items():
        items[i] = api.RecordText(text, "r.jsonl", i + 1)
    ledger = Ledger.open(path)
    with pytest.raises(error_type) as e:
        ledger.append(items, ANA, LOG)
    assert type(e.value) is error_type and str(e.value).startswith(reported), str(e.value)
    ledger.close()
    assert _file_bytes(path) == before


@pytest.mark.parametrize("workers", [1, 0])
def test_the_preparer_hands_out_windows_of_entries_in_record_order(workers):
    # Dicts, Records, texts the workers prepare and texts left to this process
    # (an anchored claim), across three windows: every record reaches complete()
    # once, in order, and its entry is the one signing it alone gives.
    records = [claim(i) for i in range(2 * signing.WINDOW + 10)]
    records[5] = Record.from_dict({**records[5], "version": 1})
    items = list(records)
    for i in range(signing.WINDOW - 3, signing.WINDOW + 3):
        items[i] = api.RecordText(json.dumps(records[i]).encode(), "r.jsonl", i + 1)
    items[signing.WINDOW + 1] = api.RecordText(json.dumps(_anchored(9000)).encode(), "r.jsonl", signing.WINDOW + 2)
    seen = []

    def complete(data, number):
        seen.append((number, data["id"]))
        return Record.from_dict(data).evolve(note="completed here") if quote_to_anchor(data) else None

    with signing.BatchPreparer(ANA, TEST_ORIGIN, len(items), workers=workers) as preparer:
        windows = list(preparer.entries(items, complete, first_index=7))
    assert [len(w) for w in windows] == [signing.WINDOW, signing.WINDOW, 10]
    entries = [entry for window in windows for entry in window]
    assert [e.index for e in entries] == list(range(7, 7 + len(items)))
    ids = [r.id if isinstance(r, Record) else r["id"] for r in records]
    ids[signing.WINDOW + 1] = "claim:c9000"
    assert seen == list(enumerate(ids, 1))
    signer = EntrySigner.of(ANA, TEST_ORIGIN)
    for entry, item in zip(entries, items):
        record = entry.record
        if isinstance(item, api.RecordText) and record.id == "claim:c9000":
            assert record.note == "completed here"
        alone = signer.sign(entry.index, record)
        assert (entry.leaf, entry.leaf_hash, entry.signer, entry.record_bytes) == (alone.leaf, alone.leaf_hash, alone.signer, alone.record_bytes)


def test_a_snapshot_no_record_of_the_batch_names_is_refused_and_changes_nothing(tmp_path):
    # Red before the check: the batch was stored, and verify then failed the ledger for that snapshot.
    path = tmp_path / "l.db"
    before = _ledger_with_source(path)
    ledger = Ledger.open(path)
    stray = (b"RETRACTION: all claims withdrawn", "text/plain; charset=utf-8")
    with pytest.raises(RecordError, match=r"^snapshot [0-9a-f]{64} is named by no source record of the batch"):
        ledger.append([source("source:s2", SNAPSHOT_1)], ANA, LOG, snapshots=[stray])
    ledger.close()
    assert _file_bytes(path) == before
    # A snapshot already stored (named by an earlier source) may be given again with a batch.
    ledger = Ledger.open(path)
    ledger.append([source("source:s3", SNAPSHOT_1)], ANA, LOG, snapshots=[(SNAPSHOT_1.encode(), "text/plain; charset=utf-8")])
    ledger.close()
    assert verify_ledger(open_source(str(path)), vkey=LOG.vkey).ok
