"""The browsing tables: a deterministic projection of the log entries.

These tables are what the published site shows. They hold nothing the log
does not: every row is computed from entries, in log order, by ``apply``.
``ledger rebuild`` drops and recomputes them; ``ledger verify`` recomputes
them in memory and compares every row, so the site cannot show text the log
does not contain.

The same tables are the state the append rules read (which record versions
are current, which keys are valid), so appending and verifying check records
against exactly the same state.

The search index (``claim_terms``, ``claims_fts``, ``search_facets``) is
one of them: each claim's words folded into search terms (ledger/folding.py)
and its facets (ledger/search.py), so verify checks it like any other table.

This module speaks plain ``sqlite3`` (no sqlite-utils) so that verifiers
need only the standard library, ``cryptography`` and PyStemmer.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import operator
import sqlite3
import types
from typing import Callable, Iterator, Optional

import attrs

from ledger.diff import diff_records
from ledger.errors import FormatError
from ledger.folding import index_terms
from ledger.records import (KIND_CLASSES, Attribution, Claim, Correction, KeyRecord, Quantity, Quote, Record, Retraction, Review,
                            Snapshot, Source, Translation, WitnessRecord)
from ledger.search import claim_facets, facet_pairs, facet_tokens
from ledger.store import insert_rows

# Links that say where a document itself comes from (followed past the attribution).
LINEAGE_RELS = ("translation-of", "republishes", "based-on", "primary-source")

# Table name -> (DDL, primary-key columns used to order rows when comparing).
TABLES = {
    "record_heads": ("""CREATE TABLE record_heads (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, version INTEGER NOT NULL,
        entry_idx INTEGER NOT NULL, entry_hash TEXT NOT NULL, first_idx INTEGER NOT NULL,
        status TEXT NOT NULL)""", "id"),
    "record_versions": ("""CREATE TABLE record_versions (
        entry_hash TEXT PRIMARY KEY, record_id TEXT NOT NULL, version INTEGER NOT NULL,
        entry_idx INTEGER NOT NULL)""", "entry_hash"),
    "editors": ("""CREATE TABLE editors (
        signer TEXT PRIMARY KEY, key_id TEXT NOT NULL, name TEXT NOT NULL, display_name TEXT NOT NULL,
        vkey TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL, registered_idx INTEGER NOT NULL,
        revoked_idx INTEGER, revoke_reason TEXT, record_id TEXT NOT NULL)""", "signer"),
    "sources": ("""CREATE TABLE sources (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, type TEXT NOT NULL, title TEXT NOT NULL,
        url TEXT, publisher TEXT, author TEXT, language TEXT, published TEXT, retrieved TEXT,
        description TEXT, anonymous INTEGER, public INTEGER, third_party INTEGER, license TEXT,
        snapshot_sha256 TEXT, snapshot_media_type TEXT, snapshot_size INTEGER, archives TEXT,
        status TEXT NOT NULL, signer TEXT NOT NULL REFERENCES editors(signer), created TEXT NOT NULL,
        entry_idx INTEGER NOT NULL, entry_hash TEXT NOT NULL)""", "id"),
    "source_links": ("""CREATE TABLE source_links (
        source_id TEXT NOT NULL REFERENCES sources(id), position INTEGER NOT NULL, rel TEXT NOT NULL,
        target_id TEXT NOT NULL REFERENCES sources(id), note TEXT,
        PRIMARY KEY (source_id, position))""", "source_id, position"),
    "claims": ("""CREATE TABLE claims (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, text TEXT NOT NULL, language TEXT NOT NULL,
        translation TEXT, translation_language TEXT,
        source_id TEXT NOT NULL REFERENCES sources(id), source_title TEXT NOT NULL, publisher TEXT,
        quote TEXT, quote_prefix TEXT, quote_suffix TEXT, quote_start INTEGER, quote_end INTEGER,
        attribution TEXT, anonymous INTEGER, attribution_source_id TEXT REFERENCES sources(id),
        quantity_value TEXT, quantity_unit TEXT, quantity_subject TEXT, quantity_period TEXT,
        claim_date TEXT, tags TEXT,
        verdict TEXT, verdict_label TEXT, review_id TEXT REFERENCES reviews(id),
        status TEXT NOT NULL, status_reason TEXT,
        signer TEXT NOT NULL REFERENCES editors(signer), created TEXT NOT NULL, first_created TEXT NOT NULL,
        entry_idx INTEGER NOT NULL, entry_hash TEXT NOT NULL)""", "id"),
    "claim_versions": ("""CREATE TABLE claim_versions (
        entry_idx INTEGER PRIMARY KEY, claim_id TEXT NOT NULL REFERENCES claims(id), version INTEGER NOT NULL,
        entry_hash TEXT NOT NULL, replaces TEXT, text TEXT NOT NULL, translation TEXT, quote TEXT,
        note TEXT, changes TEXT NOT NULL, correction_id TEXT, correction_reason TEXT,
        signer TEXT NOT NULL REFERENCES editors(signer), created TEXT NOT NULL)""", "entry_idx"),
    "claim_chain": ("""CREATE TABLE claim_chain (
        claim_id TEXT NOT NULL REFERENCES claims(id), position INTEGER NOT NULL,
        source_id TEXT NOT NULL REFERENCES sources(id), rel TEXT,
        PRIMARY KEY (claim_id, position))""", "claim_id, position"),
    "reviews": ("""CREATE TABLE reviews (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, claim_id TEXT NOT NULL REFERENCES claims(id),
        label TEXT NOT NULL, label_language TEXT, rating TEXT NOT NULL,
        rating_value INTEGER, rating_best INTEGER, rating_worst INTEGER,
        explanation TEXT, evidence TEXT, reviewed TEXT, url TEXT, status TEXT NOT NULL,
        signer TEXT NOT NULL REFERENCES editors(signer), created TEXT NOT NULL,
        entry_idx INTEGER NOT NULL, entry_hash TEXT NOT NULL)""", "id"),
    "notices": ("""CREATE TABLE notices (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, target_id TEXT NOT NULL, target_kind TEXT NOT NULL,
        target_entry TEXT NOT NULL, corrected_entry TEXT, reason TEXT NOT NULL,
        signer TEXT NOT NULL REFERENCES editors(signer), created TEXT NOT NULL,
        entry_idx INTEGER NOT NULL, entry_hash TEXT NOT NULL)""", "id"),
    "rating_maps": ("""CREATE TABLE rating_maps (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, title TEXT NOT NULL, labels TEXT NOT NULL, positions TEXT,
        signer TEXT NOT NULL REFERENCES editors(signer), created TEXT NOT NULL,
        entry_idx INTEGER NOT NULL, entry_hash TEXT NOT NULL)""", "id"),
    # The search index's content (docs/site.md, "Search"): for each claims row (by its
    # rowid), its facet tokens and the folded terms of its text, translation and quote.
    "claim_terms": ("""CREATE TABLE claim_terms (
        claim_rowid INTEGER PRIMARY KEY, facets TEXT NOT NULL, text TEXT NOT NULL, translation TEXT, quote TEXT)""",
                    "claim_rowid"),
    # How many claims each facet value has (the search page's counts over every claim).
    "search_facets": ("""CREATE TABLE search_facets (
        facet TEXT NOT NULL, value TEXT NOT NULL, claims INTEGER NOT NULL,
        PRIMARY KEY (facet, value))""", "facet, value"),
    # The log's witnesses (witness records): who is asked to cosign each checkpoint.
    "witnesses": ("""CREATE TABLE witnesses (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, witness TEXT NOT NULL, name TEXT NOT NULL,
        key_id TEXT NOT NULL, vkey TEXT NOT NULL, url TEXT NOT NULL, display_name TEXT, status TEXT NOT NULL,
        reason TEXT, added_idx INTEGER NOT NULL, removed_idx INTEGER,
        signer TEXT NOT NULL REFERENCES editors(signer), created TEXT NOT NULL,
        entry_idx INTEGER NOT NULL, entry_hash TEXT NOT NULL)""", "id"),
    # Counts the site shows without counting rows (see "Site counts" below).
    "site_counts": ("""CREATE TABLE site_counts (
        name TEXT NOT NULL, value TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (name, value))""", "name, value"),
}

INDEXES = (
    # (column, entry_idx): the site lists a facet's claims newest first, and
    # with entry_idx in the index SQLite reads them in that order instead of
    # sorting every match (benchmarks/RESULTS.md, optimization 16).
    "CREATE INDEX claims_source ON claims(source_id, entry_idx)",
    "CREATE INDEX claims_signer ON claims(signer, entry_idx)",
    "CREATE INDEX claims_verdict ON claims(verdict, entry_idx)",
    "CREATE INDEX claims_entry ON claims(entry_idx)",
    "CREATE INDEX claim_versions_claim ON claim_versions(claim_id, version)",
    "CREATE INDEX claim_chain_source ON claim_chain(source_id)",
    "CREATE INDEX reviews_claim ON reviews(claim_id)",
    "CREATE INDEX source_links_target ON source_links(target_id)",
    "CREATE INDEX notices_target ON notices(target_id)",
    # The search page shows each facet's values with the most claims first.
    "CREATE INDEX search_facets_top ON search_facets(facet, claims DESC, value)",
)

# Full-text search over claim_terms (external content, rowid = the claims row's rowid, so
# Datasette's table search of claims can use it). The terms are folded already
# (ledger/folding.py) and the facet tokens escaped (ledger/search.py): the ascii tokenizer
# splits at spaces and keeps every other character of them as it is. detail=column: no
# search needs a word's position (no phrases), and positions cost a third of the index.
FTS = """CREATE VIRTUAL TABLE claims_fts USING fts5(
    facets, text, translation, quote, content='claim_terms', content_rowid='claim_rowid',
    tokenize="ascii tokenchars ':%._-'", detail=column)"""
FTS_TRIGGERS = (
    """CREATE TRIGGER claim_terms_ai AFTER INSERT ON claim_terms BEGIN
        INSERT INTO claims_fts(rowid, facets, text, translation, quote)
        VALUES (new.claim_rowid, new.facets, new.text, new.translation, new.quote); END""",
    """CREATE TRIGGER claim_terms_ad AFTER DELETE ON claim_terms BEGIN
        INSERT INTO claims_fts(claims_fts, rowid, facets, text, translation, quote)
        VALUES ('delete', old.claim_rowid, old.facets, old.text, old.translation, old.quote); END""",
    """CREATE TRIGGER claim_terms_au AFTER UPDATE ON claim_terms BEGIN
        INSERT INTO claims_fts(claims_fts, rowid, facets, text, translation, quote)
        VALUES ('delete', old.claim_rowid, old.facets, old.text, old.translation, old.quote);
        INSERT INTO claims_fts(rowid, facets, text, translation, quote)
        VALUES (new.claim_rowid, new.facets, new.text, new.translation, new.quote); END""",
)
FTS_INSERT_TRIGGER = "claim_terms_ai"
# The search index's tables, which only a rebuild fills for an older file.
SEARCH_INDEX_TABLES = ("claim_terms", "search_facets")
# Tables of counts updated in place (ON CONFLICT ... DO UPDATE, and a row deleted
# when its count reaches 0): a row's rowid depends on how the entries were
# batched, not on the entries, so verify compares their rows without rowids.
COUNT_TABLES = frozenset({"search_facets", "site_counts"})
_FACET_COUNT = ("INSERT INTO search_facets (facet, value, claims) VALUES (?, ?, ?)"
                " ON CONFLICT (facet, value) DO UPDATE SET claims = claims + excluded.claims")


@attrs.frozen
class Head:
    """The current version of a record."""

    id: str
    kind: str
    version: int
    entry_idx: int
    entry_hash: str
    first_idx: int
    status: str


@attrs.frozen
class KeyState:
    signer: str
    vkey: str
    role: str
    status: str
    registered_idx: int
    revoked_idx: Optional[int]
    record_id: str


@attrs.frozen
class WitnessState:
    """A witness the log names: ``witness`` is ``name+keyid`` of its cosignature/v1 key."""

    record_id: str
    witness: str
    vkey: str
    url: str
    display_name: Optional[str]
    status: str
    added_idx: int
    removed_idx: Optional[int]


_WITNESS_COLUMNS = "id, witness, vkey, url, display_name, status, added_idx, removed_idx"


def _json(value):
    return None if value is None else json.dumps(list(value), ensure_ascii=False)


def _bool(value):
    return None if value is None else int(value)


def _none_of(value_class) -> types.SimpleNamespace:
    """A stand-in for an absent nested value: each field of ``value_class`` reads as None."""
    return types.SimpleNamespace(**dict.fromkeys(field.name for field in attrs.fields(value_class)))


_NO_TRANSLATION, _NO_QUOTE, _NO_ATTRIBUTION, _NO_QUANTITY, _NO_SNAPSHOT = (
    _none_of(c) for c in (Translation, Quote, Attribution, Quantity, Snapshot))


@functools.lru_cache(maxsize=None)
def _columns(table: str) -> tuple[str, ...]:
    # The table's column names in order, as its DDL in TABLES declares them.
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(TABLES[table][0])
        return tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
    finally:
        conn.close()


@functools.lru_cache(maxsize=None)
def _row_insert(table: str, verb: str = "INSERT", rowid: bool = False) -> tuple[str, Callable[[dict], tuple]]:
    """The statement that inserts one row of ``table`` given by column name, and what takes
    the row's values from a dict that names every column (and "rowid" when ``rowid``)."""
    names = (("rowid",) if rowid else ()) + _columns(table)
    return f"{verb} INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", operator.itemgetter(*names)


def _write_facet_counts(conn: sqlite3.Connection, deltas: dict) -> None:
    changed = [(facet, value, n) for (facet, value), n in sorted(deltas.items()) if n]
    if changed:
        conn.executemany(_FACET_COUNT, changed)
        # A value no claim has any more has no row, as if it had never been counted.
        # Only a count that went down can have reached 0: delete by key, not by
        # scanning every row (a row per source: the scan, once per write, made a
        # large import quadratic; benchmarks/RESULTS.md).
        lowered = [(facet, value) for facet, value, n in changed if n < 0]
        if lowered:
            conn.executemany("DELETE FROM search_facets WHERE facet = ? AND value = ? AND claims = 0", lowered)


class _RowsNow:
    """How ``Projection`` writes rows outside ``cached()``: each one at once."""

    holding = False

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def __bool__(self) -> bool:
        return False  # nothing waits to be written

    def add(self, sql: str, row: tuple) -> None:
        self._conn.execute(sql, row)

    def claim_written(self, rowid: int) -> None:
        pass  # the claim_terms_ai trigger has indexed it

    def count_facets(self, deltas) -> None:
        _write_facet_counts(self._conn, deltas)

    def write(self) -> None:
        pass


class _HeldRows:
    """How ``Projection`` writes rows inside ``cached()``: rows that only add to a table are
    held back and written many per statement (``store.insert_rows``), in order; the new
    claim_terms rows' full-text rows and the facet counts are written after them, in one
    statement each."""

    holding = True

    def __init__(self, conn: sqlite3.Connection, index_claims: bool):
        self._conn = conn
        self._rows: dict[str, list[tuple]] = collections.defaultdict(list)  # INSERT statement -> rows
        self._index_claims = index_claims  # the claim_terms_ai trigger is dropped: index claims here
        self._fts_rowids: list[int] = []
        self._facet_deltas: collections.Counter = collections.Counter()

    def __bool__(self) -> bool:
        return bool(self._rows or self._fts_rowids or self._facet_deltas)

    def add(self, sql: str, row: tuple) -> None:
        self._rows[sql].append(row)

    def claim_written(self, rowid: int) -> None:
        if self._index_claims:
            self._fts_rowids.append(rowid)

    def count_facets(self, deltas) -> None:
        counts = self._facet_deltas
        for pair, n in deltas.items():
            counts[pair] += n

    def write(self) -> None:
        rows, self._rows = self._rows, collections.defaultdict(list)
        for sql, table_rows in rows.items():
            insert_rows(self._conn, sql, table_rows)
        if self._fts_rowids:
            # What the claim_terms_ai trigger does for each new claim_terms row, for all of them at once.
            rowids, self._fts_rowids = self._fts_rowids, []
            self._conn.execute(
                "INSERT INTO claims_fts(rowid, facets, text, translation, quote) "
                "SELECT claim_rowid, facets, text, translation, quote FROM claim_terms"
                " WHERE claim_rowid IN (SELECT value FROM json_each(?))", (json.dumps(rowids),))
        deltas, self._facet_deltas = self._facet_deltas, collections.Counter()
        _write_facet_counts(self._conn, deltas)


class Projection:
    """Reads and updates the browsing tables on one sqlite3 connection.

    ``read_record(entry_idx)`` returns the record stored at an entry; the
    projection needs it to diff versions and to recompute verdicts.
    """

    def __init__(self, conn: sqlite3.Connection, read_record: Callable[[int], Record]):
        self._db = conn
        self.read_record = read_record
        self._rows = _RowsNow(conn)
        # While ``cached()`` is active: the rowid the next new claims row gets,
        # and heads, keys and source rows by ID.
        self._claims_next_rowid: Optional[int] = None
        self._heads: Optional[dict] = None
        # Inside ``cached()``: record_heads was empty when it began (a replay
        # from the first entry), so ``_heads`` holds every head there is.
        self._heads_complete = False
        self._keys: Optional[dict] = None
        self._sources: Optional[dict] = None  # ("title" or "links", source ID) -> rows; ("chain", (source, attribution)) -> chain
        self._counts: Optional[collections.Counter] = None  # site_counts changes not yet written (inside ``cached()``)

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, with every held-back row written first (see ``cached()``)."""
        if self._rows:
            self._rows.write()
        return self._db

    def flush(self) -> None:
        """Write the rows held back so far (inside ``cached()``)."""
        self._rows.write()

    def _add_row(self, table: str, row: dict, rowid: bool = False) -> None:
        """Insert ``row`` (column name -> value, for every column) into ``table``; held back inside ``cached()``."""
        sql, values = _row_insert(table, "INSERT", rowid)
        self._rows.add(sql, values(row))

    def _write_row(self, table: str, row: dict, verb: str = "INSERT") -> int:
        """Insert ``row`` (column name -> value, for every column) into ``table`` now
        (``verb`` "INSERT OR REPLACE" to replace); returns its rowid."""
        sql, values = _row_insert(table, verb)
        return self.conn.execute(sql, values(row)).lastrowid

    @contextlib.contextmanager
    def cached(self) -> Iterator[None]:
        """Remember heads, keys and sources for the length of one batch or one replay,
        and write new rows many per statement.

        ``apply`` keeps the cache in step with what it writes; it is dropped on
        leaving the block, so a rolled-back batch leaves nothing stale behind.
        Inside it, only ``apply`` may write the tables. Rows that only add to a
        table are held back (``_HeldRows``) until another statement runs on
        ``self.conn``, ``flush()`` or the end of the block; reads that cannot
        see a held-back row skip the wait. The claim_terms_ai trigger is dropped
        for the same stretch, its work done by ``_HeldRows`` (an FTS5 trigger
        costs a statement savepoint per row), and created again on leaving.
        """
        self._require_search_index()
        had_trigger = self._has_claims_trigger()
        if had_trigger:
            self.conn.execute(f"DROP TRIGGER {FTS_INSERT_TRIGGER}")
        self._heads, self._keys, self._sources = {}, {}, {}
        # apply() keeps _heads in step with every head it writes: when there
        # were none before, a record _heads lacks has none (no query per new record).
        self._heads_complete = self._db.execute("SELECT 1 FROM record_heads LIMIT 1").fetchone() is None
        self._rows, self._claims_next_rowid = _HeldRows(self._db, index_claims=had_trigger), None
        self._counts = collections.Counter()
        try:
            yield
            self.flush()
            _write_site_counts(self._db, self._counts)
        finally:
            self._heads = self._keys = self._sources = self._counts = None
            self._heads_complete = False
            self._rows, self._claims_next_rowid = _RowsNow(self._db), None
            # A rolled-back transaction already brought the trigger back.
            if had_trigger and not self._has_claims_trigger():
                self.conn.execute(FTS_TRIGGERS[0])

    def _require_search_index(self) -> None:
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'claim_terms'").fetchone() is None:
            raise FormatError("this file's browsing tables predate the folded search index (it has no claim_terms table): "
                              "run `ledger rebuild` on it once, then try again")

    def _has_claims_trigger(self) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                                (FTS_INSERT_TRIGGER,)).fetchone() is not None

    # --- schema -----------------------------------------------------------
    def create_tables(self, full_text: bool = True) -> None:
        """The browsing tables and their indexes; ``full_text=False`` leaves out the
        search index and its triggers (verify's replay, which compares rows only)."""
        for ddl, _ in TABLES.values():
            self.conn.execute(ddl)
        for ddl in INDEXES + ((FTS,) + FTS_TRIGGERS if full_text else ()):
            self.conn.execute(ddl)

    def missing_tables(self) -> list[str]:
        """Browsing tables a file that has the others lacks (one written before they existed); [] for a new file.

        Not the search index's tables: an older file's claims belong in them, so
        that file needs ``ledger rebuild`` (``_require_search_index`` says so)."""
        present = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "record_heads" not in present:
            return []
        return [name for name in TABLES if name not in present and name not in SEARCH_INDEX_TABLES]

    def create_tables_named(self, names) -> None:
        """Create these browsing tables, e.g. the ``missing_tables()``: empty, but for
        ``site_counts``, which is counted from the tables it summarizes."""
        for name in names:
            self.conn.execute(TABLES[name][0])
        if "site_counts" in names:
            self.conn.execute(SITE_COUNTS_FROM_TABLES)

    def drop_tables(self) -> None:
        for name in ("claims_fts",) + tuple(TABLES):
            self.conn.execute(f"DROP TABLE IF EXISTS {name}")

    def dump(self, table: str) -> list[tuple]:
        """Every row of a browsing table in primary-key order (for comparisons)."""
        _, order = TABLES[table]
        return self.conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()

    # --- state the rules read ---------------------------------------------
    def head(self, record_id: str) -> Optional[Head]:
        if self._heads is not None:
            if record_id in self._heads:
                return self._heads[record_id]
            if self._heads_complete:
                return None  # every head there is was written inside cached(), so it is in the cache
        row = self._db.execute(
            "SELECT id, kind, version, entry_idx, entry_hash, first_idx, status FROM record_heads WHERE id = ?", (record_id,)
        ).fetchone()
        head = Head(*row) if row else None
        if self._heads is not None:
            self._heads[record_id] = head
        return head

    def prefetch_heads(self, record_ids) -> None:
        """Read the heads of many records with one query (inside ``cached()``).

        A bulk append asks for the head of each new record once, to find it
        has none; asking for a window of them at a time saves a query each.
        """
        if self._heads is None:
            return
        wanted = list({i for i in record_ids if i not in self._heads})
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for i in chunk:
                self._heads[i] = None
            for row in self._db.execute(
                    "SELECT id, kind, version, entry_idx, entry_hash, first_idx, status FROM record_heads"
                    f" WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                self._heads[row[0]] = Head(*row)

    def version_of(self, entry_hash: str) -> Optional[tuple[str, int]]:
        """(record ID, version) of the entry with this hash, if it is in the log."""
        row = self.conn.execute("SELECT record_id, version FROM record_versions WHERE entry_hash = ?", (entry_hash,)).fetchone()
        return (row[0], row[1]) if row else None

    def key(self, signer: str) -> Optional[KeyState]:
        if self._keys is not None and signer in self._keys:
            return self._keys[signer]
        row = self._db.execute(
            "SELECT signer, vkey, role, status, registered_idx, revoked_idx, record_id FROM editors WHERE signer = ?", (signer,)
        ).fetchone()
        key = KeyState(*row) if row else None
        if self._keys is not None:
            self._keys[signer] = key
        return key

    def source_snapshot(self, source_id: str) -> Optional[str]:
        row = self._db.execute("SELECT snapshot_sha256 FROM sources WHERE id = ?", (source_id,)).fetchone()
        return row[0] if row else None

    def log_key(self) -> Optional[KeyState]:
        row = self.conn.execute("SELECT signer FROM editors WHERE role = 'log' ORDER BY registered_idx LIMIT 1").fetchone()
        return self.key(row[0]) if row else None

    def witness(self, witness: str) -> Optional[WitnessState]:
        """The witness record of the key ``name+keyid``, if the log names it (any status)."""
        row = self.conn.execute(f"SELECT {_WITNESS_COLUMNS} FROM witnesses WHERE witness = ?", (witness,)).fetchone()
        return WitnessState(*row) if row else None

    # --- read views for Ledger's readers (the site, the exports) ----------------
    def heads(self, kind: str) -> list[Head]:
        """The current version of every record of ``kind``, in log order of that version."""
        return [Head(*row) for row in self.conn.execute(
            "SELECT id, kind, version, entry_idx, entry_hash, first_idx, status FROM record_heads WHERE kind = ? ORDER BY entry_idx",
            (kind,))]

    def keys(self) -> list[KeyState]:
        """Every registered key, in the order they were registered."""
        return [KeyState(*row) for row in self.conn.execute(
            "SELECT signer, vkey, role, status, registered_idx, revoked_idx, record_id FROM editors ORDER BY registered_idx")]

    def witnesses(self) -> list[WitnessState]:
        """Every witness the log names, active or removed, in the order they were first added."""
        return [WitnessState(*row) for row in self.conn.execute(
            f"SELECT {_WITNESS_COLUMNS} FROM witnesses ORDER BY added_idx")]

    def links_to(self, source_id: str) -> list[tuple[str, str]]:
        """(source ID, relation) of every current link to a source, by linking source and position."""
        return self.conn.execute(
            "SELECT source_id, rel FROM source_links WHERE target_id = ? ORDER BY source_id, position", (source_id,)).fetchall()

    def notice_indexes(self, target_id: str) -> list[int]:
        """Entry indexes of the corrections and retractions of a record, oldest first."""
        return [row[0] for row in self.conn.execute("SELECT entry_idx FROM notices WHERE target_id = ? ORDER BY entry_idx", (target_id,))]

    # --- applying entries ----------------------------------------------------
    def apply(self, entry) -> None:
        record = entry.record
        previous = self.head(record.id)
        status = previous.status if previous else "active"
        head = (record.id, record.kind, record.version, entry.index, entry.hash_hex,
                previous.first_idx if previous else entry.index, status)
        self._rows.add("INSERT OR REPLACE INTO record_heads VALUES (?, ?, ?, ?, ?, ?, ?)", head)
        if self._heads is not None:
            self._heads[record.id] = Head(*head)
        self._rows.add("INSERT INTO record_versions VALUES (?, ?, ?, ?)", (entry.hash_hex, record.id, record.version, entry.index))
        _APPLY[record.kind](self, entry, record, previous)
        if previous is None:
            _count_new_record(self, record)

    def _apply_key(self, entry, record: KeyRecord, previous):
        name, _, key_id_plus = record.vkey.partition("+")
        key_id = key_id_plus.split("+", 1)[0]
        signer = f"{name}+{key_id}"
        if self._keys is not None:
            self._keys.pop(signer, None)
        if previous is None:
            self._write_row("editors", {
                "signer": signer, "key_id": key_id, "name": name, "display_name": record.display_name, "vkey": record.vkey,
                "role": record.role, "status": record.status, "registered_idx": entry.index, "revoked_idx": None,
                "revoke_reason": None, "record_id": record.id})
            return
        revoked = self.conn.execute("SELECT revoked_idx FROM editors WHERE signer = ?", (signer,)).fetchone()[0]
        if record.status == "revoked" and revoked is None:
            revoked = entry.index
        self.conn.execute(
            "UPDATE editors SET display_name = ?, status = ?, revoked_idx = ?, revoke_reason = ? WHERE signer = ?",
            (record.display_name, record.status, revoked, record.reason if record.status == "revoked" else None, signer),
        )

    def _apply_source(self, entry, record: Source, previous):
        if self._sources is not None:
            self._sources.clear()
        snap = record.snapshot or _NO_SNAPSHOT
        old_links = self.conn.execute("SELECT rel, target_id, note FROM source_links WHERE source_id = ? ORDER BY position", (record.id,)).fetchall()
        self._write_row("sources", {
            "id": record.id, "version": record.version, "type": record.type, "title": record.title, "url": record.url,
            "publisher": record.publisher, "author": record.author, "language": record.language, "published": record.published,
            "retrieved": record.retrieved, "description": record.description, "anonymous": _bool(record.anonymous),
            "public": _bool(record.public), "third_party": _bool(record.third_party), "license": record.license,
            "snapshot_sha256": snap.sha256, "snapshot_media_type": snap.media_type, "snapshot_size": snap.size,
            "archives": _json(record.archives), "status": self._status(record.id), "signer": entry.signer,
            "created": record.created, "entry_idx": entry.index, "entry_hash": entry.hash_hex}, "INSERT OR REPLACE")
        self.conn.execute("DELETE FROM source_links WHERE source_id = ?", (record.id,))
        links = [(link.rel, link.source, link.note) for link in record.links or ()]
        self.conn.executemany(
            "INSERT INTO source_links VALUES (?, ?, ?, ?, ?)",
            [(record.id, i, rel, target, note) for i, (rel, target, note) in enumerate(links)],
        )
        if previous is None:
            return
        self.conn.execute(
            "UPDATE claims SET source_title = ?, publisher = ? WHERE source_id = ? AND (source_title IS NOT ? OR publisher IS NOT ?)",
            (record.title, record.publisher, record.id, record.title, record.publisher),
        )
        if links != [tuple(row) for row in old_links]:
            # Any claim whose source can reach this one may now have another chain.
            for claim_id in self._claims_reaching(record.id):
                self._write_chain(claim_id)

    def _claims_reaching(self, source_id):
        reach, frontier = {source_id}, [source_id]
        while frontier:
            rows = self.conn.execute(
                f"SELECT DISTINCT source_id FROM source_links WHERE target_id IN ({','.join('?' * len(frontier))})", frontier
            ).fetchall()
            frontier = [r[0] for r in rows if r[0] not in reach]
            reach.update(frontier)
        found = set()
        for sid in sorted(reach):
            found.update(r[0] for r in self.conn.execute("SELECT claim_id FROM claim_chain WHERE position = 0 AND source_id = ?", (sid,)))
        return sorted(found)

    def _links(self, source_id):
        return self._source_rows("links", source_id, "SELECT rel, target_id FROM source_links WHERE source_id = ? ORDER BY position")

    def _source_rows(self, what, source_id, sql):
        # Every claim reads its source's title and links; only _apply_source changes them.
        if self._sources is not None and (what, source_id) in self._sources:
            return self._sources[what, source_id]
        rows = self._db.execute(sql, (source_id,)).fetchall()
        if self._sources is not None:
            self._sources[what, source_id] = rows
        return rows

    def chain_for(self, source_id: str, attribution_source: Optional[str]) -> list[tuple[str, Optional[str]]]:
        """The provenance chain of a claim: [(source_id, rel from the previous link)].

        From the quoting source, the shortest path along source links to the
        source the claim is attributed to (ties broken by link order); then on
        from the last source along its first *lineage* link (translation-of,
        republishes, based-on, primary-source) to a source not yet in the chain,
        until there is none. "quotes", "cites" and "reports-on" links are
        followed only on the way to the attributed source: a report cites many
        people, and only the attribution says which one a claim comes from.
        """
        chain = [(source_id, None)]
        if attribution_source and attribution_source != source_id:
            chain.extend(self._path(source_id, attribution_source))
        seen = {sid for sid, _ in chain}
        while True:
            step = next(((target, rel) for rel, target in self._links(chain[-1][0]) if rel in LINEAGE_RELS and target not in seen), None)
            if step is None:
                return chain
            chain.append(step)
            seen.add(step[0])

    def _path(self, start: str, goal: str) -> list[tuple[str, Optional[str]]]:
        # The shortest path of links from start to goal (breadth first, ties
        # broken by link order), as [(source_id, rel)] after start; [] if none.
        parents = {start: None}
        frontier = [start]
        while frontier and goal not in parents:
            next_frontier = []
            for sid in frontier:
                for rel, target in self._links(sid):
                    if target not in parents:
                        parents[target] = (sid, rel)
                        next_frontier.append(target)
            frontier = next_frontier
        path, node = [], goal
        while parents.get(node) is not None:
            prev, rel = parents[node]
            path.append((node, rel))
            node = prev
        return path[::-1]

    def _chain(self, source_id, attribution):
        # The claims of a batch mostly share their sources, so each chain is
        # worked out once; it is dropped with the source rows it was read from.
        if self._sources is None:
            return self.chain_for(source_id, attribution)
        key = ("chain", (source_id, attribution))
        chain = self._sources.get(key)
        if chain is None:
            chain = self._sources[key] = self.chain_for(source_id, attribution)
        return chain

    def _write_chain(self, claim_id, sources=None, new=False):
        # sources: the claim's (source_id, attribution_source_id), when the caller knows them;
        # new: a first version, which has no chain rows yet.
        source_id, attribution = sources or self.conn.execute(
            "SELECT source_id, attribution_source_id FROM claims WHERE id = ?", (claim_id,)
        ).fetchone()
        chain = self._chain(source_id, attribution)
        if not new:
            self.conn.execute("DELETE FROM claim_chain WHERE claim_id = ?", (claim_id,))
            self.conn.executemany("INSERT INTO claim_chain VALUES (?, ?, ?, ?)", [(claim_id, i, sid, rel) for i, (sid, rel) in enumerate(chain)])
            return
        for i, (sid, rel) in enumerate(chain):
            self._rows.add("INSERT INTO claim_chain VALUES (?, ?, ?, ?)", (claim_id, i, sid, rel))

    def _status(self, record_id):
        return self.head(record_id).status

    def _apply_claim(self, entry, record: Claim, previous):
        title, publisher = self._source_rows("title", record.source, "SELECT title, publisher FROM sources WHERE id = ?")[0]
        t, q = record.translation or _NO_TRANSLATION, record.quote or _NO_QUOTE
        a, n = record.attribution or _NO_ATTRIBUTION, record.quantity or _NO_QUANTITY
        # A first version has no claims row yet (record_heads and claims are written together).
        kept = previous and self._claim_kept(record.id)
        verdict, label, review_id, reason, first_created = kept or (None, None, None, None, record.created)
        row = {
            "id": record.id, "version": record.version, "text": record.text, "language": record.language,
            "translation": t.text, "translation_language": t.language,
            "source_id": record.source, "source_title": title, "publisher": publisher,
            "quote": q.exact, "quote_prefix": q.prefix, "quote_suffix": q.suffix, "quote_start": q.start, "quote_end": q.end,
            "attribution": a.text, "anonymous": _bool(a.anonymous), "attribution_source_id": a.source,
            "quantity_value": n.value, "quantity_unit": n.unit, "quantity_subject": n.subject, "quantity_period": n.period,
            "claim_date": record.claim_date, "tags": _json(record.tags),
            "verdict": verdict, "verdict_label": label, "review_id": review_id,
            "status": self._status(record.id), "status_reason": reason, "signer": entry.signer,
            "created": record.created, "first_created": first_created, "entry_idx": entry.index, "entry_hash": entry.hash_hex,
        }
        rowid = self._write_claim(row, revision=previous is not None)
        self._rows.claim_written(rowid)
        self._add_row("claim_versions", {
            "entry_idx": entry.index, "claim_id": record.id, "version": record.version, "entry_hash": entry.hash_hex,
            "replaces": record.replaces, "text": record.text, "translation": t.text, "quote": q.exact, "note": record.note,
            "changes": self._changes(record, previous) if previous else "[]", "correction_id": None, "correction_reason": None,
            "signer": entry.signer, "created": record.created,
        })
        self._write_chain(record.id, (record.source, a.source), new=previous is None)

    def _claim_kept(self, claim_id: str) -> Optional[tuple]:
        # (verdict, verdict_label, review_id, status_reason, first_created): what
        # a new version keeps of the claims row it replaces.
        return self.conn.execute(
            "SELECT verdict, verdict_label, review_id, status_reason, first_created FROM claims WHERE id = ?", (claim_id,)).fetchone()

    def _write_claim(self, row: dict, revision: bool) -> int:
        """Write a claims row and its claim_terms row (after deleting the ones it replaces); returns its rowid."""
        facets = _claim_facets(row)
        if revision or not self._rows.holding:
            # DELETE then INSERT, not INSERT OR REPLACE: REPLACE's implicit delete
            # does not fire the trigger that keeps the full-text index in step.
            if revision:
                self._delete_claim(row["id"])
            self._claims_next_rowid = None  # a DELETE may have lowered max(rowid)
            rowid = self._write_row("claims", row)
            self._write_row("claim_terms", _terms_row(rowid, row, facets))
            self._rows.count_facets(dict.fromkeys(facets, 1))
            return rowid
        # A first version waits with the other new rows; it gets the rowid
        # SQLite would give it, max(rowid) + 1 (sqlite.org/autoinc.html), so
        # the claim_terms row can name it before either is written.
        if self._claims_next_rowid is None:
            self._claims_next_rowid = self.conn.execute("SELECT coalesce(max(rowid), 0) + 1 FROM claims").fetchone()[0]
        rowid = self._claims_next_rowid
        self._claims_next_rowid += 1
        row["rowid"] = rowid
        self._add_row("claims", row, rowid=True)
        self._add_row("claim_terms", _terms_row(rowid, row, facets))
        self._rows.count_facets(dict.fromkeys(facets, 1))
        return rowid

    def _delete_claim(self, claim_id: str) -> None:
        """Delete a claims row, its claim_terms row (the trigger takes it out of the index) and its facet counts."""
        old = self.conn.execute("SELECT t.claim_rowid, t.facets FROM claims c JOIN claim_terms t ON t.claim_rowid = c.rowid"
                                " WHERE c.id = ?", (claim_id,)).fetchone()
        self.conn.execute("DELETE FROM claims WHERE id = ?", (claim_id,))
        if old is not None:
            self.conn.execute("DELETE FROM claim_terms WHERE claim_rowid = ?", (old[0],))
            self._rows.count_facets(dict.fromkeys(facet_pairs(old[1]), -1))

    def _changes(self, record: Claim, previous: Head) -> str:
        # What changed since the version this one replaces, as the history shows it.
        old = self.read_record(previous.entry_idx).to_dict()
        return json.dumps([c.describe() for c in diff_records(old, record.to_dict())], ensure_ascii=False)

    def _apply_review(self, entry, record: Review, previous):
        r = record.rating
        self._write_row("reviews", {
            "id": record.id, "version": record.version, "claim_id": record.claim, "label": r.label,
            "label_language": r.label_language, "rating": r.normalized, "rating_value": r.value, "rating_best": r.best,
            "rating_worst": r.worst, "explanation": record.explanation, "evidence": _json(record.evidence),
            "reviewed": record.reviewed, "url": record.url, "status": self._status(record.id), "signer": entry.signer,
            "created": record.created, "entry_idx": entry.index, "entry_hash": entry.hash_hex}, "INSERT OR REPLACE")
        self._update_verdict(record.claim)

    def _update_verdict(self, claim_id):
        # The verdict shown is that of the most recently appended review that
        # has not been retracted.
        row = self.conn.execute(
            "SELECT rating, label, id FROM reviews WHERE claim_id = ? AND status != 'retracted' ORDER BY entry_idx DESC LIMIT 1",
            (claim_id,),
        ).fetchone() or (None, None, None)
        self._refacet(claim_id, verdict=row[0])
        self.conn.execute(
            "UPDATE claims SET verdict = ?, verdict_label = ?, review_id = ? WHERE id = ?"
            " AND (verdict IS NOT ? OR verdict_label IS NOT ? OR review_id IS NOT ?)",
            (*row, claim_id, *row),
        )

    def _refacet(self, claim_id: str, **changes) -> None:
        """Before the claims row of ``claim_id`` gets ``changes`` (verdict, status): its claim_terms
        row's facets (the trigger re-indexes it) and the facet counts follow."""
        before = self.conn.execute(f"SELECT rowid, {', '.join(FACET_COLUMNS)} FROM claims WHERE id = ?", (claim_id,)).fetchone()
        if before is None:
            return
        columns = dict(zip(FACET_COLUMNS, before[1:]))
        old, new = _claim_facets(columns), _claim_facets({**columns, **changes})
        if old != new:
            self.conn.execute("UPDATE claim_terms SET facets = ? WHERE claim_rowid = ?", (facet_tokens(new), before[0]))
            deltas = collections.Counter(new)
            deltas.subtract(old)
            self._rows.count_facets(deltas)

    def _notice(self, entry, record, target_entry, corrected_entry):
        target = self.head(record.target)
        self._write_row("notices", {
            "id": record.id, "kind": record.kind, "target_id": record.target, "target_kind": target.kind,
            "target_entry": target_entry, "corrected_entry": corrected_entry, "reason": record.reason,
            "signer": entry.signer, "created": record.created, "entry_idx": entry.index, "entry_hash": entry.hash_hex})
        return target

    def _set_status(self, target, status, reason):
        self.conn.execute("UPDATE record_heads SET status = ? WHERE id = ?", (status, target.id))
        if self._heads is not None:
            # The row just updated; the cache stays complete (``_heads_complete``).
            self._heads[target.id] = attrs.evolve(target, status=status)
        table = {"claim": "claims", "source": "sources", "review": "reviews"}.get(target.kind)
        if target.kind == "claim":
            self._refacet(target.id, status=status)
        if table:
            self.conn.execute(f"UPDATE {table} SET status = ? WHERE id = ?", (status, target.id))
        if target.kind == "claim":
            self.conn.execute("UPDATE claims SET status_reason = ? WHERE id = ?", (reason, target.id))
        if target.kind == "review":
            claim_id = self.conn.execute("SELECT claim_id FROM reviews WHERE id = ?", (target.id,)).fetchone()[0]
            self._update_verdict(claim_id)

    def _apply_correction(self, entry, record: Correction, previous):
        target = self._notice(entry, record, record.target_entry, record.corrected_entry)
        if target.status != "retracted":
            self._set_status(target, "corrected", record.reason)
        self.conn.execute(
            "UPDATE claim_versions SET correction_id = ?, correction_reason = ? WHERE entry_hash = ?",
            (record.id, record.reason, record.corrected_entry),
        )

    def _apply_ratingmap(self, entry, record, previous):
        data = record.to_dict()
        self._write_row("rating_maps", {
            "id": record.id, "version": record.version, "title": record.title,
            "labels": json.dumps(data["labels"], ensure_ascii=False),
            "positions": json.dumps(data["positions"], ensure_ascii=False) if "positions" in data else None,
            "signer": entry.signer, "created": record.created, "entry_idx": entry.index, "entry_hash": entry.hash_hex},
            "INSERT OR REPLACE")

    def _apply_witness(self, entry, record: WitnessRecord, previous):
        name, key_id, _ = record.vkey.split("+", 2)
        removed = None
        if record.status == "removed":
            # The entry that removed it, kept across later versions that only change its URL or name.
            old = self.conn.execute("SELECT removed_idx FROM witnesses WHERE id = ?", (record.id,)).fetchone()
            removed = old[0] if old and old[0] is not None else entry.index
        self._write_row("witnesses", {
            "id": record.id, "version": record.version, "witness": f"{name}+{key_id}", "name": name, "key_id": key_id,
            "vkey": record.vkey, "url": record.url, "display_name": record.display_name, "status": record.status,
            "reason": record.reason, "added_idx": previous.first_idx if previous else entry.index, "removed_idx": removed,
            "signer": entry.signer, "created": record.created, "entry_idx": entry.index, "entry_hash": entry.hash_hex},
            "INSERT OR REPLACE")

    def _apply_retraction(self, entry, record: Retraction, previous):
        target = self._notice(entry, record, record.target_entry, None)
        self._set_status(target, "retracted", record.reason)


# The claims columns the facets come from.
FACET_COLUMNS = ("language", "translation_language", "verdict", "source_id", "tags", "status")


def _claim_facets(row: dict) -> tuple[tuple[str, str], ...]:
    """The (facet, value) pairs of a claims row (given by column name)."""
    return claim_facets(row["language"], row["translation_language"], row["verdict"], row["source_id"],
                        json.loads(row["tags"]) if row["tags"] else (), row["status"])


def _terms_row(rowid: int, row: dict, facets) -> dict:
    """The claim_terms row of a claims row: its facet tokens and the folded terms of its words."""
    translation, quote = row["translation"], row["quote"]
    return {"claim_rowid": rowid, "facets": facet_tokens(facets),
            "text": index_terms(row["text"], row["language"]),
            "translation": None if translation is None else index_terms(translation, row["translation_language"]),
            "quote": None if quote is None else index_terms(quote, row["language"])}


# What ``Projection.apply`` does for each kind of record, after the head and version rows.
_APPLY = {kind: getattr(Projection, f"_apply_{kind}") for kind in KIND_CLASSES}


# --- Site counts (issue 17) ------------------------------------------------------------------------
# What the home page and the claims table show as totals, kept here so that no
# page counts a million rows (docs/site.md "A large ledger"). ``site_counts``
# holds, as (name, value, count):
#   ("records", KIND): records of that kind (one per record ID, as record_heads);
#   ("claims_month", "YYYY-MM"): claims first recorded in that month (claims.first_created).
# A record only ever adds to them (a retracted claim stays a claim; its first
# version's date never changes), so they are counted once, for a record's
# first version. Like every browsing table, verify recomputes and compares it.

SITE_COUNT_UPSERT = ("INSERT INTO site_counts (name, value, count) VALUES (?, ?, ?)"
                     " ON CONFLICT (name, value) DO UPDATE SET count = count + excluded.count")

# The same counts from the tables, for a file written before site_counts existed.
SITE_COUNTS_FROM_TABLES = """INSERT INTO site_counts (name, value, count)
    SELECT 'records', kind, count(*) FROM record_heads GROUP BY kind
    UNION ALL SELECT 'claims_month', substr(first_created, 1, 7), count(*) FROM claims GROUP BY 2
    ORDER BY 1, 2"""


def _site_count_keys(record: Record) -> list[tuple[str, str]]:
    """The site_counts rows a record's first version adds one to."""
    keys = [("records", record.kind)]
    if record.kind == "claim":
        keys.append(("claims_month", record.created[:7]))
    return keys


def _write_site_counts(conn: sqlite3.Connection, counts: collections.Counter) -> None:
    # In key order, so the same entries always write the same file.
    conn.executemany(SITE_COUNT_UPSERT, [(name, value, n) for (name, value), n in sorted(counts.items())])


def _count_new_record(self: Projection, record: Record) -> None:
    """Count a record's first version: held until the end of ``cached()``, else written now."""
    keys = _site_count_keys(record)
    if self._counts is not None:
        self._counts.update(keys)
    else:
        _write_site_counts(self.conn, collections.Counter(keys))

