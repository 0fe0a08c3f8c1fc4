"""Several OS processes writing to one ledger: batches are serialized, atomic and contiguous.

Each writer is the real entry point, ``python -m ledger append``, in its own
process; the write lock is SQLite's RESERVED lock taken with BEGIN IMMEDIATE
(``ledger.store.Store.write_lock``).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import sha256_of_file
from ledger.errors import LockedError
from ledger.store import Store

WAITING = "Another editor is appending to this ledger; waiting for them to finish..."
BASE_SIZE = 2  # ledger_db: the log key and the editor key


def _write_batch(tmp_path, batch: int, count: int):
    path = tmp_path / f"batch-{batch}.jsonl"
    path.write_text("".join(
        json.dumps({"kind": "source", "id": f"source:p{batch}-{i}", "type": "other", "title": f"Process {batch}, record {i}"}) + "\n"
        for i in range(count)
    ))
    return path


def _ledger_cmd(*args):
    return [sys.executable, "-m", "ledger", *[str(a) for a in args]]


def _entries(db):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT idx, record_id, version FROM entries ORDER BY idx").fetchall()


@pytest.mark.parametrize("processes, per_batch", [(2, 100), (4, 50)])
def test_parallel_appends_are_atomic_and_contiguous(processes, per_batch, tmp_path, ledger_db, editor_key_file):
    batches = [_write_batch(tmp_path, b, per_batch) for b in range(processes)]
    procs = [subprocess.Popen(_ledger_cmd("append", ledger_db, path, "--key", editor_key_file, "--json"),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for path in batches]
    outputs = [p.communicate(timeout=120) for p in procs]

    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err.decode()
        # The only thing a writer may say on stderr is that it waited.
        assert set(err.decode().splitlines()) <= {WAITING}, err.decode()

    entries = _entries(ledger_db)
    assert len(entries) == BASE_SIZE + processes * per_batch
    assert [e[0] for e in entries] == list(range(len(entries)))
    ids = [record_id for _, record_id, _ in entries[BASE_SIZE:]]
    assert len(set(ids)) == len(ids)  # every record once
    assert sorted(ids) == sorted(f"source:p{b}-{i}" for b in range(processes) for i in range(per_batch))

    for batch, (out, _) in enumerate(outputs):
        reported = json.loads(out)
        indexes = [e["index"] for e in reported["entries"]]
        assert len(indexes) == per_batch
        assert indexes == list(range(indexes[0], indexes[0] + per_batch))  # contiguous
        assert [entries[i][1] for i in indexes] == [f"source:p{batch}-{i}" for i in range(per_batch)]

    result = subprocess.run(_ledger_cmd("verify", ledger_db, "--workers", 1), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("OK: every check holds.\n")
    with sqlite3.connect(f"file:{ledger_db}?mode=ro", uri=True) as conn:
        # One checkpoint per batch, the last at the full size.
        sizes = [r[0] for r in conn.execute("SELECT tree_size FROM checkpoints ORDER BY tree_size")]
    assert sizes[-1] == len(entries)
    assert sizes[-processes:] == sorted(BASE_SIZE + per_batch * k for k in range(1, processes + 1))


def test_claim_add_waits_for_the_write_lock(tmp_path, ledger_db, editor_key_file, run):
    assert run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:ap", "--title", "AP").exit_code == 0
    holder = sqlite3.connect(ledger_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        proc = subprocess.Popen(
            _ledger_cmd("claim", "add", ledger_db, "--key", editor_key_file, "--id", "claim:waited", "--source", "source:ap",
                        "--quote", "China", "--language", "en"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()  # still waiting, not failed
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err == WAITING + "\n"
    assert out.startswith("Appended claim:waited v1 as entry 3 (")
    assert out.endswith("Signed checkpoint: tree size 4\n")
    assert [e[1] for e in _entries(ledger_db)][-1] == "claim:waited"


@pytest.fixture
def held_lock(ledger_db):
    """Another connection holding the RESERVED lock (BEGIN IMMEDIATE) for the whole test."""
    holder = sqlite3.connect(ledger_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield holder
    holder.execute("ROLLBACK")
    holder.close()


def test_write_lock_gives_up_with_locked_error(ledger_db, held_lock):
    before = sha256_of_file(ledger_db)
    store = Store.open(ledger_db)
    waited = []
    started = time.monotonic()
    try:
        with pytest.raises(LockedError) as info:
            with store.write_lock(wait_seconds=0.5, on_wait=lambda: waited.append(1)):
                pytest.fail("the lock was held by another connection")
    finally:
        store.close()
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5
    assert waited == [1]  # told the caller once that it is waiting
    message = str(info.value)
    assert message.startswith(f"another process has been writing to {ledger_db} for over ")
    assert message.endswith(" s; try again when it finishes")
    assert sha256_of_file(ledger_db) == before


def test_locked_error_states_the_wait_it_gave(ledger_db, held_lock):
    store = Store.open(ledger_db)
    try:
        with pytest.raises(LockedError) as info:
            with store.write_lock(wait_seconds=0.5):
                pass
    finally:
        store.close()
    assert str(info.value) == f"another process has been writing to {ledger_db} for over 0.5 s; try again when it finishes"


def test_write_lock_is_free_again_after_the_holder_commits(ledger_db):
    # timeout=0: this connection's own BEGIN IMMEDIATE fails at once rather than waiting 5 s.
    other = sqlite3.connect(ledger_db, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    other.execute("COMMIT")
    before = sha256_of_file(ledger_db)
    store = Store.open(ledger_db)
    waited = []
    try:
        with store.write_lock(wait_seconds=0.5, on_wait=lambda: waited.append(1)):
            # Taken, not merely entered: while it is held no other writer gets it.
            with pytest.raises(sqlite3.OperationalError) as info:
                other.execute("BEGIN IMMEDIATE")
            assert str(info.value) == "database is locked"
    finally:
        store.close()
    assert waited == []  # free at once: the caller was never told to wait
    other.execute("BEGIN IMMEDIATE")  # and released when the block ends
    other.execute("ROLLBACK")
    other.close()
    assert sha256_of_file(ledger_db) == before  # an empty block writes nothing


def test_append_waits_for_a_reader_to_finish(tmp_path, ledger_db, editor_key_file):
    before = sha256_of_file(ledger_db)
    reader = sqlite3.connect(ledger_db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM entries").fetchone()  # a SHARED lock, as a reader mid-query holds
    try:
        proc = subprocess.Popen(_ledger_cmd("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:after-reader",
                                            "--title", "T"),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
    finally:
        reader.execute("COMMIT")
        reader.close()
    out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert proc.returncode == 0, err
    assert out.startswith("Appended source:after-reader v1 as entry 2 (")
    assert sha256_of_file(ledger_db) != before
