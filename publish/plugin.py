"""The fact-ledger Datasette plugin: verifier routes, claim and source pages, feed, guards.

One file of ``@hookimpl`` functions, using hooks that Datasette 1.0 keeps (and
``register_facet_classes``, still under review for 1.0, for one facet).
The verifier routes under ``/-/`` are a stable interface, specified with their
exact response formats in docs/site.md; everything else is for reading.

The site is strictly read-only: the database is served immutable, and
``asgi_wrapper`` refuses every method but GET, HEAD and OPTIONS before
Datasette sees the request.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import io
import json
import re
import shlex
import sqlite3
import weakref
from collections import OrderedDict
import xml.etree.ElementTree as ET
from hashlib import sha256
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qsl, quote, urlencode

import datasette
from datasette import hookimpl
from datasette.version import __version__ as _DATASETTE_VERSION
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.filters import FilterArguments
from datasette.plugins import pm
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args, tilde_decode, tilde_encode
from datasette.utils.asgi import Response
from jinja2 import pass_context
from markupsafe import Markup, escape

from ledger import tiles
from ledger.api import Ledger
from ledger.diff import word_diff
from ledger.errors import LedgerError, NotFoundError, ProofError
from ledger.interop.claimreview_export import claimreview_node
from ledger.readable import (grouped_fingerprint, key_fingerprint, rating_gloss, readable_date, readable_time,
                             readable_url, text_direction)
from ledger.search import (COUNT_CAP, MAX_QUERY_CHARS, NOT_RATED, SORTS, Hit, SearchQuery, SearchResults, SearchTimeout,
                           published_languages, search,
                           table_search_expression)
from ledger.share_card import render_card
from ledger.site import COUNTED_FACET, PLACEHOLDER_SITE, VERIFIER_MOUNT, facet_column
from ledger.sitemap import KINDS, URLS_PER_SITEMAP, sitemap_index, urlset
from ledger.sitemap import parts as sitemap_parts

PLUGIN = "fact-ledger"
ENTRIES_PAGE_CAP = 10_000
FEED_SIZE = 50
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
VERIFIER_PREFIXES = ("/-/checkpoint", "/-/vkey", "/-/proof/", "/-/entries.jsonl", "/-/snapshots/", "/-/ledger.json", "/-/feed.atom",
                     "/-/tlog/", "/-/claimreview.json", "/ledger-assets/ledger-verify.js", "/ledger-assets/ledger.css")
DEFAULT_ROBOTS_DISALLOW = ("/-/entries.jsonl", "/-/proof/", "/-/snapshots/", "/-/tlog/")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
SLUG = r"[a-z0-9][a-z0-9._-]{0,127}"
SLUG_ONLY = re.compile(SLUG)

_sites: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class Site:
    """The served ledger: its Datasette database and the Ledger opened on the same file."""

    def __init__(self, db, ledger: Ledger, datasette=None):
        self.db = db
        self.ledger = ledger
        self.datasette = datasette
        self._publisher = None

    async def publisher(self) -> Optional[str]:
        """Who publishes the ledger: the display name its log key was registered with (entry 0).

        Read once: the file is served immutable, so it cannot change.
        """
        if self._publisher is None:
            found = await _rows(self.db, "select display_name from editors where role = 'log' order by registered_idx limit 1")
            self._publisher = found[0]["display_name"] if found else ""
        return self._publisher or None


async def ledger_site(ds) -> Site:
    """Find the database holding the log (the first that opens as a ledger), open it once."""
    site = _sites.get(ds)
    if site is None:
        for db in ds.databases.values():
            try:
                ledger = Ledger.open(db.path, immutable=True) if db.path else None
            except LedgerError:
                ledger = None  # another database served alongside the ledger
            if ledger is not None:
                site = _sites[ds] = Site(db, ledger, ds)
                break
        else:
            raise NotFoundError("no ledger database is being served")
    return site


# --- responses ----------------------------------------------------------------

def _text(body: str, status: int = 200) -> Response:
    return Response.text(body, status=status, headers={"Cache-Control": "no-cache"})


def _error(status: int, message: str) -> Response:
    return Response.json({"ok": False, "status": status, "error": message}, status=status)


def _uint(value, what: str) -> int:
    if value is None or not re.fullmatch(r"[0-9]{1,19}", value):
        raise ProofError(f"{what}: expected a non-negative decimal integer, found {value!r}")
    return int(value)


def _optional_uint(request, name: str):
    value = request.args.get(name)
    return None if value is None else _uint(value, name)


def _verifier(fn):
    """Turn LedgerErrors into JSON errors (404 for missing things, 400 for bad parameters)."""

    async def view(datasette, request):
        try:
            return await fn(await ledger_site(datasette), request)
        except NotFoundError as e:
            return _error(404, str(e))
        except LedgerError as e:
            return _error(400, str(e))

    return view


# --- verifier routes ---------------------------------------------------------------

@_verifier
async def checkpoint_latest(site, request):
    # With the witnesses' cosignatures (docs/witness.md), as /-/tlog/checkpoint.
    return _text(site.ledger.cosigned_checkpoint_note())


@_verifier
async def checkpoint_at(site, request):
    return _text(site.ledger.cosigned_checkpoint_note(_uint(request.url_vars["size"], "size")))


@_verifier
async def vkey(site, request):
    return _text(site.ledger.log_vkey + "\n")


@_verifier
async def proof_inclusion(site, request):
    index = _uint(request.url_vars["index"], "index")
    return Response.json(site.ledger.prove_inclusion(index, _optional_uint(request, "size")))


@_verifier
async def proof_consistency(site, request):
    old = _uint(request.args.get("old"), "old")
    return Response.json(site.ledger.prove_consistency(old, _optional_uint(request, "size")))


@_verifier
async def proof_tlog(site, request):
    # The library's bundle, with the 'extra' line that carries the entry:
    # the verify command on each claim page needs it (docs/verify.md).
    index = _uint(request.url_vars["index"], "index")
    return _text(site.ledger.tlog_proof(index, _optional_uint(request, "size")))


@_verifier
async def entries_jsonl(site, request):
    size = site.ledger.size
    start = _optional_uint(request, "start") or 0
    end = _optional_uint(request, "end")
    end = min(start + ENTRIES_PAGE_CAP, size) if end is None else end
    if not start <= end <= size:
        raise ProofError(f"expected 0 <= start <= end <= {size} (the log size), found start={start} end={end}")
    if end - start > ENTRIES_PAGE_CAP:
        raise ProofError(f"at most {ENTRIES_PAGE_CAP} entries per request; found end - start = {end - start}")
    body = io.BytesIO()
    site.ledger.export_jsonl(body, start, end)
    return Response(body.getvalue(), content_type="application/jsonl; charset=utf-8",
                    headers={"X-Ledger-Size": str(size), "X-Ledger-Start": str(start), "X-Ledger-End": str(end)})


@_verifier
async def snapshot(site, request):
    name = request.url_vars["sha256"]
    found = site.ledger.snapshot(name) if SHA256_HEX.fullmatch(name) else None
    if found is None:
        raise NotFoundError(f"no snapshot named {name!r}; names are 64 lowercase hex digits (SHA-256)")
    media_type, content = found
    content_type, headers = snapshot_headers(name, media_type)
    return Response(content, content_type=content_type, headers=headers)


# --- how a snapshot is served (docs/site.md, "Snapshots") ------------------------------------
# The bytes are always exactly those stored, but a browser must never render
# them as a page of this origin: an archived HTML page reading "RETRACTION: all
# claims withdrawn" would look like the ledger's own, and its script would run
# here. Only inert types keep their media type, inline; other text is shown as
# plain text; PDF and everything else is a download.
INLINE_SNAPSHOT_TYPES = ("text/plain", "image/png", "image/jpeg", "image/gif", "image/webp")
DOWNLOAD_SNAPSHOT_TYPES = ("application/pdf",)  # keep their media type, as an attachment
TEXT_SNAPSHOT_TYPE = re.compile(r"text/[a-z0-9.+-]+|application/(json|xml|[a-z0-9.+-]+\+(json|xml))")
SNAPSHOT_MEDIA_TYPE = re.compile(r"([a-z0-9.+-]+/[a-z0-9.+-]+)(?:; ?charset=([A-Za-z0-9_-]+))?")  # source.schema.json
SNAPSHOT_EXTENSIONS = {"text/plain": ".txt", "text/html": ".html", "text/markdown": ".md", "text/csv": ".csv",
                       "application/json": ".json", "application/xml": ".xml", "text/xml": ".xml", "application/pdf": ".pdf",
                       "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
                       "image/svg+xml": ".svg", "application/xhtml+xml": ".xhtml"}
# Nothing in a snapshot response may load, run or frame anything, whatever a browser makes of it.
SNAPSHOT_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"


def snapshot_headers(sha256: str, media_type: str) -> tuple[str, dict]:
    """The Content-Type and other headers that serve a snapshot of ``media_type`` safely.

    ``X-Ledger-Media-Type`` carries the stored media type (what the source
    record names, and what verify compares), whatever Content-Type says.
    """
    match = SNAPSHOT_MEDIA_TYPE.fullmatch(media_type)
    essence, charset = (match[1], match[2]) if match else ("application/octet-stream", None)
    if essence in INLINE_SNAPSHOT_TYPES:
        content_type, disposition = essence + (f"; charset={charset or 'utf-8'}" if essence == "text/plain" else ""), "inline"
    elif TEXT_SNAPSHOT_TYPE.fullmatch(essence):
        content_type, disposition = f"text/plain; charset={charset or 'utf-8'}", "inline"
    elif essence in DOWNLOAD_SNAPSHOT_TYPES:
        content_type, disposition = essence, "attachment"
    else:
        content_type, disposition = "application/octet-stream", "attachment"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{sha256}{SNAPSHOT_EXTENSIONS.get(essence, ".bin")}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SNAPSHOT_CSP,
        "Access-Control-Expose-Headers": "X-Ledger-Media-Type",
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    if match:
        headers["X-Ledger-Media-Type"] = media_type
    return content_type, headers


@_verifier
async def ledger_json(site, request):
    ledger = site.ledger
    checkpoints = ledger.checkpoints()
    return Response.json({
        "format": "fact-ledger/1",
        "origin": ledger.origin,
        "size": ledger.size,
        "vkey": ledger.log_vkey,
        "checkpoint_sizes": [size for size, _ in checkpoints],
        "latest_checkpoint_size": checkpoints[-1][0] if checkpoints else None,
        "entries_page_cap": ENTRIES_PAGE_CAP,
        "database": site.db.name,
        "verifier": verifier_source(site.datasette),
        "witnesses": witnesses_json(ledger),
        "routes": {
            "checkpoint": "/-/checkpoint",
            "checkpoint_at": "/-/checkpoint/{size}",
            "vkey": "/-/vkey",
            "inclusion_proof": "/-/proof/inclusion/{index}.json?size={size}",
            "consistency_proof": "/-/proof/consistency.json?old={old}&size={size}",
            "tlog_proof": "/-/proof/tlog/{index}?size={size}",
            "entries": "/-/entries.jsonl?start={start}&end={end}",
            "snapshot": "/-/snapshots/{sha256}",
            "feed": "/-/feed.atom",
            "tlog": "/-/tlog/",
        },
    })


def verifier_source(datasette) -> dict:
    """Where a reader gets the verifier (docs/security.md, "Installing the verifier"): ``/-/ledger.json``'s "verifier".

    The wheel ``ledger publish`` put in the bundle (served under
    /ledger-verifier/) with its SHA-256, the source repository and the commit
    the wheel was built from; the fields that are not known are null.
    """
    config = _config(datasette).get("verifier") or {}
    wheel = config.get("wheel")
    return {
        "wheel": wheel,
        "sha256": config.get("sha256"),
        "url": _site_url(datasette, f"/{VERIFIER_MOUNT}/{wheel}") if wheel else None,
        "source_url": _config(datasette).get("source_url"),
        "commit": config.get("commit"),
    }


# --- the log as C2SP tlog-tiles, with its cosigned checkpoint (docs/log.md "Tiles") ---------------

TILE_CONTENT_TYPE = "application/octet-stream"


@_verifier
async def tlog_checkpoint(site, request):
    # tlog-tiles: the checkpoint changes, so it is cached for seconds only.
    return Response.text(site.ledger.cosigned_checkpoint_note(), headers={"Cache-Control": tiles.CACHE_SHORT})


@_verifier
async def tlog_tile(site, request):
    """A hash tile or entry bundle of the latest checkpoint's tree (or a prefix of one), as ``ledger publish`` writes it."""
    path = "tile/" + request.url_vars["path"]
    try:
        tile = tiles.parse_tile_path_untrusted(path)
    except LedgerError as e:
        raise NotFoundError(str(e)) from e
    latest = site.ledger.latest_checkpoint()
    if latest is None or not tiles.tile_in_tree(tile, latest[0]):
        raise NotFoundError(f"{path} is not in the tree of the latest checkpoint (size {latest[0] if latest else 0})")
    body = tiles.read_tile_or_bundle(tile, site.ledger, site.ledger)
    # tlog-tiles: a full tile never changes; a partial one is replaced by a wider one.
    return Response(body, content_type=TILE_CONTENT_TYPE, headers={"Cache-Control": tile.cache_control})


def witnesses_json(ledger) -> list[dict]:
    """The log's witnesses, for tools and for pages that show who cosigned (``data-witness-vkeys``)."""
    return [{"id": w.record_id, "vkey": w.vkey, "url": w.url, "display_name": w.display_name, "status": w.status}
            for w in ledger.witnesses()]


def witness_vkeys(ledger) -> str:
    """The active witnesses' verifier keys, space-separated: a claim page's ``data-witness-vkeys`` (docs/browser-verify.md)."""
    return " ".join(w.vkey for w in ledger.witnesses(active_only=True))


# --- the feed ------------------------------------------------------------------------

FEED_SQL = """
select v.entry_idx, v.entry_hash, case when v.version = 1 then 'claim' else 'revision' end as kind,
       v.claim_id as target_id, v.claim_id as claim_id, v.version, v.text, v.note as why, v.signer, v.created
  from claim_versions v
union all
select n.entry_idx, n.entry_hash, n.kind, n.target_id,
       case n.target_kind when 'claim' then n.target_id
                          when 'review' then (select claim_id from reviews r where r.id = n.target_id) end,
       null, null, n.reason, n.signer, n.created
  from notices n
order by entry_idx desc limit :limit
"""

ATOM = "http://www.w3.org/2005/Atom"


def _feed_title(row) -> str:
    kind, target, text, why = row["kind"], row["target_id"], row["text"], row["why"]
    if kind == "claim":
        return f"New claim: {text}"
    if kind == "revision":
        return f"Revised claim (version {row['version']}): {text} ({why})"
    return f"{kind.capitalize()} of {target}: {why}"


async def feed(datasette, request):
    try:
        site = await ledger_site(datasette)
    except NotFoundError as e:
        return _error(404, str(e))
    rows = list(await site.db.execute(FEED_SQL, {"limit": FEED_SIZE}))
    names = dict(list(await site.db.execute("select signer, display_name from editors")))
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")

    def add(parent, tag, text=None, **attrs):
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    origin = site.ledger.origin
    title = datasette.metadata("title") or "Fact ledger"
    add(root, "id", f"urn:fact-ledger:log:{quote(origin, safe='')}")
    add(root, "title", f"{title}: new claims, revisions, corrections and retractions")
    add(root, "updated", rows[0]["created"] if rows else "1970-01-01T00:00:00Z")
    add(root, "link", rel="self", href=_site_url(datasette, "/-/feed.atom"))
    add(root, "link", rel="alternate", href=_site_url(datasette, "/"))
    add(add(root, "author"), "name", await site.publisher() or origin)
    for row in rows:
        entry = add(root, "entry")
        add(entry, "id", f"urn:fact-ledger:entry:{row['entry_hash']}")
        add(entry, "title", _feed_title(row))
        add(entry, "updated", row["created"])
        path = claim_path(row["claim_id"]) if row["claim_id"] else source_path(row["target_id"])
        add(entry, "link", rel="alternate", href=_site_url(datasette, path))
        add(add(entry, "author"), "name", names.get(row["signer"], row["signer"]))
        add(entry, "summary", f"Log entry {row['entry_idx']}, signed by {row['signer']}.")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, content_type="application/atom+xml; charset=utf-8")


# --- robots.txt ----------------------------------------------------------------------

def _config(datasette) -> dict:
    return datasette.plugin_config(PLUGIN) or {}


async def robots(datasette, request):
    config = _config(datasette)
    if config.get("robots", "allow") == "disallow":
        lines = ["User-agent: *", "Disallow: /"]
    else:
        lines = ["User-agent: *"] + [f"Disallow: {p}" for p in config.get("robots_disallow", DEFAULT_ROBOTS_DISALLOW)]
        lines += await auditor_robots_lines(datasette, request) + ["Allow: /"]
    return Response.text("\n".join(lines) + "\n")


# --- reader pages: claim, source, how to verify ---------------------------------------------

def claim_path(claim_id: str) -> str:
    return "/claim/" + quote(claim_id.split(":", 1)[1], safe="")


def source_path(source_id: str) -> str:
    return "/source/" + quote(source_id.split(":", 1)[1], safe="")


def http_url(value):
    """``value`` if it is an http(s) URL, else None: nothing else is ever rendered as a link."""
    return value if isinstance(value, str) and re.fullmatch(r"https?://[^\s\"'<>`]+", value) else None


def _json_list(value) -> list:
    try:
        items = json.loads(value) if value else []
    except ValueError:
        return []
    return items if isinstance(items, list) else []


def verify_command(base_url: str, claim_id: str, index: int, vkey: str) -> str:
    """The shell command a skeptic runs to check a claim's entry against the signed checkpoint."""
    url = base_url.rstrip("/") + f"/-/proof/tlog/{index}"
    return (f"curl -s {shlex.quote(url)} > claim.tlog-proof && "
            f"ledger verify {shlex.quote(claim_id)} --proof claim.tlog-proof --vkey {shlex.quote(vkey)}")


def site_verify_command(base_url: str, vkey: str, since: Optional[str] = None) -> str:
    """The shell command that verifies the whole published site against the log key."""
    command = f"ledger verify {shlex.quote(base_url)} --vkey {shlex.quote(vkey)}"
    return command + (f" --since {shlex.quote(since)}" if since else "")


# --- the site's own address (docs/site.md, "The site's address") ------------------------------
def _base_url(datasette):
    """The configured base URL (``plugins.fact-ledger.base_url``: ``ledger serve|publish --base-url``), or None."""
    return _config(datasette).get("base_url")


def _site_base(datasette, request) -> str:
    """The site's own URL (with a trailing '/'), as the commands printed on its pages name it.

    The configured base URL, never the request's Host header: any client sets
    that, and a cache in front of the site would keep a page naming the
    client's host and show it to every reader.
    """
    return (_base_url(datasette) or PLACEHOLDER_SITE) + "/"


def _site_url(datasette, path: str) -> str:
    """``path`` as an absolute URL under the configured base URL, or as it is (root-relative) without one."""
    base = _base_url(datasette)
    return base + path if base else path


async def _rows(db, sql, params=None):
    return [dict(r) for r in await db.execute(sql, params or {})]


async def _editors(db) -> dict:
    return {r["signer"]: r for r in await _rows(
        db, "select signer, key_id, display_name, role, status, registered_idx from editors")}


def _checkpoint(ledger, index):
    covering = ledger.checkpoint_covering(index)
    return {"size": covering[0], "note": covering[1]} if covering else None


async def _record_row(db, table, record_id):
    """The browsing-table row of one claim or source, or None."""
    found = await _rows(db, f"select * from {table} where id = :id", {"id": record_id})
    return found[0] if found else None


async def _existing_ids(db, ids) -> set:
    """Which of these claim and source IDs are in the ledger (so that only those become links)."""
    wanted = json.dumps(sorted(set(ids)))
    return {r["id"] for r in await _rows(db, """
        select id from claims where id in (select value from json_each(:ids))
        union all select id from sources where id in (select value from json_each(:ids))""", {"ids": wanted})}


RECORD_ID = re.compile(rf"\b(?:claim|source):{SLUG}")


def mentioned_ids(*texts) -> set:
    """Claim and source IDs named in free texts (reasons, notes, explanations), trailing punctuation left out."""
    found = set()
    for text in texts:
        for match in RECORD_ID.findall(text or ""):
            found |= {match, match.rstrip(".-_")}
    return found


@pass_context
def linked_ids(context, text):
    """``text`` escaped, with each ID of a claim or source in the ledger made a link to its page."""
    known = context.get("known_ids") or set()
    out, at = [], 0
    for match in RECORD_ID.finditer(text or ""):
        record_id = match[0] if match[0] in known else match[0].rstrip(".-_")
        if record_id not in known:
            continue
        path = claim_path(record_id) if record_id.startswith("claim:") else source_path(record_id)
        out += [escape(text[at:match.start()]), Markup('<a href="{}">{}</a>').format(path, record_id)]
        at = match.start() + len(record_id)
    out.append(escape((text or "")[at:]))
    return Markup("").join(out)


def _chain_link(link: dict) -> dict:
    link["path"] = source_path(link["id"])
    link["url_link"] = http_url(link["url"])
    link["archive_links"] = [u for u in map(http_url, _json_list(link["archives"])) if u]
    return link


# Text fields of a claim version that the history shows word by word (the rest as a list of changes).
WORDED_FIELDS = (("text", "text", "Claim"), ("translation", "translation.text", "Translation"), ("quote", "quote.exact", "Quote"))
_WORDED_CHANGE = re.compile(r"^(?:text|translation\.text|quote\.exact)(?::| added:| removed \(was )")


def _version_changes(versions: list) -> None:
    """Give each version after the first its word-by-word differences and its other changes."""
    for previous, version in zip([None] + versions[:-1], versions):
        version["word_diffs"] = [] if previous is None else [
            {"label": label, "field": field, "pieces": word_diff(previous[column], version[column])}
            for column, field, label in WORDED_FIELDS if previous[column] != version[column]]
        version["other_changes"] = [str(c) for c in _json_list(version["changes"]) if not _WORDED_CHANGE.match(str(c))]


def _history(versions: list, notices: list, editors: dict, ledger) -> list:
    """Versions and notices in log order. A correction is told with the version it made, not twice."""
    corrections = {n["id"] for n in notices if any(v["correction_id"] == n["id"] for v in versions)}
    by_id = {n["id"]: n for n in notices}
    _version_changes(versions)
    for v in versions:
        v.update(item="version", editor=editors.get(v["signer"]), checkpoint=_checkpoint(ledger, v["entry_idx"]),
                 correction=by_id.get(v["correction_id"]))
    for n in notices:
        n.update(item="notice", editor=editors.get(n["signer"]))
    return sorted(versions + [n for n in notices if n["id"] not in corrections], key=lambda item: item["entry_idx"])


async def _reviews(db, claim_id: str, versions: list, editors: dict) -> list:
    """The claim's reviews, newest first: reviewer, evidence by title, and the claim version each one judged."""
    reviews = await _rows(db, "select * from reviews where claim_id = :id order by entry_idx desc", {"id": claim_id})
    evidence_ids = {e for r in reviews for e in _json_list(r["evidence"]) if isinstance(e, str)}
    titles = {s["id"]: s for s in await _rows(db, """select id, title, language from sources
                                                     where id in (select value from json_each(:ids))""",
                                              {"ids": json.dumps(sorted(evidence_ids))})}
    for r in reviews:
        r["editor"] = editors.get(r["signer"])
        r["url_link"] = http_url(r["url"])
        r["gloss"] = rating_gloss(r["rating"])
        r["evidence_list"] = [dict(titles[e], path=source_path(e)) if e in titles else {"id": e, "title": e, "path": None}
                              for e in _json_list(r["evidence"]) if isinstance(e, str)]
        judged = [v for v in versions if v["entry_idx"] < r["entry_idx"]]
        r["judged"] = judged[-1] if judged else None
        r["newer_versions"] = [v for v in versions if v["entry_idx"] > r["entry_idx"]]
    return reviews


def _said_when(claim: dict, chain: list) -> Optional[dict]:
    """When the claim was said: its own date, else the quoting source's publication date."""
    if claim["claim_date"]:
        return {"value": claim["claim_date"], "what": "said"}
    source = chain[0] if chain else None
    return {"value": source["published"], "what": "published"} if source and source["published"] else None


async def _claim_context(datasette, request, site, claim: dict) -> dict:
    db, ledger, claim_id = site.db, site.ledger, claim["id"]
    editors = await _editors(db)
    chain = [_chain_link(link) for link in await _rows(db, """
        select ch.position, ch.rel, s.* from claim_chain ch join sources s on s.id = ch.source_id
         where ch.claim_id = :id order by ch.position""", {"id": claim_id})]
    versions = await _rows(db, "select * from claim_versions where claim_id = :id order by version", {"id": claim_id})
    notices = await _rows(db, "select * from notices where target_id = :id order by entry_idx", {"id": claim_id})
    for n in notices:
        n["row_url"] = datasette.urls.row(db.name, "notices", tilde_encode(n["id"]))
    reviews = await _reviews(db, claim_id, versions, editors)
    for r in reviews:
        r["row_url"] = datasette.urls.row(db.name, "reviews", tilde_encode(r["id"]))
    verdict = next((r for r in reviews if r["id"] == claim["review_id"]), None)
    texts = ([n["reason"] for n in notices] + [v["note"] for v in versions] + [r["explanation"] for r in reviews]
             + [v["changes"] for v in versions])
    base = _site_base(datasette, request)
    return {
        "claim": claim,
        "said_when": _said_when(claim, chain),
        "tags": [str(t) for t in _json_list(claim["tags"])],
        "signer": editors.get(claim["signer"]),
        "chain": chain,
        "history": _history(versions, notices, editors, ledger),
        "status_notice": notices[-1] if notices and claim["status"] != "active" else None,
        "verdict": verdict,
        "verdict_gloss": rating_gloss(claim["verdict"]),
        "other_reviews": [r for r in reviews if r is not verdict],
        "known_ids": await _existing_ids(db, mentioned_ids(*texts)),
        "checkpoint": _checkpoint(ledger, claim["entry_idx"]),
        "vkey": ledger.log_vkey,
        "fingerprint": grouped_fingerprint(key_fingerprint(ledger.log_vkey)),
        "verify_command": verify_command(base, claim_id, claim["entry_idx"], ledger.log_vkey),
        "ledger_db": db.name,
        "row_url": datasette.urls.row(db.name, "claims", tilde_encode(claim_id)),
        "source_path": source_path,
    }


async def _claim_page(datasette, request, template: str, **extra):
    """The claim ``/claim/<slug>`` names rendered with ``template`` (the page, or its embed), or a 404 page."""
    site = await ledger_site(datasette)
    claim = await _record_row(site.db, "claims", "claim:" + request.url_vars["slug"])
    if claim is None:
        return await _not_found(datasette, request, f"No claim claim:{request.url_vars['slug']} in this ledger.")
    context = await _claim_context(datasette, request, site, claim)
    context.update(await claim_share(datasette, request, site, claim, context["verdict"]), **extra)
    return Response.html(await datasette.render_template(template, context, request=request))


async def claim_page(datasette, request):
    return await _claim_page(datasette, request, "ledger_claim.html")


async def _source_claims(db, source_id: str) -> tuple[list, list]:
    """Claims quoted from the source, and claims whose provenance chain reaches it further back."""
    quoting = await _rows(db, """select id, text, language, verdict, verdict_label, status, quote from claims
                                  where source_id = :id order by entry_idx""", {"id": source_id})
    reaching = await _rows(db, """select c.id, c.text, c.language, c.verdict, c.verdict_label, c.status, ch.position
                                    from claim_chain ch join claims c on c.id = ch.claim_id
                                   where ch.source_id = :id and ch.position > 0 order by c.entry_idx""", {"id": source_id})
    for c in quoting + reaching:
        c["path"] = claim_path(c["id"])
        c["gloss"] = rating_gloss(c["verdict"])
    return quoting, reaching


async def _source_links(db, source_id: str) -> tuple[list, list]:
    links_out = await _rows(db, """select l.rel, l.note, l.target_id as id, s.title, s.type, s.language from source_links l
                                   left join sources s on s.id = l.target_id where l.source_id = :id order by l.position""", {"id": source_id})
    links_in = await _rows(db, """select l.rel, l.note, l.source_id as id, s.title, s.type, s.language from source_links l
                                  left join sources s on s.id = l.source_id where l.target_id = :id order by l.source_id, l.position""", {"id": source_id})
    for link in links_out + links_in:
        link["path"] = source_path(link["id"])
    return links_out, links_in


async def source_page(datasette, request):
    site = await ledger_site(datasette)
    db = site.db
    source_id = "source:" + request.url_vars["slug"]
    source = await _record_row(db, "sources", source_id)
    if source is None:
        return await _not_found(datasette, request, f"No source {source_id} in this ledger.")
    editors = await _editors(db)
    links_out, links_in = await _source_links(db, source_id)
    quoting, reaching = await _source_claims(db, source_id)
    notices = await _rows(db, "select * from notices where target_id = :id order by entry_idx", {"id": source_id})
    context = {
        "source": source,
        "url_link": http_url(source["url"]),
        "archive_links": [u for u in map(http_url, _json_list(source["archives"])) if u],
        "signer": editors.get(source["signer"]),
        "links_out": links_out,
        "links_in": links_in,
        "quoting": quoting,
        "reaching": reaching,
        "notices": notices,
        "known_ids": await _existing_ids(db, mentioned_ids(source["description"], *[n["reason"] for n in notices])),
        "checkpoint": _checkpoint(site.ledger, source["entry_idx"]),
        "ledger_db": db.name,
        "row_url": datasette.urls.row(db.name, "sources", tilde_encode(source_id)),
        **(await source_share(datasette, request, site, source)),
    }
    return Response.html(await datasette.render_template("ledger_source.html", context, request=request))


# --- Datasette's introspection, without the server's paths --------------------------------------
async def databases(datasette):
    """``/-/databases.json`` as Datasette gives it, without each file's absolute path on the server."""
    return Response.json([{"name": db.name, "route": db.route, "size": db.size, "is_mutable": db.is_mutable,
                           "is_memory": db.is_memory, "hash": db.hash}
                          for name, db in datasette.databases.items() if name != "_internal"])


async def threads_hidden(datasette):
    # Datasette's /-/threads.json lists the server's asyncio tasks with the paths of their source files.
    return _error(404, "not published: Datasette's thread list names files on the server")


async def _example_claim(db) -> Optional[dict]:
    """The claim the how-to-verify page uses in its example: the newest one that is not retracted."""
    found = await _rows(db, """select id, text, language, entry_idx from claims
                                where status != 'retracted' order by entry_idx desc limit 1""")
    return found[0] if found else None


async def how_to_verify(datasette, request):
    try:
        site = await ledger_site(datasette)
    except NotFoundError as e:
        return await _not_found(datasette, request, str(e))
    ledger, base = site.ledger, _site_base(datasette, request)
    example = await _example_claim(site.db)
    latest = ledger.latest_checkpoint()
    fingerprint = key_fingerprint(ledger.log_vkey)
    context = {
        "publisher": await site.publisher(),
        "origin": ledger.origin,
        "vkey": ledger.log_vkey,
        "fingerprint": grouped_fingerprint(fingerprint),
        "fingerprint_hex": fingerprint,
        "base": base,
        "size": ledger.size,
        "checkpoint_size": latest[0] if latest else None,
        "example": dict(example, path=claim_path(example["id"])) if example else None,
        "commands": {
            "fingerprint": f"curl -s {shlex.quote(base + '-/vkey')} | sha256sum",
            "site": site_verify_command(base, ledger.log_vkey),
            "save": f"curl -s {shlex.quote(base + '-/checkpoint')} > saved.checkpoint",
            "since": site_verify_command(base, ledger.log_vkey, since="saved.checkpoint"),
            "claim": verify_command(base, example["id"], example["entry_idx"], ledger.log_vkey) if example else None,
        },
        "ledger_db": site.db.name,
        "verifier": verifier_source(datasette),
    }
    return Response.html(await datasette.render_template("how_to_verify.html", context, request=request))


# --- sharing (issue 18; docs/site.md "Found and shared"): canonical URLs, JSON-LD, share meta and cards, -----
# --- the embeddable claim, the sitemap and the ClaimReview DataFeed -----------------------------------------

CLAIMREVIEW_FEED_PAGE = 100  # reviews per page of /-/claimreview.json (plugins.fact-ledger.claimreview_feed_page)
CARD_CACHE_ENTRIES = 512  # share cards kept in memory (about 40 kB each)
_card_cache: "OrderedDict[tuple, bytes]" = OrderedDict()


def canonical_base(datasette, request) -> str:
    """The site's public URL with a trailing '/' (``_base_url``: ``--base-url``); without one "/", so URLs stay
    root-relative: never the request's Host header, never a placeholder (docs/site.md, "Found and shared")."""
    configured = _base_url(datasette)
    return configured.rstrip("/") + "/" if configured else "/"


def json_ld(node) -> Markup:
    """``node`` as JSON for a ``<script type="application/ld+json">``: ``<``, ``>`` and ``&`` as JSON escapes, so no
    value can close the element or open a comment (HTML "Restrictions for contents of script elements")."""
    text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _card_key(record: dict, verdict: Optional[dict]) -> str:
    """The entry hash a page's share card is named by: the newest entry the card shows (the record, or its verdict)."""
    return verdict["entry_hash"] if verdict and verdict["entry_idx"] > record["entry_idx"] else record["entry_hash"]


def _said_by(claim: dict) -> str:
    return f" Said by {claim['attribution']}." if claim["attribution"] else ""


async def claim_share(datasette, request, site, claim: dict, verdict: Optional[dict]) -> dict:
    """A claim page's canonical URL, ClaimReview JSON-LD (the export's node), share meta and embed URL."""
    base = canonical_base(datasette, request)
    url = base + claim_path(claim["id"]).lstrip("/")
    node = claimreview_node(site.ledger, verdict["id"], base.rstrip("/") or None) if verdict else None
    gloss = rating_gloss(claim["verdict"])
    label = f" (the desk's label: {verdict['label']})" if verdict and verdict["label"] != gloss.name else ""
    return {"share": {
        "canonical": url, "json_ld": json_ld(node) if node else None, "type": "article",
        "title": claim["text"], "description": f"Verdict: {gloss.name}{label}.{_said_by(claim)}",
        "image": base + f"card/{_card_key(claim, verdict)}.png", "image_alt": f"{gloss.name}: {claim['text']}",
        "site_name": await site.publisher() or datasette.metadata("title") or "Fact ledger", "embed": url + "/embed",
        # Shown as text in a <textarea>: the HTML to paste, its attribute values escaped once.
        "snippet": str(Markup('<iframe src="{}" title="Fact check: {}" width="100%" height="300" style="border:0;max-width:640px" '
                              'loading="lazy"></iframe>').format(url + "/embed", claim["text"])),
    }}


async def source_share(datasette, request, site, source: dict) -> dict:
    base = canonical_base(datasette, request)
    about = " · ".join(v for v in (source["type"], source["publisher"], source["published"]) if v)
    return {"share": {
        "canonical": base + source_path(source["id"]).lstrip("/"), "json_ld": None, "type": "website",
        "title": source["title"], "description": f"A source in the fact ledger: {about}.",
        "image": base + f"card/{source['entry_hash']}.png", "image_alt": source["title"],
        "site_name": await site.publisher() or datasette.metadata("title") or "Fact ledger", "embed": None,
    }}


async def _card_subject(db, entry_hash: str) -> Optional[dict]:
    """What the card named ``entry_hash`` shows (a claim with its verdict, or a source) and the page's current card hash."""
    found = await _rows(db, "select record_id from record_versions where entry_hash = :h", {"h": entry_hash})
    record_id = found[0]["record_id"] if found else None
    if record_id and record_id.startswith("review:"):
        record_id = (await _rows(db, "select claim_id from reviews where id = :id", {"id": record_id}) or [{}])[0].get("claim_id")
    if record_id and record_id.startswith("source:"):
        source = await _record_row(db, "sources", record_id)
        return {"key": source["entry_hash"], "path": source_path(record_id), "kind": "Source", "text": source["title"],
                "language": source["language"], "verdict_key": "", "verdict_name": ""}
    claim = await _record_row(db, "claims", record_id) if record_id and record_id.startswith("claim:") else None
    if claim is None:
        return None
    verdict = await _record_row(db, "reviews", claim["review_id"]) if claim["review_id"] else None
    gloss = rating_gloss(claim["verdict"])
    return {"key": _card_key(claim, verdict), "path": claim_path(record_id), "kind": "Claim", "text": claim["text"],
            "language": claim["language"], "verdict_key": gloss.key, "verdict_name": gloss.name}


def _png(body: bytes, entry_hash: str) -> Response:
    # Named by the entry hash of what it shows: the bytes for a name never change.
    return Response(body, content_type="image/png", headers={
        "Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{entry_hash}"'})


async def share_card(datasette, request):
    """The PNG share card named by an entry hash (ledger/share_card.py): made once, then served from memory."""
    site = await ledger_site(datasette)
    entry_hash = request.url_vars["hash"]
    cache_key = (site.db.path, entry_hash)
    if cache_key in _card_cache:
        _card_cache.move_to_end(cache_key)
        return _png(_card_cache[cache_key], entry_hash)
    subject = await _card_subject(site.db, entry_hash) if SHA256_HEX.fullmatch(entry_hash) else None
    if subject is None:
        return _error(404, f"no claim or source entry has the hash {entry_hash!r}")
    if subject["key"] != entry_hash:
        # A card of an older version: the page's current card shows what the page shows now.
        return Response.redirect(f"/card/{subject['key']}.png", status=302)
    site_name = await site.publisher() or datasette.metadata("title") or "Fact ledger"
    body = await asyncio.to_thread(render_card, site_name=site_name, text=subject["text"], language=subject["language"],
                                   verdict_key=subject["verdict_key"], verdict_name=subject["verdict_name"], kind=subject["kind"])
    _card_cache[cache_key] = body
    while len(_card_cache) > CARD_CACHE_ENTRIES:
        _card_cache.popitem(last=False)
    return _png(body, entry_hash)


async def claim_embed(datasette, request):
    """``/claim/<slug>/embed``: the claim as a small card for an iframe, checking itself as the claim page does."""
    # With a configured base URL, the card names the site absolutely (script, style, proofs): the same bytes then
    # work as a static file on any host (``ledger publish`` writes them, ledger/embed_cards.py).
    site_base = (_config(datasette).get("base_url") or "").rstrip("/")
    return await _claim_page(datasette, request, "ledger_embed.html", site_base=site_base)


async def auditor_robots_lines(datasette, request) -> list[str]:
    """robots.txt lines that keep auditor pages (tables, rows, SQL, JSON, proofs) out of crawls, let the ClaimReview
    feed and the share cards in, and name the sitemap (RFC 9309: the longest matching rule wins)."""
    try:
        database = datasette.urls.database((await ledger_site(datasette)).db.name)
    except NotFoundError:
        return []
    return ["Allow: /-/claimreview.json", "Disallow: /-/", f"Disallow: {database}$", f"Disallow: {database}/",
            f"Disallow: {database}.", "Disallow: /*.json", "Disallow: /*?sql=", "Allow: /card/",
            f"Sitemap: {canonical_base(datasette, request)}sitemap.xml"]


def _sitemap_limit(datasette) -> int:
    """URLs per sitemap: ``plugins.fact-ledger.sitemap_urls`` (the protocol's 50,000 at most, the default)."""
    return max(1, min(int(_config(datasette).get("sitemap_urls", URLS_PER_SITEMAP)), URLS_PER_SITEMAP))


SITEMAP_SQL = {
    # lastmod: the newest entry the page shows (the claim's version, its verdict, a notice about it). A part starts
    # where claims_entry's covering index says (an OFFSET over the table itself would read every row before it).
    "claims": """select c.id, max(c.created, coalesce(r.created, ''),
                                 coalesce((select max(n.created) from notices n where n.target_id = c.id), '')) as lastmod
                   from claims c left join reviews r on r.id = c.review_id
                  where c.entry_idx >= (select entry_idx from claims order by entry_idx limit 1 offset :offset)
                  order by c.entry_idx limit :limit""",
    "sources": """select s.id, max(s.created, coalesce((select max(n.created) from notices n where n.target_id = s.id), ''))
                         as lastmod from sources s order by s.rowid limit :limit offset :offset""",
}


async def _sitemap_urls(site, base: str, kind: str, limit: int, offset: int = 0) -> list:
    prefix = base + ("claim/" if kind == "claims" else "source/")
    # A part of 50,000 URLs reads that many rows (about 0.5-1 s at 100,000 claims on 2 busy cores): more than the
    # readers' SQL time limit, which Datasette lets a query lower but not raise, so it runs as a function of its own.
    rows = await site.db.execute_fn(lambda conn: conn.execute(SITEMAP_SQL[kind], {"limit": limit, "offset": offset}).fetchall())
    # IDs the routes serve are slugs, which need no percent-encoding (claim_path quotes any other, as here).
    return [(prefix + (slug if SLUG_ONLY.fullmatch(slug) else quote(slug, safe="")), lastmod)
            for slug, lastmod in ((record_id.split(":", 1)[1], lastmod) for record_id, lastmod in rows)]


def _xml(body: bytes) -> Response:
    # The file is served immutable: a sitemap changes only when a new file is served, so caches may keep it an hour.
    return Response(body, content_type="application/xml; charset=utf-8", headers={"Cache-Control": "public, max-age=3600"})


async def sitemap(datasette, request):
    """``/sitemap.xml``: every claim and source page; a sitemap index of numbered parts past ``sitemap_urls`` URLs."""
    site, base, limit = await ledger_site(datasette), canonical_base(datasette, request), _sitemap_limit(datasette)
    counts = {kind: (await site.db.execute(f"select count(*) from {kind}")).first()[0] for kind in KINDS}
    if sum(counts.values()) <= limit:
        return _xml(urlset([url for kind in KINDS for url in await _sitemap_urls(site, base, kind, limit)]))
    return _xml(sitemap_index(base + part.path.lstrip("/") for part in sitemap_parts(counts, limit)))


async def sitemap_part(datasette, request):
    site, base, limit = await ledger_site(datasette), canonical_base(datasette, request), _sitemap_limit(datasette)
    kind, page = request.url_vars["kind"], int(request.url_vars["page"])
    urls = await _sitemap_urls(site, base, kind, limit, (page - 1) * limit) if page >= 1 else []
    if not urls:
        return _error(404, f"no sitemap {request.path}: see /sitemap.xml")
    return _xml(urlset(urls))


async def claimreview_feed(datasette, request):
    """``/-/claimreview.json``: a schema.org DataFeed of every current review's ClaimReview node, the export's own,
    ``CLAIMREVIEW_FEED_PAGE`` reviews a page; ``?after=N`` and the ``Link: rel="next"`` header page on."""
    try:
        site = await ledger_site(datasette)
        after = _optional_uint(request, "after") or 0
    except LedgerError as e:
        return _error(404 if isinstance(e, NotFoundError) else 400, str(e))
    base, size = canonical_base(datasette, request), int(_config(datasette).get("claimreview_feed_page", CLAIMREVIEW_FEED_PAGE))
    rows = await _rows(site.db, "select rowid, id from reviews where rowid > :after order by rowid limit :n",
                       {"after": after, "n": size + 1})
    nodes = [claimreview_node(site.ledger, r["id"], base.rstrip("/") or None) for r in rows[:size]]
    feed_url = base + "-/claimreview.json"
    body = {"@context": "https://schema.org", "@type": "DataFeed", "url": feed_url,
            "name": f"{await site.publisher() or datasette.metadata('title') or 'Fact ledger'}: fact-checks (ClaimReview)",
            "dataFeedElement": [{"@type": "DataFeedItem", "item": node} for node in nodes if node]}
    headers = {"Cache-Control": "public, max-age=300"}
    if len(rows) > size:
        headers["Link"] = f'<{feed_url}?after={rows[size - 1]["rowid"]}>; rel="next"'
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/ld+json; charset=utf-8", headers=headers)


async def _not_found(datasette, request, message):
    html = await datasette.render_template("error.html", {"ok": False, "error": message, "status": 404, "title": "Not found"}, request=request)
    return Response.html(html, status=404)


# --- search: /search and /search.json (docs/site.md, "Search") --------------------------------

def marked(text, spans) -> Markup:
    """``text`` escaped, with each (start, end) span in <mark>: marks are placed after escaping,
    never by markers inside the text."""
    if not text:
        return Markup("")
    pieces, at = [], 0
    for start, end in spans:
        pieces += [escape(text[at:start]), Markup("<mark>"), escape(text[start:end]), Markup("</mark>")]
        at = end
    pieces.append(escape(text[at:]))
    return Markup("").join(pieces)


def _search_url(path: str, query: SearchQuery, **changes) -> str:
    params = query.params(**changes)
    return path + ("?" + urlencode(params) if params else "")


def _hit_json(hit: Hit) -> dict:
    return {
        "id": hit.claim_id, "url": claim_path(hit.claim_id), "version": hit.version,
        "text": hit.text, "language": hit.language,
        "translation": hit.translation, "translation_language": hit.translation_language, "quote": hit.quote,
        "marks": {"text": [list(m) for m in hit.text_marks], "translation": [list(m) for m in hit.translation_marks],
                  "quote": [list(m) for m in hit.quote_marks]},
        "verdict": hit.verdict, "verdict_label": hit.verdict_label, "status": hit.status, "status_reason": hit.status_reason,
        "source": {"id": hit.source_id, "title": hit.source_title, "published": hit.source_published, "url": source_path(hit.source_id)},
        "tags": list(hit.tags), "claim_date": hit.claim_date, "recorded": hit.first_created, "updated": hit.created,
        "entry_index": hit.entry_index,
    }


def _facets_json(results: SearchResults, path: str) -> dict:
    return {facet.name: {
        "counted_over": "every match" if facet.counted_over is None else f"the newest {facet.counted_over} matches",
        "values": [{"value": v.value, "label": v.label, "count": v.count, "selected": v.selected,
                    "url": _search_url(path, results.query, **{facet.name: None if v.selected else v.value})}
                   for v in facet.values]} for facet in results.facets}


def search_json_body(results: SearchResults) -> dict:
    """The JSON of /search.json (docs/site.md, "Search")."""
    query, path = results.query, "/search.json"
    page = query.page
    return {
        "ok": True,
        "query": {"q": query.text, "filters": dict(query.filters), "sort": query.sort, "page": page, "size": query.size},
        "words": results.words, "stemmed_in": list(results.languages),
        "total": results.total, "more": results.more, "pages": results.pages,
        "results": [_hit_json(hit) for hit in results.hits],
        "facets": _facets_json(results, path),
        "previous": _search_url(path, query, page=page - 1) if page > 1 else None,
        "next": _search_url(path, query, page=page + 1) if page < results.pages else None,
    }


async def _run_search(datasette, request) -> SearchResults:
    site = await ledger_site(datasette)
    query = SearchQuery.from_untrusted(parse_qsl(request.query_string, keep_blank_values=True))
    # On Datasette's thread pool, with its read-only connection to the immutable file.
    return await site.db.execute_fn(lambda conn: search(conn, query))


async def _publisher(datasette) -> str:
    """Who publishes the ledger, as the home page names them (the log key's display name, entry 0)."""
    try:
        name = await (await ledger_site(datasette)).publisher()
    except NotFoundError:
        name = None
    return name or _config(datasette).get("publisher") or datasette.metadata("title") or "Fact ledger"


async def search_json(datasette, request):
    try:
        results = await _run_search(datasette, request)
    except NotFoundError as e:
        return _error(404, str(e))
    except SearchTimeout as e:
        return _error(503, str(e))
    except LedgerError as e:
        return _error(400, str(e))
    return Response.json(search_json_body(results))


def _search_context(results: SearchResults) -> dict:
    query = results.query
    links = {"sort": {sort: _search_url("/search", query, sort=sort) for sort in SORTS},
             "previous": _search_url("/search", query, page=query.page - 1) if query.page > 1 else None,
             "next": _search_url("/search", query, page=query.page + 1) if query.page < results.pages else None,
             "json": _search_url("/search.json", query)}
    facets = [{"name": f.name, "title": FACET_TITLES[f.name], "counted_over": f.counted_over,
               "options": [{"label": v.label, "count": v.count, "selected": v.selected, "value": v.value,
                           "url": _search_url("/search", query, **{f.name: None if v.selected else v.value})}
                          for v in f.values]} for f in results.facets if f.values]
    hits = [{"hit": h, "path": claim_path(h.claim_id), "source_path": source_path(h.source_id),
             "tags": [{"label": tag, "url": _search_url("/search", query, tag=tag)} for tag in h.tags],
             "text": marked(h.text, h.text_marks), "translation": marked(h.translation, h.translation_marks),
             "quote": marked(h.quote, h.quote_marks) if h.quote_marks and not (h.text_marks or h.translation_marks) else None}
            for h in results.hits]
    removals = [{"title": FACET_TITLES[facet], "label": next((v.label for f in results.facets if f.name == facet
                                                             for v in f.values if v.selected), value),
                 "url": _search_url("/search", query, **{facet: None})} for facet, value in query.filters]
    return {"results": results, "query": query, "hits": hits, "facets": facets, "links": links, "filters": removals,
            "hidden_filters": query.filters}


async def search_page(datasette, request):
    status, error, context = 200, None, {}
    try:
        context = _search_context(await _run_search(datasette, request))
    except NotFoundError as e:
        return await _not_found(datasette, request, str(e))
    except SearchTimeout as e:
        status, error = 503, str(e)
    except LedgerError as e:
        status, error = 400, str(e)
    if error:
        q = parse_qsl(request.query_string, keep_blank_values=True)
        context = {"error": error, "query": SearchQuery(text=next((v for k, v in q if k == "q"), "")[:MAX_QUERY_CHARS]),
                   "hidden_filters": ()}
    context["publisher"] = await _publisher(datasette)
    return Response.html(await datasette.render_template("search.html", context, request=request), status=status)


FACET_TITLES = {"language": "Language", "verdict": "Verdict", "source": "Source", "tag": "Tag", "status": "Status"}


@hookimpl
def register_routes():
    return [
        (r"^/-/checkpoint$", checkpoint_latest),
        (r"^/-/checkpoint/(?P<size>[^/]+)$", checkpoint_at),
        (r"^/-/vkey$", vkey),
        (r"^/-/proof/inclusion/(?P<index>[^/]+)\.json$", proof_inclusion),
        (r"^/-/proof/consistency\.json$", proof_consistency),
        (r"^/-/proof/tlog/(?P<index>[^/]+)$", proof_tlog),
        (r"^/-/entries\.jsonl$", entries_jsonl),
        (r"^/-/snapshots/(?P<sha256>[^/]*)$", snapshot),
        (r"^/-/ledger\.json$", ledger_json),
        (r"^/-/tlog/checkpoint$", tlog_checkpoint),
        (r"^/-/tlog/tile/(?P<path>.+)$", tlog_tile),
        (r"^/-/feed\.atom$", feed),
        (r"^/robots\.txt$", robots),
        (rf"^/claim/(?P<slug>{SLUG})$", claim_page),
        (rf"^/source/(?P<slug>{SLUG})$", source_page),
        (r"^/search$", search_page),
        (r"^/search\.json$", search_json),
        (r"^/-/databases(\.json)?$", databases),
        (r"^/-/threads(\.json)?$", threads_hidden),
        (r"^/how-to-verify$", how_to_verify),
        (rf"^/claim/(?P<slug>{SLUG})/embed$", claim_embed),
        (r"^/card/(?P<hash>[^/]+)\.png$", share_card),
        (r"^/sitemap\.xml$", sitemap),
        (r"^/sitemap-(?P<kind>claims|sources)-(?P<page>[0-9]{1,9})\.xml$", sitemap_part),
        (r"^/-/claimreview\.json$", claimreview_feed),
    ]


# --- the home page, cells, CSS, search functions -----------------------------------------

async def _home(site) -> dict:
    """The home page's ledger: publisher, size, latest checkpoint, log key, newest claims, counts."""
    ledger = site.ledger
    newest = await _rows(site.db, """select id, text, language, translation, translation_language, verdict,
                                            verdict_label, status, source_id, source_title, created
                                     from claims order by entry_idx desc limit 10""")
    for c in newest:
        c["path"] = claim_path(c["id"])
        c["gloss"] = rating_gloss(c["verdict"])
    counts = await home_counts(site.db)
    latest = ledger.latest_checkpoint()
    return {
        "db": site.db.name,
        "origin": ledger.origin,
        "size": ledger.size,
        "vkey": ledger.log_vkey,
        "fingerprint": grouped_fingerprint(key_fingerprint(ledger.log_vkey)),
        "checkpoint": latest[1] if latest else None,
        "checkpoint_size": latest[0] if latest else None,
        "newest": newest,
        "counts": counts,
        "publisher": await site.publisher(),
    }


async def home_counts(db) -> dict:
    """The home page's totals, from site_counts (records of each kind; the projection keeps it,
    verify checks it): counting a million claims took most of the page's time."""
    records = {r["value"]: r["count"] for r in await _rows(db, "select value, count from site_counts where name = 'records'")}
    return {"claims": records.get("claim", 0), "sources": records.get("source", 0), "reviews": records.get("review", 0),
            "notices": records.get("correction", 0) + records.get("retraction", 0), "editors": records.get("key", 0)}


async def _site_nav(datasette, site) -> dict:
    """What every page's header and footer show: the site, who publishes it, where readers and auditors go."""
    return {
        "title": datasette.metadata("title") or "Fact ledger",
        "publisher": await site.publisher(),
        "db": site.db.name,
        "license": datasette.metadata("license"),
        "license_url": http_url(datasette.metadata("license_url")),
    }


@hookimpl
def extra_template_vars(template, datasette):
    async def variables():
        try:
            site = await ledger_site(datasette)
        except NotFoundError:
            return {"ledger": None} if template == "index.html" else {}
        found = {"site_nav": await _site_nav(datasette, site)}
        if template == "index.html":
            found["ledger"] = await _home(site)
        return found

    return variables


@hookimpl
def prepare_jinja2_environment(env):
    # Filters the reader pages' templates use (ledger.readable decides how values read).
    env.filters.update({
        "dir_of": text_direction, "readable_url": readable_url, "readable_date": readable_date,
        "readable_time": readable_time, "gloss": rating_gloss, "linked_ids": linked_ids,
        "claim_path": claim_path, "source_path": source_path,
    })


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if not isinstance(value, str):
        return None
    # Datasette links a table's primary key to its row page; the label
    # columns (claims.text, sources.title) link to the readable pages.
    if table == "claims" and column in ("id", "text"):
        return _link(claim_path, row["id"], value, "claim:")
    if table == "sources" and column in ("id", "title"):
        return _link(source_path, row["id"], value, "source:")
    if table == "sources" and column == "snapshot_sha256" and SHA256_HEX.fullmatch(value):
        return Markup('<a href="/-/snapshots/{}">{}</a>').format(value, value)
    if table is None and column == "id" and re.fullmatch(rf"claim:{SLUG}", value):
        return _link(claim_path, value, value, "claim:")
    return None


def _link(path, record_id, text, prefix):
    if not (isinstance(record_id, str) and record_id.startswith(prefix)):
        return None
    return Markup('<a href="{}">{}</a>').format(path(record_id), text)


# --- auditor tables: a facet that counts what is not set -----------------------------------------

class FacetWithNull(Facet):
    """A column facet that counts NULL too, under a label: the claims' verdict facet shows "not yet rated".

    Datasette's column facet leaves NULL out (``where col is not null``), so a
    table's verdict facet said nothing of the claims nobody has reviewed yet.
    Configured in metadata.json as ``{"with_null": {"column": "verdict",
    "null_label": "not yet rated"}}``; the NULL value toggles ``?verdict__isnull=1``.
    Counting NULL costs nothing more: the column's index holds the NULLs too.
    """

    type = "with_null"

    async def facet_results(self):
        results, timed_out = [], []
        pairs = self.get_querystring_pairs()
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = config["column"]
            sql = (f"select {escape_sqlite(column)} as value, count(*) as count from ({self.sql}) "
                   f"group by value order by count desc, value limit {self.get_facet_size() + 1}")
            try:
                rows = (await self.ds.execute(self.database, sql, self.params, truncate=False,
                                              custom_time_limit=self.ds.setting("facet_time_limit_ms"))).rows
            except QueryInterrupted:
                timed_out.append(column)
                continue
            results.append({
                "name": column, "type": "column", "hideable": source_and_config["source"] != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet_with_null": column})),
                "results": [self._value(column, row, config.get("null_label", "none"), pairs) for row in rows[:self.get_facet_size()]],
                "truncated": len(rows) > self.get_facet_size(),
            })
        return results, timed_out

    def _value(self, column, row, null_label, pairs) -> dict:
        key, value = (f"{column}__isnull", "1") if row["value"] is None else (column, str(row["value"]))
        selected = (key, value) in pairs
        toggle = path_with_removed_args(self.request, {key: value}) if selected else path_with_added_args(self.request, {key: value})
        return {"value": row["value"], "label": null_label if row["value"] is None else row["value"], "count": row["count"],
                "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(toggle)), "selected": selected}


# --- the claims table at scale: facets from the count tables, a capped search (issue 17) -----------
# Datasette 0.65 counts a facet over every row a page covers and a ?_search=
# over every match: at a million claims that is seconds, or an HTTP 400 at
# the SQL time limit. The claims table's facets are "counted" facets: an
# unfiltered page reads search_facets (kept by the projection, checked by
# verify), a filtered page counts its rows when at most FILTERED_FACET_ROWS
# match; and ?_search= lists the newest COUNT_CAP matches (docs/site.md,
# "A large ledger").
FILTERED_FACET_ROWS = COUNT_CAP + 1
# The claims column -> the search_facets facet that counts its values.
COUNTED_COLUMNS = {"verdict": "verdict", "status": "status", "language": "language",
                   "translation_language": "translation_language", "source_id": "source", "tags": "tag"}
# Request arguments that narrow a table page (Datasette: a filter is a key not
# starting with "_", or one with "__"; these are its other narrowing arguments).
NARROWING_ARGS = ("_search", "_where", "_through")


def _narrowed(request) -> bool:
    return any(not key.startswith("_") or "__" in key or key.startswith(NARROWING_ARGS) for key in request.args)


class FacetFromCounts(FacetWithNull):
    """A claims facet read from search_facets on an unfiltered page, counted over the rows of a
    filtered one that matches at most FILTERED_FACET_ROWS claims (else reported as timed out).

    Configured in metadata.json as ``{"counted": "status"}`` or ``{"counted": {"column":
    "verdict", "null_label": "not yet rated"}}`` (NULL, and the verdict facet's "none",
    toggle ``?verdict__isnull=1``); ``tags`` counts each tag of the JSON array once per
    claim (``?tags__arraycontains=``). ``?_facet=COLUMN`` of a counted column is one too.
    """

    type = COUNTED_FACET

    async def facet_results(self):
        results, timed_out = [], []
        pairs = self.get_querystring_pairs()
        narrowed = _narrowed(self.request)
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = facet_column({self.type: config})
            if column not in COUNTED_COLUMNS:
                continue
            if narrowed and (self.row_count is None or self.row_count > FILTERED_FACET_ROWS):
                timed_out.append(column)
                continue
            try:
                rows = await (self._rows_counted(column) if narrowed else self._from_counts(column))
            except QueryInterrupted:
                timed_out.append(column)
                continue
            size = self.get_facet_size()
            results.append({
                "name": column, "type": "array" if column == "tags" else "column",
                "hideable": source_and_config["source"] != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {f"_facet_{self.type}": column})),
                "results": [self._value(column, row, config.get("null_label", "none"), pairs) for row in rows[:size]],
                "truncated": len(rows) > size,
            })
        return results, timed_out

    async def _from_counts(self, column) -> list[dict]:
        # search_facets_top serves this: one facet's values, most claims first.
        rows = await self.ds.execute(self.database, "select value, claims as count from search_facets where facet = ?"
                                     " order by claims desc, value limit ?", [COUNTED_COLUMNS[column], self.get_facet_size() + 1])
        return [{"value": None if column == "verdict" and r["value"] == NOT_RATED else r["value"], "count": r["count"]} for r in rows]

    async def _rows_counted(self, column) -> list[dict]:
        if column == "tags":
            sql = (f"select t.value as value, count(distinct m.id) as count from ({self.sql}) m, json_each(m.tags) t"
                   f" where json_valid(m.tags) group by t.value order by count desc, value limit {self.get_facet_size() + 1}")
        else:
            sql = (f"select {escape_sqlite(column)} as value, count(*) as count from ({self.sql}) "
                   f"group by value order by count desc, value limit {self.get_facet_size() + 1}")
        rows = await self.ds.execute(self.database, sql, self.params, truncate=False,
                                     custom_time_limit=self.ds.setting("facet_time_limit_ms"))
        return [dict(r) for r in rows.rows]

    def _value(self, column, row, null_label, pairs) -> dict:
        if column != "tags" or row["value"] is None:
            return super()._value(column, row, null_label, pairs)
        key, value = "tags__arraycontains", str(row["value"])
        selected = (key, value) in pairs
        toggle = path_with_removed_args(self.request, {key: value}) if selected else path_with_added_args(self.request, {key: value})
        return {"value": value, "label": value, "count": row["count"],
                "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(toggle)), "selected": selected}


def capped_search_clause(search_mode_raw: bool) -> str:
    """The claims table's ``?_search=``: the newest COUNT_CAP matches, read from the search index
    newest first (its rowid is the claims row's, in the order the claims were recorded)."""
    match = ":search" if search_mode_raw else "escape_fts(:search)"
    return (f"rowid in (select rowid from claims_fts where claims_fts match {match}"
            f" order by rowid desc limit {COUNT_CAP})")


@hookimpl(trylast=True)  # after Datasette's own search filter, whose "supports_search" (no fts_table) this sets
def filters_from_request(request, database, table, datasette):
    if table != "claims":
        return None

    async def inner():
        try:
            site = await ledger_site(datasette)
        except NotFoundError:
            return None
        if site.db.name != database:
            return None
        search = request.args.get("_search")
        if not search:
            return FilterArguments([], {}, [], {"supports_search": True})
        raw = request.args.get("_searchmode", datasette.table_metadata(database, table).get("searchmode")) == "raw"
        clause = capped_search_clause(raw)
        more = (await site.db.execute(f"select count(*) from (select rowid from claims_fts where claims_fts match "
                                      f"{':search' if raw else 'escape_fts(:search)'} limit {COUNT_CAP + 1})",
                                      {"search": search})).first()[0] > COUNT_CAP
        description = f'search matches "{search}"' + (f" (more than {COUNT_CAP:,} claims do: the newest {COUNT_CAP:,})" if more else "")
        return FilterArguments([clause], {"search": search}, [description], {"supports_search": True, "search": search})

    return inner


@hookimpl
def register_facet_classes():
    # Datasette's plugin manager is one per process. When two copies of this file
    # are loaded (publish/plugin.py and a bundle's plugins/fact_ledger.py, as the
    # tests do), only the first copy's facet counts: else every table would show
    # its verdict facet twice.
    first = next((plugin for _, plugin in pm.list_name_plugin() if hasattr(plugin, "FacetWithNull")), None)
    return [FacetWithNull, FacetFromCounts] if first is None or first.FacetWithNull is FacetWithNull else []


@hookimpl
def extra_css_urls():
    return ["/ledger-assets/ledger.css"]


def _table_search_function(conn):
    """Datasette's ``escape_fts``, as the claims table's ``?_search=`` calls it: the reader's words
    folded as /search folds them (docs/site.md, "Search"), in the published languages."""
    try:
        languages = published_languages(conn)
    except sqlite3.Error:
        languages = ()  # not a ledger: words are still folded, not stemmed
    return lambda text: table_search_expression(text or "", languages)


@hookimpl(trylast=True)  # after Datasette's own prepare_connection, whose escape_fts this replaces
def prepare_connection(conn):
    conn.create_function("escape_fts", 1, _table_search_function(conn), deterministic=True)
    limit_connection(conn)


# --- what a reader's SQL may use (docs/site.md, "Limits") ---------------------------------------
# Datasette stops a query at sql_time_limit_ms with a progress handler, which
# SQLite calls between virtual machine instructions: one instruction making a
# 900 MB string (hex(zeroblob(450000000))) ran for seconds past the limit and
# three at once took the server to 6.3 GB. These limits bound what one value,
# one statement and one result can hold (https://sqlite.org/limits.html).
SQLITE_LIMITS = {
    # Bytes in one string or blob, so no single instruction runs long or
    # allocates much. Every value the site's pages read is smaller (a claim's
    # whole leaf, four 20,000-character texts, is under 350 kB); snapshots are
    # served by /-/snapshots/, which does not use these connections.
    sqlite3.SQLITE_LIMIT_LENGTH: 1_000_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,  # a URL cannot carry more
    # Columns of a result (and of a table, index or GROUP BY): one row holds at
    # most COLUMN x LENGTH bytes. The widest table, claims, has 33.
    sqlite3.SQLITE_LIMIT_COLUMN: 64,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 32,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 2_000,
    sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: 1,
    sqlite3.SQLITE_LIMIT_WORKER_THREADS: 0,  # a sort uses one core
}
# Characters (of text) and bytes (of blobs) in all the rows one query returns:
# within the time limit, copying one 1 MB value out over and over (a cross
# join) would otherwise fill memory at memory speed. Stored data stays under
# it: a page of 1,000 claims or entries whose every text has the schemas'
# maximum length (20,000 characters) holds under 90 million.
RESULT_SIZE_LIMIT = 100_000_000


def limit_connection(conn) -> None:
    """Apply the site's limits to one of Datasette's connections (``prepare_connection``)."""
    for limit, value in SQLITE_LIMITS.items():
        conn.setlimit(limit, value)
    conn.set_authorizer(_authorize)
    conn.row_factory = _SizedRows(conn.row_factory, RESULT_SIZE_LIMIT)


class _SizedRows:
    """A row factory that ends a query once its rows hold more than ``limit`` characters and bytes.

    SQLite calls it for each row it returns, inside Datasette's time limit;
    one connection runs one query at a time, so a new cursor is a new query.
    The error is an ``OperationalError``, which Datasette shows as a failed
    query (HTTP 400), as it does the time limit's.
    """

    def __init__(self, make_row, limit: int):
        self.make_row = make_row
        self.limit = limit
        self.cursor = None
        self.size = 0

    def __call__(self, cursor, row):
        if cursor is not self.cursor:
            self.cursor, self.size = cursor, 0
        for value in row:
            if type(value) is str or type(value) is bytes:
                self.size += len(value)
        if self.size > self.limit:
            # The exception's traceback keeps this frame and Datasette's (with
            # the cursor) until the garbage collector finds the cycle: free the
            # row's values and the statement's (closing resets it) now.
            del row, value
            self.cursor = None
            cursor.close()
            raise sqlite3.OperationalError(
                f"the result is larger than this site allows ({self.limit:,} characters and bytes); select fewer or shorter values")
        return self.make_row(cursor, row) if self.make_row else row


def _authorize(action, arg1, arg2, database, trigger):
    """SQLite's authorizer on the site's connections (https://sqlite.org/c3ref/set_authorizer.html).

    ``pragma_database_list`` (which Datasette allows in a reader's SQL) shows
    the database file's absolute path: its ``file`` column reads as NULL.
    """
    if action == sqlite3.SQLITE_READ and arg1 == "pragma_database_list" and arg2 == "file":
        return sqlite3.SQLITE_IGNORE
    return sqlite3.SQLITE_OK


@hookimpl
def startup(datasette):
    async def open_ledger():
        try:
            await ledger_site(datasette)
        except NotFoundError:
            pass  # Datasette serving other databases: the ledger routes answer 404.

    return open_ledger


# --- read-only guard and security headers --------------------------------------------------

def _inline_script_hashes() -> tuple[str, ...]:
    """CSP hashes of the inline scripts Datasette's own templates emit.

    Datasette 0.65 pages carry a few fixed inline scripts (menus, the SQL
    editor, a table flag). Allowing exactly those by hash keeps every other
    inline script, and so any injected one, blocked.
    """
    templates = Path(datasette.__file__).parent / "templates"
    found = set()
    for path in templates.glob("*.html"):
        for body in re.findall(r"<script>(.*?)</script>", path.read_text("utf-8"), re.S):
            variants = [body.replace("{{ datasette_allow_facet }}", v) for v in ("true", "false")]
            for text in variants:
                if "{{" not in text and "{%" not in text:
                    found.add("'sha256-" + base64.b64encode(sha256(text.encode("utf-8")).digest()).decode() + "'")
    return tuple(sorted(found))


CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' " + " ".join(_inline_script_hashes()),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HTML_HEADERS = ((b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"))
# The embeddable claim (/claim/<slug>/embed) is the one page any site may frame: same policy, frame-ancestors *.
EMBED_PATH = re.compile(rf"/claim/{SLUG}/embed")
EMBED_HTML_HEADERS = ((b"content-security-policy", CSP.replace("frame-ancestors 'none'", "frame-ancestors *").encode()),)


def html_headers(path: str) -> tuple:
    """The security headers of an HTML page at ``path``: every page refuses framing but the embed."""
    return EMBED_HTML_HEADERS if EMBED_PATH.fullmatch(path) else HTML_HEADERS
ALL_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"strict-origin-when-cross-origin"))
CORS_HEADERS = ((b"access-control-allow-origin", b"*"), (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"))


async def _send_simple(send, status, headers, body=b""):
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


TABLE_PATH = re.compile(r"/([^/.]+)/([^/.]+)(?:\.\w+)?")


def _without_repeated_facets(datasette, scope):
    """The request without ``_facet=COLUMN`` for a column its table already facets by default.

    Datasette 0.65 counts such a facet twice (each count reads every row the
    page covers) and shows it twice; its own column menu offers "Facet by
    this" on default facets too (datasette#1469).
    """
    query = scope.get("query_string") or b""
    match = TABLE_PATH.fullmatch(scope["path"])
    if b"_facet=" not in query or not match:
        return scope
    try:
        database = datasette.get_database(route=tilde_decode(match[1])).name
    except KeyError:
        return scope
    configured = datasette.metadata("facets", database=database, table=tilde_decode(match[2]), fallback=False) or []
    # A column facet, or one counting NULL too (FacetWithNull), counts the same column as "?_facet=".
    defaults = {facet_column(facet) for facet in configured
                if isinstance(facet, str) or FacetWithNull.type in facet or FacetFromCounts.type in facet}
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if not (key == "_facet" and value in defaults)]
    if len(kept) == len(pairs):
        return scope
    return {**scope, "query_string": urlencode(kept).encode("ascii")}


# --- HTTP caching of an immutable ledger (issue 17; docs/site.md "Caching") --------------------
# A served file is immutable, so a response is a function of the file, the site's
# code and the URL: its ETag is derived from the log's root at its size (which
# a new publish changes), the code and settings that render it, and the URL.
# RFC 9110 section 8.8.3 (ETag), 13.1.2 (If-None-Match: weak comparison) and
# 15.4.5 (304 Not Modified); RFC 9111 section 5.2.2 (Cache-Control).
PAGE_CACHE = "public, max-age=60"  # pages and JSON: short, then revalidated with the ETag
_cache_bases: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cache_control_for(path: str) -> str:
    """The Cache-Control of a 200 for ``path`` (and of its 304s) on an immutable ledger."""
    if path.startswith("/-/tlog/tile/"):
        return tiles.CACHE_SHORT if ".p/" in path else tiles.CACHE_IMMUTABLE  # a partial tile grows
    if path.startswith("/-/snapshots/"):
        return tiles.CACHE_IMMUTABLE  # named by the SHA-256 of its bytes
    if path.startswith(("/-/checkpoint", "/-/tlog/checkpoint")):
        return tiles.CACHE_SHORT  # the latest one changes with the next publish
    return PAGE_CACHE


def _site_code_digest(datasette) -> bytes:
    # What renders a page besides the file: this plugin, Datasette, the metadata and settings, the templates.
    digest = sha256(Path(__file__).read_bytes())
    digest.update(_DATASETTE_VERSION.encode())
    digest.update(json.dumps([datasette.metadata(), datasette.settings_dict()], sort_keys=True, default=str).encode())
    template_dir = getattr(datasette, "template_dir", None)
    for template in sorted(Path(template_dir).rglob("*")) if template_dir else ():
        if template.is_file():
            digest.update(template.name.encode() + sha256(template.read_bytes()).digest())
    return digest.digest()


async def _cache_base(datasette) -> Optional[bytes]:
    """What every ETag of this site is derived from; None when the ledger is not served immutable."""
    if datasette not in _cache_bases:
        try:
            site = await ledger_site(datasette)
        except NotFoundError:
            return None
        if site.db.is_mutable:
            _cache_bases[datasette] = None
        else:
            ledger = site.ledger
            root = ledger.root().hex() if ledger.size else ""
            _cache_bases[datasette] = sha256(f"{ledger.origin}\n{ledger.size}\n{root}\n".encode() + _site_code_digest(datasette)).digest()
    return _cache_bases[datasette]


def _personal(headers: dict) -> bool:
    # A request with credentials gets Datasette's "private, no-store" answer: no ETag, no 304.
    return b"cookie" in headers or b"authorization" in headers


def etag_for(base: bytes, scope) -> bytes:
    """The (weak: JSON carries query timings) ETag of the response to this request's URL.

    The URL includes its scheme and Host: Datasette writes some links absolute
    (facet values, the JSON's next page), so a request with another Host header
    gets other bytes, and must not share their tag or their place in the response cache.
    """
    host = dict(scope.get("headers") or []).get(b"host", b"")
    url = (scope.get("scheme", "http").encode() + b"://" + host + b"\n" + scope["path"].encode("utf-8", "surrogateescape")
           + b"?" + (scope.get("query_string") or b""))
    return b'W/"' + sha256(base + url).hexdigest()[:40].encode() + b'"'


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 13.1.2: "*" or any listed tag equal to ours after dropping "W/" (weak comparison)."""
    tags = [t.strip() for t in if_none_match.split(b",")]
    bare = etag.removeprefix(b"W/")
    return b"*" in tags or any(t.removeprefix(b"W/") == bare for t in tags)


async def _request_etag(datasette, scope, headers: dict) -> Optional[bytes]:
    if scope["method"] not in ("GET", "HEAD") or _personal(headers):
        return None
    base = await _cache_base(datasette)
    return None if base is None else etag_for(base, scope)


def _with_cache_headers(headers: list, etag: bytes, path: str) -> list:
    """A 200's headers with its ETag and Cache-Control, unless Datasette made it private (a cookie was set)."""
    named = {k.lower(): v for k, v in headers}
    # b"etag" present: a second copy of this plugin in the process (a bundle's) has tagged it already.
    if b"etag" in named or b"set-cookie" in named or b"private" in named.get(b"cache-control", b"") or b"no-store" in named.get(b"cache-control", b""):
        return headers
    # One rule for a 200 and its 304s (a route's own header, such as the tiles', says the same).
    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
    return headers + [(b"cache-control", cache_control_for(path).encode()), (b"etag", etag)]


class ResponseCache:
    """The latest 200 responses of an immutable ledger by ETag, up to MAX_BYTES, each at most MAX_ENTRY bytes.

    The ETag names the bytes (the file, the code and the URL), so a tagged
    response can be sent again as it is: pages every reader asks for (the home
    page, a table page, a common search) are rendered once per process instead
    of once per request. Only anonymous GETs are tagged (``_request_etag``).
    """

    MAX_BYTES = 32 * 2**20
    MAX_ENTRY = 512 * 2**10

    def __init__(self):
        self._entries: "collections.OrderedDict[bytes, tuple]" = collections.OrderedDict()
        self._bytes = 0
        self.hits = 0

    async def send_cached(self, etag: bytes, send) -> bool:
        """Send the response stored for ``etag``; False when there is none."""
        entry = self._entries.get(etag)
        if entry is None:
            return False
        self._entries.move_to_end(etag)
        self.hits += 1
        status, headers, body = entry
        await _send_simple(send, status, headers, body)
        return True

    def recorder(self, etag: bytes):
        """A function to call with each event sent for ``etag``'s response; it stores a tagged 200 once complete."""
        parts: list = []
        kept: list = []  # [status, headers] while the response may still be stored

        def see(event):
            if event["type"] == "http.response.start":
                headers = list(event.get("headers") or [])
                if event["status"] == 200 and (b"etag", etag) in headers:
                    kept.extend((event["status"], headers))
            elif kept and event["type"] == "http.response.body":
                parts.append(event.get("body", b""))
                if sum(map(len, parts)) > self.MAX_ENTRY:
                    kept.clear()
                elif not event.get("more_body"):
                    self._store(etag, (kept[0], kept[1], b"".join(parts)))

        return see

    def _store(self, etag: bytes, entry: tuple) -> None:
        if etag in self._entries:
            return
        self._entries[etag] = entry
        self._bytes += len(entry[2])
        while self._bytes > self.MAX_BYTES:
            _, (_, _, body) = self._entries.popitem(last=False)
            self._bytes -= len(body)


_response_caches: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def response_cache(datasette) -> ResponseCache:
    if datasette not in _response_caches:
        _response_caches[datasette] = ResponseCache()
    return _response_caches[datasette]


def _at_base_url(datasette, scope):
    """The request as if addressed to the configured base URL.

    Datasette builds its own absolute links (a JSON page's ``next_url``, the
    alternate links in a page's head) from the request's scheme and Host
    header, which any client sets; with a base URL configured they name it.
    """
    base = _base_url(datasette)
    if not base:
        return scope
    scheme, _, host = base.partition("://")
    headers = [(key, value) for key, value in scope.get("headers") or () if key != b"host"]
    return {**scope, "scheme": scheme, "headers": headers + [(b"host", host.encode("ascii"))]}


class _ReaderSqlGate:
    """At most ``limit`` requests carrying a reader's own SQL (``?sql=``) run at once; the others wait here.

    Datasette runs three queries at once (``num_sql_threads``), first come
    first served: ten runaway queries kept the home page waiting 3.8 s for a
    thread. Holding readers' SQL to two leaves one thread for the pages.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._semaphore = None  # made on first use, inside the server's event loop

    @staticmethod
    def applies(scope) -> bool:
        query = scope.get("query_string") or b""
        return b"sql=" in query and any(key == "sql" for key, _ in parse_qsl(query.decode("latin-1")))

    async def run(self, app, scope, receive, send):
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            await app(scope, receive, send)


READER_SQL_AT_ONCE = 2


@hookimpl
def asgi_wrapper(datasette):
    gate = _ReaderSqlGate(READER_SQL_AT_ONCE)

    def wrap(app):
        async def read_only(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            scope = _at_base_url(datasette, scope)
            cors = scope["path"].startswith(VERIFIER_PREFIXES)
            extra = ALL_HEADERS + (CORS_HEADERS if cors else ())
            if scope["method"] not in SAFE_METHODS:
                body = json.dumps({"ok": False, "status": 405, "error": "this ledger is read-only: only GET, HEAD and OPTIONS are allowed"}).encode()
                return await _send_simple(send, 405, extra + ((b"allow", b"GET, HEAD, OPTIONS"), (b"content-type", b"application/json")), body)
            if scope["method"] == "OPTIONS":
                return await _send_simple(send, 204, extra + ((b"allow", b"GET, HEAD, OPTIONS"),))

            request_headers = dict(scope.get("headers") or [])
            etag = await _request_etag(datasette, scope, request_headers)
            if etag and etag_matches(request_headers.get(b"if-none-match", b""), etag):
                return await _send_simple(send, 304, extra + ((b"etag", etag), (b"cache-control", cache_control_for(scope["path"]).encode())))
            cache = response_cache(datasette) if etag and scope["method"] == "GET" else None
            if cache and await cache.send_cached(etag, send):
                return
            record = cache.recorder(etag) if cache else None

            async def send_with_headers(event):
                if event["type"] == "http.response.start":
                    headers = list(event.get("headers") or [])
                    if etag and event["status"] == 200:
                        headers = _with_cache_headers(headers, etag, scope["path"])
                    present = {k.lower() for k, _ in headers}
                    content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                    add = extra + (html_headers(scope["path"]) if content_type.startswith(b"text/html") else ())
                    headers += [(k, v) for k, v in add if k not in present]
                    event = {**event, "headers": headers}
                if record:
                    record(event)
                await send(event)

            scope = _without_repeated_facets(datasette, scope)
            if gate.applies(scope):
                return await gate.run(app, scope, receive, send_with_headers)
            await app(scope, receive, send_with_headers)

        return read_only

    return wrap
