"""Found and shared (issue 18): ClaimReview JSON-LD, canonical URLs, the sitemap, robots.txt, share meta and cards,
the embeddable claim and the ClaimReview DataFeed, through the real Datasette app on the demo ledger.

The in-browser check of the embed inside another origin's iframe is in tests/test_browser_share.py.
"""

from __future__ import annotations

import html as html_module
import io
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import extruct
import pytest
import rdflib
from rdflib.compare import isomorphic
from datasette.app import Datasette

import rtl_ledger
from ledger import share_card
from ledger.api import Ledger
from ledger.demo import DEMO_PUBLISHER
from ledger.interop.claimreview_export import export_claimreviews
from ledger.note import Signer
from ledger.site import STATIC_MOUNT, SETTINGS, publish_dir, site_metadata
from ledger.sitemap import MAX_SITEMAP_BYTES, NAMESPACE

BASE = "https://factcheck.example.org"
SITEMAP_NS = {"s": NAMESPACE}
W3C_DATETIME = re.compile(r"\d{4}(-\d\d(-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d))?)?)?")
UNRATED = "claim:ro-nitrocellulose"
RETRACTED = "claim:ro-microelectronics-90pct-duplicate"

# Google's ClaimReview structured-data documentation
# (https://developers.google.com/search/docs/appearance/structured-data/factcheck): what a ClaimReview must carry,
# and what it should, as paths into the node. Every reviewed demo page is checked against both lists.
GOOGLE_REQUIRED = ("claimReviewed", "reviewRating", "reviewRating.alternateName", "url")
GOOGLE_RECOMMENDED = ("author", "author.name", "author.url", "datePublished", "itemReviewed", "itemReviewed.@type",
                      "itemReviewed.datePublished", "itemReviewed.appearance", "itemReviewed.firstAppearance",
                      "itemReviewed.author", "itemReviewed.author.name", "reviewRating.name")
# Recommended where the desk's rating map gives a numeric scale (none of the demo's does).
GOOGLE_RECOMMENDED_WITH_SCALE = ("reviewRating.ratingValue", "reviewRating.bestRating", "reviewRating.worstRating")


def configured_site(path, **config) -> Datasette:
    """The site as make_datasette builds it, with ``plugins.fact-ledger`` settings (base_url, sitemap_urls, ...)."""
    metadata = site_metadata(path)
    metadata.setdefault("plugins", {}).setdefault("fact-ledger", {}).update(config)
    pub = publish_dir()
    return Datasette(immutables=[str(path)], metadata=metadata, plugins_dir=str(pub), template_dir=str(pub / "templates"),
                     static_mounts=[(STATIC_MOUNT, str(pub / "static"))], settings=dict(SETTINGS))


@pytest.fixture(scope="module")
def demo_path(_demo_build):
    return _demo_build / "demo.db"


@pytest.fixture(scope="module")
def ledger(demo_path):
    with Ledger.open(demo_path, immutable=True) as opened:
        yield opened


@pytest.fixture
def ds(demo_path):
    return configured_site(demo_path, base_url=BASE)


def rows(path, sql):
    with sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


async def html(ds, path) -> str:
    response = await ds.client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response.text


def claim_url_path(claim_id):
    return "/claim/" + claim_id.split(":", 1)[1]


def at(node, path):
    for part in path.split("."):
        node = node[0] if isinstance(node, list) else node
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def claim_reviews(page_html) -> list:
    """The ClaimReview nodes a crawler extracts from the page's JSON-LD (extruct, as crawlers do)."""
    found = extruct.extract(page_html, base_url=BASE, syntaxes=["json-ld"], uniform=False)["json-ld"]
    return [node for node in found if node.get("@type") == "ClaimReview"]


def triples(node) -> rdflib.Graph:
    # schema.org's remote context is not fetched (no network in tests): both sides get the same local one.
    local = {**node, "@context": {"@vocab": "https://schema.org/"}}
    return rdflib.Graph().parse(data=json.dumps(local), format="json-ld")


# --- ClaimReview JSON-LD: the export's node, on every reviewed claim page ------------------------------------

async def test_every_reviewed_demo_claim_page_carries_exactly_the_exports_claimreview(ds, ledger, demo_path):
    exported = {node["identifier"]: node for node in export_claimreviews(ledger, BASE)["@graph"]}
    claims = rows(demo_path, "select id, review_id, status from claims")
    reviewed = [c for c in claims if c["review_id"] and c["status"] != "retracted"]
    assert len(reviewed) >= 4 and any(c["id"] == UNRATED for c in claims if not c["review_id"])
    for claim in claims:
        page = await html(ds, claim_url_path(claim["id"]))
        nodes = claim_reviews(page)
        if claim not in reviewed:
            assert nodes == [], claim["id"]
            continue
        assert len(nodes) == 1, claim["id"]
        node = nodes[0]
        assert node == {"@context": "https://schema.org", **exported[claim["review_id"]]}
        graph = triples(node)
        assert isomorphic(graph, triples(exported[claim["review_id"]]))
        assert len(list(graph.subjects(rdflib.RDF.type, rdflib.URIRef("https://schema.org/ClaimReview")))) == 1
        assert node["url"] == BASE + claim_url_path(claim["id"])
        assert node["author"] == {"@type": "Organization", "name": DEMO_PUBLISHER, "url": BASE + "/"}


async def test_claimreview_nodes_carry_googles_required_and_recommended_fields(ds, demo_path):
    claims = rows(demo_path, "select id from claims where review_id is not null and status != 'retracted'")
    for claim in claims:
        (node,) = claim_reviews(await html(ds, claim_url_path(claim["id"])))
        assert [p for p in GOOGLE_REQUIRED if not at(node, p)] == [], claim["id"]
        missing = [p for p in GOOGLE_RECOMMENDED if not at(node, p)]
        # A claim without a named speaker, or quoted from a person rather than a publication, has no author or
        # appearance to give: the node says nothing rather than something made up.
        allowed = {"itemReviewed.author", "itemReviewed.author.name", "itemReviewed.datePublished",
                   "itemReviewed.appearance", "itemReviewed.firstAppearance"}
        assert set(missing) <= allowed, (claim["id"], missing)
        scale = [p for p in GOOGLE_RECOMMENDED_WITH_SCALE if at(node, p) is not None]
        assert scale in ([], list(GOOGLE_RECOMMENDED_WITH_SCALE)), claim["id"]
        assert node["itemReviewed"]["@type"] == "Claim"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", node["datePublished"])


async def test_the_rtl_claims_claimreview_keeps_its_arabic_label(tmp_path):
    path = tmp_path / "rtl.db"
    rtl_ledger.build_rtl_ledger(path).close()
    site = configured_site(path, base_url=BASE)
    (node,) = claim_reviews(await html(site, claim_url_path(rtl_ledger.WHEAT)))
    assert node["reviewRating"]["alternateName"] == "مضلّل" and node["inLanguage"] == "ar"


# --- canonical URLs, Open Graph and Twitter meta ---------------------------------------------------------------

def opengraph(page_html) -> dict:
    """The Open Graph properties a link preview reads (extruct, as crawlers extract them)."""
    (found,) = extruct.extract(page_html, base_url=BASE, syntaxes=["opengraph"], uniform=False)["opengraph"]
    return dict(found["properties"])


def meta(page_html) -> dict:
    found = {}
    for tag in re.findall(r"<(?:meta|link)\b[^>]*>", page_html.split("</head>")[0]):
        attrs = dict(re.findall(r'(\w[\w:-]*)="([^"]*)"', tag))
        key = attrs.get("property") or attrs.get("name") or ("canonical" if attrs.get("rel") == "canonical" else None)
        if key:
            found[key] = attrs.get("content", attrs.get("href"))
    return found


async def test_claim_and_source_pages_carry_canonical_url_open_graph_and_twitter_meta(ds, demo_path):
    claim = rows(demo_path, "select * from claims where id = 'claim:ro-microelectronics-90pct'")[0]
    page = await html(ds, claim_url_path(claim["id"]))
    og = opengraph(page)
    assert og["og:title"] == claim["text"] and og["og:url"] == BASE + claim_url_path(claim["id"])
    assert og["og:description"].startswith("Verdict: Unproven (the desk's label: Atribuit, neverificat independent).")
    assert og["og:site_name"] == DEMO_PUBLISHER and og["og:type"] == "article"
    tags = meta(page)
    assert tags["canonical"] == BASE + claim_url_path(claim["id"])
    assert tags["twitter:card"] == "summary_large_image" and tags["twitter:title"] == claim["text"]
    assert tags["og:image"] == tags["twitter:image"] == f"{BASE}/card/{claim['entry_hash']}.png" or \
        tags["og:image"].startswith(f"{BASE}/card/")
    source = rows(demo_path, "select * from sources where id = 'source:article-ro-ap-2024-04-12'")[0]
    tags = meta(await html(ds, "/source/article-ro-ap-2024-04-12"))
    assert tags["canonical"] == BASE + "/source/article-ro-ap-2024-04-12" and tags["og:title"] == source["title"]
    assert tags["og:image"] == f"{BASE}/card/{source['entry_hash']}.png"


SCRIPT_TEXT = 'He said "</script><script>alert(1)</script>" & <!-- it\'s <b>true</b>'


def build_quoting_ledger(path) -> None:
    """A reviewed claim whose text, label and speaker carry quotes, script tags and comment openers."""
    log = Signer.from_seed("quotes.example/log", b"\x21" * 32)
    T = "2024-05-01T10:00:00Z"
    ledger = Ledger.create(path, log, display_name='Desk "<script>" & co', created=T)
    ledger.append([
        {"kind": "source", "id": "source:q", "created": T, "type": "article", "title": SCRIPT_TEXT, "url": "https://example.org/q"},
        {"kind": "claim", "id": "claim:q", "created": T, "text": SCRIPT_TEXT, "language": "en", "source": "source:q",
         "attribution": {"text": '"</script>"', "anonymous": False}},
        {"kind": "review", "id": "review:q", "created": T, "claim": "claim:q",
         "rating": {"label": "</script><b>", "normalized": "false"}, "explanation": SCRIPT_TEXT},
    ], log, log)
    ledger.close()


async def test_quotes_and_script_in_a_claim_stay_inert_in_meta_and_json_ld(tmp_path):
    path = tmp_path / "quotes.db"
    build_quoting_ledger(path)
    site = configured_site(path, base_url=BASE)
    page = await html(site, "/claim/q")
    head = page.split("</head>")[0]
    assert "<script>alert" not in page and "</script><b>" not in page
    assert head.count("<script") == head.count("</script>")  # no element is closed or opened by the claim's text
    tags = meta(page)
    assert tags["og:title"] == tags["twitter:title"] == SCRIPT_TEXT.replace('"', "&#34;").replace("&", "&amp;").replace(
        "&amp;#34;", "&#34;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")
    og = opengraph(page)
    assert og["og:title"] == SCRIPT_TEXT
    (node,) = claim_reviews(page)
    with Ledger.open(path, immutable=True) as ledger:
        assert node == {"@context": "https://schema.org", **export_claimreviews(ledger, BASE)["@graph"][0]}
    assert node["claimReviewed"] == SCRIPT_TEXT and node["reviewRating"]["alternateName"] == "</script><b>"


# --- the sitemap and robots.txt ----------------------------------------------------------------------------

def check_sitemap(body: bytes, root_tag: str, limit: int) -> list:
    """The sitemaps.org 0.9 rules (https://www.sitemaps.org/protocol.html): namespace, root, children, at most
    ``limit`` entries and 50 MiB, absolute URLs under the site's base shorter than 2,048 characters, W3C datetimes."""
    assert len(body) <= MAX_SITEMAP_BYTES and body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == f"{{{NAMESPACE}}}{root_tag}"
    child = "url" if root_tag == "urlset" else "sitemap"
    entries = list(root)
    assert 0 < len(entries) <= limit and all(e.tag == f"{{{NAMESPACE}}}{child}" for e in entries)
    found = []
    for entry in entries:
        names = [c.tag.split("}")[1] for c in entry]
        assert names[0] == "loc" and set(names) <= {"loc", "lastmod", "changefreq", "priority"} and len(set(names)) == len(names)
        loc, lastmod = entry.find("s:loc", SITEMAP_NS).text, entry.find("s:lastmod", SITEMAP_NS)
        assert loc.startswith(BASE + "/") and len(loc) < 2048
        if lastmod is not None:
            assert W3C_DATETIME.fullmatch(lastmod.text), lastmod.text
        found.append((loc, None if lastmod is None else lastmod.text))
    return found


def expected_pages(demo_path) -> dict:
    claims = rows(demo_path, """select c.id, max(c.created, coalesce(r.created, ''),
                                      coalesce((select max(created) from notices n where n.target_id = c.id), '')) as lastmod
                                 from claims c left join reviews r on r.id = c.review_id""")
    sources = rows(demo_path, """select s.id, max(s.created, coalesce((select max(created) from notices n
                                                                        where n.target_id = s.id), '')) as lastmod from sources s""")
    return {**{BASE + claim_url_path(c["id"]): c["lastmod"] for c in claims},
            **{BASE + "/source/" + s["id"].split(":", 1)[1]: s["lastmod"] for s in sources}}


async def test_sitemap_lists_every_claim_and_source_page_with_its_newest_date(ds, demo_path):
    response = await ds.client.get("/sitemap.xml")
    assert response.status_code == 200 and response.headers["content-type"] == "application/xml; charset=utf-8"
    found = check_sitemap(response.content, "urlset", 50_000)
    assert dict(found) == expected_pages(demo_path) and len(found) == len(dict(found))
    corrected = dict(found)[BASE + "/claim/ro-imports-q4-2023-70pct"]
    assert corrected > rows(demo_path, "select first_created from claims where id = 'claim:ro-imports-q4-2023-70pct'")[0]["first_created"]


async def test_past_the_limit_the_sitemap_is_an_index_of_parts(demo_path):
    site = configured_site(demo_path, base_url=BASE, sitemap_urls=7)
    index = check_sitemap((await site.client.get("/sitemap.xml")).content, "sitemapindex", 50_000)
    expected = expected_pages(demo_path)
    counts = {kind: rows(demo_path, f"select count(*) as n from {kind}")[0]["n"] for kind in ("claims", "sources")}
    assert [loc for loc, _ in index] == [f"{BASE}/sitemap-{kind}-{page}.xml" for kind in ("claims", "sources")
                                         for page in range(1, -(-counts[kind] // 7) + 1)]
    listed = []
    for loc, _ in index:
        response = await site.client.get(loc.removeprefix(BASE))
        listed += check_sitemap(response.content, "urlset", 7)
    assert dict(listed) == expected and len(listed) == len(expected)
    assert (await site.client.get(f"/sitemap-claims-{-(-counts['claims'] // 7) + 1}.xml")).status_code == 404
    assert (await site.client.get("/sitemap-claims-0.xml")).status_code == 404


def robots_allows(robots_txt: str, path: str) -> bool:
    """RFC 9309 section 2.2.2: the longest matching rule wins, Allow on a tie; '*' any characters, '$' the end."""
    best = (-1, True)
    for line in robots_txt.splitlines():
        field, _, value = line.partition(":")
        value = value.strip()
        if field.lower() not in ("allow", "disallow") or not value:
            continue
        pattern = re.escape(value).replace(r"\*", ".*").replace(r"\$", "$")
        if re.match(pattern, path) and (len(value), field.lower() == "allow") > best:
            best = (len(value), field.lower() == "allow")
    return best[1]


async def test_robots_keeps_auditor_pages_out_and_names_the_sitemap(ds):
    text = (await ds.client.get("/robots.txt")).text
    assert f"Sitemap: {BASE}/sitemap.xml" in text.splitlines()
    for path in ("/", "/claim/ro-microelectronics-90pct", "/source/article-ro-ap-2024-04-12", "/how-to-verify",
                 "/sitemap.xml", "/card/" + "0" * 64 + ".png", "/-/claimreview.json"):
        assert robots_allows(text, path), path
    for path in ("/demo", "/demo/claims", "/demo/claims/claim~3Aro-nitrocellulose", "/demo?sql=select+1", "/demo.json",
                 "/demo/claims.json?_shape=array", "/-/proof/tlog/3", "/-/entries.jsonl", "/-/checkpoint", "/-/tlog/checkpoint",
                 "/claim/ro-nitrocellulose.json"):
        assert not robots_allows(text, path), path


# --- share cards -----------------------------------------------------------------------------------------------

async def test_the_share_card_is_a_png_made_once_and_served_immutable(ds, demo_path):
    from PIL import Image

    page = await html(ds, "/claim/ro-microelectronics-90pct")
    card_path = meta(page)["og:image"].removeprefix(BASE)
    first = await ds.client.get(card_path)
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    image = Image.open(io.BytesIO(first.content))
    assert (image.format, image.size) == ("PNG", (1200, 630))
    again = await ds.client.get(card_path)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    claim = rows(demo_path, "select entry_hash, review_id from claims where id = 'claim:ro-microelectronics-90pct'")[0]
    review = rows(demo_path, f"select entry_hash from reviews where id = '{claim['review_id']}'")[0]
    # The card shows the claim and its verdict: it is named by the newer of the two entries; the older name redirects.
    assert card_path == f"/card/{review['entry_hash']}.png"
    old = await ds.client.get(f"/card/{claim['entry_hash']}.png")
    assert old.status_code == 302 and old.headers["location"] == card_path
    assert (await ds.client.get("/card/" + "0" * 64 + ".png")).status_code == 404
    assert (await ds.client.get("/card/../../etc.png")).status_code == 404


def ink_columns(png: bytes, top: int, bottom: int) -> tuple[int, int]:
    """The leftmost and rightmost columns with dark pixels between rows ``top`` and ``bottom``."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L").crop((20, top, share_card.WIDTH, bottom))
    box = image.point(lambda v: 255 if v < 128 else 0).getbbox()
    return box[0] + 20, box[2] + 20


def test_arabic_cards_are_shaped_and_right_aligned_latin_left_aligned():
    arabic = "إنتاج القمح في البلاد ارتفع بنسبة 40% في عام 2023 مقارنة بالعام السابق"
    rtl = share_card.render_card(site_name="Desk", text=arabic, language="ar", verdict_key="false", verdict_name="False")
    ltr = share_card.render_card(site_name="Desk", text="Vânzările au crescut cu 90% în 2023", language="ro",
                                 verdict_key="false", verdict_name="False")
    left, right = ink_columns(rtl, 120, 400)
    assert right >= share_card.WIDTH - share_card.MARGIN - 4 and left > share_card.MARGIN + 20
    left, right = ink_columns(ltr, 120, 400)
    assert left <= share_card.MARGIN + 4 and right < share_card.WIDTH - share_card.MARGIN - 20
    assert share_card.card_text(arabic, "ar", share_card._font(46), 1000).rtl
    # Direction from the text itself when the record's language says nothing (its first strong character).
    assert share_card.is_rtl("«" + arabic, None) and share_card.is_rtl("2023: " + arabic, "und")
    assert not share_card.is_rtl("2023: Vânzările " + arabic, None)


def test_without_shaping_an_arabic_card_says_the_text_is_on_the_page(monkeypatch):
    from PIL import features

    monkeypatch.setattr(features, "check", lambda name: False if name == "raqm" else True)
    text = share_card.card_text("إنتاج القمح ارتفع", "ar", share_card._font(46), 1000)
    assert text == share_card.CardText([share_card.NOT_DRAWN], False, False)
    assert share_card.card_text("Vânzările", "ro", share_card._font(46), 1000).shown


# --- the embeddable claim --------------------------------------------------------------------------------------

async def test_only_the_embed_may_be_framed_and_it_checks_itself_like_the_claim_page(ds, ledger):
    claim_id = "claim:ro-microelectronics-90pct"
    embed = await ds.client.get(claim_url_path(claim_id) + "/embed")
    assert embed.status_code == 200
    assert "frame-ancestors *" in embed.headers["content-security-policy"] and "x-frame-options" not in embed.headers
    page = await ds.client.get(claim_url_path(claim_id))
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"] and page.headers["x-frame-options"] == "DENY"
    for path in ("/", "/how-to-verify", "/demo/claims"):
        assert (await ds.client.get(path)).headers["x-frame-options"] == "DENY", path
    body = embed.text
    assert f'data-record-id="{claim_id}"' in body and f'data-entry="{ledger.current(claim_id).index}"' in body
    # With its base URL the site names itself absolutely, so the same bytes work as a static card on any host.
    assert f'<script type="module" src="{BASE}/ledger-assets/ledger-verify.js"></script>' in body
    assert f'data-base="{BASE}/"' in body and f'href="{BASE}/ledger-assets/ledger.css"' in body
    assert f'href="{BASE}{claim_url_path(claim_id)}"' in body
    # Without JavaScript the card sends the reader to the command on the claim page (it shows none itself).
    assert f'<a href="{BASE}{claim_url_path(claim_id)}#check" target="_blank" rel="noopener">' in body
    assert 'href="#check"' not in body and 'href="#check"' in page.text
    snippet = html_module.unescape(re.search(r'<textarea class="embed-code"[^>]*>(.*?)</textarea>', page.text, re.S)[1])
    assert snippet.startswith(f'<iframe src="{BASE}{claim_url_path(claim_id)}/embed" title="Fact check: ')
    assert snippet.endswith('loading="lazy"></iframe>') and snippet.count('"') == 12
    assert (await ds.client.get("/claim/no-such-claim/embed")).status_code == 404


# --- the ClaimReview DataFeed --------------------------------------------------------------------------------------

async def feed_pages(site) -> list:
    pages, path = [], "/-/claimreview.json"
    while path:
        response = await site.client.get(path)
        assert response.status_code == 200 and response.headers["content-type"] == "application/ld+json; charset=utf-8"
        pages.append(response.json())
        link = response.headers.get("link")
        path = re.fullmatch(r'<(.+)>; rel="next"', link)[1].removeprefix(BASE) if link else None
    return pages


async def test_the_claimreview_feed_pages_through_every_review_and_imports_back_to_nothing(run, demo_db, tmp_path):
    site = configured_site(demo_db, base_url=BASE, claimreview_feed_page=1)
    pages = await feed_pages(site)
    with Ledger.open(demo_db, immutable=True) as ledger:
        exported = export_claimreviews(ledger, BASE)["@graph"]
    items = [element["item"] for page in pages for element in page["dataFeedElement"]]
    assert len(pages) >= 4 and all(len(page["dataFeedElement"]) <= 1 for page in pages)
    assert items == [{"@context": "https://schema.org", **node} for node in exported]
    assert {(page["@type"], page["url"]) for page in pages} == {("DataFeed", BASE + "/-/claimreview.json")}
    keys = tmp_path / "demo-keys"
    for number, page in enumerate(pages):
        path = tmp_path / f"page-{number}.json"
        path.write_text(json.dumps(page, ensure_ascii=False), "utf-8")
        report = json.loads(run("import", demo_db, path, "--key", keys / "ana.key", "--log-key", keys / "log.key",
                                "--json").stdout)
        assert (report["shape"], report["created"], report["updated"], report["refused"]) == ("a schema.org DataFeed", [], [], [])
    assert (await site.client.get("/-/claimreview.json?after=x")).status_code == 400
