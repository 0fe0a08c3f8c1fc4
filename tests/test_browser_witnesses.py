"""The in-browser check (publish/static/ledger-verify.js) against a cosigned ledger served by
`ledger serve`: it shows which witnesses cosigned the checkpoint and when (``data-witness-vkeys``),
and reads an entry's proof from the site's own C2SP tiles (``/-/tlog/``)."""

from __future__ import annotations

import base64
import json
import time
import urllib.request

import pytest

from conftest import ledger_server
from test_browser_verify import attrs, browser, page, page_html, serve_page  # noqa: F401 - browser and page are fixtures
from ledger.api import Ledger
from ledger.cosignature import Cosignature, CosignatureSigner, parse_signature_lines_untrusted
from ledger.note import Signer
from ledger.witness import Witness, format_add_checkpoint, init

pytestmark = pytest.mark.browser

T = "2024-05-01T00:00:00Z"
LOG = Signer.from_seed("browser-witnesses.test.example/log", b"b" * 32)
W1, W2, W3 = (CosignatureSigner(Signer.from_seed(f"w{i}.browser.test.example", bytes([48 + i]) * 32)) for i in (1, 2, 3))


def cosign(ledger: Ledger, witness: Witness) -> int:
    size, note = ledger.latest_checkpoint()
    old = max((row[0] for row in witness.cosigned(LOG.name)), default=0)
    proof = [base64.b64decode(h) for h in ledger.prove_consistency(old)["hashes"]] if 0 < old < size else []
    answer = witness.add_checkpoint(format_add_checkpoint(old, proof, note))
    [cosignature] = [Cosignature.from_note_signature_untrusted(s) for s in parse_signature_lines_untrusted(answer.body)]
    ledger.add_cosignatures(size, [cosignature])
    return cosignature.timestamp


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A ledger of 300 sources (a full tile and a partial one), cosigned by W1 and W2; W3 is added but never cosigns."""
    directory = tmp_path_factory.mktemp("browser-witnesses")
    with Ledger.create(directory / "desk.db", LOG, created=T) as ledger:
        times = {}
        for signer in (W1, W2, W3):
            ledger.add_witness(signer.vkey, f"http://127.0.0.1:9/{signer.name}", LOG)
        ledger.append([{"kind": "source", "id": f"source:s{i}", "type": "other", "title": f"Source {i}", "created": T}
                       for i in range(300)], LOG, LOG)
        for signer in (W1, W2):
            init(directory / signer.name, signer.name, None, signer=signer)
            times[signer.name] = cosign(ledger, Witness(directory / signer.name, [LOG.vkey], clock=time.time))
        size = ledger.size
    with ledger_server(directory / "desk.db") as base:
        with urllib.request.urlopen(base) as r:
            csp = r.headers["Content-Security-Policy"]
        yield base.rstrip("/"), csp, size, times


VERIFY = """
const r = await m.verifyEntry(arg);
return {ok: r.ok, failed: r.failed, treeSize: r.treeSize, summary: m.summarize(r),
        witnesses: r.witnesses.map(w => ({name: w.name, ok: w.ok, missing: w.missing, time: w.time ? w.time.getTime() / 1000 : null}))};
"""


def module_call(page, site, expression, arg):
    base, csp, _, _ = site
    page.goto(serve_page(page, base, page_html(""), csp))
    return page.evaluate(f"async (arg) => {{ const m = await import('/ledger-assets/ledger-verify.js'); {expression} }}", arg)


@pytest.mark.parametrize("source", ["routes", "tiles"])
def test_the_browser_shows_who_cosigned_and_when(site, page, source):  # noqa: F811 - page is a fixture
    _, _, size, times = site
    options = {"logVkey": LOG.vkey, "entry": 150, "keyEntry": 0, "witnesses": [W1.vkey, W2.vkey, W3.vkey], "source": source}
    result = module_call(page, site, VERIFY, options)
    assert result["ok"], result["failed"]
    assert result["treeSize"] == size
    assert result["witnesses"] == [
        {"name": W1.name, "ok": True, "missing": False, "time": times[W1.name]},
        {"name": W2.name, "ok": True, "missing": False, "time": times[W2.name]},
        {"name": W3.name, "ok": False, "missing": True, "time": None},
    ]
    assert "Cosigned by " in result["summary"] and result["summary"].endswith(" of 3 witnesses.")


def test_a_panel_with_data_witness_vkeys(site, page):  # noqa: F811 - page is a fixture
    base, csp, _, _ = site
    panel = attrs(data_log_vkey=LOG.vkey, data_entry=299, data_key_entry=0, data_record_id="source:s295",
                  data_witness_vkeys=f"{W1.vkey} {W2.vkey}")
    page.goto(serve_page(page, base, page_html(f'<section data-ledger-verify {panel}></section>'), csp))
    page.wait_for_selector("[data-verification=verified], [data-verification=failed]", timeout=15000)
    text = page.locator("[data-ledger-verify]").inner_text()
    assert page.locator("[data-ledger-verify]").get_attribute("data-verification") == "verified", text
    assert f"Cosigned by {W1.name} (" in text and f"{W2.name} (" in text and "of 2 witnesses." in text


def test_a_forged_cosignature_fails_the_browser_check(site, page):  # noqa: F811 - page is a fixture
    base, _, _, _ = site
    with urllib.request.urlopen(base + "/-/checkpoint") as r:
        note = r.read().decode()
    line = next(l for l in note.splitlines() if l.startswith(f"— {W2.name} "))
    raw = bytearray(base64.b64decode(line.split()[-1]))
    raw[-1] ^= 1
    forged = note.replace(line, f"— {W2.name} {base64.b64encode(bytes(raw)).decode()}")
    page.route("**/-/checkpoint", lambda route: route.fulfill(status=200, body=forged, headers={"Content-Type": "text/plain"}))
    result = module_call(page, site, VERIFY, {"logVkey": LOG.vkey, "entry": 3, "keyEntry": 0, "witnesses": [W1.vkey, W2.vkey]})
    assert not result["ok"] and result["failed"]["name"] == "witnesses", json.dumps(result)
