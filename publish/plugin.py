"""The fact-ledger Datasette plugin: verifier routes, claim and source pages, feed, guards.

One file of ``@hookimpl`` functions, using only hooks that Datasette 1.0 keeps.
The verifier routes under ``/-/`` are a stable interface, specified with their
exact response formats in docs/site.md; everything else is for reading.

The site is strictly read-only: the database is served immutable, and
``asgi_wrapper`` refuses every method but GET, HEAD and OPTIONS before
Datasette sees the request.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import shlex
import sqlite3
import weakref
import xml.etree.ElementTree as ET
from hashlib import sha256
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode

import datasette
from datasette import hookimpl
from datasette.utils import tilde_decode, tilde_encode
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from ledger.api import Ledger
from ledger.errors import LedgerError, NotFoundError, ProofError
from ledger.site import PLACEHOLDER_SITE, VERIFIER_MOUNT

PLUGIN = "fact-ledger"
ENTRIES_PAGE_CAP = 10_000
FEED_SIZE = 50
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
VERIFIER_PREFIXES = ("/-/checkpoint", "/-/vkey", "/-/proof/", "/-/entries.jsonl", "/-/snapshots/", "/-/ledger.json", "/-/feed.atom")
DEFAULT_ROBOTS_DISALLOW = ("/-/entries.jsonl", "/-/proof/", "/-/snapshots/")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
SLUG = r"[a-z0-9][a-z0-9._-]{0,127}"
# Private-use code points that the search query's snippet() puts around
# matches; render_cell turns them into <mark> after escaping the text.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"

_sites: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class Site:
    """The served ledger: its Datasette database and the Ledger opened on the same file."""

    def __init__(self, db, ledger: Ledger, datasette=None):
        self.db = db
        self.ledger = ledger
        self.datasette = datasette


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
    return _text(site.ledger.latest_checkpoint_note())


@_verifier
async def checkpoint_at(site, request):
    return _text(site.ledger.checkpoint_note(_uint(request.url_vars["size"], "size")))


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
        "source_url": datasette.metadata("source_url"),
        "commit": config.get("commit"),
    }


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
    add(add(root, "author"), "name", _config(datasette).get("publisher") or origin)
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


async def robots(datasette):
    config = _config(datasette)
    if config.get("robots", "allow") == "disallow":
        lines = ["User-agent: *", "Disallow: /"]
    else:
        lines = ["User-agent: *"] + [f"Disallow: {p}" for p in config.get("robots_disallow", DEFAULT_ROBOTS_DISALLOW)] + ["Allow: /"]
    return Response.text("\n".join(lines) + "\n")


# --- claim and source pages -------------------------------------------------------------

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
    return {r["signer"]: r for r in await _rows(db, "select signer, key_id, display_name, role, status from editors")}


def _checkpoint(ledger, index):
    covering = ledger.checkpoint_covering(index)
    return {"size": covering[0], "note": covering[1]} if covering else None


async def _record_row(db, table, record_id):
    """The browsing-table row of one claim or source, or None."""
    found = await _rows(db, f"select * from {table} where id = :id", {"id": record_id})
    return found[0] if found else None


async def claim_page(datasette, request):
    site = await ledger_site(datasette)
    db, ledger = site.db, site.ledger
    claim_id = "claim:" + request.url_vars["slug"]
    claim = await _record_row(db, "claims", claim_id)
    if claim is None:
        return await _not_found(datasette, request, f"No claim {claim_id} in this ledger.")
    editors = await _editors(db)
    chain = await _rows(db, """select ch.position, ch.rel, s.* from claim_chain ch join sources s on s.id = ch.source_id
                               where ch.claim_id = :id order by ch.position""", {"id": claim_id})
    for link in chain:
        link["path"] = source_path(link["id"])
        link["url_link"] = http_url(link["url"])
        link["archive_links"] = [u for u in map(http_url, _json_list(link["archives"])) if u]
    versions = await _rows(db, "select * from claim_versions where claim_id = :id order by version", {"id": claim_id})
    for v in versions:
        v["change_list"] = [str(c) for c in _json_list(v["changes"])]
        v["editor"] = editors.get(v["signer"])
        v["checkpoint"] = _checkpoint(ledger, v["entry_idx"])
    notices = await _rows(db, "select * from notices where target_id = :id order by entry_idx", {"id": claim_id})
    for n in notices:
        n["editor"] = editors.get(n["signer"])
    reviews = await _rows(db, "select * from reviews where claim_id = :id order by entry_idx desc", {"id": claim_id})
    for r in reviews:
        r["editor"] = editors.get(r["signer"])
        r["url_link"] = http_url(r["url"])
        r["evidence_list"] = [{"id": e, "path": source_path(e)} for e in _json_list(r["evidence"]) if isinstance(e, str) and ":" in e]
    base = _site_base(datasette, request)
    context = {
        "claim": claim,
        "tags": [str(t) for t in _json_list(claim["tags"])],
        "signer": editors.get(claim["signer"]),
        "chain": chain,
        "versions": versions,
        "notices": notices,
        "reviews": reviews,
        "checkpoint": _checkpoint(ledger, claim["entry_idx"]),
        "vkey": ledger.log_vkey,
        "verify_command": verify_command(base, claim_id, claim["entry_idx"], ledger.log_vkey),
        "ledger_db": db.name,
        "row_url": datasette.urls.row(db.name, "claims", tilde_encode(claim_id)),
        "source_path": source_path,
    }
    return Response.html(await datasette.render_template("ledger_claim.html", context, request=request))


async def source_page(datasette, request):
    site = await ledger_site(datasette)
    db = site.db
    source_id = "source:" + request.url_vars["slug"]
    source = await _record_row(db, "sources", source_id)
    if source is None:
        return await _not_found(datasette, request, f"No source {source_id} in this ledger.")
    editors = await _editors(db)
    links_out = await _rows(db, """select l.rel, l.note, l.target_id as id, s.title, s.type from source_links l
                                   left join sources s on s.id = l.target_id where l.source_id = :id order by l.position""", {"id": source_id})
    links_in = await _rows(db, """select l.rel, l.note, l.source_id as id, s.title, s.type from source_links l
                                  left join sources s on s.id = l.source_id where l.target_id = :id order by l.source_id, l.position""", {"id": source_id})
    for link in links_out + links_in:
        link["path"] = source_path(link["id"])
    quoting = await _rows(db, "select id, text, verdict, verdict_label, status, quote from claims where source_id = :id order by entry_idx", {"id": source_id})
    reaching = await _rows(db, """select c.id, c.text, c.verdict, c.verdict_label, c.status, ch.position from claim_chain ch
                                  join claims c on c.id = ch.claim_id where ch.source_id = :id and ch.position > 0
                                  order by c.entry_idx""", {"id": source_id})
    for c in quoting + reaching:
        c["path"] = claim_path(c["id"])
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
        "checkpoint": _checkpoint(site.ledger, source["entry_idx"]),
        "ledger_db": db.name,
        "row_url": datasette.urls.row(db.name, "sources", tilde_encode(source_id)),
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


async def _not_found(datasette, request, message):
    html = await datasette.render_template("error.html", {"ok": False, "error": message, "status": 404, "title": "Not found"}, request=request)
    return Response.html(html, status=404)


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
        (r"^/-/feed\.atom$", feed),
        (r"^/robots\.txt$", robots),
        (rf"^/claim/(?P<slug>{SLUG})$", claim_page),
        (rf"^/source/(?P<slug>{SLUG})$", source_page),
        (r"^/-/databases(\.json)?$", databases),
        (r"^/-/threads(\.json)?$", threads_hidden),
    ]


# --- the home page, cells, CSS, search functions -----------------------------------------

@hookimpl
def extra_template_vars(template, datasette, request):
    if template != "index.html":
        return {}

    async def home():
        try:
            site = await ledger_site(datasette)
        except NotFoundError:
            return {"ledger": None}
        ledger = site.ledger
        newest = await _rows(site.db, """select id, text, translation, verdict, verdict_label, status, source_title, created
                                         from claims order by entry_idx desc limit 10""")
        for c in newest:
            c["path"] = claim_path(c["id"])
        counts = {t: (await site.db.execute(f"select count(*) from {t}")).first()[0]
                  for t in ("claims", "sources", "reviews", "notices", "editors")}
        latest = ledger.latest_checkpoint()
        return {"ledger": {
            "db": site.db.name,
            "origin": ledger.origin,
            "size": ledger.size,
            "vkey": ledger.log_vkey,
            "checkpoint": latest[1] if latest else None,
            "checkpoint_size": latest[0] if latest else None,
            "newest": newest,
            "counts": counts,
            "publisher": _config(datasette).get("publisher"),
        }}

    return home


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
    if table is None and column == "snippet" and MARK_OPEN in value:
        return Markup(str(escape(value)).replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>"))
    return None


def _link(path, record_id, text, prefix):
    if not (isinstance(record_id, str) and record_id.startswith(prefix)):
        return None
    return Markup('<a href="{}">{}</a>').format(path(record_id), text)


@hookimpl
def extra_css_urls():
    return ["/ledger-assets/ledger.css"]


def fts_query(text):
    """A user's words as an FTS5 query: every word must match, and no operator is interpreted."""
    words = re.findall(r"[^\s\"]+", text or "")
    return " ".join('"' + w + '"' for w in words) or '""'


@hookimpl
def prepare_connection(conn):
    conn.create_function("ledger_fts_query", 1, fts_query, deterministic=True)
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
    defaults = {facet for facet in configured if isinstance(facet, str)}
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if not (key == "_facet" and value in defaults)]
    if len(kept) == len(pairs):
        return scope
    return {**scope, "query_string": urlencode(kept).encode("ascii")}


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

            async def send_with_headers(event):
                if event["type"] == "http.response.start":
                    headers = list(event.get("headers") or [])
                    present = {k.lower() for k, _ in headers}
                    content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                    add = extra + (HTML_HEADERS if content_type.startswith(b"text/html") else ())
                    headers += [(k, v) for k, v in add if k not in present]
                    event = {**event, "headers": headers}
                await send(event)

            scope = _without_repeated_facets(datasette, scope)
            if gate.applies(scope):
                return await gate.run(app, scope, receive, send_with_headers)
            await app(scope, receive, send_with_headers)

        return read_only

    return wrap
