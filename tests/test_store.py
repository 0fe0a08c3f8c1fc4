"""ledger._store: the SQLite log tables are append-only, and a failed batch changes nothing."""

import sqlite3

import pytest

from ledger.api import Ledger
from ledger.demo import DEMO_ORIGIN, _signer
from ledger.errors import FormatError, LedgerError, NotFoundError, RecordError
from ledger.store import LOG_TABLES, Store


@pytest.fixture
def demo_path(demo_db):
    """A private copy of the demo ledger (built once per session in conftest)."""
    return demo_db


@pytest.mark.parametrize("table, column", [
    ("entries", "leaf"), ("tree_hashes", "hash"), ("checkpoints", "note"), ("snapshots", "content"), ("meta", "value"),
])
@pytest.mark.parametrize("op", ["UPDATE", "DELETE"])
def test_log_tables_are_append_only(demo_path, table, column, op):
    conn = sqlite3.connect(demo_path)
    before = conn.execute(f"SELECT * FROM {table}").fetchall()
    assert before
    sql = f"UPDATE {table} SET {column} = {column} || ''" if op == "UPDATE" else f"DELETE FROM {table}"
    with pytest.raises(sqlite3.IntegrityError) as e:
        conn.execute(sql)
    assert str(e.value) == f"{table} is append-only"
    assert conn.execute(f"SELECT * FROM {table}").fetchall() == before
    conn.close()


def test_every_log_table_has_both_triggers(demo_path):
    conn = sqlite3.connect(demo_path)
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    conn.close()
    assert {f"{t}_no_{op}" for t in LOG_TABLES for op in ("update", "delete")} <= triggers


def test_failed_batch_leaves_file_byte_identical(demo_path, tmp_path):
    before = demo_path.read_bytes()
    ledger = Ledger.open(demo_path)
    size = ledger.size
    ana, log = _signer("ana@demo.fact-ledger.example"), _signer(DEMO_ORIGIN)
    good = {"kind": "source", "id": "source:new-one", "version": 1, "created": "2024-05-01T00:00:00Z",
            "type": "other", "title": "A new source"}
    bad = {"kind": "claim", "id": "claim:dangling", "version": 1, "created": "2024-05-01T00:00:00Z",
           "text": "x", "language": "ro", "source": "source:does-not-exist"}
    with pytest.raises(RecordError) as e:
        ledger.append([good, good | {"id": "source:new-two"}, bad, good | {"id": "source:new-three"}], ana, log,
                      snapshots=[(b"new snapshot bytes", "text/plain")])
    assert str(e.value) == (f"record 3: entry {size + 2} (claim:dangling v1): source source:does-not-exist is not a "
                            "source in this ledger")
    assert ledger.size == size
    ledger.close()
    assert demo_path.read_bytes() == before


def test_failed_batch_then_good_batch(demo_path):
    ledger = Ledger.open(demo_path)
    size = ledger.size
    ana, log = _signer("ana@demo.fact-ledger.example"), _signer(DEMO_ORIGIN)
    with pytest.raises(LedgerError):
        ledger.append([{"kind": "source", "id": "source:a", "type": "other", "title": "t"}, {"kind": "nope"}], ana, log)
    entries = ledger.append([{"kind": "source", "id": "source:a", "type": "other", "title": "t"}], ana, log)
    assert [e.index for e in entries] == [size]
    assert ledger._store.latest_checkpoint()[0] == size + 1
    ledger.close()


def test_wrong_checkpoint_key_refused(demo_path):
    before = demo_path.read_bytes()
    ledger = Ledger.open(demo_path)
    ana = _signer("ana@demo.fact-ledger.example")
    with pytest.raises(LedgerError, match=r"^the checkpoint key .* is not this ledger's log key"):
        ledger.append([{"kind": "source", "id": "source:a", "type": "other", "title": "t"}], ana, ana)
    ledger.close()
    assert demo_path.read_bytes() == before


@pytest.mark.parametrize("content", [b"not a database at all, just some text" * 100, b"SQLite format 3\x00" + b"\x00" * 100])
def test_open_non_ledger_file(tmp_path, content):
    path = tmp_path / "x.db"
    path.write_bytes(content)
    with pytest.raises(FormatError) as e:
        Store.open(path)
    assert str(e.value).startswith(f"{path} is not a ledger file (")


def test_open_other_sqlite_database(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('format', 'something-else/1')")
    conn.commit()
    conn.close()
    with pytest.raises(FormatError) as e:
        Store.open(path)
    assert str(e.value) == f"{path} is not a fact-ledger file (expected format fact-ledger/1)"


def test_open_missing_file(tmp_path):
    with pytest.raises(NotFoundError) as e:
        Store.open(tmp_path / "none.db")
    assert str(e.value) == f"no ledger at {tmp_path / 'none.db'}; create one with 'ledger init {tmp_path / 'none.db'}'"


def test_create_refuses_existing(demo_path):
    with pytest.raises(LedgerError, match="already exists; choose a new file name$"):
        Store.create(demo_path, {})


def test_readers(demo_path):
    store = Store.open(demo_path, readonly=True)
    size = store.size()
    assert size == store.conn.execute("SELECT count(*) FROM entries").fetchone()[0] > 20
    assert [i for i, _ in store.leaves(5, 8)] == [5, 6, 7]
    assert store.leaf(5) == dict(store.leaves(5, 6))[5]
    with pytest.raises(NotFoundError) as e:
        store.leaf(size)
    assert str(e.value) == f"no entry {size} (the log has {size} entries)"
    assert store.meta()["origin"] == DEMO_ORIGIN
    with pytest.raises(sqlite3.OperationalError):
        store.conn.execute("INSERT INTO meta VALUES ('x', 'y')")
    store.close()


def test_no_wal(demo_path):
    conn = sqlite3.connect(demo_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_insert_rows_writes_what_executemany_writes():
    # Many rows per statement, in order: the same table, including an INSERT OR REPLACE
    # of one key several times (the last row wins) and chunks that cross ROWS_PER_INSERT.
    import sqlite3

    from ledger import store

    rows = [(i % 700, f"v{i}", bytes([i % 256]) * 3, None) for i in range(1234)]
    tables = {}
    for how in ("executemany", "insert_rows"):
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT, b BLOB, n)")
        sql = "INSERT OR REPLACE INTO t VALUES (?, ?, ?, ?)"
        conn.executemany(sql, rows) if how == "executemany" else store.insert_rows(conn, sql, rows)
        tables[how] = conn.execute("SELECT rowid, * FROM t ORDER BY rowid").fetchall()
    assert tables["insert_rows"] == tables["executemany"]
    assert len(tables["executemany"]) == 700 and tables["executemany"][0][2] == "v700"


def test_insert_rows_keeps_within_the_parameter_limit():
    import sqlite3

    from ledger import store

    conn = sqlite3.connect(":memory:")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)
    conn.execute("CREATE TABLE t (" + ", ".join(f"c{i}" for i in range(30)) + ")")
    rows = [tuple(range(i, i + 30)) for i in range(25)]  # 3 rows per statement at most
    store.insert_rows(conn, "INSERT INTO t VALUES (" + ", ".join("?" * 30) + ")", rows)
    assert conn.execute("SELECT * FROM t ORDER BY rowid").fetchall() == rows


def test_new_files_get_the_page_size_and_an_older_file_keeps_its_own(tmp_path, monkeypatch):
    from ledger import store as store_module
    from ledger.verify import open_source, verify_ledger

    log, ana = _signer(DEMO_ORIGIN), _signer("ana@demo.fact-ledger.example")
    key = {"kind": "key", "id": "key:ana", "vkey": ana.vkey, "display_name": "Ana", "role": "editor", "status": "active"}
    sizes, default = {}, store_module.PAGE_SIZE
    for name, page_size in (("new", None), ("older", 4096)):  # 4,096: the page size of every file before 8,192
        if page_size:
            monkeypatch.setattr(store_module, "PAGE_SIZE", page_size)
        path = tmp_path / f"{name}.db"
        ledger = Ledger.create(path, log)
        ledger.append([key], log, log)
        ledger.append([{"kind": "source", "id": f"source:{i}", "type": "other", "title": f"t{i}"} for i in range(300)], ana, log)
        ledger.close()
        sizes[name] = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
        assert verify_ledger(open_source(str(path)), vkey=log.vkey).ok
    assert sizes == {"new": default, "older": 4096} and default == 8192
