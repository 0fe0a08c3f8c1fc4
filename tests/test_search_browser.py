"""The search page in a real Chromium (Playwright, Debian's chromium) on a real ``ledger serve``.

Screenshots of the page on a desktop and on a 390 px phone are saved under
``tests/output/`` (git-ignored) for a reviewer to look at.
"""

from pathlib import Path

import pytest

from conftest import chromium, ledger_server
from ledger.demo import build_demo
from search_ledger import build_arabic_ledger, expected

pytestmark = pytest.mark.browser
OUTPUT = Path(__file__).parent / "output"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
MICRO = ["claim:ro-microelectronics-90pct", "claim:ro-sales-machine-tools-microelectronics"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search-browser")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    build_arabic_ledger(tmp / "ar.db").close()
    with ledger_server(tmp / "demo.db") as demo, ledger_server(tmp / "ar.db") as arabic:
        yield {"demo": demo.rstrip("/"), "ar": arabic.rstrip("/")}


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def open_page(browser, viewport=DESKTOP):
    page = browser.new_context(viewport=viewport).new_page()
    page.csp_errors = []
    page.on("console", lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    return page


def search_from_home(page, base, words):
    """Type ``words`` in the home page's search box and submit, as a reader does."""
    page.goto(base + "/")
    page.fill("input[name=q]", words)
    page.click("form.ledger-search button")
    page.wait_for_url("**/search?q=*")


def result_ids(page) -> list[str]:
    return ["claim:" + href.rsplit("/", 1)[1] for href in page.locator(".search-hit a.hit-text").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")]


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("words", ["microelectronica", "microelectronice", "microelectronicii"])
def test_each_inflection_finds_both_microelectronics_claims(servers, browser, words):
    page = open_page(browser)
    search_from_home(page, servers["demo"], words)
    found = result_ids(page)
    assert set(MICRO) <= set(found) and found[-1] == "claim:ro-microelectronics-90pct-duplicate"
    assert page.locator(".search-hit:last-child .status-retracted").text_content() == "Retracted"
    assert page.locator(".search-hit mark").count() >= 4  # each claim's text and translation
    assert page.title() == f"Search: {words} – Demo Fact-Check Desk"
    assert page.csp_errors == []
    page.close()


def test_machine_tools_finds_one_claim_and_its_facets_filter(servers, browser):
    page = open_page(browser)
    search_from_home(page, servers["demo"], "masini-unelte")
    assert result_ids(page) == ["claim:ro-sales-machine-tools-microelectronics"]
    assert page.locator(".search-hit mark").all_inner_texts()[:2] == ["mașini", "unelte"]
    page.goto(servers["demo"] + "/search?q=China")
    page.click(".search-facets a:has-text('not yet rated')")
    page.wait_for_url("**/search?q=China&verdict=none")
    assert page.locator(".search-hit .verdict-badge").all_inner_texts() == ["Not yet rated"] * page.locator(".search-hit").count()
    page.click(".active-filters a")
    page.wait_for_url("**/search?q=China")
    page.click("text=best match first")
    page.wait_for_url("**/search?q=China&sort=best")
    assert page.locator(".search-sort strong").inner_text() == "best match first"
    page.close()


def test_arabic_plain_alef_query_finds_every_form_and_gaza_with_or_without_shadda(servers, browser):
    page = open_page(browser)
    search_from_home(page, servers["ar"], "اسرائيل")
    assert sorted(result_ids(page)) == sorted(expected("اسرائيل"))
    marks = set(page.locator(".search-hit .hit-text mark").all_inner_texts())
    assert {"إسرائيل", "وإسرائيل", "بإسرائيل", "لإسرائيل", "الإسرائيلي", "إِسْرَائِيلُ", "إســرائيل"} <= marks
    for words in ("غزة", "غزّة"):
        search_from_home(page, servers["ar"], words)
        assert sorted(result_ids(page)) == sorted(expected("غزة")), words
    assert page.csp_errors == []
    page.close()


def test_screenshots_on_a_desktop_and_a_phone(servers, browser):
    OUTPUT.mkdir(exist_ok=True)
    shots = [("search-desktop", DESKTOP, servers["demo"] + "/search?q=microelectronica"),
             ("search-phone", PHONE, servers["demo"] + "/search?q=microelectronica"),
             ("search-facets-phone", PHONE, servers["demo"] + "/search?tag=satellites"),
             ("search-arabic-desktop", DESKTOP, servers["ar"] + "/search?q=اسرائيل"),
             ("search-arabic-phone", PHONE, servers["ar"] + "/search?q=غزة&verdict=true")]
    for name, viewport, url in shots:
        page = open_page(browser, viewport)
        page.goto(url)
        assert page.locator(".search-hit").count() >= 1, url
        assert fits_the_screen(page), f"{name}: the page scrolls sideways"
        page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)
        page.close()
