"""The published site: pages, search, verifier routes, feed, guards and escaping.

Every test drives the real app through ``make_datasette(...).client`` (no
server); tests/test_browser.py covers what only a browser can show.
"""

import ast
import base64
import hashlib
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from datasette.app import Datasette

from ledger.api import Ledger
from ledger.checkpoint import open_checkpoint_untrusted, parse_tlog_proof_untrusted, verify_tlog_proof
from ledger.demo import build_demo
from ledger.errors import LedgerError
from ledger.note import Signer, parse_verifier_key_untrusted
from ledger.site import datasette_args, make_datasette, publish_bundle, publish_dir, site_metadata
from ledger.tree import leaf_hash, verify_consistency, verify_inclusion

MICRO = "claim:ro-microelectronics-90pct"
CORRECTED = "claim:ro-imports-q4-2023-70pct"
RETRACTED = "claim:ro-microelectronics-90pct-duplicate"
ARTICLE = "source:article-ro-ap-2024-04-12"
AP = "source:ap-report-2024-04-12"

SCRIPT = "<script>window.__xss=1</script>"
IMG = '"><img src=x onerror="window.__xss=1">'
JS_URL = "javascript:window.__xss=1"
T = "2024-05-01T10:00:00Z"


def build_xss_ledger(path) -> Ledger:
    """A ledger whose every shown text field carries script payloads."""
    log = Signer.from_seed("xss.example/log", b"\x11" * 32)
    editor = Signer.from_seed("mallory", b"\x12" * 32)
    ledger = Ledger.create(path, log, display_name=SCRIPT, created=T)
    ledger.append([{"kind": "key", "id": "key:mallory", "created": T, "vkey": editor.vkey,
                    "display_name": IMG, "role": "editor", "status": "active"}], log, log)
    ledger.append([
        {"kind": "source", "id": "source:evil", "created": T, "type": "article", "title": SCRIPT + IMG,
         "publisher": JS_URL, "author": IMG, "description": JS_URL, "url": "https://example.org/a?b=1&c=%22"},
        {"kind": "claim", "id": "claim:evil", "created": T, "text": SCRIPT + " " + IMG, "language": "en",
         "translation": {"language": "ro", "text": IMG}, "source": "source:evil",
         "quote": {"exact": SCRIPT, "prefix": IMG, "suffix": JS_URL},
         "attribution": {"text": JS_URL, "anonymous": True}, "tags": [SCRIPT, JS_URL]},
    ], editor, log)
    ledger.append([{"kind": "review", "id": "review:evil", "created": T, "claim": "claim:evil",
                    "rating": {"label": IMG, "normalized": "false"}, "explanation": JS_URL, "evidence": ["source:evil"]}], editor, log)
    revised = ledger.revision("claim:evil", note=SCRIPT, text=IMG + " revised")
    ledger.append([revised], editor, log)
    ledger.append([{"kind": "retraction", "id": "retraction:evil", "created": T, "target": "claim:evil",
                    "target_entry": ledger.current("claim:evil").hash_hex, "reason": SCRIPT}], editor, log)
    return ledger


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    return tmp / "demo.db"


@pytest.fixture(scope="session")
def xss_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("xss") / "xss.db"
    build_xss_ledger(path).close()
    return path


@pytest.fixture
def ds(demo_db):
    return make_datasette(demo_db, base_url="http://localhost")  # the ASGI client's own address


@pytest.fixture
def ledger(demo_db):
    with Ledger.open(demo_db, immutable=True) as opened:
        yield opened


@pytest.fixture
def tables(demo_db):
    """The demo file's tables, read with plain SQL as any auditor can."""
    conn = sqlite3.connect(f"{Path(demo_db).resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    yield conn
    conn.close()


def sha256_file(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


async def get_ok(ds, path, **kwargs):
    response = await ds.client.get(path, **kwargs)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response


# --- pages ------------------------------------------------------------------------

async def test_home_shows_checkpoint_key_newest_claims_and_search(ds, ledger, tables):
    html = (await get_ok(ds, "/")).text
    note = ledger.latest_checkpoint_note()
    assert f'<pre class="note">{note}</pre>' in html
    assert f"The log holds <strong>{ledger.size}</strong> entries" in html
    assert ledger.log_vkey in html
    newest = tables.execute("select id from claims order by entry_idx desc limit 10").fetchall()
    for (claim_id,) in newest:
        assert f'href="/claim/{claim_id.split(":", 1)[1]}"' in html
    assert '<span class="verdict-badge verdict-unproven">Unproven</span> <bdi class="desk-label" dir="auto">Atribuit, neverificat independent</bdi>' in html
    assert '<span class="verdict-badge verdict-not-yet-rated">Not yet rated</span>' in html
    assert 'action="/search"' in html and 'name="q"' in html
    assert re.search(r'<a href="/search">All [0-9,]+ claims</a>', html)
    for route in ("/-/checkpoint", "/-/vkey", "/-/entries.jsonl", "/-/ledger.json", "/-/feed.atom"):
        assert f'href="{route}"' in html


@pytest.mark.parametrize("query, expected", [
    ("masini-unelte", "claim:ro-sales-machine-tools-microelectronics"),
    ("mașini-unelte", "claim:ro-sales-machine-tools-microelectronics"),
    ("microelectronica", MICRO),
])
async def test_claims_table_search_ignores_diacritics(ds, query, expected):
    data = (await get_ok(ds, "/demo/claims.json", params={"_search": query, "_shape": "objects"})).json()
    assert expected in [row["id"] for row in data["rows"]]


async def test_claims_table_has_the_configured_facets_and_links(ds):
    data = (await get_ok(ds, "/demo/claims.json", params={"_shape": "objects"})).json()
    assert {"verdict", "source_id", "publisher", "signer", "language", "tags"} <= set(data["facet_results"])
    assert data["suggested_facets"] == []
    html = (await get_ok(ds, "/demo/claims")).text
    assert '<a href="/claim/ro-microelectronics-90pct">În 2023, aproximativ 90%' in html
    assert '<a href="/source/article-ro-ap-2024-04-12">China a crescut' in (await get_ok(ds, "/demo/sources")).text
    row = (await get_ok(ds, "/demo/claims/claim~3Aro-microelectronics-90pct")).text
    assert f'<a href="/claim/ro-microelectronics-90pct">{MICRO}</a>' in row


async def test_internal_tables_are_hidden(ds):
    data = (await get_ok(ds, "/demo.json")).json()
    hidden = {t["name"] for t in data["tables"] if t["hidden"]}
    assert {"tree_hashes", "record_heads", "meta", "snapshots", "claims_fts"} <= hidden
    assert {"claims", "sources", "entries", "checkpoints"}.isdisjoint(hidden)


async def test_claim_page_shows_text_verdict_quote_chain_history_and_proofs(ds, ledger, tables):
    html = (await get_ok(ds, "/claim/ro-microelectronics-90pct")).text
    claim = ledger.current(MICRO)
    record = claim.record
    assert record.text in html and record.translation.text.replace("'", "&#39;") in html
    assert 'data-signed-role="review" data-signed-record-id="review:ro-microelectronics-90pct">Atribuit, neverificat independent</strong>' in html
    assert '<span class="verdict-badge">Unproven</span>' in html and ">unproven</code>" in html
    q = record.quote
    assert (f'…<span data-signed-field="quote.prefix">{q.prefix}</span><mark data-signed-field="quote.exact">{q.exact}</mark>'
            f'<span data-signed-field="quote.suffix">{q.suffix}</span>…') in html
    chain = [r[0] for r in tables.execute("select title from claim_chain c join sources s on s.id = c.source_id where claim_id = ? order by position", (MICRO,))]
    assert len(chain) >= 3
    section = html[html.index('<ol class="chain">'):]
    positions = [section.index(title.replace("'", "&#39;")) for title in chain]
    assert positions == sorted(positions)
    assert 'href="/source/article-ro-ap-2024-04-12"' in html and "translation-of" in html
    sha = tables.execute("select snapshot_sha256 from sources where id = ?", (ARTICLE,)).fetchone()[0]
    assert f'href="/-/snapshots/{sha}"' in html
    index = claim.index
    assert f'href="/-/proof/inclusion/{index}.json"' in html and f'href="/-/proof/tlog/{index}"' in html
    size, note = ledger.checkpoint_covering(index)
    assert f"(tree size {size})" in html and note in html
    command = (f"curl -s http://localhost/-/proof/tlog/{index} &gt; claim.tlog-proof &amp;&amp; "
               f"ledger verify {MICRO} --proof claim.tlog-proof --vkey {ledger.log_vkey}")
    assert command in html
    assert "Ana Popescu (demo editor)" in html or "Mihai Ionescu (demo editor)" in html


async def test_claim_page_shows_revision_and_correction_plainly(ds, ledger, tables):
    html = (await get_ok(ds, "/claim/ro-imports-q4-2023-70pct")).text
    reason = tables.execute("select reason from notices where target_id = ?", (CORRECTED,)).fetchone()[0]
    escaped = reason.replace("'", "&#39;").replace("$", "$")
    assert '<strong>Corrected</strong> on <time datetime="2024-04-16T14:05:00Z">16 April 2024</time>' in html
    assert html.count(escaped) == 1  # the reason, once
    assert "<strong>Version 1</strong>" in html and "<strong>Version 2</strong>" in html
    note = ledger.current(CORRECTED).record.note
    assert f'Why: <span dir="auto">{note}</span>'.replace("'", "&#39;") in html
    # The translation's change, word by word, instead of the whole old and new sentences.
    assert "of about $900 <del>billion</del><ins>million</ins> in the last quarter" in html
    changes = json.loads(tables.execute("select changes from claim_versions where claim_id = ? and version = 2", (CORRECTED,)).fetchone()[0])
    assert changes and not any(c.replace("'", "&#39;").replace('"', "&#34;") in html for c in changes)
    assert "<strong>Correction</strong>" in html and "its reason is at the top of this page" in html


async def test_retracted_claim_stays_visible_with_reason(ds):
    html = (await get_ok(ds, "/claim/ro-microelectronics-90pct-duplicate")).text
    assert '<span dir="auto" class="notice-reason">duplicate of <a href="/claim/ro-microelectronics-90pct">claim:ro-microelectronics-90pct</a></span>' in html
    assert "<strong>Retracted</strong> on" in html and html.count("duplicate of") == 1
    assert "<strong>Retraction</strong>" in html and "Aproximativ 90% din microelectronica" in html


async def test_source_page_shows_fields_snapshot_links_and_claims(ds, ledger, tables):
    html = (await get_ok(ds, "/source/article-ro-ap-2024-04-12")).text
    sha = tables.execute("select snapshot_sha256 from sources where id = ?", (ARTICLE,)).fetchone()[0]
    assert f'href="/-/snapshots/{sha}"' in html and f"sha256 {sha}" in html
    assert 'href="/source/ap-report-2024-04-12"' in html and "translation-of" in html
    assert 'href="/claim/ro-microelectronics-90pct"' in html
    ap = (await get_ok(ds, "/source/ap-report-2024-04-12")).text
    assert 'href="/source/article-ro-ap-2024-04-12"' in ap  # linked from
    assert "Claims whose chain of sources leads here" in ap


@pytest.mark.parametrize("path", ["/claim/nope", "/source/nope", "/claim/UPPER", "/source/claim:x"])
async def test_unknown_pages_are_404(ds, path):
    assert (await ds.client.get(path)).status_code == 404


# --- verifier routes ------------------------------------------------------------------

async def test_checkpoint_and_vkey_routes(ds, ledger):
    response = await get_ok(ds, "/-/checkpoint")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == ledger.latest_checkpoint_note()
    verifier = parse_verifier_key_untrusted((await get_ok(ds, "/-/vkey")).text.strip())
    assert verifier.vkey == ledger.log_vkey
    for size, note in ledger.checkpoints():
        assert (await get_ok(ds, f"/-/checkpoint/{size}")).text == note
        assert open_checkpoint_untrusted(note, verifier, ledger.origin).size == size
    assert (await ds.client.get("/-/checkpoint/9999")).status_code == 404
    assert (await ds.client.get("/-/checkpoint/abc")).status_code == 400


async def test_every_inclusion_proof_verifies_against_the_signed_root(ds, ledger):
    verifier = parse_verifier_key_untrusted(ledger.log_vkey)
    latest = open_checkpoint_untrusted(ledger.latest_checkpoint_note(), verifier, ledger.origin)
    for index in range(ledger.size):
        leaf = ledger.entry(index).leaf
        proof = (await get_ok(ds, f"/-/proof/inclusion/{index}.json")).json()
        assert proof["leaf_index"] == index and proof["tree_size"] == latest.size
        verify_inclusion(index, latest.size, leaf_hash(leaf), [base64.b64decode(h) for h in proof["hashes"]], latest.root_hash)
    size, note = ledger.checkpoints()[2]
    old = open_checkpoint_untrusted(note, verifier, ledger.origin)
    proof = (await get_ok(ds, f"/-/proof/inclusion/1.json?size={size}")).json()
    verify_inclusion(1, size, leaf_hash(ledger.entry(1).leaf), [base64.b64decode(h) for h in proof["hashes"]], old.root_hash)


async def test_every_consistency_proof_verifies(ds, ledger):
    verifier = parse_verifier_key_untrusted(ledger.log_vkey)
    checkpoints = [open_checkpoint_untrusted(note, verifier, ledger.origin) for _, note in ledger.checkpoints()]
    latest = checkpoints[-1]
    for old in checkpoints:
        proof = (await get_ok(ds, f"/-/proof/consistency.json?old={old.size}")).json()
        assert (proof["old_size"], proof["tree_size"]) == (old.size, latest.size)
        verify_consistency(old.size, latest.size, old.root_hash, latest.root_hash, [base64.b64decode(h) for h in proof["hashes"]])
    mid = checkpoints[3]
    proof = (await get_ok(ds, f"/-/proof/consistency.json?old={checkpoints[1].size}&size={mid.size}")).json()
    verify_consistency(checkpoints[1].size, mid.size, checkpoints[1].root_hash, mid.root_hash, [base64.b64decode(h) for h in proof["hashes"]])


async def test_tlog_proof_bundle_verifies_offline(ds, ledger):
    verifier = parse_verifier_key_untrusted(ledger.log_vkey)
    index = ledger.current(MICRO).index
    response = await get_ok(ds, f"/-/proof/tlog/{index}")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    # The same bundle as the library's (and 'ledger prove --format tlog-proof'), extra line included.
    assert response.text == ledger.tlog_proof(index)
    proof = parse_tlog_proof_untrusted(response.content)
    assert proof.leaf_index == index
    assert base64.b64decode(json.loads(proof.extra)["leaf"]) == ledger.entry(index).leaf
    cp = verify_tlog_proof(proof, ledger.entry(index).leaf, verifier, ledger.origin)
    assert cp.size == ledger.latest_checkpoint()[0]


async def test_entries_jsonl_is_the_exact_leaves(ds, ledger):
    response = await get_ok(ds, "/-/entries.jsonl")
    assert response.content == b"".join(ledger.entry(i).leaf + b"\n" for i in range(ledger.size))
    page = await get_ok(ds, "/-/entries.jsonl?start=3&end=7")
    assert page.content == b"".join(ledger.entry(i).leaf + b"\n" for i in range(3, 7))
    assert (await get_ok(ds, f"/-/entries.jsonl?start={ledger.size}")).content == b""


@pytest.mark.parametrize("path", [
    "/-/proof/inclusion/abc.json", "/-/proof/inclusion/-1.json", "/-/proof/inclusion/99999.json",
    "/-/proof/inclusion/0.json?size=0", "/-/proof/inclusion/0.json?size=x", "/-/proof/inclusion/0.json?size=99999",
    "/-/proof/consistency.json", "/-/proof/consistency.json?old=0", "/-/proof/consistency.json?old=5&size=2",
    "/-/proof/consistency.json?old=1e3", "/-/proof/tlog/x", "/-/proof/tlog/99999",
    "/-/entries.jsonl?start=5&end=2", "/-/entries.jsonl?end=99999", "/-/entries.jsonl?start=-1",
    "/-/entries.jsonl?start=0&end=20000", "/-/proof/inclusion/99999999999999999999999.json",
])
async def test_bad_parameters_are_400_json_errors(ds, path):
    response = await ds.client.get(path)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ok"] is False and body["error"] and "Traceback" not in response.text


async def test_snapshot_route_serves_bytes_safely(ds, ledger, tables):
    sha = tables.execute("select snapshot_sha256 from sources where id = ?", (ARTICLE,)).fetchone()[0]
    response = await get_ok(ds, f"/-/snapshots/{sha}")
    assert hashlib.sha256(response.content).hexdigest() == sha
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox")


@pytest.mark.parametrize("path", [
    "/-/snapshots/..%2f..%2fetc%2fpasswd", "/-/snapshots/../../etc/passwd", "/-/snapshots/%2e%2e%2fledger.db",
    "/-/snapshots/" + "A" * 64, "/-/snapshots/" + "g" * 64, "/-/snapshots/" + "0" * 63, "/-/snapshots/" + "0" * 64,
    "/-/snapshots/", "/-/snapshots/abc",
])
async def test_snapshot_names_other_than_stored_sha256_are_404(ds, path):
    response = await ds.client.get(path)
    assert response.status_code == 404
    assert b"root:" not in response.content and b"SQLite format" not in response.content


async def test_ledger_json_discovery_document(ds, ledger):
    data = (await get_ok(ds, "/-/ledger.json")).json()
    assert data["origin"] == ledger.origin and data["size"] == ledger.size and data["vkey"] == ledger.log_vkey
    assert data["checkpoint_sizes"] == [s for s, _ in ledger.checkpoints()]
    assert data["database"] == "demo" and data["entries_page_cap"] == 10_000


@pytest.mark.parametrize("path", ["/-/checkpoint", "/-/vkey", "/-/proof/inclusion/0.json", "/-/proof/consistency.json?old=1",
                                  "/-/proof/tlog/0", "/-/entries.jsonl", "/-/ledger.json", "/-/feed.atom", "/-/proof/tlog/x"])
async def test_verifier_routes_allow_any_origin(ds, path):
    response = await ds.client.get(path)
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_head_is_allowed(ds):
    for path in ("/", "/-/checkpoint", "/claim/ro-microelectronics-90pct"):
        assert (await ds.client.request("HEAD", path)).status_code == 200, path


async def test_options_answers_without_touching_the_app(ds):
    response = await ds.client.request("OPTIONS", "/-/checkpoint")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.headers["access-control-allow-origin"] == "*"


# --- feed and robots -------------------------------------------------------------------

async def test_atom_feed_is_valid_and_lists_changes(ds, ledger):
    response = await get_ok(ds, "/-/feed.atom")
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ET.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    for tag in ("id", "title", "updated", "author/a:name"):
        assert root.find(f"a:{tag}", ns) is not None and root.find(f"a:{tag}", ns).text
    entries = root.findall("a:entry", ns)
    assert 0 < len(entries) <= 50
    for entry in entries:
        for tag in ("id", "title", "updated"):
            assert entry.find(f"a:{tag}", ns).text
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.find("a:updated", ns).text)
        assert entry.find("a:link", ns).get("href").startswith("http://localhost/")
    titles = [e.find("a:title", ns).text for e in entries]
    assert any(t.startswith("Retraction of claim:ro-microelectronics-90pct-duplicate") for t in titles)
    assert any(t.startswith("Correction of claim:ro-imports-q4-2023-70pct") for t in titles)
    assert any(t.startswith("Revised claim (version 2)") for t in titles)
    assert any(t.startswith("New claim: ") for t in titles)
    ids = [e.find("a:id", ns).text for e in entries]
    assert len(set(ids)) == len(ids)


async def test_robots_txt_default_and_configured(ds, demo_db):
    text = (await get_ok(ds, "/robots.txt")).text
    assert text.startswith("User-agent: *\n") and "Disallow: /-/entries.jsonl\n" in text and "Allow: /" in text
    metadata = site_metadata(demo_db)
    metadata["plugins"]["fact-ledger"]["robots"] = "disallow"
    closed = Datasette(immutables=[str(demo_db)], metadata=metadata, plugins_dir=str(publish_dir()))
    assert (await get_ok(closed, "/robots.txt")).text == "User-agent: *\nDisallow: /\n"


# --- read-only ---------------------------------------------------------------------------

WRITE_PATHS = ["/", "/demo", "/demo/claims", "/demo/claims/claim:ro-microelectronics-90pct", "/-/checkpoint",
               "/-/entries.jsonl", "/claim/ro-microelectronics-90pct", "/search", "/-/messages", "/demo/-/create"]


async def test_write_methods_are_refused_and_file_unchanged(ds, demo_db):
    before = sha256_file(demo_db)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in WRITE_PATHS:
            response = await ds.client.request(method, path, data={"sql": "delete from claims"} if method == "POST" else None)
            assert response.status_code == 405, (method, path)
            assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert sha256_file(demo_db) == before


@pytest.mark.parametrize("sql", [
    "insert into claims (id) values ('claim:x')", "drop table claims", "update claims set text = 'x'",
    "delete from entries", "attach database '/tmp/x.db' as x", "pragma writable_schema = 1",
    "create table t (x)", "vacuum", "select 1; drop table claims",
])
async def test_write_sql_is_refused_and_file_unchanged(ds, demo_db, sql):
    before = sha256_file(demo_db)
    response = await ds.client.get("/demo.json", params={"sql": sql})
    assert response.status_code in (400, 403), response.text
    assert sha256_file(demo_db) == before


async def test_database_is_served_immutable(ds, demo_db):
    db = ds.get_database("demo")
    assert db.is_mutable is False
    before = sha256_file(demo_db)
    with pytest.raises(Exception):
        await db.execute_write("delete from claims")
    assert sha256_file(demo_db) == before


async def test_read_only_sql_stays_available_to_auditors(ds, ledger):
    data = (await get_ok(ds, "/demo.json", params={"sql": "select count(*) as n from entries", "_shape": "objects"})).json()
    assert data["rows"] == [{"n": ledger.size}]


# --- headers and escaping ----------------------------------------------------------------

HTML_PAGES = ["/", "/demo", "/demo/claims", "/demo/sources", "/demo/entries", "/demo/claims/claim:ro-microelectronics-90pct",
              "/search?q=china", "/demo?sql=select+1", "/claim/ro-microelectronics-90pct", "/source/ap-report-2024-04-12"]


@pytest.mark.parametrize("path", HTML_PAGES)
async def test_html_pages_carry_a_csp_that_allows_only_datasettes_own_inline_scripts(ds, path):
    response = await get_ok(ds, path)
    csp = response.headers["content-security-policy"]
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src "))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    for body in re.findall(r"<script>(.*?)</script>", response.text, re.S):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src, body[:80]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("no-referrer", "strict-origin-when-cross-origin")


XSS_PAGES = ["/", "/claim/evil", "/source/evil", "/xss/claims", "/xss/sources", "/xss/editors", "/xss/reviews",
             "/xss/claim_versions", "/xss/notices", "/xss/claims/claim:evil", "/xss/sources/source:evil",
             "/search?q=window", "/xss/claims?_search=window", "/xss/retracted_claims", "/xss/recent_changes",
             "/-/feed.atom", "/xss/claims.json", "/xss/claims.csv"]


@pytest.mark.parametrize("path", XSS_PAGES)
async def test_script_payloads_are_escaped_everywhere(xss_db, path):
    ds = make_datasette(xss_db)
    response = await get_ok(ds, path)
    text = response.text
    assert SCRIPT not in text or not response.headers["content-type"].startswith("text/html")
    if response.headers["content-type"].startswith("text/html"):
        assert "<img src=x" not in text and "<script>window" not in text
        assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", text, re.I)
    if path == "/-/feed.atom":
        ET.fromstring(response.content)  # still well-formed XML
        assert "<script>" not in text


async def test_xss_payloads_are_shown_as_text(xss_db):
    ds = make_datasette(xss_db)
    html = (await get_ok(ds, "/claim/evil")).text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=&#34;window.__xss=1&#34;&gt;" in html
    assert '<span dir="auto" class="notice-reason">&lt;script&gt;' in html
    source = (await get_ok(ds, "/source/evil")).text
    assert "javascript:window.__xss=1" in source
    assert 'href="https://example.org/a?b=1&amp;c=%22"' in source


# --- command lines and the bundle --------------------------------------------------------------

def test_datasette_args_serve_immutable_with_the_publish_files(demo_db):
    args = datasette_args(demo_db, host="127.0.0.1", port=8123)
    assert args[:2] == ["-i", str(demo_db)]
    pub = publish_dir()
    for option, value in (("--metadata", str(pub / "metadata.json")), ("--plugins-dir", str(pub)),
                          ("--template-dir", str(pub / "templates")), ("--port", "8123"), ("--host", "127.0.0.1")):
        assert args[args.index(option) + 1] == value
    assert "suggest_facets off" in " ".join(args) and "sql_time_limit_ms 1000" in " ".join(args)
    assert "--static" in args


def test_publish_bundle_is_self_contained(demo_db, tmp_path, ledger):
    out = publish_bundle(demo_db, tmp_path / "bundle")
    names = {p.name for p in out.iterdir()}
    assert {"ledger.db", "metadata.json", "plugins", "templates", "ledger-assets", "checkpoint.txt",
            "requirements.txt", "inspect-data.json", "README.md"} <= names
    assert sha256_file(out / "ledger.db") == sha256_file(demo_db)
    assert (out / "checkpoint.txt").read_text() == ledger.latest_checkpoint_note()
    assert "datasette==0.65.5\n" in (out / "requirements.txt").read_text()
    assert "./ledger-verifier/fact_ledger-" in (out / "requirements.txt").read_text()  # the shipped wheel (tests/test_supply_chain.py)
    inspect = json.loads((out / "inspect-data.json").read_text())
    assert inspect["ledger"]["tables"]["entries"]["count"] == ledger.size
    assert "ledger" in json.loads((out / "metadata.json").read_text())["databases"]
    readme = (out / "README.md").read_text()
    for command in ("datasette publish cloudrun ledger.db", "datasette publish heroku ledger.db", "datasette package ledger.db"):
        assert command in readme
    assert ledger.log_vkey in readme
    assert (out / "plugins" / "fact_ledger.py").read_bytes() == (publish_dir() / "plugin.py").read_bytes()


def test_publish_bundle_refuses_a_non_empty_directory(demo_db, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(LedgerError, match="is not an empty directory"):
        publish_bundle(demo_db, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


async def test_bundle_serves_the_same_site(demo_db, tmp_path, ledger):
    await get_ok(make_datasette(demo_db), "/")  # publish/plugin.py loaded first, as in any test run
    out = publish_bundle(demo_db, tmp_path / "bundle")
    ds = Datasette(immutables=[str(out / "ledger.db")], metadata=json.loads((out / "metadata.json").read_text()),
                   plugins_dir=str(out / "plugins"), template_dir=str(out / "templates"),
                   static_mounts=[("ledger-assets", str(out / "ledger-assets"))])
    assert (await get_ok(ds, "/-/checkpoint")).text == ledger.latest_checkpoint_note()
    facets = (await get_ok(ds, "/ledger/claims.json")).json()["facet_results"]
    assert "verdict" in facets and "verdict_2" not in facets  # two copies of the plugin in one process: one facet


async def test_the_ledger_is_found_among_other_databases(demo_db, tmp_path, ledger):
    # A plain SQLite file that only looks like a ledger (the log's table names) is served too.
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.executescript("CREATE TABLE entries (idx); CREATE TABLE checkpoints (tree_size); CREATE TABLE meta (key, value);")
    conn.close()
    both = Datasette(immutables=[str(other), str(demo_db)], plugins_dir=str(publish_dir()))
    assert (await get_ok(both, "/-/checkpoint")).text == ledger.latest_checkpoint_note()
    alone = Datasette(immutables=[str(other)], plugins_dir=str(publish_dir()))
    response = await alone.client.get("/-/checkpoint")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "status": 404, "error": "no ledger database is being served"}


def test_site_module_is_the_only_one_importing_datasette():
    import ledger

    for path in Path(ledger.__file__).parent.glob("*.py"):
        if path.name != "site.py":
            assert not re.search(r"^\s*(import|from)\s+datasette", path.read_text(), re.M), path.name


LEDGER_INTERNALS = {"ledger.store", "ledger.projection"}


def uses_of_ledger_internals(path: Path) -> list[str]:
    """Imports of ledger.store or ledger.projection, and any ``.store``, ``.projection`` or ``.conn``, in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno}: import {a.name}" for a in node.names if a.name in LEDGER_INTERNALS]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            found += [f"{path.name}:{node.lineno}: from {node.module} import ..." for _ in modules & LEDGER_INTERNALS]
        elif isinstance(node, ast.Attribute) and node.attr in ("store", "projection", "conn"):
            found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    return found


def test_the_site_and_the_interop_formats_read_only_through_ledger():
    # They use Ledger's verbs and read views; the store and projection are the library's own.
    import ledger

    package = Path(ledger.__file__).parent
    files = [*sorted(publish_dir().glob("*.py")), package / "site.py", *sorted((package / "interop").glob("*.py"))]
    assert len(files) > 8
    assert [use for path in files for use in uses_of_ledger_internals(path)] == []


def test_uses_of_ledger_internals_are_found(tmp_path):
    example = tmp_path / "example.py"
    example.write_text("import ledger.store\nfrom ledger import projection\nfrom ledger.projection import Head\n"
                       "def f(ledger):\n    return ledger.store.conn.execute('select 1')\n")
    assert uses_of_ledger_internals(example) == [
        "example.py:1: import ledger.store", "example.py:2: from ledger import ...", "example.py:3: from ledger.projection import ...",
        "example.py:5: .conn", "example.py:5: .store"]
