"""The SQLite floor of one appended claim: the rows it must write, with nothing else.

Used by ``python -m benchmarks`` to show how close the append rate can get
to the raw limit: every claim entry writes one row into ``entries``,
``record_heads``, ``claims``, ``claim_terms`` (+ its full-text index),
``claim_versions`` and ``claim_chain`` (and whatever other browsing tables
the projection has), plus its stored tree hashes. Here those rows are
written with ``executemany`` in one transaction into a fresh ledger file
with the real schema: no validation, signing, folding, Python objects or
reads (the search terms are folded before the clock starts).

The full-text rows are written as an append writes them: straight into
claims_fts with the claim_terms_ai trigger dropped for the batch (see
``Projection.cached``), since the trigger makes SQLite open a statement
savepoint per row that flushes the FTS5 index each time (several times the
cost of the row). ``full_text=False`` leaves the index out, as the replay
of ``ledger verify`` does.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

from ledger.folding import index_terms


def ledger_schema(path: Path, full_text: bool = True) -> list[str]:
    """The CREATE statements of a new ledger's tables, indexes and triggers, in the order it made them.

    Read from a ledger made by ``Ledger.create``, so the floor follows the
    schema as it is. The search index's own tables are left to its CREATE
    VIRTUAL TABLE; ``full_text=False`` leaves out the index and the triggers
    that write it.
    """
    from ledger.api import Ledger

    from benchmarks.workload import ORIGIN, signer

    path.unlink(missing_ok=True)
    Ledger.create(path, signer(ORIGIN)).close()
    with contextlib.closing(sqlite3.connect(str(path))) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid").fetchall()
    path.unlink()
    virtual = [name for _, name, sql in rows if sql.startswith("CREATE VIRTUAL TABLE")]
    shadow = [name for kind, name, _ in rows if kind == "table" and any(name.startswith(v + "_") for v in virtual)]
    if full_text:
        return [sql for _, name, sql in rows if name not in shadow]
    return [sql for _, name, sql in rows if name not in shadow + virtual and not any(v in sql for v in virtual)]


def sqlite_floor(path: Path, n: int, full_text: bool = True) -> float:
    """CPU seconds per entry to insert n claim entries' rows into the ledger schema, in bulk."""
    schema = ledger_schema(path.with_name(path.stem + "-schema.db"), full_text)
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None)
    for ddl in schema:
        conn.execute(ddl)
    if full_text:  # the insert trigger of the index's content table, as Projection.cached() drops it
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%AFTER INSERT%'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
    tables = {name: len(conn.execute(f"PRAGMA table_info({name})").fetchall()) for name in
              ("entries", "tree_hashes", "record_heads", "claims", "claim_terms", "claim_versions", "claim_chain")}
    other = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'record_versions'")]
    rows = {name: [] for name in tables}
    rows.update({name: [] for name in other})
    if full_text:
        rows["claims_fts"] = []
    for i in range(n):
        cid, h = f"claim:bench-{i}", f"{i:064x}"
        text = f"The ministry reported exports imports machine tools figures growth decline shipments customs trade ({i})"
        terms, facets = index_terms(text, "en"), "language:en source:source%3abench verdict:none"
        rows["entries"].append((i, h, "claim", cid, 1, "ana@bench+01234567", "x" * 330))
        rows["tree_hashes"].extend(((2 * i, bytes(32)), (2 * i + 1, bytes(32))))
        rows["record_heads"].append((cid, "claim", 1, i, h, i, "active"))
        rows["claims"].append((cid, 1, text, "en", None, None, "source:bench", "Benchmark source", "Bench") + (None,) * 17
                              + ("active", None, "ana@bench+01234567", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z", i, h))
        rows["claim_versions"].append((i, cid, 1, h, None, text, None, None, None, "[]", None, None, "ana@bench+01234567", "2024-05-01T10:00:00Z"))
        rows["claim_terms"].append((i + 1, facets, terms, None, None))
        rows["claim_chain"].append((cid, 0, "source:bench", None))
        for name in other:
            rows[name].append((h, cid, 1, i))
        if full_text:
            rows["claims_fts"].append((i + 1, facets, terms, None, None))
    t = time.process_time()
    conn.execute("BEGIN")
    for name, values in rows.items():
        width = len(values[0])
        columns = "(rowid, facets, text, translation, quote)" if name == "claims_fts" else ""
        conn.executemany(f"INSERT INTO {name}{columns} VALUES ({', '.join('?' * width)})", values)
    # Once a batch: the facet counts.
    conn.execute("INSERT INTO search_facets VALUES ('language', 'en', ?), ('source', 'source:bench', ?), ('verdict', 'none', ?)",
                 (n, n, n))
    conn.execute("COMMIT")
    elapsed = time.process_time() - t
    conn.close()
    return elapsed / n
