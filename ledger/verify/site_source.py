"""A published site as a verify source, read only through its verifier routes and its SQL API (docs/site.md).

``/-/ledger.json`` (size, database name, checkpoint sizes, the key it
states), ``/-/entries.jsonl``, ``/-/checkpoint[/{size}]``,
``/-/snapshots/{sha256}``, and the tables through Datasette's read-only SQL
API (``/{database}.json?sql=``), each read in rowid order from the table
itself (not through an index) with its rowids: ``site_checks`` then shows
that every index a page reads through leads to exactly these rows.

Every request goes to the site's own origin: the verifier never follows a
link, a ``next_url`` or a redirect that the server points elsewhere (a
``file://`` path, an internal address).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator, Optional

from ledger.errors import FormatError, LedgerError, NotFoundError

# Datasette's tilde-encoding of a database name in a URL path (its own docs, "Tilde encoding").
_TILDE_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# The columns the entries table stores beside each leaf, as a ledger file's source yields them.
STORED_COLUMNS = "leaf_hash, kind, record_id, version, signer"


class QueryTimeout(LedgerError):
    """The site stopped an SQL query at its time limit: ask for a smaller part."""


def tilde_encode(name: str) -> str:
    return "".join(c if c in _TILDE_SAFE else "+" if c == " " else "".join(f"~{b:02X}" for b in c.encode("utf-8"))
                   for c in name)


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the site's own origin (scheme, host and port)."""

    def __init__(self, origin: tuple[str, str]):
        self.origin = origin

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if _origin(newurl) != self.origin:
            raise LedgerError(f"{req.full_url}: the site redirects to {newurl}, outside {self.origin[0]}://{self.origin[1]}; "
                              "verify follows the site's own addresses only")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class SiteSource:
    """A published site, read through its documented verifier routes and SQL API only."""

    PAGE = 10000  # entries per /-/entries.jsonl request (the site's cap)
    ROWS = 1000  # rows per SQL request (Datasette's max_returned_rows)
    snapshots_available = True
    key_origin = "the site (entry 0 of the log it serves)"

    def __init__(self, base_url: str, timeout: float = 60.0):
        self.base = base_url.rstrip("/") + "/"
        self.origin = _origin(self.base)
        if self.origin[0] not in ("http", "https") or not self.origin[1]:
            raise FormatError(f"{base_url}: expected an http:// or https:// address of a site")
        self.name = self.base
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_SameOriginRedirects(self.origin))
        self._stored_snapshots: Optional[dict] = None
        self._notes: Optional[list] = None
        self.ROWS = self._max_returned_rows()
        try:
            self.description = json.loads(self._get("-/ledger.json"))
            self._size = int(self.description["size"])
            self.database = str(self.description["database"])
            self.checkpoint_sizes = [int(n) for n in self.description["checkpoint_sizes"]]
        except (ValueError, KeyError, TypeError) as e:
            raise FormatError(f"{self.base}-/ledger.json is not a fact-ledger site description: {e}") from e

    def size(self) -> int:
        return self._size

    def _max_returned_rows(self) -> int:
        """Rows per SQL request: at most what the site returns whole (Datasette's max_returned_rows)."""
        try:
            settings = json.loads(self._get("-/settings.json"))
            return max(1, min(self.ROWS, int(settings["max_returned_rows"])))
        except (LedgerError, ValueError, KeyError, TypeError):
            return self.ROWS

    def leaves(self) -> Iterator[tuple[int, bytes, Optional[tuple]]]:
        """Each leaf of ``/-/entries.jsonl``, with the columns the site's entries table shows beside it
        (its table page lists signer and record ID from them; the replay compares them with the leaf)."""
        index = 0
        while index < self._size:
            end = min(index + self.PAGE, self._size)
            data = self._get(f"-/entries.jsonl?start={index}&end={end}")
            lines = data.split(b"\n")
            if lines[-1] != b"" or len(lines) - 1 != end - index:
                raise FormatError(f"{self.base}-/entries.jsonl?start={index}&end={end}: expected {end - index} lines, found {len(lines) - 1}")
            stored = self._stored_columns(index, end)
            for line in lines[:-1]:
                yield index, line, stored.get(index, ("(no row in the entries table)",))
                index += 1

    def _stored_columns(self, start: int, end: int) -> dict[int, tuple]:
        found = {}
        for row in self.rows_by_rowid("entries", f"idx, {STORED_COLUMNS}", after=start - 1, before=end):
            found[row["idx"]] = tuple(row[c] for c in STORED_COLUMNS.split(", "))
        return found

    def checkpoint_notes(self) -> list[tuple[Optional[int], str]]:
        """Every checkpoint the site serves, read once (the checks that need them again get the same notes)."""
        if self._notes is None:
            notes = [(size, self._get(f"-/checkpoint/{size}").decode("utf-8", "replace")) for size in self.checkpoint_sizes]
            latest = self._get("-/checkpoint").decode("utf-8", "replace")
            if not notes or latest != notes[-1][1]:
                notes.append((None, latest))
            self._notes = notes
        return list(self._notes)

    def snapshot(self, sha256: str) -> Optional[tuple[str, bytes]]:
        """(media type as the snapshots table stores it, content served at /-/snapshots/{sha256}).

        The site may serve an archived page as a download or as text/plain
        (never as live HTML on its own origin), so the Content-Type of the
        route is not the recorded media type: that comes from the table.
        """
        stored = self.stored_snapshots().get(sha256)
        if stored is None:
            return None
        try:
            _, content = self._fetch(f"-/snapshots/{sha256}")
        except NotFoundError:
            return None
        return stored["media_type"], content

    def snapshot_names(self) -> list[str]:
        return sorted(self.stored_snapshots())

    def stored_snapshots(self) -> dict[str, dict]:
        """The rows of the snapshots table without their content: SHA-256 -> {rowid, sha256, media_type, size}."""
        if self._stored_snapshots is None:
            self._stored_snapshots = {row["sha256"]: row for row in self.rows_by_rowid("snapshots", "sha256, media_type, size")}
        return self._stored_snapshots

    def ledger_file(self) -> None:
        return None

    def table_rows(self, table: str) -> list[dict]:
        """Every row of a table as the site serves it, read from the table itself in rowid order, each with its "rowid"."""
        return list(self.rows_by_rowid(table, "*"))

    # --- reading the site ------------------------------------------------------------------
    def rows_by_rowid(self, table: str, columns: str, after: Optional[int] = None, before: Optional[int] = None) -> Iterator[dict]:
        """Rows of ``table`` with after < rowid < before (either bound optional), in rowid order, ``ROWS`` a request.

        ``NOT INDEXED`` makes SQLite read the table's own b-tree, whatever the
        indexes say; each row comes with its "rowid".
        """
        while True:
            bounds = [("after", "rowid > :after", after), ("before", "rowid < :before", before)]
            where = " and ".join(test for _, test, value in bounds if value is not None) or "1"
            rows = self.query(f'select rowid as "rowid", {columns} from "{table}" not indexed where {where} '
                              f"order by rowid limit {self.ROWS}", **{name: value for name, _, value in bounds if value is not None})
            yield from rows
            if len(rows) < self.ROWS:
                return
            after = rows[-1]["rowid"]

    def query(self, sql: str, **params) -> list[dict]:
        """The rows of one read-only SQL query through Datasette's JSON API."""
        path = f"{tilde_encode(self.database)}.json?" + urllib.parse.urlencode({"sql": sql, **params, "_shape": "objects"})
        try:
            data = json.loads(self._get(path))
        except ValueError as e:
            raise FormatError(f"{self.base}{tilde_encode(self.database)}.json?sql=...: not JSON ({e})") from e
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise FormatError(f"{self.base}{tilde_encode(self.database)}.json?sql=...: expected an object with rows")
        if data.get("truncated"):
            shown = sql if len(sql) < 120 else sql[:120] + "..."
            raise FormatError(f"the site cut the answer to {shown!r} short; expected at most {self.ROWS} rows to come whole")
        return data["rows"]

    def json(self, path: str):
        """The JSON a path of the site answers."""
        try:
            return json.loads(self._get(path))
        except ValueError as e:
            raise FormatError(f"{self.base}{path}: not JSON ({e})") from e

    def page(self, path: str) -> bytes:
        """The body of one page of the site (its home page, a claim page)."""
        return self._get(path)

    def _get(self, path: str) -> bytes:
        return self._fetch(path)[1]

    def _fetch(self, path: str) -> tuple[Optional[str], bytes]:
        """(media type, body) of a GET on the site's own origin; NotFoundError on 404, LedgerError on any other failure.

        The media type is ``X-Ledger-Media-Type`` when the site sends it: a
        snapshot is served as plain text or a download unless its type is
        inert (docs/site.md, "Snapshots"), and that header carries the stored type.
        """
        url = urllib.parse.urljoin(self.base, path)
        if _origin(url) != self.origin:
            raise LedgerError(f"{url} is outside the site {self.base}; verify reads the site's own addresses only")
        try:
            with self._opener.open(url, timeout=self.timeout) as response:
                return response.headers.get("X-Ledger-Media-Type") or response.headers.get("Content-Type"), response.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise NotFoundError(f"{url}: 404 Not Found") from e
            raise _http_error(url, e) from e
        except (urllib.error.URLError, OSError) as e:
            raise LedgerError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from e


def _http_error(url: str, e: urllib.error.HTTPError) -> LedgerError:
    """The error of a failed request, with the site's own message when it gave one in JSON."""
    try:
        message = json.loads(e.read()).get("error") or ""
    except (ValueError, AttributeError, OSError):
        message = ""
    shown = url if len(url) < 200 else url[:200] + "..."
    if "too long" in message or "interrupted" in message:
        return QueryTimeout(f"{shown}: the site stopped the query at its time limit ({message})")
    if e.code == 403 and ".json?sql=" in url:
        return LedgerError(f"{shown}: HTTP 403: the site does not answer read-only SQL queries, which verify needs to check "
                           "what its pages read; verify the ledger file or an export instead")
    return LedgerError(f"{shown}: HTTP {e.code}{': ' + message if message else ''}")
