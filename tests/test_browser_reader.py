"""The reader pages in a real Chromium: verified in the browser, right to left, a 390 px phone, screenshots.

Every page is served by a real `ledger serve` on 127.0.0.1 (a secure context,
so WebCrypto is there). Screenshots and the measured times of the in-browser
check are written to tests/output/ (gitignored) for a reviewer; no test
asserts a time.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import rtl_ledger
from conftest import chromium, ledger_server
from ledger.demo import DEMO_CLAIM_IDS, build_demo

pytestmark = pytest.mark.browser

OUTPUT = Path(__file__).parent / "output"
CORRECTED = "/claim/ro-imports-q4-2023-70pct"
ARABIC = "/claim/ar-wheat-40pct"
LONG_ARABIC = "/claim/ar-self-sufficiency-2026"
SETTLED = "[data-verification=verified], [data-verification=failed]"
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1100, "height": 900}
# Records when the panel settles, in the page's own clock (no test asserts it: tests/output/ reports it).
RECORD_SETTLED = """
new MutationObserver((changes, observer) => {
  const panel = document.querySelector('[data-ledger-verify]');
  if (panel && /^(verified|failed)$/.test(panel.getAttribute('data-verification') || '')) {
    window.__settledAt = performance.now(); observer.disconnect();
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-verification']});
"""


def claim_path(claim_id: str) -> str:
    return "/claim/" + claim_id.split(":", 1)[1]


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """The demo, the same file with one claims row's text changed in place, and the right-to-left ledger."""
    tmp = tmp_path_factory.mktemp("browser-reader")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    shutil.copyfile(tmp / "demo.db", tmp / "altered.db")
    with sqlite3.connect(tmp / "altered.db") as conn:  # passes integrity_check: only the text differs
        conn.execute("UPDATE claims SET text = 'În 2023, aproximativ 10% din microelectronica Rusiei a venit din China.' "
                     "WHERE id = 'claim:ro-microelectronics-90pct'")
    conn.close()
    rtl_ledger.build_rtl_ledger(tmp / "rtl.db").close()
    with ledger_server(tmp / "demo.db") as demo, ledger_server(tmp / "altered.db") as altered, \
            ledger_server(tmp / "rtl.db") as rtl:
        yield {"demo": demo.rstrip("/"), "altered": altered.rstrip("/"), "rtl": rtl.rstrip("/")}


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def output():
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


def open_page(browser, url, viewport=DESKTOP):
    """A fresh context (nothing cached), the page loaded, console errors collected."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.add_init_script(RECORD_SETTLED)
    page.goto(url)
    return context, page


def settle(page) -> dict:
    page.wait_for_selector(SETTLED, timeout=20000)
    panel = page.locator("[data-ledger-verify]")
    return {"state": panel.get_attribute("data-verification"), "check": panel.get_attribute("data-verification-check"),
            "summary": page.locator(".verification-summary").inner_text(),
            "details": page.locator(".verification-details summary").inner_text(),
            "timing": page.evaluate("({settled: window.__settledAt, dom: performance.timing.domContentLoadedEventEnd"
                                    " - performance.timing.navigationStart})")}


# --- verified in your browser --------------------------------------------------------------------------

def test_every_demo_claim_page_is_verified_in_the_browser(sites, browser, output):
    times = []
    for claim_id in DEMO_CLAIM_IDS:
        context, page = open_page(browser, sites["demo"] + claim_path(claim_id))
        result = settle(page)
        assert result["state"] == "verified", (claim_id, result)
        assert result["summary"].startswith("✓ Signed by ") and ": verified in your browser." in result["summary"]
        assert page.locator(".verification-details li.check-failed").count() == 0
        displayed = page.locator(".verification-details li[data-check^='display:']").count()
        assert displayed >= 3, claim_id  # text, quote and attribution at least were compared
        assert page.errors == [], (claim_id, page.errors)
        script_ms = float(result["details"].rsplit(", ", 1)[1].split(" ms")[0])
        times.append({"page": claim_path(claim_id), "script_ms": script_ms, "settled_ms": round(result["timing"]["settled"]),
                      "dom_ready_ms": result["timing"]["dom"], "checks": int(result["details"].split("(")[1].split(" ")[0])})
        context.close()
    (output / "verification-times.json").write_text(json.dumps(times, indent=1) + "\n")


def test_a_claims_row_changed_in_the_file_makes_its_page_say_failed(sites, browser, output):
    context, page = open_page(browser, sites["altered"] + "/claim/ro-microelectronics-90pct")
    result = settle(page)
    assert (result["state"], result["check"]) == ("failed", "display:text")
    assert result["summary"] == "✗ Not verified in your browser: The claim text shown on this page is not what was signed."
    assert page.locator("h1.claim-text").inner_text().startswith("În 2023, aproximativ 10%")
    failed = page.locator(".verification-details li.check-failed")
    assert failed.count() == 1 and failed.get_attribute("data-check") == "display:text"
    page.locator(".verification-details summary").click()
    assert "aproximativ 10%" in failed.locator("code").inner_text()  # what the page shows, against what was signed
    assert page.errors == []
    page.screenshot(path=str(output / "altered-claim-failed.png"), full_page=True)
    context.close()
    # The other claims of that file are still what was signed.
    context, page = open_page(browser, sites["altered"] + CORRECTED)
    assert settle(page)["state"] == "verified"
    context.close()


# --- right to left ---------------------------------------------------------------------------------------

DIRECTION = "(selector) => Array.from(document.querySelectorAll(selector), e => getComputedStyle(e).direction)"
BOX = "(selector) => { const r = document.querySelector(selector).getBoundingClientRect(); return [r.left, r.right]; }"


def test_an_arabic_claim_page_reads_right_to_left_with_dates_and_names_in_order(sites, browser):
    context, page = open_page(browser, sites["rtl"] + ARABIC)
    for selector in ("h1.claim-text", "blockquote.quote", ".said-who bdi", "[data-signed-field='rating.label']",
                     ".verdict-card .explanation", ".evidence bdi", "p.version-text", "ol.chain .source-title bdi",
                     ".review-meta bdi", ".tag"):
        directions = page.evaluate(DIRECTION, selector)
        assert directions and set(directions) == {"rtl"}, (selector, directions)
    assert page.evaluate(DIRECTION, "body") == ["ltr"]
    assert page.evaluate(DIRECTION, "[data-signed-field='translation.text']") == ["ltr"]
    # "وزارة الزراعة · 14 April 2024": the date stays after the Arabic name, not pulled into its run.
    name, date = page.evaluate(BOX, ".said-who bdi"), page.evaluate(BOX, "time.said-when")
    assert name[1] <= date[0], (name, date)
    # "Version 1 · 20 April 2024, 10:00 UTC · signed by سارة المنصوري · entry 6": each in its place.
    when, who = page.evaluate(BOX, "#version-1 .version-head time"), page.evaluate(BOX, "#version-1 .version-head bdi")
    assert when[1] <= who[0], (when, who)
    assert settle(page)["state"] == "verified"
    context.close()
    context, page = open_page(browser, sites["rtl"] + "/source/ar-wheat-statement")
    assert page.evaluate(DIRECTION, "h1.source-title") == ["rtl"]
    context.close()


# --- phones and desktops, and the screenshots ----------------------------------------------------------------

READER_PAGES = [("demo", "/", "home"), ("demo", CORRECTED, "corrected-claim"), ("rtl", ARABIC, "arabic-claim"),
                ("rtl", LONG_ARABIC, "long-arabic-claim"), ("demo", "/source/article-ro-ap-2024-04-12", "source"),
                ("demo", "/how-to-verify", "how-to-verify"), ("rtl", "/", "arabic-home")]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_reader_pages_fit_the_screen_without_sideways_scrolling(sites, browser, output, viewport):
    for site_name, path, name in READER_PAGES:
        context, page = open_page(browser, sites[site_name] + path, viewport)
        if page.locator("[data-ledger-verify]").count():
            settle(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], (path, width)
        page.screenshot(path=str(output / f"{name}-{viewport['width']}.png"), full_page=True)
        assert page.errors == [], (path, page.errors)
        context.close()


def test_the_readme_screenshot_of_a_claim_page_with_its_verification_panel(sites, browser, output):
    context, page = open_page(browser, sites["demo"] + "/claim/ro-microelectronics-90pct", {"width": 900, "height": 900})
    assert settle(page)["state"] == "verified"
    bottom = page.evaluate("document.querySelector('.verification').getBoundingClientRect().bottom + window.scrollY")
    page.screenshot(path=str(output / "readme-claim-page.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 900, "height": bottom + 16})
    context.close()
