"""`ledger serve` and `ledger publish` refuse a file readers must not be shown; verify reads a file as serve does.

Each test tampers with a copy of the demo file (tests/attacks.py), then runs
the real `ledger serve` on it: it must exit with one `Error:` line, serving
nothing. A file that `ledger serve` would not refuse is reported as served.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import attacks
from conftest import free_port
from ledger.demo import DEMO_ORIGIN, _signer
from ledger.verify import open_source, verify_ledger

CLAIM = "claim:ro-microelectronics-90pct"
LOG_VKEY = _signer(DEMO_ORIGIN).vkey


def serve_or_refuse(db, timeout: float = 60) -> str:
    """Run `ledger serve DB`: its stderr if it exits, or 'SERVED: ...' if it answers on its port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ledger", "serve", str(db), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                assert proc.returncode == 1, proc.stderr.read()
                return proc.stderr.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ledger.json", timeout=1):
                    return f"SERVED: ledger serve answered on port {port}"
            except OSError:
                time.sleep(0.1)
        raise AssertionError("ledger serve neither answered nor exited")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


@pytest.fixture
def demo(demo_db):
    return demo_db


def refused(stderr: str, db, problem: str) -> bool:
    return stderr.startswith(f"Error: {db} cannot be served: {problem}") and stderr.count("\n") == 1


def test_the_honest_demo_is_served(demo):
    from ledger.verify import check_servable

    assert serve_or_refuse(demo).startswith("SERVED")
    check_servable(demo)


def flip_in_place(db, claim_id: str, old: bytes, new: bytes) -> None:
    """Change a value of a claims row in the file's own bytes, where the table keeps it (its indexes keep the old one)."""
    assert len(old) == len(new)
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [row[0] for row in conn.execute("SELECT pageno FROM dbstat WHERE name = 'claims' AND pagetype = 'leaf'")]
    conn.close()
    data = bytearray(Path(db).read_bytes())
    for page in pages:
        start, end = (page - 1) * page_size, page * page_size
        at = data.find(claim_id.encode(), start, end)
        value = data.find(old, at, end) if at >= 0 else -1
        if value >= 0:
            data[value:value + len(old)] = new
            Path(db).write_bytes(bytes(data))
            return
    raise AssertionError(f"{claim_id} not found in the claims table's pages")


def claim_page(base, claim_id) -> str:
    with urllib.request.urlopen(base + "claim/" + claim_id.split(":", 1)[1]) as page:
        return page.read().decode()


def test_a_claims_row_changed_in_place_is_refused(demo):
    flip_in_place(demo, CLAIM, b"unproven", b"accurate")
    # What readers would be shown: the same file served by Datasette without the check.
    with attacks.serve_unchecked(demo) as base:
        assert "accurate" in claim_page(base, CLAIM)
    stderr = serve_or_refuse(demo)
    assert refused(stderr, demo, "SQLite integrity_check: row 2 missing from index claims_verdict"), stderr


def test_a_claims_row_only_its_index_leads_to_is_refused(demo):
    attacks.index_only_row(demo, CLAIM, text="China supplies nothing to Russia", verdict="true")
    with attacks.serve_unchecked(demo) as base:
        assert "China supplies nothing to Russia" in claim_page(base, CLAIM)
    stderr = serve_or_refuse(demo)
    assert refused(stderr, demo, "SQLite integrity_check: row 2 missing from index sqlite_autoindex_claims_1 (and "), stderr


@pytest.mark.parametrize("attack, problem", [
    (lambda db: attacks.swap_meta_vkey(db, _signer("other.example/log").vkey),
     "meta states the log key 'other.example/log+"),
    (lambda db: attacks.add_signature_line(db),
     "its latest checkpoint (tree size 34) is not one the log key signed line for line: a signature line by witness.example/fake+00000000"),
    (lambda db: attacks.store_as(db, "checkpoints", "note", "BLOB"),
     "table checkpoints: column note holds 1 value(s) of another type than its declared TEXT (the first: BLOB at rowid 34)"),
    (lambda db: attacks.store_as(db, "tree_hashes", "hash", "TEXT"),
     "table tree_hashes: column hash holds 1 value(s) of another type than its declared BLOB"),
    (lambda db: _sql(db, "CREATE TABLE notes (x TEXT)"), "table 'notes' is not the ledger's"),
    (lambda db: _sql(db, "DROP TRIGGER checkpoints_no_delete",
                     "DELETE FROM checkpoints WHERE tree_size = (SELECT max(tree_size) FROM checkpoints)"),
     "trigger 'checkpoints_no_delete' is missing or altered"),
    (lambda db: _unlocked_sql(db, "checkpoints", "DELETE FROM checkpoints WHERE tree_size = (SELECT max(tree_size) FROM checkpoints)"),
     "its latest checkpoint covers 32 entries, but it holds 34: the rest is not committed"),
    (lambda db: _unlocked_sql(db, "tree_hashes", "UPDATE tree_hashes SET hash = zeroblob(32) WHERE idx = (SELECT max(idx) FROM tree_hashes)"),
     "the root of its stored tree, "),
], ids=["meta-key-swapped", "extra-signature-line", "checkpoint-as-blob", "tree-hash-as-text", "extra-table", "dropped-trigger",
        "latest-checkpoint-deleted", "tree-hash-changed"])
def test_a_file_failing_a_start_up_check_is_refused(demo, attack, problem):
    attack(demo)
    stderr = serve_or_refuse(demo)
    assert refused(stderr, demo, problem), stderr


def _sql(db, *statements):
    with attacks.connect(db) as conn:
        for statement in statements:
            conn.execute(statement)


def _unlocked_sql(db, table, *statements):
    with attacks.connect(db) as conn, attacks.unlocked(conn, table):
        for statement in statements:
            conn.execute(statement)


def test_publish_refuses_it_too(demo, tmp_path, run_process):
    attacks.index_only_row(demo, CLAIM, text="forged", verdict="true")
    result = run_process("publish", demo, tmp_path / "bundle")
    assert result.exit_code == 1
    assert refused(result.stderr, demo, "SQLite integrity_check: row 2 missing from index sqlite_autoindex_claims_1"), result.stderr
    assert not (tmp_path / "bundle").exists()


# --- 3. the WAL split: a file whose WAL holds other pages than the file ----------------------------------
def test_a_wal_split_is_refused_by_serve_and_by_verify(demo, tmp_path, run_process):
    split = tmp_path / "split.db"
    attacks.wal_split(demo, split, CLAIM, "China supplies nothing to Russia")
    expected = (f"Error: {split} is in WAL mode: the site reads the file alone, so readers would be shown other pages than "
                f"a reader of the WAL; check the file yourself, then fold the log in with sqlite3 {split} 'PRAGMA journal_mode=DELETE'\n")
    assert serve_or_refuse(split) == expected
    result = run_process("verify", split, "--vkey", LOG_VKEY)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", expected)
    # What each would have read: the WAL's honest row for a reader applying it, the forged one for the site.
    wal = Path(f"{split}-wal").read_bytes()
    with sqlite3.connect(f"file:{split}?mode=ro&immutable=1", uri=True) as conn:
        assert conn.execute("SELECT text FROM claims WHERE id = ?", (CLAIM,)).fetchone()[0] == "China supplies nothing to Russia"
    assert Path(f"{split}-wal").read_bytes() == wal


def test_a_wal_file_beside_a_rollback_mode_file_is_refused(demo, run_process):
    Path(f"{demo}-wal").write_bytes(b"")
    message = f"Error: {demo} has a write-ahead log beside it (demo.db-wal): the site reads the file alone"
    assert serve_or_refuse(demo).startswith(message)
    assert run_process("verify", demo).stderr.startswith(message)


def test_a_writer_whose_changes_are_still_in_its_cache_changes_nothing_read(demo):
    # Its journal is there but not yet valid, and the file holds the last commit: verify reads that.
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(demo), "2000"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "ready\n"
        assert Path(f"{demo}-journal").exists()
        assert verify_ledger(open_source(str(demo)), vkey=LOG_VKEY).ok
    finally:
        writer.kill()
        writer.wait()


WRITER = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute(f"PRAGMA cache_size = {int(sys.argv[2])}")
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE claims SET text = 'TORN ' || text")
print("ready", flush=True)
time.sleep(120)
"""
