"""The fast path of verify gives exactly the careful path's report.

On the fast path each leaf is parsed once without checks for the replay and
checked in full by the worker processes; if any leaf fails there, verify
starts again on the careful path (one leaf at a time). These tests compare
the two paths' reports field by field, on ledgers large enough for the
workers to take part and on the demo ledger, valid and tampered.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from conftest import TEST_CREATED, TEST_EDITOR, TEST_ORIGIN, test_signer
from ledger.api import Ledger
from ledger.demo import DEMO_ORIGIN, _signer
from ledger.verify import Report, open_source, verify_ledger
from ledger.verify.procedure import verify_once
from ledger.verify.replay import NotFast

LOG, ANA = test_signer(TEST_ORIGIN), test_signer(TEST_EDITOR)


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """3,004 entries: more than one chunk of leaves for the workers."""
    path = tmp_path_factory.mktemp("large") / "large.db"
    ledger = Ledger.create(path, LOG, created=TEST_CREATED)
    ledger.append([{"kind": "key", "id": "key:ana", "vkey": ANA.vkey, "display_name": "Ana", "role": "editor",
                    "status": "active", "created": TEST_CREATED}], LOG, LOG)
    ledger.append([{"kind": "source", "id": "source:s", "type": "article", "title": "Știri", "created": TEST_CREATED}], ANA, LOG)
    ledger.append([{"kind": "claim", "id": f"claim:c{i}", "text": f"Mașini-unelte și microelectronică, afirmația {i}",
                    "language": "ro", "source": "source:s", "created": TEST_CREATED} for i in range(3001)], ANA, LOG)
    ledger.close()
    return path


def careful(path, **kw) -> Report:
    return verify_once(open_source(str(path)), vkey=kw.get("vkey"), since_note=None,
                       progress=None, workers=None, fast=False)


def fast_only(path, **kw) -> Report:
    return verify_once(open_source(str(path)), vkey=kw.get("vkey"), since_note=None,
                       progress=None, workers=None, fast=True)


def test_fast_path_report_equals_careful_on_a_valid_ledger(large):
    fast = fast_only(large, vkey=LOG.vkey)
    assert fast.ok, fast.failures[:3]
    assert fast.entries == 3004 and fast.signatures == 3004
    assert fast == careful(large, vkey=LOG.vkey)
    assert verify_ledger(open_source(str(large)), vkey=LOG.vkey) == fast


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
def test_a_bad_leaf_sends_verify_down_the_careful_path(large, tmp_path, index, old, new):
    path = tmp_path / "bad.db"
    shutil.copyfile(large, path)
    _tamper_leaf(path, index, old, new)
    with pytest.raises(NotFast):
        fast_only(path, vkey=LOG.vkey)
    report = verify_ledger(open_source(str(path)), vkey=LOG.vkey)
    assert not report.ok
    assert any(f.where == f"entry {index}" for f in report.failures), report.failures[:5]
    assert report == careful(path, vkey=LOG.vkey)


def test_demo_reports_are_the_same_on_both_paths(demo_db):
    vkey = _signer(DEMO_ORIGIN).vkey
    assert verify_ledger(open_source(str(demo_db)), vkey=vkey) == careful(demo_db, vkey=vkey)


def test_file_checks_in_a_worker_report_what_the_careful_path_reports(large, tmp_path):
    """integrity_check and the search-index check run in a worker on the fast path; a forged
    search-index row is reported exactly as the careful path reports it."""
    path = tmp_path / "fts.db"
    shutil.copyfile(large, path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO claims_fts(rowid, text, translation, quote, source_title) VALUES (99999, 'fake', 'fake', 'fake', 'fake')")
    conn.close()
    fast = fast_only(path, vkey=LOG.vkey)
    assert not fast.ok
    assert [f.where for f in fast.failures] == ["table claims_fts"], fast.failures
    assert "claims_fts" not in fast.tables_checked or "differ" in fast.failures[0].message
    assert fast == careful(path, vkey=LOG.vkey)
