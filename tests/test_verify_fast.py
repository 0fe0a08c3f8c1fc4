"""Verify's report does not depend on how many processes share the checks.

With worker processes, the signatures (in chunks of 2,000) and a ledger
file's SQLite checks run beside the replay; with one process, everything
runs in turn. These tests compare the two reports field by field, on
ledgers large enough for the workers to take part and on the demo ledger,
valid and tampered.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from conftest import TEST_CREATED, TEST_EDITOR, TEST_ORIGIN, test_signer
from ledger.api import Ledger
from ledger.demo import DEMO_ORIGIN, _signer
from ledger.verify import Report, open_source, verify_ledger

LOG, ANA = test_signer(TEST_ORIGIN), test_signer(TEST_EDITOR)


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """3,004 entries: more than one chunk of signatures for the workers."""
    path = tmp_path_factory.mktemp("large") / "large.db"
    ledger = Ledger.create(path, LOG, created=TEST_CREATED)
    ledger.append([{"kind": "key", "id": "key:ana", "vkey": ANA.vkey, "display_name": "Ana", "role": "editor",
                    "status": "active", "created": TEST_CREATED}], LOG, LOG)
    ledger.append([{"kind": "source", "id": "source:s", "type": "article", "title": "Știri", "created": TEST_CREATED}], ANA, LOG)
    ledger.append([{"kind": "claim", "id": f"claim:c{i}", "text": f"Mașini-unelte și microelectronică, afirmația {i}",
                    "language": "ro", "source": "source:s", "created": TEST_CREATED} for i in range(3001)], ANA, LOG)
    ledger.close()
    return path


def one_process(path, **kw) -> Report:
    return verify_ledger(open_source(str(path)), vkey=kw.get("vkey"), workers=1)


def with_workers(path, **kw) -> Report:
    return verify_ledger(open_source(str(path)), vkey=kw.get("vkey"), workers=2)


def test_the_report_with_workers_equals_one_process_on_a_valid_ledger(large):
    report = with_workers(large, vkey=LOG.vkey)
    assert report.ok, report.failures[:3]
    assert report.entries == 3004 and report.signatures == 3004
    assert report == one_process(large, vkey=LOG.vkey)


def _tamper_leaf(path, index, old: bytes, new: bytes):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER entries_no_update")
    leaf = conn.execute("SELECT leaf FROM entries WHERE idx = ?", (index,)).fetchone()[0]
    assert old.decode() in leaf
    conn.execute("UPDATE entries SET leaf = ? WHERE idx = ?", (leaf.replace(old.decode(), new.decode(), 1), index))
    conn.close()


@pytest.mark.parametrize("index, old, new", [
    (1500, b'"version":1', b'"version":"1"'),        # parses, but the schema refuses it
    (2600, b'{"record":', b'{ "record":'),             # not canonical
    (1700, b'"language":"ro"', b'"language":"ro","x":1'),  # a member the schema does not allow
])
def test_a_bad_leaf_is_reported_the_same_with_workers(large, tmp_path, index, old, new):
    path = tmp_path / "bad.db"
    shutil.copyfile(large, path)
    _tamper_leaf(path, index, old, new)
    report = with_workers(path, vkey=LOG.vkey)
    assert not report.ok
    assert any(f.where == f"entry {index}" for f in report.failures), report.failures[:5]
    assert report == one_process(path, vkey=LOG.vkey)


def test_demo_reports_are_the_same_with_workers(demo_db):
    vkey = _signer(DEMO_ORIGIN).vkey
    assert with_workers(demo_db, vkey=vkey) == one_process(demo_db, vkey=vkey)


def test_file_checks_in_a_worker_report_what_one_process_reports(large, tmp_path):
    """integrity_check and the search-index check run in a worker beside the replay; a forged
    search-index row is reported exactly as one process reports it."""
    path = tmp_path / "fts.db"
    shutil.copyfile(large, path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO claims_fts(rowid, facets, text, translation, quote) VALUES (99999, 'fake', 'fake', 'fake', 'fake')")
    conn.close()
    report = with_workers(path, vkey=LOG.vkey)
    assert not report.ok
    assert [f.where for f in report.failures] == ["table claims_fts"], report.failures
    assert "claims_fts" not in report.tables_checked or "differ" in report.failures[0].message
    assert report == one_process(path, vkey=LOG.vkey)
