"""ledger.verify: a whole ledger, an export, and one claim, trusting only the log key."""

import base64
import gc
import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import pytest

import attacks

from ledger.api import Ledger
from ledger.checkpoint import proof_extra
from ledger.demo import DEMO_CLAIM_IDS, DEMO_ORIGIN, _signer
from ledger.errors import FormatError, LedgerError, ProofError
from ledger.note import Signer
from ledger.verify import ExportSource, open_source, verify_claim_proof, verify_ledger
from ledger.verify.claim_proof import ProofExtra, parse_proof_extra_untrusted

LOG_VKEY = _signer(DEMO_ORIGIN).vkey


@pytest.fixture
def demo(demo_db):
    """A private copy of the demo ledger (built once per session in conftest)."""
    return demo_db


def verify(path, **kw):
    return verify_ledger(open_source(str(path)), **kw)


def sql(path, *statements):
    conn = sqlite3.connect(path, isolation_level=None)
    for s in statements:
        conn.execute(s)
    conn.close()


def failures(report):
    return [(f.where, f.message) for f in report.failures]


def assert_failure(report, where, substring):
    assert not report.ok
    assert any(f.where == where and substring in f.message for f in report.failures), failures(report)


def test_demo_verifies(demo):
    report = verify(demo, vkey=LOG_VKEY)
    assert report.ok, failures(report)
    assert report.vkey_pinned and not report.warnings
    assert report.entries == report.tree_size == Ledger.open(demo, readonly=True).size
    assert report.snapshots == 1 and report.quotes_checked >= 10
    assert "claims_fts" in report.tables_checked


def test_unpinned_warns(demo):
    report = verify(demo)
    assert report.ok and report.warnings


def claim_entry(path):
    conn = sqlite3.connect(path)
    idx = conn.execute("SELECT entry_idx FROM claims WHERE id = ?", (DEMO_CLAIM_IDS[1],)).fetchone()[0]
    conn.close()
    return idx


def test_flipped_byte_in_leaf(demo):
    idx = claim_entry(demo)
    sql(demo, "DROP TRIGGER entries_no_update",
        f"UPDATE entries SET leaf = replace(leaf, 'microelectronica', 'microelectronicb') WHERE idx = {idx}")
    report = verify(demo)
    assert_failure(report, f"entry {idx}", "Ed25519 signature does not verify")
    assert_failure(report, f"entry {idx}", "stored tree hash")
    assert_failure(report, "schema", "trigger 'entries_no_update' is missing or altered")


def test_leaf_replaced_with_non_canonical_bytes(demo):
    idx = claim_entry(demo)
    sql(demo, "DROP TRIGGER entries_no_update", f"UPDATE entries SET leaf = replace(leaf, '\"record\":', '\"record\": ') WHERE idx = {idx}")
    report = verify(demo)
    assert_failure(report, f"entry {idx}", "leaf bytes are not the RFC 8785 canonical form of their JSON")


@pytest.mark.parametrize("table, column, statement", [
    ("claims", "text", "UPDATE claims SET text = text || ' (edited)' WHERE id = '{claim}'"),
    ("sources", "title", "UPDATE sources SET title = 'Another title' WHERE id = 'source:ap-report-2024-04-12'"),
    ("reviews", "rating", "UPDATE reviews SET rating = 'true' WHERE claim_id = '{claim}'"),
    ("claim_chain", "source_id", "UPDATE claim_chain SET source_id = 'source:russian-customs-data' WHERE claim_id = '{claim}' AND position = 1"),
    ("editors", "display_name", "UPDATE editors SET display_name = 'Mallory' WHERE role = 'editor'"),
])
def test_changed_browsing_row(demo, table, column, statement):
    sql(demo, statement.format(claim=DEMO_CLAIM_IDS[1]))
    report = verify(demo)
    assert_failure(report, f"table {table}", f"column {column}: expected ")


def test_extra_row_in_claims(demo):
    sql(demo, "CREATE TEMP TABLE t AS SELECT * FROM claims LIMIT 1", "UPDATE t SET id = 'claim:invented'",
        "INSERT INTO claims SELECT * FROM t")
    report = verify(demo)
    assert_failure(report, "table claims", "row claim:invented is not produced by any entry")


def test_deleted_row_in_claim_versions(demo):
    idx = claim_entry(demo)
    sql(demo, f"DELETE FROM claim_versions WHERE entry_idx = {idx}")
    report = verify(demo)
    assert_failure(report, "table claim_versions", f"row {idx} is missing (the entries produce it)")


@pytest.mark.parametrize("ddl, kind, name", [
    ("CREATE TABLE notes (x TEXT)", "table", "notes"),
    ("CREATE VIEW v AS SELECT id FROM claims", "view", "v"),
    ("CREATE INDEX claims_text ON claims(text)", "index", "claims_text"),
])
def test_extra_schema_object(demo, ddl, kind, name):
    sql(demo, ddl)
    report = verify(demo)
    assert_failure(report, "schema", f"unexpected {kind} '{name}' in the file (not created by the ledger)")


def test_dropped_trigger(demo):
    sql(demo, "DROP TRIGGER checkpoints_no_delete")
    report = verify(demo)
    assert failures(report) == [("schema", "trigger 'checkpoints_no_delete' is missing or altered")]


def test_changed_stored_tree_hash(demo):
    sql(demo, "DROP TRIGGER tree_hashes_no_update", "UPDATE tree_hashes SET hash = zeroblob(32) WHERE idx = 2")
    report = verify(demo)
    assert any(f.where.startswith("entry ") and f.message == "stored tree hash 2 differs from the hash recomputed from the leaves"
               for f in report.failures), failures(report)


@pytest.mark.parametrize("value", ["NULL", "'text'", "3"])
def test_stored_tree_hash_of_another_type_fails_without_a_crash(demo, value):
    # A NULL hash (a flipped byte in a record header, in the tamper suite) once crashed the replay with
    # bytes(None); every stored value that is not the hash fails the same way. NOT NULL is lifted the way an
    # attacker would, by editing the schema text, and put back.
    declared = "CREATE TABLE tree_hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL)"
    sql(demo, "PRAGMA writable_schema = ON",
        f"UPDATE sqlite_master SET sql = '{declared.replace(' NOT NULL', '')}' WHERE name = 'tree_hashes'")
    sql(demo, "DROP TRIGGER tree_hashes_no_update", f"UPDATE tree_hashes SET hash = {value} WHERE idx = 2",
        "PRAGMA writable_schema = ON", f"UPDATE sqlite_master SET sql = '{declared}' WHERE name = 'tree_hashes'")
    report = verify(demo)
    assert any(f.where.startswith("entry ") and f.message == "stored tree hash 2 differs from the hash recomputed from the leaves"
               for f in report.failures), failures(report)


def test_changed_checkpoint_note(demo):
    conn = sqlite3.connect(demo)
    size, note = conn.execute("SELECT tree_size, note FROM checkpoints ORDER BY tree_size LIMIT 1 OFFSET 2").fetchone()
    conn.close()
    lines = note.split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()  # the root hash line
    tampered = "\n".join(lines)
    assert tampered != note
    sql(demo, "DROP TRIGGER checkpoints_no_update", f"UPDATE checkpoints SET note = '{tampered}' WHERE tree_size = {size}")
    report = verify(demo)
    assert_failure(report, f"checkpoint {size}", "not a valid checkpoint signed by the log key")


def test_deleted_latest_checkpoint(demo):
    sql(demo, "DROP TRIGGER checkpoints_no_delete", "DELETE FROM checkpoints WHERE tree_size = (SELECT max(tree_size) FROM checkpoints)")
    report = verify(demo)
    assert_failure(report, "checkpoints", "the rest is not committed")


def test_changed_snapshot_byte(demo):
    conn = sqlite3.connect(demo)
    sha, content = conn.execute("SELECT sha256, content FROM snapshots").fetchone()
    conn.close()
    content = bytearray(content)
    content[100] ^= 0x01
    sql(demo, "DROP TRIGGER snapshots_no_update", f"UPDATE snapshots SET content = x'{bytes(content).hex()}'")
    report = verify(demo)
    assert_failure(report, f"snapshot {sha}", "content hashes to ")
    assert any("stored snapshot is " in f.message for f in report.failures), failures(report)


def test_fts_index_corrupted(demo):
    sql(demo, "INSERT INTO claims_fts(rowid, facets, text, translation, quote) VALUES (99999, 'fake', 'fake', 'fake', 'fake')")
    report = verify(demo)
    assert_failure(report, "table claims_fts", "the search index does not match the claims table")


def test_changed_meta(demo):
    sql(demo, "DROP TRIGGER meta_no_update", "UPDATE meta SET value = 'other.example/log' WHERE key = 'origin'")
    report = verify(demo)
    assert_failure(report, "meta", "differ from entry 0's")


# --- issue 13: what a reader is shown beyond the rows (index paths, rowids, snapshots, signature lines, types) ---
def test_a_claims_row_reachable_only_through_its_index(demo):
    attacks.index_only_row(demo, DEMO_CLAIM_IDS[1], text="forged", verdict="true")
    report = verify(demo)
    assert_failure(report, "file", "SQLite integrity_check: row 2 missing from index sqlite_autoindex_claims_1")
    assert_failure(report, "table claims", f"row {DEMO_CLAIM_IDS[1]} appears 2 times (the entries produce it once)")


def test_renumbered_claim_rowids(demo):
    attacks.renumber_claims(demo, DEMO_CLAIM_IDS[1], DEMO_CLAIM_IDS[2])
    report = verify(demo)
    assert_failure(report, "table claims", f"row {DEMO_CLAIM_IDS[1]} column rowid: expected ")


def test_a_snapshot_no_record_names(demo):
    sha = attacks.add_unreferenced_snapshot(demo)
    report = verify(demo)
    assert failures(report) == [(f"snapshot {sha}", "no record refers to it: it is stored and served, but nothing in the log vouches for it")]


def test_a_snapshot_whose_media_type_differs_from_the_record(demo):
    sql(demo, "DROP TRIGGER snapshots_no_update", "UPDATE snapshots SET media_type = 'text/html'")
    report = verify(demo)
    assert any("stored snapshot is " in f.message and "text/html" in f.message for f in report.failures), failures(report)


def test_an_extra_signature_line_on_a_stored_checkpoint(demo):
    size = attacks.add_signature_line(demo, tree_size=None)
    report = verify(demo)
    assert failures(report)[0] == (f"checkpoint {size}", "a signature line by witness.example/fake+00000000 that no known key "
                                                         "can check (the log key; no witness keys were given)")
    assert_failure(report, "checkpoints", "the latest signed checkpoint covers ")  # so the latest entries are not committed


def test_a_repeated_log_signature_line(demo):
    conn = sqlite3.connect(demo)
    size, note = conn.execute("SELECT tree_size, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1").fetchone()
    conn.close()
    attacks.add_signature_line(demo, note.splitlines(keepends=True)[-1], size)
    report = verify(demo)
    assert failures(report)[0] == (f"checkpoint {size}", "a signature line appears twice")


def test_a_cosignature_line_by_a_witness_the_log_named_passes_and_by_another_fails(tmp_path):
    from ledger.cosignature import CosignatureSigner, add_cosignatures, sign_cosignature

    log = Signer.from_seed("cosigned.test.example/log", b"\x70" * 32)
    named, stranger = (CosignatureSigner(Signer.from_seed(f"witness.example/w{i}", bytes([0x71 + i]) * 32)) for i in (1, 2))
    with Ledger.create(tmp_path / "w.db", log, created="2024-05-01T00:00:00Z") as ledger:
        ledger.add_witness(named.vkey, "https://w1.example/", log)
        size, note = ledger.latest_checkpoint()
    body = note[:note.rfind("\n\n") + 1]

    def with_line_by(witness):
        copy = tmp_path / f"{witness.name.replace('/', '_')}.db"
        shutil.copyfile(tmp_path / "w.db", copy)
        line = add_cosignatures(note, [sign_cosignature(body, witness, 1714557600)])[len(note):]
        attacks.add_signature_line(copy, line, size)
        return copy

    report = verify(with_line_by(named), vkey=log.vkey)
    assert report.ok, failures(report)
    assert_failure(verify(with_line_by(stranger), vkey=log.vkey), f"checkpoint {size}", "a signature line by witness.example/w2+")


@pytest.mark.parametrize("table, column, sql_type, where, found", [
    ("checkpoints", "note", "BLOB", "1", "BLOB"),
    ("tree_hashes", "hash", "TEXT", "1", "TEXT"),
    ("snapshots", "content", "TEXT", "1", "TEXT"),
    ("entries", "leaf", "BLOB", "idx = 5", "BLOB"),
    ("claims", "verdict", "BLOB", "verdict IS NOT NULL", "BLOB"),
])
def test_a_column_holding_another_sqlite_type(demo, table, column, sql_type, where, found):
    attacks.store_as(demo, table, column, sql_type, where)
    report = verify(demo)
    assert_failure(report, f"table {table}", f"column {column} holds 1 value(s) of another type than its declared ")
    assert any(f"(the first: {found} at rowid " in f.message for f in report.failures), failures(report)


def test_a_malformed_typed_column_is_one_failure_line_not_a_traceback(demo, run_process):
    attacks.store_as(demo, "tree_hashes", "hash", "TEXT")
    result = run_process("verify", demo, "--vkey", LOG_VKEY)
    assert result.exit_code == 1 and result.stderr == ""
    assert "  - table tree_hashes: column hash holds 1 value(s) of another type than its declared BLOB (the first: TEXT at rowid " \
        in result.stdout


def test_pinned_wrong_vkey(demo):
    wrong = _signer("ana@demo.fact-ledger.example").vkey
    report = verify(demo, vkey=wrong)
    assert_failure(report, "entry 0", f"expected the pinned {wrong}")


def test_a_stopped_verify_leaves_the_file_unlocked(demo):
    """A replay that stops early (here at entry 0) keeps no read open on the file, without
    waiting for the garbage collector: a writer in the same process can lock it at once."""
    gc.disable()
    try:
        report = verify(demo, vkey=_signer("ana@demo.fact-ledger.example").vkey)
        assert_failure(report, "entry 0", "expected the pinned")
        conn = sqlite3.connect(demo, timeout=0, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
        conn.close()
    finally:
        gc.enable()


# --- rewritten history and rollback ---------------------------------------------------------------
T = "2024-05-01T00:00:00Z"
LOG = Signer.from_seed("history.example/log", b"L" * 32)
ANA = Signer.from_seed("ana@history.example", b"A" * 32)


def small_ledger(path, title):
    ledger = Ledger.create(path, LOG, created=T)
    ledger.append([{"kind": "key", "id": "key:ana", "vkey": ANA.vkey, "display_name": "Ana", "role": "editor",
                    "status": "active", "created": T}], LOG, LOG)
    ledger.append([{"kind": "source", "id": "source:a", "type": "article", "title": title, "created": T}], ANA, LOG)
    ledger.append([{"kind": "source", "id": "source:b", "type": "article", "title": "B", "created": T}], ANA, LOG)
    return ledger


def test_rewritten_history_detected_with_since(tmp_path):
    original = small_ledger(tmp_path / "a.db", "Original title")
    saved = original.checkpoint_note(3)
    original.close()
    rewritten = small_ledger(tmp_path / "b.db", "Rewritten title")
    rewritten.close()
    assert verify(tmp_path / "b.db", vkey=LOG.vkey).ok  # on its own it is a perfectly valid ledger
    assert verify(tmp_path / "a.db", vkey=LOG.vkey, since_note=saved).since["size"] == 3
    report = verify(tmp_path / "b.db", vkey=LOG.vkey, since_note=saved)
    assert_failure(report, "--since", "history was rewritten: the saved checkpoint of size 3 has root ")


def test_rollback_detected_with_since(tmp_path):
    ledger = small_ledger(tmp_path / "a.db", "A")
    shutil.copyfile(tmp_path / "a.db", tmp_path / "old.db")
    ledger.append([{"kind": "source", "id": "source:c", "type": "article", "title": "C", "created": T}], ANA, LOG)
    saved = ledger.latest_checkpoint_note()
    ledger.close()
    report = verify(tmp_path / "old.db", vkey=LOG.vkey, since_note=saved)
    assert_failure(report, "--since", "the saved checkpoint covers 5 entries but the log now has only 4: entries were removed")


def test_since_note_from_another_log(tmp_path, demo):
    ledger = small_ledger(tmp_path / "a.db", "A")
    note = ledger.latest_checkpoint_note()
    ledger.close()
    report = verify(demo, since_note=note)
    assert_failure(report, "--since", "the saved checkpoint is not signed by this log's key")


# --- exports -------------------------------------------------------------------------------------------
def export(path, out_dir):
    ledger = Ledger.open(path, readonly=True)
    with open(out_dir / "entries.jsonl", "wb") as f:
        count = ledger.export_jsonl(f)
    (out_dir / "checkpoint").write_text(ledger.latest_checkpoint_note(), encoding="utf-8")
    ledger.close()
    return out_dir / "entries.jsonl", out_dir / "checkpoint", count


def test_export_verifies(demo, tmp_path):
    jsonl, cp, count = export(demo, tmp_path)
    report = verify_ledger(ExportSource(jsonl, cp), vkey=LOG_VKEY)
    assert report.ok, failures(report)
    assert report.entries == count
    assert verify_ledger(open_source(str(jsonl), checkpoint=str(cp))).ok


def test_export_truncated_last_line(demo, tmp_path):
    jsonl, cp, _ = export(demo, tmp_path)
    jsonl.write_bytes(jsonl.read_bytes()[:-20])
    with pytest.raises(FormatError) as e:
        ExportSource(jsonl, cp)
    assert str(e.value) == f"{jsonl}: the last line has no newline; the export is truncated"


def test_export_truncated_last_line_with_newline(demo, tmp_path):
    jsonl, cp, count = export(demo, tmp_path)
    jsonl.write_bytes(jsonl.read_bytes()[:-20] + b"\n")
    report = verify_ledger(ExportSource(jsonl, cp), vkey=LOG_VKEY)
    assert_failure(report, f"entry {count - 1}", "malformed JSON at line 1")


def test_export_missing_last_line(demo, tmp_path):
    jsonl, cp, count = export(demo, tmp_path)
    lines = jsonl.read_bytes().split(b"\n")
    jsonl.write_bytes(b"\n".join(lines[:-2]) + b"\n")
    report = verify_ledger(ExportSource(jsonl, cp), vkey=LOG_VKEY)
    assert_failure(report, "checkpoint", f"covers {count} entries but only {count - 1} are present")


def test_export_swapped_lines(demo, tmp_path):
    jsonl, cp, _ = export(demo, tmp_path)
    lines = jsonl.read_bytes().split(b"\n")
    lines[10], lines[11] = lines[11], lines[10]
    jsonl.write_bytes(b"\n".join(lines))
    report = verify_ledger(ExportSource(jsonl, cp), vkey=LOG_VKEY)
    assert_failure(report, "checkpoint", "differs from the root recomputed from the entries")


def test_verify_imports_without_optional_packages(demo, tmp_path):
    jsonl, cp, count = export(demo, tmp_path)
    script = textwrap.dedent(f"""
        import sys
        BLOCKED = {{"datasette", "sqlite_utils", "jsonschema", "click"}}

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"blocked: {{name}}")
                return None

        sys.meta_path.insert(0, Blocker())
        for name in list(sys.modules):
            if name.split(".")[0] in BLOCKED:
                del sys.modules[name]
        from ledger.verify import ExportSource, verify_ledger
        report = verify_ledger(ExportSource({str(jsonl)!r}, {str(cp)!r}), vkey={LOG_VKEY!r})
        assert report.ok, report.failures
        assert report.entries == {count}
        loaded = sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("OK", report.entries)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"OK {count}"


# --- one claim ------------------------------------------------------------------------------------------
@pytest.fixture
def claim_proof(demo):
    ledger = Ledger.open(demo, readonly=True)
    index = ledger.current(DEMO_CLAIM_IDS[1]).index
    proof = ledger.tlog_proof(index)
    ledger.close()
    return DEMO_CLAIM_IDS[1], index, proof


def test_claim_proof_ok(claim_proof):
    claim_id, index, proof = claim_proof
    report = verify_claim_proof(claim_id, proof, LOG_VKEY)
    assert (report.claim_id, report.leaf_index) == (claim_id, index)
    assert report.record["id"] == claim_id
    assert report.signer == _signer("ana@demo.fact-ledger.example").vkey
    assert report.key_leaf_index < index


def test_claim_proof_wrong_claim(claim_proof):
    claim_id, _, proof = claim_proof
    with pytest.raises(ProofError) as e:
        verify_claim_proof(DEMO_CLAIM_IDS[2], proof, LOG_VKEY)
    assert str(e.value) == f"the bundle proves {claim_id}, not {DEMO_CLAIM_IDS[2]}"


def test_claim_proof_wrong_vkey(claim_proof):
    claim_id, _, proof = claim_proof
    with pytest.raises(LedgerError):
        verify_claim_proof(claim_id, proof, LOG.vkey)


def _lines(proof):
    head, _, note = proof.partition("\n\n")
    return head.split("\n"), note


def test_claim_proof_flipped_hash(claim_proof):
    claim_id, _, proof = claim_proof
    lines, note = _lines(proof)
    hash_line = next(i for i, l in enumerate(lines) if l.startswith("index ")) + 1
    raw = bytearray(base64.b64decode(lines[hash_line]))
    raw[0] ^= 0x01
    lines[hash_line] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(ProofError):
        verify_claim_proof(claim_id, "\n".join(lines) + "\n\n" + note, LOG_VKEY)


@pytest.mark.parametrize("field", ["leaf", "key"])
def test_claim_proof_flipped_extra(claim_proof, field):
    claim_id, _, proof = claim_proof
    lines, note = _lines(proof)
    assert lines[1].startswith("extra ")
    extra = json.loads(base64.b64decode(lines[1][6:]))
    target = extra if field == "leaf" else extra["key"]
    raw = bytearray(base64.b64decode(target["leaf"]))
    raw[len(raw) // 2] ^= 0x01
    target["leaf"] = base64.b64encode(bytes(raw)).decode()
    from ledger.canonical import canonical_bytes

    lines[1] = "extra " + base64.b64encode(canonical_bytes(extra)).decode()
    with pytest.raises(LedgerError):
        verify_claim_proof(claim_id, "\n".join(lines) + "\n\n" + note, LOG_VKEY)


def test_claim_proof_without_extra(claim_proof):
    claim_id, _, proof = claim_proof
    lines, note = _lines(proof)
    del lines[1]
    with pytest.raises(FormatError, match="^the bundle has no 'extra' line"):
        verify_claim_proof(claim_id, "\n".join(lines) + "\n\n" + note, LOG_VKEY)


def test_proof_extra_reads_back_what_the_prover_writes():
    hashes = [bytes([n]) * 32 for n in range(3)]
    extra = proof_extra(b'{"record":1}', 4, b'{"record":2}', hashes)
    assert parse_proof_extra_untrusted(extra) == ProofExtra(leaf=b'{"record":1}', key_index=4, key_leaf=b'{"record":2}',
                                                            key_hashes=tuple(hashes))


@pytest.mark.parametrize("extra, found", [
    (b'{"leaf":"AA=="}', "'key'"),
    (b'{"key":{"hashes":[],"leaf":"AA==","leaf_index":0},"leaf":"not base64"}', "Only base64 data is allowed"),
    (b'[]', "list indices must be integers or slices, not str"),
])
def test_proof_extra_in_another_form_is_refused(extra, found):
    with pytest.raises(FormatError) as e:
        parse_proof_extra_untrusted(extra)
    assert str(e.value) == f"the bundle's extra data is not in the expected form: {found}"
