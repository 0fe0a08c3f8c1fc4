"""Nothing is lost and nothing half-written survives: kill -9 mid-append, hot journals, 4 writers at once.

- ``kill -9`` of a bulk ``ledger append`` (several batches run in sequence by
  one shell, killed as a process group at a random moment): afterwards
  ``ledger verify`` passes, the ledger holds exactly a prefix of the batches
  (each all or nothing), and the next append works.
- A hot journal left by a killed writer is rolled back before a read-only or
  immutable open, so ``verify`` and ``serve`` never see half-written pages.
- Four processes appending 250 records each at the same time: exactly 1,000
  new entries, one valid log, nothing lost, nothing on stderr but the wait notice.

Sizes: ``LEDGER_CRASH_TRIALS`` (default 20), ``LEDGER_CRASH_RECORDS`` (records
per batch; default 60, 600 with ``LEDGER_FULL_SIZE=1``), ``LEDGER_CRASH_BATCHES``
(default 5), ``LEDGER_CONCURRENT_RECORDS`` (per process; default 250).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TEST_ORIGIN, sha256_of_file, test_signer
from security_ledger import LOG, build_full_ledger

FULL = os.environ.get("LEDGER_FULL_SIZE") == "1"
TRIALS = int(os.environ.get("LEDGER_CRASH_TRIALS", 20))
RECORDS = int(os.environ.get("LEDGER_CRASH_RECORDS", 600 if FULL else 60))
BATCHES = int(os.environ.get("LEDGER_CRASH_BATCHES", 5))
CONCURRENT = int(os.environ.get("LEDGER_CONCURRENT_RECORDS", 250))
WAITING = "Another editor is appending to this ledger; waiting for them to finish..."
BASE_SIZE = 2  # ledger_db: the log key and the editor key
OUTPUT = Path(__file__).parent / "output"
TEST_VKEY = test_signer(TEST_ORIGIN).vkey


def _ledger(*args):
    return [sys.executable, "-m", "ledger", *[str(a) for a in args]]


def _write_batches(folder, batches, per_batch, prefix="b"):
    paths = []
    for b in range(batches):
        path = folder / f"{prefix}{b}.jsonl"
        path.write_text("".join(
            json.dumps({"kind": "source", "id": f"source:{prefix}{b}-{i}", "type": "other", "title": f"Batch {b}, record {i}"}) + "\n"
            for i in range(per_batch)))
        paths.append(path)
    return paths


def _record_ids(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT record_id FROM entries ORDER BY idx")]
    finally:
        conn.close()


def _verify(db, vkey):
    return subprocess.run(_ledger("verify", db, "--vkey", vkey, "--workers", 1), capture_output=True, text=True, timeout=300)


def _run_batches(db, batches, key):
    """One shell appending the batches in sequence, in its own process group (so kill -9 reaches all)."""
    script = " && ".join(" ".join(f"'{a}'" for a in _ledger("append", db, path, "--key", key)) for path in batches)
    return subprocess.Popen(["sh", "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


@pytest.mark.slow
def test_kill_9_mid_append_leaves_a_prefix_of_whole_batches(tmp_path, ledger_db, editor_key_file):
    batches = _write_batches(tmp_path, BATCHES, RECORDS)
    expected = [f"source:b{b}-{i}" for b in range(BATCHES) for i in range(RECORDS)]
    template = tmp_path / "template.db"
    shutil.copyfile(ledger_db, template)

    # Calibrate: how long the whole run takes uninterrupted.
    started = time.monotonic()
    proc = _run_batches(ledger_db, batches, editor_key_file)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
    duration = time.monotonic() - started
    assert _record_ids(ledger_db)[BASE_SIZE:] == expected

    rng = random.Random(int(os.environ.get("LEDGER_CRASH_SEED", 5)))
    outcomes, journals = [], 0
    for trial in range(TRIALS):
        db = tmp_path / f"trial{trial}.db"
        shutil.copyfile(template, db)
        proc = _run_batches(db, batches, editor_key_file)
        time.sleep(rng.uniform(0.02, 0.98) * duration)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        journals += Path(f"{db}-journal").exists()
        # The next reader is verify, read-only: it must cope with a hot journal.
        result = _verify(db, TEST_VKEY)
        assert result.returncode == 0, f"trial {trial}: {result.stdout}{result.stderr}"
        assert result.stdout.endswith("OK: every check holds.\n")
        ids = _record_ids(db)[BASE_SIZE:]
        assert len(ids) % RECORDS == 0, f"trial {trial}: {len(ids)} entries is not a whole number of batches"
        assert ids == expected[:len(ids)], f"trial {trial}: not a prefix of the batches"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        sizes = [r[0] for r in conn.execute("SELECT tree_size FROM checkpoints ORDER BY tree_size")]
        conn.close()
        assert sizes[-1] == BASE_SIZE + len(ids)
        outcomes.append(len(ids) // RECORDS)
        # The next append works and continues the log.
        more = tmp_path / f"more{trial}.jsonl"
        more.write_text(json.dumps({"kind": "source", "id": f"source:after-{trial}", "type": "other", "title": "After"}) + "\n")
        after = subprocess.run(_ledger("append", db, more, "--key", editor_key_file), capture_output=True, text=True, timeout=120)
        assert after.returncode == 0, after.stderr
        assert _record_ids(db)[-1] == f"source:after-{trial}"
        db.unlink()
    summary = (f"Crash trials: {TRIALS} kill -9 at random moments of {BATCHES} batches x {RECORDS} records "
               f"(uninterrupted run {duration:.1f} s); hot journal left behind in {journals}; "
               f"whole batches kept per trial: {outcomes}; every trial verified and appended again.")
    print("\n" + summary)
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / f"crash-summary{'-full' if FULL else ''}.txt").write_text(summary + "\n")
    assert len(set(outcomes)) > 1  # the kills did land at different moments


# --- a hot journal, deterministically ---------------------------------------------------------------
TORN_WRITER = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 2")  # spill changed pages into the file before COMMIT
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE claims SET text = 'TORN ' || text")
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def torn(tmp_path):
    """A ledger whose writer was killed mid-transaction, with changed pages already in the file."""
    db = tmp_path / "torn.db"
    build_full_ledger(db).close()
    before = _claims_texts(db)
    proc = subprocess.Popen([sys.executable, "-c", TORN_WRITER, str(db)], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    proc.kill()
    proc.wait(timeout=30)
    assert Path(f"{db}-journal").stat().st_size > 0  # a hot journal
    return db, before


def _claims_texts(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, text FROM claims ORDER BY id").fetchall()
    finally:
        conn.close()


def test_verify_rolls_back_a_hot_journal(torn):
    db, before = torn
    result = _verify(db, LOG.vkey)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not Path(f"{db}-journal").exists()
    assert _claims_texts(db) == before


def test_immutable_open_never_shows_half_written_pages(torn):
    from ledger.api import Ledger

    db, before = torn
    with Ledger.open(db, immutable=True) as ledger:
        texts = ledger._store.conn.execute("SELECT id, text FROM claims ORDER BY id").fetchall()
    assert texts == before


def test_site_serves_the_rolled_back_file(torn):
    from ledger.site import make_datasette

    db, before = torn
    make_datasette(db)  # what 'ledger serve' does first
    assert not Path(f"{db}-journal").exists()
    assert _claims_texts(db) == before


def test_hot_journal_on_a_read_only_file_is_a_clear_error(torn, run):
    db, _ = torn
    if os.geteuid() == 0:
        pytest.skip("root can write a read-only file")
    os.chmod(db, 0o444)
    os.chmod(db.parent, 0o555)
    try:
        result = run("verify", db)
    finally:
        os.chmod(db.parent, 0o755)
        os.chmod(db, 0o644)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {db} was left mid-write by a process that stopped")


# --- four writers at once ------------------------------------------------------------------------
def test_four_processes_append_250_records_each(tmp_path, ledger_db, editor_key_file):
    batches = _write_batches(tmp_path, 4, CONCURRENT, prefix="p")
    before = sha256_of_file(ledger_db)
    procs = [subprocess.Popen(_ledger("append", ledger_db, path, "--key", editor_key_file, "--json"),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for path in batches]
    outputs = [p.communicate(timeout=600) for p in procs]
    waited = 0
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err.decode()
        assert set(err.decode().splitlines()) <= {WAITING}, err.decode()
        waited += WAITING in err.decode()
    ids = _record_ids(ledger_db)
    assert len(ids) == BASE_SIZE + 4 * CONCURRENT
    assert sorted(ids[BASE_SIZE:]) == sorted(f"source:p{b}-{i}" for b in range(4) for i in range(CONCURRENT))
    for b, (out, _) in enumerate(outputs):
        indexes = [e["index"] for e in json.loads(out)["entries"]]
        assert indexes == list(range(indexes[0], indexes[0] + CONCURRENT))  # each batch contiguous
    result = _verify(ledger_db, TEST_VKEY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sha256_of_file(ledger_db) != before
    summary = f"Concurrency: 4 processes x {CONCURRENT} records: {len(ids) - BASE_SIZE} new entries, verify OK, {waited} writer(s) showed the wait notice, no other output"
    print("\n" + summary)
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "concurrency-summary.txt").write_text(summary + "\n")
