"""The site in a real Chromium: search, claim pages, no CSP breakage, no script from the data."""

from pathlib import Path

import pytest

from conftest import ledger_server
from ledger.demo import build_demo
from test_site import build_xss_ledger

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    build_xss_ledger(tmp / "xss.db").close()
    with ledger_server(tmp / "demo.db") as demo, ledger_server(tmp / "xss.db") as xss:
        yield {"demo": demo.rstrip("/"), "xss": xss.rstrip("/")}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    opened.csp_errors = []
    opened.dialogs = []
    opened.on("console", lambda m: opened.csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    opened.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
    yield opened
    context.close()


def test_search_then_claim_page_shows_chain_and_history(servers, page, tmp_path):
    base = servers["demo"]
    page.goto(base + "/")
    assert page.locator("pre.note").text_content().startswith("demo.fact-ledger.example/log\n")
    page.fill("input[name=q]", "microelectronica")
    page.click("form.ledger-search button")
    page.wait_for_url("**/search?q=microelectronica*")
    assert page.locator(".search-hit mark").count() >= 1
    page.click("a[href='/claim/ro-microelectronics-90pct']")
    page.wait_for_url("**/claim/ro-microelectronics-90pct")
    assert page.locator("ol.chain > li").count() >= 3
    assert page.locator("ol.chain").is_visible() and page.locator("ol.history").is_visible()
    assert page.locator("blockquote.quote mark").is_visible()
    assert "ledger verify claim:ro-microelectronics-90pct --proof claim.tlog-proof" in page.locator("pre.command").inner_text()
    page.screenshot(path=str(tmp_path / "claim.png"), full_page=True)
    page.goto(base + "/claim/ro-imports-q4-2023-70pct")
    assert page.locator(".notice-corrected").is_visible()
    assert page.locator("ol.history > li").count() == 2  # version 2 tells its correction: no separate notice
    assert page.locator("ol.history del").inner_text() == "billion" and page.locator("ol.history ins").inner_text() == "million"
    page.screenshot(path=str(tmp_path / "corrected.png"), full_page=True)
    assert page.csp_errors == []


def test_datasette_pages_work_under_the_csp(servers, page):
    base = servers["demo"]
    page.goto(base + "/demo/claims")
    page.wait_for_selector("th.col-verdict svg.dropdown-menu-icon")  # table.js added the column menus
    assert page.evaluate("window.DATASETTE_ALLOW_FACET") is True  # the hashed inline script ran
    page.goto(base + "/demo?sql=select+1")
    page.wait_for_selector(".CodeMirror")  # the SQL editor's inline script ran
    assert page.csp_errors == []


def test_script_payloads_never_run(servers, page, tmp_path):
    base = servers["xss"]
    for path in ("/", "/claim/evil", "/source/evil", "/xss/claims", "/xss/sources", "/xss/editors", "/xss/reviews",
                 "/xss/claims/claim~3Aevil", "/xss/search?q=window", "/xss/notices", "/xss/claim_versions"):
        page.goto(base + path)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", path
        assert page.locator("a[href^='javascript:' i]").count() == 0, path
    page.goto(base + "/claim/evil")
    assert page.locator("h1.claim-text").inner_text() == '"><img src=x onerror="window.__xss=1"> revised'
    assert "<script>window.__xss=1</script>" in page.locator("ol.history").inner_text()
    page.screenshot(path=str(tmp_path / "xss.png"), full_page=True)
    assert page.dialogs == []
