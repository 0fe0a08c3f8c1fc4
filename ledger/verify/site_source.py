"""A published site as a verify source, read only through its verifier routes (docs/site.md).

``/-/ledger.json`` (size, database name, checkpoint sizes), ``/-/entries.jsonl``,
``/-/checkpoint[/{size}]``, ``/-/snapshots/{sha256}``, and each browsing table
through Datasette's JSON API.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator, Optional

from ledger.errors import FormatError, LedgerError, NotFoundError


class SiteSource:
    """A published site, read through its documented verifier routes only."""

    PAGE = 10000
    snapshots_available = True

    def __init__(self, base_url: str, timeout: float = 60.0):
        self.base = base_url.rstrip("/") + "/"
        self.name = self.base
        self.timeout = timeout
        try:
            info = json.loads(self._get("-/ledger.json"))
            self._size = int(info["size"])
            self.database = info["database"]
            self.checkpoint_sizes = [int(n) for n in info["checkpoint_sizes"]]
        except (ValueError, KeyError, TypeError) as e:
            raise FormatError(f"{self.base}-/ledger.json is not a fact-ledger site description: {e}") from e

    def size(self) -> int:
        return self._size

    def leaves(self) -> Iterator[tuple[int, bytes, None]]:
        index = 0
        while index < self._size:
            end = min(index + self.PAGE, self._size)
            data = self._get(f"-/entries.jsonl?start={index}&end={end}")
            lines = data.split(b"\n")
            if lines[-1] != b"" or len(lines) - 1 != end - index:
                raise FormatError(f"{self.base}-/entries.jsonl?start={index}&end={end}: expected {end - index} lines, found {len(lines) - 1}")
            for line in lines[:-1]:
                yield index, line, None
                index += 1

    def checkpoint_notes(self) -> list[tuple[Optional[int], str]]:
        notes = [(size, self._get(f"-/checkpoint/{size}").decode("utf-8")) for size in self.checkpoint_sizes]
        latest = self._get("-/checkpoint").decode("utf-8")
        if not notes or latest != notes[-1][1]:
            notes.append((None, latest))
        return notes

    def snapshot(self, sha256: str) -> Optional[tuple[str, bytes]]:
        try:
            content_type, content = self._fetch(f"-/snapshots/{sha256}")
        except NotFoundError:
            return None
        return ("application/octet-stream" if content_type is None else content_type), content

    def ledger_file(self) -> None:
        return None

    def table_rows(self, table: str) -> list[dict]:
        """Every row of a browsing table through Datasette's JSON API."""
        rows, path = [], f"{self.database}/{table}.json?_shape=objects&_size=1000&_nofacet=1&_nosuggest=1"
        while path:
            page = json.loads(self._get(path))
            rows.extend(page["rows"])
            path = page.get("next_url")
        return rows

    def _get(self, path: str) -> bytes:
        return self._fetch(path)[1]

    def _fetch(self, path: str) -> tuple[Optional[str], bytes]:
        """(media type, body) of a GET; NotFoundError on 404, LedgerError on any other failure.

        The media type is ``X-Ledger-Media-Type`` when the site sends it: a
        snapshot is served as plain text or a download unless its type is
        inert (docs/site.md, "Snapshots"), and that header carries the stored type.
        """
        url = urllib.parse.urljoin(self.base, path)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                return response.headers.get("X-Ledger-Media-Type") or response.headers.get("Content-Type"), response.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise NotFoundError(f"{url}: 404 Not Found") from e
            raise LedgerError(f"{url}: HTTP {e.code}") from e
        except (urllib.error.URLError, OSError) as e:
            raise LedgerError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from e
