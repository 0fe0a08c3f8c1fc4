"""The embeddable claim in a real Chromium: inside an <iframe> of a page on another origin, it checks itself.

The site is a real `ledger serve` on one 127.0.0.1 port; the article that embeds the claim is a static page served
by `python -m http.server` on another (a different origin, and both secure contexts, so WebCrypto is there).
"""

from __future__ import annotations

import sqlite3

import pytest

from conftest import chromium, demo_copies, ledger_server, static_server

pytestmark = pytest.mark.browser
CLAIM = "/claim/ro-microelectronics-90pct"
SETTLED = "[data-verification=verified], [data-verification=failed]"


@pytest.fixture(scope="module")
def sites(tmp_path_factory, _demo_build):
    """The demo, and the same file with the claim's text changed in place (the embed must then fail)."""
    path, altered_path = demo_copies(_demo_build, tmp_path_factory.mktemp("browser-share"), {
        "claim:ro-microelectronics-90pct": "În 2023, aproximativ 10% din microelectronica Rusiei a venit din China."})
    with ledger_server(path) as demo, ledger_server(altered_path) as altered:
        yield {"demo": demo.rstrip("/"), "altered": altered.rstrip("/"), "path": path}


@pytest.fixture(scope="module")
def article(tmp_path_factory, sites):
    """A newsroom's article on another origin, embedding the claim from each site with the claim page's snippet markup."""
    directory = tmp_path_factory.mktemp("article")
    for name, site in (("demo", sites["demo"]), ("altered", sites["altered"])):
        (directory / f"{name}.html").write_text(
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>An article</title></head><body><p>Our story.</p>'
            f'<iframe id="card" src="{site}{CLAIM}/embed" title="Fact check" width="100%" height="300" style="border:0"></iframe>'
            f'</body></html>', "utf-8")
    with static_server(directory) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def embedded_result(browser, url) -> tuple[str, str, list]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url)
        frame = page.frame_locator("#card")
        frame.locator(SETTLED).wait_for(timeout=60_000)
        panel = frame.locator("[data-ledger-verify]")
        origin = page.evaluate("location.origin")
        # On a 390 px phone the card fits its frame: nothing scrolls sideways.
        inner = next(f for f in page.frames if f.url.endswith("/embed"))
        assert inner.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        return panel.get_attribute("data-verification"), origin, errors
    finally:
        context.close()


def test_the_embed_in_another_origins_iframe_verifies(browser, sites, article):
    state, origin, errors = embedded_result(browser, article + "demo.html")
    assert origin != sites["demo"] and state == "verified", errors


def test_the_embed_of_an_altered_file_fails_in_the_iframe(browser, article):
    state, _, _ = embedded_result(browser, article + "altered.html")
    assert state == "failed"


def test_a_static_embed_card_from_ledger_publish_verifies_on_another_host(browser, sites, tmp_path):
    """``ledger publish`` with the site's base URL writes embed/<slug>.html; hosted anywhere, it checks itself."""
    from ledger.embed_cards import write_embed_cards
    from ledger.site import bundle_datasette, publish_bundle

    unnamed = publish_bundle(sites["path"], tmp_path / "unnamed")
    assert not (unnamed / "embed").exists()  # no base URL: a card could not name the site
    assert write_embed_cards(unnamed, bundle_datasette) == 0
    bundle = publish_bundle(sites["path"], tmp_path / "bundle", base_url=sites["demo"])
    claims = sqlite3.connect(sites["path"]).execute("select count(*) from claims").fetchone()[0]
    assert len(list((bundle / "embed").glob("*.html"))) == claims > 0
    card = (bundle / "embed" / "ro-microelectronics-90pct.html").read_text("utf-8")
    assert f'src="{sites["demo"]}/ledger-assets/ledger-verify.js"' in card and f'data-base="{sites["demo"]}/"' in card
    with static_server(bundle / "embed") as host:
        context = browser.new_context()
        page = context.new_page()
        try:
            page.goto(host + "ro-microelectronics-90pct.html")
            page.locator(SETTLED).wait_for(timeout=60_000)
            assert page.locator("[data-ledger-verify]").get_attribute("data-verification") == "verified"
        finally:
            context.close()
