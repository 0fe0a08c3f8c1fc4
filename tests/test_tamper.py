"""Tamper detection at scale: random single-byte mutations of a ledger of every record kind.

The ledger (tests/security_ledger.py) has over 200 entries, every record kind, a
revoked key, snapshots, links, revisions, corrections and retractions. Each
mutation is applied to a fresh copy, then ``ledger.verify.verify_ledger`` runs
on it. A mutation is

- **detected** when verify fails and names the place (the entry, table,
  checkpoint, snapshot or the file);
- **harmless** when verify passes and a reader sees exactly what they saw
  before (every row of every table and ``PRAGMA integrity_check`` unchanged),
  with the reason (which bytes SQLite never reads);
- **MISSED** otherwise: a defect of the product. The test fails on any.

Value-level mutations change one byte of one stored value through SQL, the way
an attacker with write access would (dropping the append-only triggers first and
recreating them after, so the schema check alone cannot give it away). File-level
mutations flip one byte anywhere in the file. Structural ones delete a row, swap
two rows, append a forged row, or truncate the file. Attacks are the ways past
verify of issue 13, on every table they apply to (tests/attacks.py): a row only
its primary-key index leads to, a WAL split, a snapshot no record names, a
signature line no known key checks, a value of another SQLite type, renumbered
rowids.

Size: ``LEDGER_TAMPER_MUTATIONS`` (random value-level mutations; default 120,
``LEDGER_FULL_SIZE=1`` makes it 600), ``LEDGER_TAMPER_FILE_FLIPS`` (default
40, full 200); the wrong-type attacks are every column's at full size, every
third at CI size. The summary table is printed (``pytest -s``) and written to
``tests/output/tamper-summary.txt``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import random
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

import attacks
from security_ledger import ANA, LOG, build_full_ledger
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.envelope import Entry
from ledger.errors import LedgerError
from ledger.projection import COUNT_TABLES
from ledger.schema import RECORD_KINDS
from ledger.store import LOG_TABLES
from ledger.verify import open_source, verify_ledger

FULL = os.environ.get("LEDGER_FULL_SIZE") == "1"
VALUE_MUTATIONS = int(os.environ.get("LEDGER_TAMPER_MUTATIONS", 600 if FULL else 120))
FILE_FLIPS = int(os.environ.get("LEDGER_TAMPER_FILE_FLIPS", 200 if FULL else 40))
SEED = int(os.environ.get("LEDGER_TAMPER_SEED", 20240501))
OUTPUT = Path(__file__).parent / "output"
FTS_SHADOW = ("claims_fts_data", "claims_fts_idx", "claims_fts_docsize", "claims_fts_config")

# --- the template ledger ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("tamper") / "full.db"
    build_full_ledger(path).close()
    return path


def _connect(path):
    return sqlite3.connect(path, isolation_level=None)


def _tables(conn):
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name")
    return [r[0].decode() if isinstance(r[0], bytes) else r[0] for r in rows]


def _has_rowid(conn, table):
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    return b"WITHOUT ROWID" not in sql if isinstance(sql, bytes) else "WITHOUT ROWID" not in sql


def _row_keys(conn, table):
    """A list of WHERE clauses + params that pick each row of ``table``."""
    if _has_rowid(conn, table):
        return [("rowid = ?", (r[0],)) for r in conn.execute(f'SELECT rowid FROM "{table}" ORDER BY rowid')]
    pk = [c[1] for c in sorted(conn.execute(f'PRAGMA table_info("{table}")'), key=lambda c: c[5]) if c[5]]
    where = " AND ".join(f'"{c}" IS ?' for c in pk)
    return [(where, tuple(r)) for r in conn.execute(f'SELECT {", ".join(pk)} FROM "{table}"')]


def _columns(conn, table):
    return [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')]


def reader_view(path):
    """Everything a reader can see in the file as the site reads it (immutable): every row of every table with
    its rowid and the type of each value, and SQLite's own integrity check."""
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    conn.text_factory = bytes
    try:
        view = {"schema": sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))}
        for table in _tables(conn):
            # A table of counts' rowids depend on the batching and no page shows or orders by them
            # (projection.COUNT_TABLES): a reader sees its rows, not its rowids.
            rowid = "rowid, " if _has_rowid(conn, table) and table not in COUNT_TABLES else ""
            view[table] = sorted(map(repr, conn.execute(f'SELECT {rowid}* FROM "{table}" NOT INDEXED')))
        view["integrity"] = conn.execute("PRAGMA integrity_check").fetchall()
        return view
    finally:
        conn.close()


# --- applying a mutation ------------------------------------------------------------------------
class _Unlocked:
    """Drop a log table's append-only triggers, and recreate them, byte-identical, afterwards."""

    def __init__(self, conn, table):
        self.conn, self.table = conn, table

    def __enter__(self):
        self.triggers = self.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE ?",
                                          (self.table, f"{self.table}_no_%")).fetchall() if self.table in LOG_TABLES else []
        for name, _ in self.triggers:
            self.conn.execute(f'DROP TRIGGER "{name}"')
        return self.conn

    def __exit__(self, *exc):
        for _, sql in self.triggers:
            self.conn.execute(sql)


def _mutate_value(value, rng):
    """The value with one byte changed, and how it is written (text that may not be UTF-8 any more)."""
    if isinstance(value, int):
        raw = bytearray(value.to_bytes(8, "big", signed=True))
        pos = rng.randrange(8)
        raw[pos] = (raw[pos] + rng.randrange(1, 256)) % 256
        return int.from_bytes(raw, "big", signed=True), "?"
    raw = bytearray(value.encode("utf-8") if isinstance(value, str) else value)
    pos = rng.randrange(len(raw))
    raw[pos] = (raw[pos] + rng.randrange(1, 256)) % 256
    if isinstance(value, bytes):
        return bytes(raw), "?"
    try:
        return bytes(raw).decode("utf-8"), "?"
    except UnicodeDecodeError:
        return bytes(raw), "CAST(? AS TEXT)"  # invalid UTF-8 stored as TEXT, as a raw writer could


def _mutate_sig(leaf: str, rng):
    """Change one base64 character of the signature inside a leaf (the JSON stays canonical)."""
    start = leaf.index('"sig":"') + 7
    end = leaf.index('"', start)
    pos = rng.randrange(start, end - 2)  # keep the padding
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    new = rng.choice([c for c in alphabet if c != leaf[pos]])
    return leaf[:pos] + new + leaf[pos + 1:]


def apply_value_mutation(path, spec):
    """spec: (category, table, column, row_number, seed)."""
    category, table, column, row_number, seed = spec
    rng = random.Random(seed)
    conn = _connect(path)
    conn.text_factory = lambda b: b.decode("utf-8")
    try:
        keys = _row_keys(conn, table)
        where, params = keys[row_number % len(keys)]
        for attempt in range(8):
            value = conn.execute(f'SELECT "{column}" FROM "{table}" WHERE {where}', params).fetchone()[0]
            if category == "entry signature":
                new, placeholder = _mutate_sig(value, rng), "?"
            else:
                new, placeholder = _mutate_value(value, rng)
            try:
                with _Unlocked(conn, table):
                    conn.execute(f'UPDATE "{table}" SET "{column}" = {placeholder} WHERE {where}', (new, *params))
                break
            except sqlite3.IntegrityError:
                continue  # the new key collides with another row: try another byte
        else:
            return f"{table}.{column} row {row_number}: no byte change possible"
        label = f"{table}.{column}"
        if table == "meta":
            label = f"meta.value:{conn.execute(f'SELECT key FROM meta WHERE {where}', params).fetchone()[0]}"
        return label
    finally:
        conn.close()


def apply_structural(path, spec):
    op, table, arg = spec
    if op == "truncate":
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.truncate(max(0, eval(arg, {"size": size, "page": 4096})))
        return f"truncate to {arg}"
    conn = _connect(path)
    conn.text_factory = lambda b: b.decode("utf-8")
    try:
        keys = _row_keys(conn, table)
        cols = _columns(conn, table)
        with _Unlocked(conn, table):
            if op == "delete":
                where, params = keys[len(keys) // 2]
                conn.execute(f'DELETE FROM "{table}" WHERE {where}', params)
            elif op == "swap":
                # Swap every non-key column of two rows (delete both, insert them back swapped,
                # so unique constraints hold throughout).
                (w1, p1), (w2, p2) = keys[len(keys) // 3], keys[2 * len(keys) // 3]
                pk = {c[1] for c in conn.execute(f'PRAGMA table_info("{table}")') if c[5]}
                r1 = conn.execute(f'SELECT * FROM "{table}" WHERE {w1}', p1).fetchone()
                r2 = conn.execute(f'SELECT * FROM "{table}" WHERE {w2}', p2).fetchone()
                if pk and len(pk) < len(cols):
                    r1, r2 = ([a if c in pk else b for c, a, b in zip(cols, x, y)] for x, y in ((r1, r2), (r2, r1)))
                conn.execute(f'DELETE FROM "{table}" WHERE {w1}', p1)
                conn.execute(f'DELETE FROM "{table}" WHERE {w2}', p2)
                # Without a declared key, swapping means swapping rowids (the physical order).
                insert = f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(cols))})'
                conn.execute(insert, r2 if pk else r1)
                conn.execute(insert, r1 if pk else r2)
            elif op == "append":
                forge_row(conn, table, arg)
        return f"{op} {table}{' ' + arg if arg else ''}"
    finally:
        conn.close()


def forge_row(conn, table, how):
    """Append a forged row: for the log, a correctly signed entry or note by a stolen editor key."""
    size = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    if table == "entries":
        from ledger import tree

        record = {"kind": "claim", "id": "claim:forged", "created": "2024-06-01T00:00:00Z", "text": "forged", "language": "en",
                  "source": "source:s20"}
        from ledger.records import Record

        entry = Entry.sign(size, Record.from_dict({**record, "version": 1}), ANA, LOG.name)
        conn.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (size, entry.hash_hex, "claim", "claim:forged", 1, entry.signer, entry.leaf.decode()))
        if how == "with tree hashes":
            class Reader:
                def read_hashes(self, indexes):
                    return [bytes(conn.execute("SELECT hash FROM tree_hashes WHERE idx = ?", (i,)).fetchone()[0]) for i in indexes]

            builder = tree.TreeBuilder.from_reader(size, Reader())
            hashes = builder.append(entry.leaf_hash)
            first = tree.stored_hash_count(size)
            conn.executemany("INSERT INTO tree_hashes VALUES (?, ?)", [(first + i, h) for i, h in enumerate(hashes)])
        return
    if table == "checkpoints":
        note = sign_checkpoint(Checkpoint(origin=LOG.name, size=size + 1, root_hash=bytes(32)), ANA)
        conn.execute("INSERT INTO checkpoints VALUES (?, ?)", (size + 1, note))
        return
    cols = _columns(conn, table)
    row = list(conn.execute(f'SELECT * FROM "{table}" LIMIT 1').fetchone())
    pk = [i for i, c in enumerate(conn.execute(f'PRAGMA table_info("{table}")')) if c[5]] or [0]
    for i in pk:
        row[i] = row[i] + 10**6 if isinstance(row[i], int) else (row[i] + "-forged" if isinstance(row[i], str) else row[i] + b"!")
    conn.execute(f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(cols))})', row)


def flip_file_byte(path, offset, seed):
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([(old + rng.randrange(1, 256)) % 256]))


# --- running one mutation -----------------------------------------------------------------------
def _expected_where(label):
    if label.startswith("truncate"):
        return ("",)
    table = label.split(".")[0].split(" ")[1] if label.split(" ")[0] in ("delete", "swap", "append") else label.split(".")[0]
    if table in ("entries", "tree_hashes"):
        return ("entry ", "checkpoint", "tree_hashes", "file")
    if table == "checkpoints":
        return ("checkpoint", "file")
    if table == "snapshots":
        return ("snapshot ", "entry ", "file")
    if table == "meta":
        return ("meta", "file", "open")
    if table == "cosignatures":
        return ("cosignature of checkpoint", "file")
    if table in FTS_SHADOW:
        return ("table claims_fts", "file")
    return (f"table {table}", "file", "schema")


def run_mutation(args):
    """Apply one mutation to a fresh copy and classify it: (kind, label, outcome, detail)."""
    template, kind, spec, baseline = args
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        shutil.copyfile(template, path)
        expected = None
        if kind == "value":
            label = apply_value_mutation(path, spec)
        elif kind == "structural":
            label = apply_structural(path, spec)
        elif kind == "attack":
            label, expected = apply_attack(template, path, spec)
        else:
            offset, seed = spec
            flip_file_byte(path, offset, seed)
            label = f"file byte {offset}"
        try:
            report = verify_ledger(open_source(str(path)), vkey=LOG.vkey, workers=1)
        except LedgerError as e:  # refused to open: the CLI shows it as one 'Error:' line, exit 1
            return kind, label, "detected", f"open: {e}"
        if not report.ok:
            wheres = [f.where for f in report.failures]
            named = kind == "file" or any(w.startswith(expected or _expected_where(label)) for w in wheres)
            return kind, label, "detected" if named else "detected elsewhere", "; ".join(str(f) for f in report.failures[:3])
        try:
            view = reader_view(path)
        except sqlite3.DatabaseError as e:
            return kind, label, "MISSED", f"verify passed but a reader gets: {e}"
        if view == baseline:
            return kind, label, "harmless", harmless_reason(template, spec[0] if kind == "file" else None)
        changed = sorted(k for k in view.keys() | baseline.keys() if view.get(k) != baseline.get(k))
        reason = explain_invisible(template, path, changed)
        if reason:
            return kind, label, "harmless", reason
        return kind, label, "MISSED", f"verify passed but a reader sees changes in {changed}"


def _search_results(path):
    """For every term in the original index: the claims a search for it returns, in order."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, claims_fts, 'row')")
        return {term: conn.execute("SELECT rowid FROM claims_fts WHERE claims_fts MATCH ? ORDER BY rank", ('"' + term + '"',)).fetchall()
                for (term,) in conn.execute("SELECT term FROM temp.v")}
    finally:
        conn.close()


def explain_invisible(template, path, changed):
    """Why a change verify let through is invisible to readers, or None (then it is MISSED)."""
    if set(changed) <= set(FTS_SHADOW):
        if _search_results(template) == _search_results(path):
            return ("search index layout only (a term-index hint row, an unreferenced block, blocks with the same terms): "
                    "every term's search returns the same claims in the same order")
        return None
    if changed == ["meta"]:
        meta = lambda p: dict(sqlite3.connect(f"file:{p}?mode=ro", uri=True).execute("SELECT key, value FROM meta").fetchall())
        old, new = meta(template), meta(path)
        if all(old.get(k) == new.get(k) for k in ("format", "origin", "log_vkey")):
            return ("meta row other than format/origin/log_vkey (e.g. log_key_file, the writer's hint where its key file is): "
                    "hidden on the site, never signed; a wrong log key is refused when signing")
        return None
    if changed == ["cosignatures"]:
        rows = lambda p: set(sqlite3.connect(f"file:{p}?mode=ro", uri=True).execute("SELECT * FROM cosignatures").fetchall())
        if rows(path) < rows(template):
            return ("a witness's cosignature deleted (limitation): the log does not sign its cosignatures, and one fewer can "
                    "only make a reader's quorum fail, never pass")
        return None
    if changed == ["checkpoints"]:
        rows = lambda p: sqlite3.connect(f"file:{p}?mode=ro", uri=True).execute("SELECT tree_size, note FROM checkpoints").fetchall()
        old, new = rows(template), rows(path)
        if set(new) < set(old) and max(new) == max(old):
            return ("an intermediate checkpoint deleted (limitation): the file cannot show which sizes were signed, but every "
                    "remaining checkpoint verifies and any copy a reader saved still verifies with --since")
    return None


def harmless_reason(template, offset):
    if offset is None:
        return "no visible change"
    if offset < 100:
        return "file header field SQLite does not rely on when reading (e.g. change counter, version-valid-for)"
    page = offset // 4096 + 1
    conn = sqlite3.connect(f"file:{template}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT name, pagetype FROM dbstat WHERE pageno = ?", (page,)).fetchone()
    finally:
        conn.close()
    if row is None:
        return "free page (not part of any table or index)"
    return f"unused space inside a {row[1]} b-tree page"


# --- the specs ------------------------------------------------------------------------------------
def value_specs(template, count, rng):
    conn = sqlite3.connect(template)
    cats = [("entry leaf", "entries", "leaf"), ("entry signature", "entries", "leaf")]
    cats += [("entry column", "entries", c) for c in ("idx", "leaf_hash", "kind", "record_id", "version", "signer")]
    cats += [("tree hash", "tree_hashes", "hash"), ("tree hash", "tree_hashes", "idx"),
             ("checkpoint note", "checkpoints", "note"), ("checkpoint note", "checkpoints", "tree_size"),
             ("snapshot content", "snapshots", "content")]
    cats += [("snapshot column", "snapshots", c) for c in ("sha256", "media_type", "size")]
    cats += [("meta", "meta", "value")]
    cats += [("cosignature", "cosignatures", c) for c in ("tree_size", "witness", "timestamp", "line")]
    log_and_fts = set(LOG_TABLES) | set(FTS_SHADOW)
    for table in _tables(conn):
        if table in log_and_fts:
            continue
        if conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]:
            cats += [(f"table {table}", table, c) for c in _columns(conn, table)]
    cats += [("search index", t, c) for t in FTS_SHADOW for c in _columns(conn, t)]
    # Spread the mutations evenly over categories, then over columns within them.
    by_cat = collections.defaultdict(list)
    for cat, table, column in cats:
        by_cat[cat].append((table, column))
    specs, names = [], sorted(by_cat)
    for i in range(count):
        cat = names[i % len(names)]
        table, column = rng.choice(by_cat[cat])
        rows = conn.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}" IS NOT NULL').fetchone()[0]
        if not rows:
            continue
        # Pick a row whose value is not NULL.
        keys = _row_keys(conn, table)
        candidates = [n for n, (w, p) in enumerate(keys)
                      if conn.execute(f'SELECT "{column}" IS NOT NULL AND length("{column}") > 0 FROM "{table}" WHERE {w}', p).fetchone()[0]]
        specs.append((cat, table, column, rng.choice(candidates), rng.randrange(2**32)))
    conn.close()
    return specs


def structural_specs(template):
    conn = sqlite3.connect(template)
    counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in _tables(conn)}
    conn.close()
    tables = [t for t, n in counts.items() if n]
    specs = [("delete", t, "") for t in tables]
    specs += [("swap", t, "") for t in tables if counts[t] >= 2]
    specs += [("append", t, "") for t in tables if t not in ("entries", "checkpoints", "claims_fts_config")]
    specs += [("append", "entries", "leaf only"), ("append", "entries", "with tree hashes"), ("append", "checkpoints", "")]
    specs += [("truncate", None, arg) for arg in ("size - 1", "size - page", "size - 3 * page", "size // 2", "4096", "100", "0")]
    return specs


# --- issue 13's attacks, as mutation classes ----------------------------------------------------------
INDEX_ONLY = "index-only row"
WAL = "WAL split"
SNAPSHOT = "unreferenced snapshot"
SIGNATURE = "extra signature line"
TYPE = "wrong SQLite type"
ROWIDS = "renumbered rowids"


def attack_specs(template):
    """(class, table, argument) of every attack on every table it applies to."""
    from ledger.projection import TABLES
    from ledger.verify.file_schema import column_types

    conn = sqlite3.connect(template)
    try:
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in _tables(conn)}
        keys = {t: [(c[1], c[2]) for c in conn.execute(f'PRAGMA table_info("{t}")') if c[5]] for t in counts}
        text_keys = {t: key[0][0] for t, key in keys.items() if len(key) == 1 and key[0][1] == "TEXT"}
        rowid_aliases = {(t, key[0][0]) for t, key in keys.items() if len(key) == 1 and key[0][1] == "INTEGER"}  # integers only
        holding = {(t, c) for t, columns in column_types().items() if t in counts for c, _ in columns
                   if conn.execute(f'SELECT 1 FROM "{t}" WHERE "{c}" IS NOT NULL LIMIT 1').fetchone()}
    finally:
        conn.close()
    specs = [(INDEX_ONLY, table, key) for table, key in sorted(text_keys.items()) if counts[table] and table not in FTS_SHADOW]
    specs += [(WAL, table, column) for table, column in (("claims", "text"), ("sources", "title"), ("reviews", "label"),
                                                          ("editors", "display_name"), ("entries", "signer"), ("meta", "value"))]
    specs += [(SNAPSHOT, None, media_type) for media_type in ("text/html", "image/svg+xml", "text/javascript", "text/plain")]
    specs += [(SIGNATURE, "checkpoints", how) for how in ("unknown witness", "unknown witness, older checkpoint", "repeated log line",
                                                          "real cosignature by an unknown witness", "another key of the log's name")]
    types = [(TYPE, table, (column, to)) for table, columns in sorted(column_types().items())
             for column, allowed in columns if (table, column) in holding - rowid_aliases for to in _other_types(allowed)]
    specs += types if FULL else types[::3]
    specs += [(ROWIDS, table, "") for table in TABLES if counts.get(table, 0) >= 2 and table != "claim_versions"]
    return specs


def _other_types(allowed):
    # The storage classes another writer could leave in a column declared with ``allowed`` (see attacks.store_as).
    return {"text": ("BLOB",), "integer": ("TEXT", "REAL"), "blob": ("TEXT",)}[allowed[0]]


def apply_attack(template, path, spec):
    """Mount one attack on the copy at ``path``; returns (label, the report places that name it)."""
    cls, table, arg = spec
    if cls == INDEX_ONLY:
        conn = sqlite3.connect(path)
        rowids = [r[0] for r in conn.execute(f'SELECT rowid FROM "{table}" ORDER BY rowid')]
        key = conn.execute(f'SELECT "{arg}" FROM "{table}" WHERE rowid = ?', (rowids[len(rowids) // 2],)).fetchone()[0]
        text = next(c[1] for c in conn.execute(f'PRAGMA table_info("{table}")') if c[2] == "TEXT" and c[1] != arg)
        conn.close()
        attacks.index_only_row(path, key, table=table, key_column=arg, **{text: "forged"})
        return f"{cls}: {table}", ("file", f"table {table}")
    if cls == WAL:
        conn = sqlite3.connect(path)
        key_column = {"entries": "idx", "meta": "key"}.get(table, [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")') if c[5]][0])
        key = conn.execute(f'SELECT "{key_column}" FROM "{table}" ORDER BY rowid DESC LIMIT 1 OFFSET 1').fetchone()[0]
        conn.close()
        attacks.wal_split(template, path, key, "forged", table=table, column=arg, key_column=key_column)
        return f"{cls}: {table}.{arg}", ("open",)
    if cls == SNAPSHOT:
        return f"{cls}: {arg}", ("snapshot ",) if attacks.add_unreferenced_snapshot(path, media_type=arg) else ()
    if cls == SIGNATURE:
        return f"{cls}: {_add_signature_line(path, arg)}", ("checkpoint",)
    if cls == TYPE:
        column, to = arg
        attacks.store_as(path, table, column, to, f'"{column}" IS NOT NULL')
        return f"{cls}: {table}.{column} as {to}", (f"table {table}", "entry ", "checkpoint", "snapshot ", "meta", "tree_hashes", "file")
    attacks.renumber_rowids(path, table)
    return f"{cls}: {table}", (f"table {table}",)


def _add_signature_line(path, how):
    from ledger.cosignature import CosignatureSigner, sign_cosignature
    from ledger.note import Signer, sign_note

    conn = sqlite3.connect(path)
    sizes = [r[0] for r in conn.execute("SELECT tree_size FROM checkpoints ORDER BY tree_size")]
    size = sizes[len(sizes) // 2] if "older" in how else sizes[-1]
    note = conn.execute("SELECT note FROM checkpoints WHERE tree_size = ?", (size,)).fetchone()[0]
    conn.close()
    text = note[:note.rfind("\n\n") + 1]
    if "unknown witness" in how and "real" not in how:
        line = "— witness.example/fake AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    elif how == "repeated log line":
        line = note.splitlines(keepends=True)[-1]
    elif how == "real cosignature by an unknown witness":
        line = sign_cosignature(text, CosignatureSigner(Signer.from_seed("witness.example/w", b"\x77" * 32)), 1714557600).line
    else:
        line = sign_note(text, [Signer.from_seed(LOG.name, b"\x78" * 32)]).splitlines(keepends=True)[-1]
    attacks.add_signature_line(path, line, size)
    return f"{how} (checkpoint {size})"


def file_specs(template, count, rng):
    size = template.stat().st_size
    return [(rng.randrange(size), rng.randrange(2**32)) for _ in range(count)]


# --- the test -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_every_mutation_is_detected_or_harmless(template):
    assert "ratingmap" not in RECORD_KINDS or _count(template, "SELECT count(*) FROM entries WHERE kind = 'ratingmap'") > 0
    kinds = {k for (k,) in sqlite3.connect(template).execute("SELECT DISTINCT kind FROM entries")}
    assert kinds == set(RECORD_KINDS), kinds
    assert _count(template, "SELECT count(*) FROM entries") >= 200
    rng = random.Random(SEED)
    baseline = reader_view(template)
    jobs = [(template, "value", s, baseline) for s in value_specs(template, VALUE_MUTATIONS, rng)]
    jobs += [(template, "structural", s, baseline) for s in structural_specs(template)]
    jobs += [(template, "file", s, baseline) for s in file_specs(template, FILE_FLIPS, rng)]
    jobs += [(template, "attack", s, baseline) for s in attack_specs(template)]
    workers = max(1, min(4, os.cpu_count() or 1))
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run_mutation, jobs, chunksize=4))
    summary = write_summary(results)
    print("\n" + summary)
    missed = [r for r in results if r[2] not in ("detected", "harmless")]
    assert not missed, "\n".join(f"{k} {label}: {outcome}: {detail}" for k, label, outcome, detail in missed)


def _count(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def write_summary(results):
    rows = collections.Counter()
    harmless = collections.Counter()
    for kind, label, outcome, detail in results:
        group = (label.split(" ")[0] if kind == "structural" else "file-level flip" if kind == "file"
                 else label.split(":")[0] if kind == "attack" else label.split(".")[0])
        rows[(kind, group, outcome)] += 1
        if outcome == "harmless":
            harmless[detail] += 1
    totals = collections.Counter(r[2] for r in results)
    lines = [f"Tamper summary: {len(results)} mutations, " + ", ".join(f"{n} {o}" for o, n in sorted(totals.items())),
             "", f"{'kind':<11} {'target':<22} {'outcome':<19} count"]
    for (kind, group, outcome), n in sorted(rows.items()):
        lines.append(f"{kind:<11} {group:<22} {outcome:<19} {n}")
    if harmless:
        lines += ["", "Harmless, and why:"]
        lines += [f"  {n:>4}  {reason}" for reason, n in harmless.most_common()]
    text = "\n".join(lines) + "\n"
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / f"tamper-summary{'-full' if FULL else ''}.txt").write_text(text)
    return text
