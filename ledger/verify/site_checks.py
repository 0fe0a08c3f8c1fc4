"""Step 5 for a published site: what its pages show is what the entries give, by every path a page reads.

- The log key the site states (``/-/vkey``, ``/-/ledger.json``, its home
  page) is the log's own key: entry 0's, the pinned one.
- The site lists exactly the ledger's tables and views, and only its database.
- The log tables as the site serves them: ``meta`` agrees with entry 0, the
  ``checkpoints`` table shows exactly the checkpoints the verifier routes
  gave, and every stored snapshot is one a record names (its size too).
- Every browsing table, read from the table itself in rowid order, equals
  the replay's row for row, rowids included (``tables.compare_rows``).
- Every index of every table leads to exactly those rows (``check_index_paths``):
  the claim page finds a claim through its primary-key index, the home page
  and table pages list through others, and an index entry pointed at an
  extra row would show that row to readers while every listing looked right.
- Every claim is found by its own words through the site's search (``site_search``).
"""

from __future__ import annotations

import re
import time

from ledger.errors import LedgerError
from ledger.projection import TABLES
from ledger.store import FORMAT
from ledger.verify.replay import Replay
from ledger.verify.report import Report
from ledger.verify.site_search import check_findable
from ledger.verify.site_source import QueryTimeout, SiteSource, tilde_encode
from ledger.verify.file_schema import expected_schema, schema_indexes
from ledger.verify.tables import columns_with_rowid, compare_rows, rowid_of, rows_with_rowids

# A verifier key as pages print it: name+hex8(key ID)+base64(type byte || key) (docs/log.md).
VKEY_IN_PAGE = re.compile(r"[A-Za-z0-9][^\s\"'<>+&]*\+[0-9a-f]{8}\+[A-Za-z0-9+/]{43}[A-Za-z0-9+/=](?![A-Za-z0-9+/=])")


def check_site(site: SiteSource, replay: Replay, report: Report) -> None:
    """Step 5 on a site (after steps 1–4 replayed its entries)."""
    rowids = {"entries": range(replay.tree.size)}  # checked entry by entry in the replay
    for check in (_check_stated_key, _check_listed_tables, _check_meta, _check_checkpoints_table, _check_stored_snapshots):
        try:
            check(site, replay, report, rowids)
        except LedgerError as e:
            report.fail("site", str(e))
    _check_browsing_tables(site, replay, report, rowids)
    check_index_paths(site, rowids, report)
    check_findable(site, replay, report)


def _check_stated_key(site: SiteSource, replay: Replay, report: Report, rowids: dict) -> None:
    """The key the site tells readers to check against is the log's (entry 0's; the pinned one)."""
    expected = replay.log_verifier.vkey
    statements = [("/-/vkey", site.page("-/vkey").decode("utf-8", "replace").strip()),
                  ("/-/ledger.json", str(site.description.get("vkey")))]
    # Keys named as the log (the page may show others, e.g. a witness's, under their own names).
    home = set(VKEY_IN_PAGE.findall(site.page("").decode("utf-8", "replace")))
    statements += [("the home page", found) for found in sorted(home) if found.split("+")[0] == replay.origin]
    for where, stated in statements:
        if stated != expected:
            report.fail("site key", f"{where} states the log key {stated}, but the log's key (entry 0"
                                    f"{', pinned with --vkey' if report.vkey_pinned else ''}) is {expected}")


def _check_listed_tables(site: SiteSource, replay: Replay, report: Report, rowids: dict) -> None:
    """The site serves one database, the ledger, with exactly the ledger's tables and views."""
    databases = site.json(".json")
    others = sorted(name for name in databases if name != site.database) if isinstance(databases, dict) else ["?"]
    if others:
        report.fail("site", f"serves other databases beside the ledger {site.database!r}: {', '.join(others)}")
    listing = site.json(f"{tilde_encode(site.database)}.json")
    listed = {("table", t.get("name")) for t in listing.get("tables", [])} | {("view", v.get("name") if isinstance(v, dict) else v)
                                                                           for v in listing.get("views", [])}
    expected = {(kind, name) for kind, name, *_ in expected_schema() if kind in ("table", "view")}
    for kind, name in sorted(listed - expected, key=str):
        report.fail("schema", f"the site lists a {kind} {name!r} that is not the ledger's")
    for kind, name in sorted(expected - listed, key=str):
        report.fail("schema", f"the site does not list the ledger's {kind} {name!r}")


def _check_meta(site: SiteSource, replay: Replay, report: Report, rowids: dict) -> None:
    rows = list(site.rows_by_rowid("meta", "key, value"))
    rowids["meta"] = _rowids(rows)
    meta = {row["key"]: row["value"] for row in rows}
    expected = {"format": FORMAT, "origin": replay.origin, "log_vkey": replay.log_verifier.vkey}
    for key, value in expected.items():
        if meta.get(key) != value:
            report.fail("meta", f"{key} is {meta.get(key)!r} on the site; entry 0 gives {value!r}")


def _check_checkpoints_table(site: SiteSource, replay: Replay, report: Report, rowids: dict) -> None:
    """The checkpoints table page shows the notes the verifier routes gave, no more, no other.

    A route serves a note with the witnesses' cosignature lines after the log's
    (docs/witness.md; step 4 checked each line), the table the note as the log
    signed it: the table's note is the served one up to those lines."""
    rows = [(row["tree_size"], row["note"]) for row in site.rows_by_rowid("checkpoints", "tree_size, note")]
    served = dict((size, note) for size, note in site.checkpoint_notes() if size is not None)
    differing = {size for size, note in rows if not _signed_part_of(note, served.get(size))}
    differing |= set(served) - {size for size, _ in rows}
    if differing or [size for size, _ in rows] != sorted(served):
        report.fail("table checkpoints", f"the table shows other checkpoints than /-/checkpoint/{{size}} serves "
                                         f"(tree sizes {', '.join(map(str, sorted(differing, key=str)[:5])) or 'order'})")


def _signed_part_of(note, served) -> bool:
    return isinstance(note, str) and isinstance(served, str) and served.startswith(note) and (
        note == served or note.endswith("\n") and "\n\n" not in served[len(note):])


def _check_stored_snapshots(site: SiteSource, replay: Replay, report: Report, rowids: dict) -> None:
    rowids["snapshots"] = _rowids(site.stored_snapshots().values())
    for sha, row in site.stored_snapshots().items():
        read = replay.snapshots.get(sha)
        if read is not None and row.get("size") != len(read[1]):
            report.fail(f"snapshot {sha}", f"the snapshots table gives size {row.get('size')!r}; the content has {len(read[1])} bytes")


def _check_browsing_tables(site: SiteSource, replay: Replay, report: Report, rowids: dict) -> None:
    """Each browsing table's rows and rowids against the replay's; notes in ``rowids`` the rowids each table holds."""
    for table in TABLES:
        columns = columns_with_rowid(replay.db, table)
        try:
            rows = list(site.table_rows(table))
        except LedgerError as e:
            report.fail(f"site table {table}", f"cannot be read: {e}")
            continue
        found = sorted((tuple(_hashable(row.get(c)) for c in columns[:-1]) + (_rowid(table, row),) for row in rows),
                       key=_sort_key)
        if compare_rows(table, sorted(rows_with_rowids(replay.db, table), key=_sort_key), found, report, columns):
            report.tables_checked.append(table)
        rowids[table] = _rowids(rows)


def _rowid(table: str, row: dict):
    return None if rowid_of(table) == "NULL" else _hashable(row.get("rowid"))


def _rowids(rows) -> list[int]:
    return sorted(row["rowid"] for row in rows)


def _hashable(value):
    # Datasette gives a BLOB as {"$base64": true, "encoded": ...}: keep it comparable (it never equals a replayed value).
    return f"BLOB {value.get('encoded')}" if isinstance(value, dict) else value


def _sort_key(row: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in row)


# --- every index leads to exactly the table's rows -------------------------------------------------
def check_index_paths(site: SiteSource, rowids: dict, report: Report) -> None:
    """Each index of each table holds one entry per row of the table, with that row's own values
    and rowid: what SQLite's integrity_check shows of a file, asked of the site's own SQLite.

    ``rowids``: table -> the rowids of its rows, in order, as read from the table itself.
    Together, "as many entries as rows" and "each row found through the index
    under its own values and rowid" mean the index holds exactly those rows.
    """
    for table, indexes in schema_indexes().items():
        if table not in rowids:
            continue
        try:
            for name, _ in indexes:
                in_index = _retrying(site, f"select sum(1) as n from {_quoted(table)} indexed by {_quoted(name)}")[0]["n"] or 0
                if in_index != len(rowids[table]):
                    report.fail(f"table {table}", f"index {name} holds {in_index} entries for the {len(rowids[table])} rows of the table")
            if not _rows_missing_from_indexes(site, table, indexes, rowids[table], report):
                report.indexes_checked += len(indexes)
        except LedgerError as e:
            report.fail(f"table {table}", f"its indexes cannot be checked on the site: {e}")


def _rows_missing_from_indexes(site: SiteSource, table: str, indexes, rowids, report: Report) -> bool:
    """Whether some row of ``table`` is not found through one of its indexes under its own values (each reported).

    The rows are asked about in parts of consecutive rowids (of the rows the
    table holds), smaller parts when the site's time limit stops a query.
    """
    probes = ", ".join(
        f"not exists (select 1 from {_quoted(table)} as u indexed by {_quoted(name)} where "
        + " and ".join(f"u.{_quoted(c)} is t.{_quoted(c)}" for c in columns) + f" and u.rowid = t.rowid) as {_quoted(name)}"
        for name, columns in indexes)
    sql = (f'select * from (select t.rowid as "rowid", {probes} from {_quoted(table)} as t not indexed '
           f"where t.rowid >= :lo and t.rowid <= :hi) where {' or '.join(_quoted(name) for name, _ in indexes)} limit {site.ROWS}")
    missing, start, step = False, 0, 20_000
    while start < len(rowids):
        try:
            rows = site.query(sql, lo=rowids[start], hi=rowids[min(start + step, len(rowids)) - 1])
        except QueryTimeout:
            if step <= 100:
                raise
            step //= 4
            continue
        for row in rows[:5]:
            names = [name for name, _ in indexes if row[name]]
            report.fail(f"table {table}", f"the row at rowid {row['rowid']} is not where index {', '.join(names)} "
                                          "leads (a page reading through it would show another row, or none)")
        missing = missing or bool(rows)
        start += step
    return missing


def _retrying(site: SiteSource, sql: str, attempts: int = 3) -> list[dict]:
    # A query that reads a whole index may meet the site's time limit on a busy server: ask again.
    for attempt in range(attempts - 1):
        try:
            return site.query(sql)
        except QueryTimeout:
            time.sleep(1 + attempt)
    return site.query(sql)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
