"""The reader pages, through the real Datasette app: claim, source, home, how to verify, the auditors' tables.

What a browser must show (directions computed, the check in the page going
to "verified", no sideways scrolling) is in tests/test_browser_reader.py; the
commands the pages print are run in tests/test_site_live.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

import rtl_ledger
from ledger import site
from ledger.api import Ledger
from ledger.demo import DEMO_PUBLISHER
from ledger.readable import RATING_GLOSSES, grouped_fingerprint, key_fingerprint
from ledger.site import make_datasette

MICRO = "claim:ro-microelectronics-90pct"
CORRECTED = "claim:ro-imports-q4-2023-70pct"
RETRACTED = "claim:ro-microelectronics-90pct-duplicate"
UNRATED = "claim:ro-nitrocellulose"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Element:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.parts = tag, dict(attrs), parent, [], []

    @property
    def text(self) -> str:
        """textContent, as a browser computes it."""
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)

    def classes(self) -> set:
        return set((self.attrs.get("class") or "").split())

    def descendants(self):
        for part in self.parts:
            if not isinstance(part, str):
                yield part
                yield from part.descendants()

    def links(self) -> list[tuple[str, str]]:
        """(href, text) of every link inside."""
        return [(a.attrs.get("href"), a.text) for a in self.descendants() if a.tag == "a"]

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class Page(HTMLParser):
    """The page's elements, in document order, with their attributes and text (no library needed)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self.all, self._open = [], [self.root]
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs, self._open[-1])
        self._open[-1].parts.append(element)
        self.all.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        for k in range(len(self._open) - 1, 0, -1):
            if self._open[k].tag == tag:
                del self._open[k:]
                return

    def handle_data(self, data):
        self._open[-1].parts.append(data)

    def find(self, tag=None, cls=None, **attrs) -> list[Element]:
        found = []
        for e in self.all:
            if tag and e.tag != tag or cls and cls not in e.classes():
                continue
            if all(e.attrs.get(k.replace("_", "-")) == v if v is not True else k.replace("_", "-") in e.attrs
                   for k, v in attrs.items()):
                found.append(e)
        return found

    def one(self, tag=None, cls=None, **attrs) -> Element:
        found = self.find(tag, cls, **attrs)
        assert len(found) == 1, (tag, cls, attrs, len(found))
        return found[0]


@pytest.fixture(scope="module")
def demo_path(_demo_build):
    """The session's demo file (conftest), only ever opened read-only and immutable here."""
    return _demo_build / "demo.db"


@pytest.fixture(scope="module")
def rtl_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("reader-rtl") / "rtl.db"
    rtl_ledger.build_rtl_ledger(path).close()
    return path


@pytest.fixture(scope="module")
def ledger(demo_path):
    with Ledger.open(demo_path, immutable=True) as opened:
        yield opened


@pytest.fixture(scope="module")
def rtl(rtl_path):
    with Ledger.open(rtl_path, immutable=True) as opened:
        yield opened


@pytest.fixture
def ds(demo_path):
    return make_datasette(demo_path, base_url="http://localhost")  # the ASGI client's own address


@pytest.fixture
def rtl_ds(rtl_path):
    return make_datasette(rtl_path, base_url="http://localhost")


async def page(ds, path) -> tuple[str, Page]:
    response = await ds.client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response.text, Page(response.text)


def tables(path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def field(record: dict, path: str):
    value = record
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


# --- the claim page: what is displayed is what was signed, marked for the in-browser check ---------------

@pytest.mark.parametrize("claim_id", [MICRO, CORRECTED, RETRACTED, UNRATED])
async def test_every_value_marked_for_the_check_is_the_signed_value_and_the_panel_names_the_entries(
        ds, ledger, demo_path, claim_id):
    _, doc = await page(ds, "/claim/" + claim_id.split(":", 1)[1])
    current = ledger.current(claim_id)
    with tables(demo_path) as conn:
        registered = dict(conn.execute("select signer, registered_idx from editors"))
        review_id = conn.execute("select review_id from claims where id = ?", (claim_id,)).fetchone()[0]
    panel = doc.one(data_ledger_verify=True)
    assert panel.attrs["data-log-vkey"] == ledger.log_vkey and panel.attrs["data-entry"] == str(current.index)
    assert panel.attrs["data-record-id"] == claim_id
    assert panel.attrs["data-key-entry"] == str(registered[current.signer])
    assert doc.one("script", type="module").attrs["src"] == "/ledger-assets/ledger-verify.js"
    marked = doc.find(data_signed_field=True)
    fields = [e.attrs["data-signed-field"] for e in marked if "data-signed-entry" not in e.attrs]
    assert {"text", "quote.exact", "attribution.text"} <= set(fields)
    for element in marked:
        index = int(element.attrs.get("data-signed-entry", current.index))
        assert element.text == field(ledger.entry(index).record.to_dict(), element.attrs["data-signed-field"])
    review_values = [e for e in marked if "data-signed-entry" in e.attrs]
    if review_id is None:
        assert review_values == []
    else:
        review = ledger.current(review_id)
        assert {e.attrs["data-signed-entry"] for e in review_values} == {str(review.index)}
        assert review_values[0].attrs["data-signed-key-entry"] == str(registered[review.signer])
        assert review_values[0].attrs["data-signed-record-id"] == review_id
        assert {"rating.label", "rating.normalized"} <= {e.attrs["data-signed-field"] for e in review_values}


async def test_the_claim_page_opens_with_who_said_it_when_and_where(ds):
    _, doc = await page(ds, "/claim/ro-microelectronics-90pct")
    said = doc.one("p", cls="said")
    assert doc.all.index(said) < doc.all.index(doc.one("h1"))
    assert re.sub(r"\s+", " ", said.text).strip() == (
        "Two senior Biden administration officials, speaking on condition of anonymity (anonymous) · 12 April 2024 · "
        "China a crescut vânzările către Rusia de mașini-unelte, microelectronice și alte tehnologii (AP) "
        "(Romanian news outlet (unnamed in the archived copy))")
    assert said.links()[0][0] == "/source/article-ro-ap-2024-04-12"


# --- the verdict as a card ---------------------------------------------------------------------------------

async def test_the_verdict_card_names_rating_label_gloss_reviewer_date_version_and_evidence_by_title(ds, ledger):
    html, doc = await page(ds, "/claim/ro-microelectronics-90pct")
    card = doc.one("section", cls="verdict-card")
    assert "verdict-unproven" in card.classes()
    text = re.sub(r"\s+", " ", card.text)
    assert "Unproven the evidence available neither proves nor disproves it" in text
    assert "The desk's verdict: Atribuit, neverificat independent (normalized rating unproven)" in text
    assert "Reviewed by Mihai Ionescu (demo editor) on 16 April 2024 · judged version 1 of this claim" in text
    assert doc.one("div", cls="evidence").links() == [("/source/ap-report-2024-04-12", "AP report on China's support for Russia's war industry (12 April 2024)"),
                        ("/source/biden-officials-2024-04-12", "Two senior Biden administration officials"),
                        ("/source/us-intelligence-assessment-china-russia",
                         "US intelligence assessment of China's support for Russia's war industry")]
    assert "source:" not in text  # evidence by title, never by raw ID
    assert doc.find(cls="review-stale") == []  # the claim did not change after its review


async def test_a_review_older_than_the_claim_says_so(ds):
    _, doc = await page(ds, "/claim/ro-imports-q4-2023-70pct")
    stale = doc.one(cls="review-stale")
    assert re.sub(r"\s+", " ", stale.text).strip() == (
        "The claim changed after this review. The review judged version 1; the claim is now at version 2 "
        "(16 April 2024). See the history for what changed.")


async def test_an_unreviewed_claim_says_not_yet_rated_in_its_own_colour(ds):
    _, doc = await page(ds, "/claim/ro-nitrocellulose")
    card = doc.one("section", cls="verdict-card")
    assert "verdict-not-yet-rated" in card.classes()
    assert "Not yet rated the desk has not reviewed this claim yet" in re.sub(r"\s+", " ", card.text)
    css = (site.publish_dir() / "static" / "ledger.css").read_text("utf-8")
    colours = dict(re.findall(r"--([a-z-]+): (#[0-9a-f]{6})", css))
    assert len({colours[key] for key in [*RATING_GLOSSES, "not-yet-rated"]}) == len(RATING_GLOSSES) + 1
    for key in [*RATING_GLOSSES, "not-yet-rated"]:
        assert f".verdict-{key} {{ --rating: var(--{key}); }}" in css


async def test_the_desks_label_keeps_its_language_and_direction(rtl_ds):
    html, doc = await page(rtl_ds, "/claim/ar-wheat-40pct")
    label = doc.one(data_signed_field="rating.label")
    assert (label.attrs["lang"], label.attrs["dir"], label.text) == ("ar", "rtl", "مضلّل")
    assert "verdict-misleading" in doc.one("section", cls="verdict-card").classes()
    assert "Misleading facts presented so that they give a false impression" in re.sub(r"\s+", " ", doc.one(cls="verdict-rating").text)


# --- right-to-left and mixed text ---------------------------------------------------------------------------

def user_text_elements(doc: Page, values: list[str]) -> list[Element]:
    """The innermost element holding each of these texts (its whole text)."""
    found = []
    for value in values:
        holders = [e for e in doc.all if e.text.strip() == value and e.tag not in ("title", "html", "head")]
        assert holders, value
        found.append(holders[-1])
    return found


def direction_of(element: Element) -> tuple[str | None, bool]:
    """(dir of the nearest element that sets it, whether that element isolates the text from its neighbours)."""
    for e in [element, *element.ancestors()]:
        if "dir" in e.attrs:
            return e.attrs["dir"], True  # an element with dir is isolated (HTML: [dir] { unicode-bidi: isolate })
        if e.tag == "bdi":
            return "auto", True
    return None, False


async def test_every_user_text_on_an_arabic_claim_page_has_a_direction_and_is_isolated(rtl_ds, rtl):
    html, doc = await page(rtl_ds, "/claim/ar-wheat-40pct")
    claim = rtl.current(rtl_ledger.WHEAT).record
    review = rtl.current("review:ar-wheat-40pct").record
    values = [claim.text, claim.quote.exact, claim.attribution.text, review.rating.label,
              review.explanation, rtl_ledger.EDITOR[1], "وزارة الزراعة: إنتاج القمح ارتفع 40% في 2023", "صحيفة المثال",
              "تقرير منظمة الأغذية والزراعة عن إنتاج الحبوب (آذار/مارس 2024)", "القمح"]
    for value, element in zip(values, user_text_elements(doc, values)):
        direction, isolated = direction_of(element)
        assert isolated and direction in ("rtl", "auto"), (value, element.tag, element.attrs)
    assert doc.one("h1").attrs["dir"] == "rtl" and doc.one("blockquote").attrs["dir"] == "rtl"
    assert doc.one("span", lang="en", data_signed_field="translation.text").attrs["dir"] == "ltr"


async def test_links_show_readable_urls_and_keep_the_real_href(rtl_ds):
    html, doc = await page(rtl_ds, "/claim/ar-wheat-40pct")
    link = doc.one("a", href=rtl_ledger.REVIEW_URL)
    assert link.text == "ar.desk.example/تحقق/2024/04/إنتاج-القمح-في-2023"
    # What a reader sees: link targets, meta values and the JSON-LD for crawlers (issue 18) keep the URL as recorded.
    shown = re.sub(r'<script type="application/ld\+json">.*?</script>', "", html.split("</head>", 1)[1], flags=re.S)
    assert "%D8" not in re.sub(r'href="[^"]*"', "", shown)
    source_html, source = await page(rtl_ds, "/source/ar-wheat-statement")
    assert source.one("a", href="https://news.example/%D8%A7%D9%82%D8%AA%D8%B5%D8%A7%D8%AF/%D8%A7%D9%84%D9%82%D9%85%D8%AD").text == \
        "news.example/اقتصاد/القمح"
    assert source.one("h1").attrs == {"class": "source-title", "lang": "ar", "dir": "rtl"}


# --- history and corrections --------------------------------------------------------------------------------

async def test_history_marks_words_and_tells_each_reason_once(ds, ledger):
    html, doc = await page(ds, "/claim/ro-imports-q4-2023-70pct")
    reason = ledger.current("correction:ro-imports-q4-2023-900-million").record.reason
    assert doc.one("span", cls="notice-reason").text == reason and doc.one("body").text.count(reason) == 1
    assert [e.text for e in doc.find("del")] == ["billion"] and [e.text for e in doc.find("ins")] == ["million"]
    versions = doc.find("li", cls="version")
    assert [v.attrs["id"] for v in versions] == ["version-1", "version-2"] and doc.find("li", cls="notice-entry") == []


async def test_record_ids_in_reasons_notes_and_history_are_links(ds, rtl_ds, rtl):
    _, doc = await page(ds, "/claim/ro-microelectronics-90pct-duplicate")
    assert doc.one("span", cls="notice-reason").links() == [("/claim/ro-microelectronics-90pct", "claim:ro-microelectronics-90pct")]
    assert doc.one("li", cls="notice-entry").links()[0] == (
        "/demo/notices/retraction~3Aro-microelectronics-90pct-duplicate", "retraction:ro-microelectronics-90pct-duplicate")
    _, arabic = await page(rtl_ds, "/claim/ar-cultivated-area")
    assert arabic.one("span", cls="notice-reason").links() == [("/claim/ar-wheat-40pct", rtl_ledger.WHEAT)]
    # A correction is linked where its version is told; an ID that names nothing in the ledger stays text.
    version = arabic.one("li", id="version-2")
    assert ("/rtl/notices/correction~3Aar-cultivated-area", "correction:ar-cultivated-area") in version.links()
    # In the verdict's explanation too, where the link's text keeps the signed text as it was.
    _, reviewed = await page(rtl_ds, "/claim/ar-wheat-40pct")
    explanation = reviewed.one(data_signed_field="explanation")
    assert explanation.links() == [("/source/ar-grain-report", rtl_ledger.REPORT)]
    assert explanation.text == rtl.current("review:ar-wheat-40pct").record.explanation
    why = arabic.one("p", cls="why")
    assert rtl_ledger.MISSING in why.text and why.links() == []
    # Arabic text changed word by word: numbers change as a whole.
    assert [e.text for e in arabic.find("del")] == ["2.1", "2.1"] and [e.text for e in arabic.find("ins")] == ["1.2", "1.2"]


# --- publisher, fingerprint, footer, feed -----------------------------------------------------------------

async def test_the_publisher_is_the_log_keys_display_name_everywhere(ds, ledger):
    html, doc = await page(ds, "/")
    assert doc.one("h1").text == DEMO_PUBLISHER
    for path in ("/", "/claim/ro-microelectronics-90pct", "/how-to-verify", "/demo/claims"):
        text, found = await page(ds, path)
        assert "Published by " + DEMO_PUBLISHER in re.sub(r"\s+", " ", found.one("footer").text), path
        assert "The fact-checking desk that holds the log key" not in text and "github.com/fact-ledger" not in text
        footer_links = [a.attrs["href"] for a in found.find("a") if found.one("footer") in a.ancestors()]
        assert "/how-to-verify" in footer_links and "/-/ledger.json" not in footer_links
    feed = ET.fromstring((await ds.client.get("/-/feed.atom")).content)
    assert feed.find("{http://www.w3.org/2005/Atom}author/{http://www.w3.org/2005/Atom}name").text == DEMO_PUBLISHER


async def test_the_log_key_fingerprint_is_one_format_everywhere(ds, ledger):
    vkey_line = (await ds.client.get("/-/vkey")).text
    expected = grouped_fingerprint(hashlib.sha256(vkey_line.encode()).hexdigest())
    assert expected == grouped_fingerprint(key_fingerprint(ledger.log_vkey))
    for path in ("/", "/claim/ro-microelectronics-90pct", "/how-to-verify"):
        _, doc = await page(ds, path)
        assert [e.text for e in doc.find("code", cls="fingerprint")] == [expected], path
    script = (site.publish_dir() / "static" / "ledger-verify.js").read_text("utf-8")
    assert "fingerprint: hex(await sha256(utf8.encode(text + '\\n')))" in script and "match(/.{1,8}/g).join(' ')" in script


async def test_how_to_verify_says_what_is_and_is_not_guaranteed_and_prints_the_commands(ds, ledger):
    html, doc = await page(ds, "/how-to-verify")
    text = re.sub(r"\s+", " ", doc.root.text)
    for words in ("What a check proves, and what it does not", "that a claim is true", "Install the verifier",
                  "from the source repository", "Check the whole ledger", "Check one claim", "check that the log only grew"):
        assert words in text
    assert doc.one("pre", cls="vkey").text == ledger.log_vkey
    commands = [e.text for e in doc.find("pre", cls="command")]
    base = "http://localhost/"
    example = max((h for h in ledger.heads("claim") if h.status != "retracted"), key=lambda h: h.entry_idx)
    assert commands == [
        f"curl -s {base}-/vkey | sha256sum",
        f"ledger verify {base} --vkey {ledger.log_vkey}",
        f"curl -s {base}-/proof/tlog/{example.entry_idx} > claim.tlog-proof && "
        f"ledger verify {example.id} --proof claim.tlog-proof --vkey {ledger.log_vkey}",
        f"curl -s {base}-/checkpoint > saved.checkpoint",
        f"ledger verify {base} --vkey {ledger.log_vkey} --since saved.checkpoint",
    ]


# --- navigation and the auditors' tables -------------------------------------------------------------------

async def test_navigation_leads_to_reader_pages_first(ds):
    for path in ("/", "/claim/ro-microelectronics-90pct", "/demo/claims", "/demo"):
        _, doc = await page(ds, path)
        assert doc.one("ul", cls="site-nav").links() == [("/search", "Claims"), ("/how-to-verify", "How to verify"), ("/demo", "Data for auditors")], path
    _, home = await page(ds, "/")
    headings = [h.text for h in home.find("h2")]
    assert headings[-1] == "Data for auditors" and headings[0] == "Newest claims"


async def test_table_pages_keep_column_notes_and_schema_behind_a_toggle(ds):
    html, doc = await page(ds, "/demo/claims")
    notes = doc.one("details", cls="table-notes")
    descriptions = [d for d in doc.find("dl", cls="column-descriptions")]
    assert any(notes in d.ancestors() for d in descriptions)
    assert "CREATE TABLE claims" in "".join(p.text for p in doc.find("pre", cls="wrapped-sql") if notes in p.ancestors())
    css = (site.publish_dir() / "static" / "ledger.css").read_text("utf-8")
    assert "section.content > dl.column-descriptions, section.content > pre.wrapped-sql { display: none; }" in css
    assert "For reading: each claim has its own page" in doc.one("p", cls="reader-pointer").text


async def test_the_verdict_facet_counts_claims_not_yet_rated(ds, demo_path):
    data = (await ds.client.get("/demo/claims.json", params={"_shape": "objects"})).json()
    verdict = data["facet_results"]["verdict"]
    with tables(demo_path) as conn:
        unrated, total = conn.execute("select count(*) filter (where verdict is null), count(*) from claims").fetchone()
    counts = {v["label"]: v["count"] for v in verdict["results"]}
    assert counts == {"not yet rated": unrated, "unproven": total - unrated} and unrated == 12
    toggle = next(v["toggle_url"] for v in verdict["results"] if v["value"] is None)
    assert toggle.endswith("verdict__isnull=1")
    followed = (await ds.client.get(toggle.replace("http://localhost", ""))).json()
    assert followed["filtered_table_rows_count"] == unrated
    selected = next(v for v in followed["facet_results"]["verdict"]["results"] if v["value"] is None)
    assert selected["selected"] and not selected["toggle_url"].endswith("isnull=1")
    html = (await ds.client.get("/demo/claims")).text
    assert re.search(r'<a href="[^"]*verdict__isnull=1">not yet rated</a> 12', html)


async def test_a_large_claims_table_still_counts_claims_not_yet_rated(demo_path, monkeypatch):
    monkeypatch.setattr(site, "LARGE_TABLE_ROWS", 5)
    data = (await make_datasette(demo_path).client.get("/demo/claims.json")).json()
    assert {v["label"] for v in data["facet_results"]["verdict"]["results"]} == {"not yet rated", "unproven"}
