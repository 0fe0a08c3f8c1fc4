"""publish/static/ledger-verify.js in a real Chromium, on the real demo ledger served by `ledger serve`.

Test pages are served at the real server's origin (Playwright answers their
URL; every other request, the script included, goes to `ledger serve`) with the
site's own Content-Security-Policy, and mark what they display as the claim
page will (docs/browser-verify.md "Wiring"). Tampers change the bytes the
site answers, or answer for a log the test forges with the demo's log key.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
import urllib.request
from pathlib import Path

import pytest

from conftest import chromium, ledger_server, static_server
from ledger.canonical import canonical_bytes
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.demo import build_demo
from ledger.envelope import signed_message
from ledger.keys import read_key_file
from ledger.note import Signer, parse_verifier_key_untrusted
from ledger.tree import MemoryHashStore, prove_inclusion, tree_hash

pytestmark = pytest.mark.browser

INSECURE_HOST = "insecure.test"  # resolved to 127.0.0.1 by Chromium, but not a secure context
SCRIPT = "/ledger-assets/ledger-verify.js"
SCRIPT_FILE = Path(__file__).parent.parent / "publish" / "static" / "ledger-verify.js"
_pages = itertools.count()


class Demo:
    """The demo ledger's leaves and what its claim pages display, read through the public API."""

    def __init__(self, db, keys_dir, base):
        self.db, self.base = db, base
        with urllib.request.urlopen(base + "/-/entries.jsonl") as r:
            self.leaves = r.read().split(b"\n")[:-1]
        with urllib.request.urlopen(base + "/-/vkey") as r:
            self.vkey = r.read().decode().strip()
        with urllib.request.urlopen(base + "/") as r:
            self.csp = r.headers["Content-Security-Policy"]
        self.log_signer = read_key_file(keys_dir / "log.key", None)
        self.envelopes = [json.loads(leaf) for leaf in self.leaves]
        self.key_entry = {}  # signer ID -> index of its registration
        for i, env in enumerate(self.envelopes):
            rec = env["record"]
            if rec["kind"] == "key" and rec["version"] == 1:
                v = parse_verifier_key_untrusted(rec["vkey"])
                self.key_entry[f"{v.name}+{v.key_id.hex()}"] = i
        self.current = {}  # record ID -> index of its latest version
        for i, env in enumerate(self.envelopes):
            self.current[env["record"]["id"]] = i

    def signer_key_entry(self, index):
        return self.key_entry[self.envelopes[index]["signer"]]

    def record(self, index):
        return self.envelopes[index]["record"]

    def review_of(self, claim_id):
        """Index of the current version of the newest review of the claim, or None."""
        found = [i for rid, i in self.current.items() if rid.startswith("review:") and self.record(i)["claim"] == claim_id]
        return max(found, default=None)

    def claims(self):
        return sorted(i for rid, i in self.current.items() if rid.startswith("claim:"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jsverify")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    with ledger_server(tmp / "demo.db") as base:
        yield Demo(tmp / "demo.db", tmp / "keys", base.rstrip("/"))


@pytest.fixture(scope="module")
def browser():
    with chromium(f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1") as launched:
        yield launched


@pytest.fixture
def page(browser):
    context = browser.new_context()
    opened = context.new_page()
    opened.console_errors = []
    opened.on("console", lambda m: opened.console_errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: opened.console_errors.append(str(e)))
    yield opened
    context.close()


# --- test pages -----------------------------------------------------------------------------

def attrs(**values) -> str:
    return " ".join(f'{k.replace("_", "-")}="{html.escape(str(v), quote=True)}"' for k, v in values.items() if v is not None)


def claim_page(demo, index, *, shown=None, review=None, review_shown=None, panel=None) -> str:
    """A page marked up as docs/browser-verify.md proposes for /claim/{slug}: the displayed
    values carry data-signed-field, the panel carries the log key and the entry."""
    rec = demo.record(index)
    shown = {**displayed_fields(rec), **(shown or {})}
    body = []
    for field, text in shown.items():
        body.append(f'<p {attrs(data_signed_field=field)}>{html.escape(text)}</p>')
    if review is not None:
        rshown = {**displayed_fields(demo.record(review)), **(review_shown or {})}
        for field, text in rshown.items():
            body.append(f'<p {attrs(data_signed_field=field, data_signed_entry=review, data_signed_key_entry=demo.signer_key_entry(review), data_signed_role="review", data_signed_record_id=demo.record(review)["id"])}>'
                        f'{html.escape(text)}</p>')
    panel_attrs = {"data_log_vkey": demo.vkey, "data_entry": index, "data_record_id": rec["id"],
                   "data_key_entry": demo.signer_key_entry(index), **(panel or {})}
    body.append(f'<section class="verification" data-ledger-verify {attrs(**panel_attrs)}></section>')
    return page_html("\n".join(body))


def page_html(body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>test</title>'
            f'<script type="module" src="{SCRIPT}"></script></head><body>{body}</body></html>')


def displayed_fields(record) -> dict:
    """What a claim page shows of a claim, or of the review whose verdict it shows."""
    out = {}
    if record["kind"] == "claim":
        out["text"] = record["text"]
        if "translation" in record:
            out["translation.text"] = record["translation"]["text"]
        if "quote" in record:
            out["quote.exact"] = record["quote"]["exact"]
    elif record["kind"] == "review":
        out["rating.label"] = record["rating"]["label"]
        out["rating.normalized"] = record["rating"]["normalized"]
    return out


def serve_page(page, origin, body, csp):
    url = f"{origin}/verify-test/{next(_pages)}"
    page.route(url, lambda route: route.fulfill(status=200, body=body, headers={
        "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": csp}))
    return url


def open_and_wait(page, demo, body, origin=None):
    """Open a test page at the real server's origin; wait until the panel is verified or failed."""
    page.goto(serve_page(page, origin or demo.base, body, demo.csp))
    panel = page.locator("[data-ledger-verify]")
    page.wait_for_selector("[data-verification=verified], [data-verification=failed]", timeout=15000)
    return panel.get_attribute("data-verification"), panel.get_attribute("data-verification-check"), panel.inner_text()


def replace_response(page, url_glob, change):
    """Answer requests matching url_glob with change(original bytes)."""
    def handle(route):
        original = route.fetch()
        route.fulfill(response=original, body=change(original.body()))
    page.route(url_glob, handle)


def answer(page, url_glob, body: bytes, content_type="text/plain; charset=utf-8"):
    page.route(url_glob, lambda route: route.fulfill(status=200, body=body, headers={"Content-Type": content_type}))


def module_call(page, demo, expression: str, arg=None):
    """Evaluate `expression` (async, with `m` the module and `arg`) on a blank page of the site's origin."""
    if not page.url.startswith(demo.base + "/verify-test/"):
        page.goto(serve_page(page, demo.base, page_html(""), demo.csp))
    return page.evaluate(f"async (arg) => {{ const m = await import('{SCRIPT}'); {expression} }}", arg)


VERIFY = """
const r = await m.verifyEntry(arg);
return {ok: r.ok, failed: r.failed, signer: r.signer, signedAt: r.signedAt, index: r.index, treeSize: r.treeSize,
        fp: r.logKeyFingerprint, checks: r.checks.map(c => c.name), ms: r.ms, summary: m.summarize(r)};
"""


# --- every demo entry and claim page verifies -----------------------------------------------

def test_every_demo_entry_verifies(demo, page):
    import hashlib

    for index in range(len(demo.leaves)):
        rec = demo.record(index)
        r = module_call(page, demo, VERIFY, {"logVkey": demo.vkey, "entry": index, "recordId": rec["id"],
                                             "keyEntry": demo.signer_key_entry(index)})
        assert r["ok"], (index, r["failed"])
        assert r["treeSize"] == len(demo.leaves) and r["index"] == index and r["signedAt"] == rec["created"]
        assert r["checks"] == ["browser", "log-key", "checkpoint-signature", "checkpoint", "inclusion", "leaf",
                               "record-id", "signer-key", "record-signature"]
        assert r["fp"] == hashlib.sha256((demo.vkey + "\n").encode()).hexdigest()
    assert page.console_errors == []


def test_every_claim_page_verifies_with_its_displayed_values(demo, page):
    for index in demo.claims():
        review = demo.review_of(demo.record(index)["id"])
        state, check, text = open_and_wait(page, demo, claim_page(demo, index, review=review))
        assert (state, check) == ("verified", None), (index, text)
        summary = page.locator(".verification-summary").inner_text()
        assert summary.startswith("✓ Signed by ") and f"included in the log at entry {index} of {len(demo.leaves)}" in summary
        assert summary.endswith(": verified in your browser.") == (review is None)
        if review is not None:
            assert f"verified in your browser. The review (entry {review}) was signed by " in summary
    assert page.console_errors == []


def test_the_sentence_and_the_details(demo, page):
    page.add_init_script("""window.__states = [];
        new MutationObserver(ms => ms.forEach(m => window.__states.push(m.target.getAttribute('data-verification'))))
            .observe(document, {subtree: true, attributes: true, attributeFilter: ['data-verification']});""")
    index = demo.current["claim:ro-microelectronics-90pct"]
    state, _, text = open_and_wait(page, demo, claim_page(demo, index))
    assert state == "verified"
    assert page.evaluate("window.__states") == ["checking", "verified"]
    fp = page.evaluate("() => document.querySelector('.verification-key code:last-of-type').textContent")
    summary = page.locator(".verification-summary").inner_text()
    assert summary == (f"✓ Signed by Ana Popescu (demo editor) on 15 April 2024, included in the log at entry {index} of "
                       f"{len(demo.leaves)}, log key fingerprint {fp}: verified in your browser.")
    assert page.locator("details.verification-details").count() == 1
    assert not page.locator("details.verification-details").evaluate("d => d.open")
    checks = page.locator("li[data-check]")
    assert checks.count() == 12  # 9 entry checks and the claim text, translation and quote
    assert [checks.nth(i).get_attribute("data-check") for i in range(checks.count())][-3:] == [
        "display:text", "display:translation.text", "display:quote.exact"]
    assert page.locator(".verification-key code").first.text_content() == demo.vkey


def test_the_real_server_serves_the_script_as_javascript(demo):
    with urllib.request.urlopen(demo.base + SCRIPT) as r:
        assert r.headers["Content-Type"].split(";")[0] in ("text/javascript", "application/javascript")
        assert r.headers["X-Content-Type-Options"] == "nosniff"


# --- tampers: each fails with the right check named -------------------------------------------

def leaf_url(demo, index):
    return f"{demo.base}/-/entries.jsonl?start={index}&end={index + 1}"


@pytest.mark.parametrize("where", ["first", "middle", "text", "last"])
def test_a_flipped_byte_in_the_leaf_fails_inclusion(demo, page, where):
    index = demo.current["claim:ro-microelectronics-90pct"]
    leaf = demo.leaves[index]
    at = {"first": 0, "middle": len(leaf) // 2, "text": leaf.index(b"aproximativ"), "last": len(leaf) - 1}[where]

    def flip(body):
        assert body[:-1] == leaf
        return body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1:]
    replace_response(page, leaf_url(demo, index), flip)
    state, check, text = open_and_wait(page, demo, claim_page(demo, index))
    assert (state, check) == ("failed", "inclusion")
    assert f"Not verified in your browser: Entry {index} is not in the log" in text


@pytest.mark.parametrize("which", [0, -1])
def test_a_wrong_proof_hash_fails_inclusion(demo, page, which):
    index = demo.current["claim:ro-microelectronics-90pct"]

    def corrupt(body):
        proof = json.loads(body)
        h = bytearray(base64.b64decode(proof["hashes"][which]))
        h[5] ^= 0x80
        proof["hashes"][which] = base64.b64encode(bytes(h)).decode()
        return json.dumps(proof).encode()
    replace_response(page, f"{demo.base}/-/proof/inclusion/{index}.json*", corrupt)
    state, check, text = open_and_wait(page, demo, claim_page(demo, index))
    assert (state, check) == ("failed", "inclusion")
    page.locator("details.verification-details summary").click()
    assert "the proof does not lead to the checkpoint's root hash" in page.locator("li.check-failed").inner_text()


def test_a_truncated_or_padded_proof_fails_inclusion(demo, page):
    index = demo.current["claim:ro-microelectronics-90pct"]
    for change in (lambda hs: hs[:-1], lambda hs: hs + hs[:1]):
        def edit(body, change=change):
            proof = json.loads(body)
            proof["hashes"] = change(proof["hashes"])
            return json.dumps(proof).encode()
        page.unroute(f"**/-/proof/inclusion/{index}.json*")
        replace_response(page, f"**/-/proof/inclusion/{index}.json*", edit)
        state, check, _ = open_and_wait(page, demo, claim_page(demo, index))
        assert (state, check) == ("failed", "inclusion")


def test_a_checkpoint_signed_by_another_key_fails(demo, page):
    index = demo.current["claim:ro-microelectronics-90pct"]
    with urllib.request.urlopen(demo.base + "/-/checkpoint") as r:
        real = r.read().decode()
    text = real[: real.rindex("\n\n") + 1]
    impostor = Signer.from_seed(demo.log_signer.name, b"\x42" * 32)  # same name, another key
    forged = text + "\n" + f"— {impostor.name} " + base64.b64encode(impostor.key_id + impostor.sign(text.encode())).decode() + "\n"
    # The log key's own key ID with another key's signature: a known key whose signature fails.
    bad_sig = text + "\n" + f"— {impostor.name} " + base64.b64encode(demo.log_signer.key_id + impostor.sign(text.encode())).decode() + "\n"
    for note, detail in ((forged, "no signature by"), (bad_sig, "does not verify")):
        page.unroute("**/-/checkpoint")
        answer(page, "**/-/checkpoint", note.encode())
        state, check, shown = open_and_wait(page, demo, claim_page(demo, index))
        assert (state, check) == ("failed", "checkpoint-signature"), shown
        assert "Not verified in your browser: The log's checkpoint is not signed by the log key shown on this page." in shown
        assert detail in page.locator("li.check-failed code").text_content()


def test_a_checkpoint_of_another_origin_fails(demo, page):
    # Signed by the log key itself, but for another origin: not evidence about this log.
    note = sign_checkpoint(Checkpoint("elsewhere.example/log", len(demo.leaves), b"\x00" * 32), demo.log_signer)
    answer(page, "**/-/checkpoint", note.encode())
    state, check, text = open_and_wait(page, demo, claim_page(demo, demo.current["claim:ro-nitrocellulose"]))
    assert (state, check) == ("failed", "checkpoint")
    assert "for another log" in text


@pytest.mark.parametrize("field, words", [
    ("text", "The claim text shown on this page is not what was signed."),
    ("translation.text", "The translation shown on this page is not what was signed."),
    ("quote.exact", "The quote shown on this page is not what was signed."),
])
def test_displayed_claim_values_that_differ_fail_naming_the_field(demo, page, field, words):
    index = demo.current["claim:ro-microelectronics-90pct"]
    rec = demo.record(index)
    changed = displayed_fields(rec)[field].replace("90%", "99%")
    state, check, text = open_and_wait(page, demo, claim_page(demo, index, shown={field: changed}))
    assert (state, check) == ("failed", f"display:{field}")
    assert f"Not verified in your browser: {words}" in text


def test_a_displayed_verdict_that_differs_fails(demo, page):
    index = demo.current["claim:ro-microelectronics-90pct"]
    review = demo.review_of("claim:ro-microelectronics-90pct")
    state, check, text = open_and_wait(page, demo, claim_page(demo, index, review=review, review_shown={"rating.label": "Adevărat"}))
    assert (state, check) == ("failed", "display:rating.label")
    assert "The verdict of the review shown on this page is not what was signed." in text


def test_a_verdict_from_a_review_of_another_claim_fails(demo, page):
    index = demo.current["claim:ro-nitrocellulose"]
    review = demo.review_of("claim:ro-microelectronics-90pct")
    state, check, text = open_and_wait(page, demo, claim_page(demo, index, review=review))
    assert (state, check) == ("failed", "review-of-claim")
    assert "The verdict shown is not from a review of this claim" in text


def test_a_displayed_value_the_record_lacks_fails(demo, page):
    index = demo.current["claim:ro-microelectronics-90pct"]
    state, check, text = open_and_wait(page, demo, claim_page(demo, index, shown={"claim_date": "2020-01-01", "tags.0": "x"}))
    assert (state, check) == ("failed", "display:claim_date")
    state, check, text = open_and_wait(page, demo, claim_page(demo, index, shown={"quantity.note": "x"}))
    assert (state, check) == ("failed", "display:quantity.note")
    assert "This page shows a field “quantity.note” that is not in the signed record." in text


def test_the_page_is_about_another_record(demo, page):
    index = demo.current["claim:ro-microelectronics-90pct"]
    state, check, text = open_and_wait(page, demo, claim_page(demo, index, panel={"data_record_id": "claim:ro-nitrocellulose"}))
    assert (state, check) == ("failed", "record-id")
    assert "is not a version of claim:ro-nitrocellulose" in text


def test_a_key_entry_that_registers_another_key_fails(demo, page):
    index = demo.current["claim:ro-microelectronics-90pct"]  # signed by Ana, registered at entry 1
    for key_entry, detail in ((2, "registers mihai@"), (3, "is a source record"), (index + 1, "does not come before")):
        state, check, _ = open_and_wait(page, demo, claim_page(demo, index, panel={"data_key_entry": key_entry}))
        assert (state, check) == ("failed", "signer-key")
        assert detail in page.locator("li.check-failed code").text_content()


class ForgedLog:
    """The demo's leaves plus extra ones, with a checkpoint signed by the demo's log key:
    what the log key's holder could publish. Answers the three routes the script reads."""

    def __init__(self, demo, extra_leaves):
        self.leaves = list(demo.leaves) + list(extra_leaves)
        self.store = MemoryHashStore()
        for leaf in self.leaves:
            self.store.append_leaf(leaf)
        size = len(self.leaves)
        self.note = sign_checkpoint(Checkpoint(demo.log_signer.name, size, tree_hash(size, self.store)), demo.log_signer)

    def install(self, page):
        size = len(self.leaves)
        answer(page, "**/-/checkpoint", self.note.encode())

        def proof(route):
            index = int(route.request.url.rsplit("/", 1)[1].split(".json")[0])
            body = {"leaf_index": index, "tree_size": size,
                    "hashes": [base64.b64encode(h).decode() for h in prove_inclusion(size, index, self.store)]}
            route.fulfill(status=200, body=json.dumps(body), headers={"Content-Type": "application/json"})

        def entries(route):
            start = int(route.request.url.split("start=")[1].split("&")[0])
            route.fulfill(status=200, body=self.leaves[start] + b"\n", headers={"Content-Type": "application/jsonl"})
        page.route("**/-/proof/inclusion/**", proof)
        page.route("**/-/entries.jsonl?**", entries)


def signed_leaf(record: dict, signer: Signer, origin: str) -> bytes:
    sig = base64.b64encode(signer.sign(signed_message(origin, canonical_bytes(record)))).decode()
    return canonical_bytes({"record": record, "sig": sig, "signer": f"{signer.name}+{signer.key_id.hex()}"})


def test_a_signer_key_that_is_not_registered_fails(demo, page):
    """The log key's holder logs a claim signed by a key no entry registers."""
    eve = Signer.from_seed("eve@demo.fact-ledger.example", b"\x07" * 32)
    claim = {**demo.record(demo.current["claim:ro-nitrocellulose"]), "id": "claim:forged", "created": "2024-04-20T10:00:00Z"}
    forged = ForgedLog(demo, [signed_leaf(claim, eve, demo.log_signer.name)])
    index = len(forged.leaves) - 1
    forged.install(page)
    demo_like = {"data_entry": index, "data_record_id": "claim:forged"}
    for key_entry in (1, 2, None):  # Ana's registration, Mihai's, and none given
        body = claim_page(demo, demo.current["claim:ro-nitrocellulose"], panel={**demo_like, "data_key_entry": key_entry})
        state, check, text = open_and_wait(page, demo, body)
        assert (state, check) == ("failed", "signer-key"), text
    assert "The page does not say which log entry registers the key that signed entry" in text


def test_a_record_signature_that_does_not_verify_fails(demo, page):
    """The log key's holder logs a claim under Ana's key ID with a signature by another key."""
    mallory = Signer.from_seed("mallory", b"\x09" * 32)
    claim = {**demo.record(demo.current["claim:ro-nitrocellulose"]), "id": "claim:forged", "created": "2024-04-20T10:00:00Z"}
    ana = demo.envelopes[demo.current["claim:ro-nitrocellulose"]]["signer"]
    envelope = json.loads(signed_leaf(claim, mallory, demo.log_signer.name))
    envelope["signer"] = ana
    forged = ForgedLog(demo, [canonical_bytes(envelope)])
    forged.install(page)
    index = len(forged.leaves) - 1
    body = claim_page(demo, demo.current["claim:ro-nitrocellulose"], panel={"data_entry": index, "data_record_id": "claim:forged"})
    state, check, text = open_and_wait(page, demo, body)
    assert (state, check) == ("failed", "record-signature")
    assert "the record is not what Ana Popescu (demo editor) signed" in text


def test_a_leaf_that_is_not_canonical_fails(demo, page):
    """Logged, included and signed, but not in canonical form: the log key's holder could log it."""
    claim = {**demo.record(demo.current["claim:ro-nitrocellulose"]), "id": "claim:forged"}
    leaf = signed_leaf(claim, demo.log_signer, demo.log_signer.name).replace(b'{"record":', b'{ "record":', 1)
    forged = ForgedLog(demo, [leaf])
    forged.install(page)
    index = len(forged.leaves) - 1
    state, check, text = open_and_wait(page, demo, claim_page(demo, 3, panel={"data_entry": index, "data_record_id": None}))
    assert (state, check) == ("failed", "leaf")


def test_a_missing_route_fails_as_a_download(demo, page):
    page.route("**/-/checkpoint", lambda route: route.fulfill(status=404, body="{}"))
    state, check, text = open_and_wait(page, demo, claim_page(demo, demo.current["claim:ro-nitrocellulose"]))
    assert (state, check) == ("failed", "download")
    assert "could not be downloaded" in text


def test_a_bad_log_key_on_the_page_fails(demo, page):
    index = demo.current["claim:ro-nitrocellulose"]
    name, key_id, key = demo.vkey.split("+", 2)
    for vkey in ("", f"{name}+00000000+{key}", demo.vkey + "="):
        state, check, _ = open_and_wait(page, demo, claim_page(demo, index, panel={"data_log_vkey": vkey}))
        assert (state, check) == ("failed", "log-key")
    other = Signer.from_seed(name, b"\x42" * 32).vkey  # well-formed, but not the log's key
    state, check, _ = open_and_wait(page, demo, claim_page(demo, index, panel={"data_log_vkey": other}))
    assert (state, check) == ("failed", "checkpoint-signature")


def test_not_a_secure_context_says_so(demo, page):
    """An http:// origin whose host is not localhost or a loopback address is not a secure
    context: Chromium gives it no crypto.subtle. The host name maps to 127.0.0.1
    (--host-resolver-rules)."""
    port = demo.base.rsplit(":", 1)[1]
    origin = f"http://{INSECURE_HOST}:{port}"
    # Chromium's Private Network Access rules keep a non-secure page from loading
    # anything from a loopback address, so the script comes from the file itself.
    answer(page, origin + SCRIPT, SCRIPT_FILE.read_bytes(), "text/javascript")
    state, check, text = open_and_wait(page, demo, claim_page(demo, demo.current["claim:ro-nitrocellulose"]), origin=origin)
    assert page.evaluate("() => [window.isSecureContext, typeof crypto.subtle]") == [False, "undefined"]
    assert (state, check) == ("failed", "browser")
    assert "it was not loaded over a secure connection (https)" in text


def test_no_inline_script_under_the_sites_csp(demo, page):
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    open_and_wait(page, demo, claim_page(demo, demo.current["claim:ro-nitrocellulose"]))
    assert "script-src 'self'" in demo.csp and "'unsafe-inline'" not in demo.csp.split("script-src")[1].split(";")[0]
    assert "'unsafe-eval'" not in demo.csp
    assert violations == []


# --- RFC 8785 as sorted JSON.stringify, against the Python canonical bytes ----------------------

TRICKY_STRINGS = [
    "", "plain", "\u0000\u0001\u0008\u0009\u000a\u000b\u000c\u000d\u001f", "\u007f\u0080\u009f", '"quoted" \\ back/slash',
    "\u2028\u2029", "\ufeff BOM", "😀 𝄞 \U0010ffff", "e\u0301 é", "غزّة إسرائيل", "\ud7ff\ue000\uffff",
    "</script><script>alert(1)</script>",
]
# Member names whose UTF-16 order differs from their code point order (U+FB01 sorts after
# the surrogates of U+1F600 in UTF-16, before it by code point), and other near ties.
TRICKY_KEYS = ["\ufb01", "😀", "\uffff", "\U00010000", "a", "A", "", "é", "\u0080", "aa", "a\u0000", "10", "2", "1",
               "__proto__", "constructor", "\ud7ff", "\ue000", "B", "b"]


def tricky_values():
    yield {k: i for i, k in enumerate(TRICKY_KEYS)}
    yield {"nested": {k: [k, {k: None}] for k in TRICKY_KEYS}, "list": TRICKY_STRINGS}
    yield {"ints": [0, -1, 1, 2**53 - 1, -(2**53 - 1), 10, 100], "bools": [True, False, None], "empty": [{}, [], ""]}
    for s in TRICKY_STRINGS:
        yield {s: s}


def test_rfc8785_as_sorted_json_stringify_equals_the_python_canonical_bytes(demo, page):
    values = [env["record"] for env in demo.envelopes] + demo.envelopes + list(tricky_values())
    # Each value goes in as JSON a canonicalizer must normalize: spaces, unsorted, \\u escapes.
    texts = [json.dumps(v, ensure_ascii=True, indent=1, sort_keys=False) for v in values]
    got = module_call(page, demo, "return arg.map(t => m.canonicalJSON(JSON.parse(t)));", texts)
    for value, js in zip(values, got):
        assert js.encode("utf-8") == canonical_bytes(value), value
    # The leaves are canonical already: JS re-serializes each to its exact bytes.
    leaves = module_call(page, demo, "return arg.map(t => m.canonicalJSON(JSON.parse(t)));", [leaf.decode() for leaf in demo.leaves])
    assert [s.encode("utf-8") for s in leaves] == demo.leaves


def test_values_that_cannot_be_canonical_are_refused_in_js_as_in_python(demo, page):
    refused = module_call(page, demo, """
        return arg.map(t => { try { m.canonicalJSON(JSON.parse(t)); return null; } catch (e) { return e.message; } });
    """, ["1.5", "9007199254740992", "-9007199254740992", '"\\ud800"', '{"a": "x\\udc00y"}', "-0", "1e2"])
    assert refused[:5] == ["number 1.5 is not an integer within ±(2^53 − 1)",
                           "number 9007199254740992 is not an integer within ±(2^53 − 1)",
                           "number -9007199254740992 is not an integer within ±(2^53 − 1)",
                           "a string holds a lone surrogate", "a string holds a lone surrogate"]
    assert refused[5] is not None  # -0
    assert refused[6] is None  # 1e2 is the integer 100: accepted, and serialized "100" (so a leaf spelling it 1e2 is not canonical)
    from ledger.errors import FormatError
    for bad in (1.5, 2**53, "\ud800"):
        with pytest.raises(FormatError):
            canonical_bytes(bad)


def test_a_leaf_with_duplicate_or_reordered_members_is_not_canonical(demo, page):
    leaf = demo.leaves[10].decode()
    duplicated = leaf.replace('{"record":{', '{"record":{"id":"claim:other",', 1)
    reordered = '{"sig":' + leaf.split(',"sig":', 1)[1][:-1] + ',"record":' + leaf[len('{"record":'):].split(',"sig":', 1)[0] + "}"
    escaped = leaf.replace("î", "\\u00ee", 1)
    got = module_call(page, demo, """
        return arg.map(t => { try { m.parseLeaf(new TextEncoder().encode(t)); return null; } catch (e) { return e.message; } });
    """, [leaf, duplicated, reordered, escaped])
    assert got == [None, "the record inside the leaf is not in RFC 8785 canonical form",
                   "the record inside the leaf is not in RFC 8785 canonical form",
                   "the record inside the leaf is not in RFC 8785 canonical form"]


# --- the tlog-proof bundle as the library makes it ------------------------------------------------

def test_tlog_proof_bundles_from_the_library_verify(demo, page):
    """`ledger prove --format tlog-proof` bundles, whose extra carries the entry and its key
    registration, as /-/proof/tlog/{index} serves them once it uses the library's (issue 14)."""
    from ledger.api import Ledger

    with Ledger.open(demo.db, readonly=True) as ledger:
        bundles = {i: ledger.tlog_proof(i) for i in range(1, len(demo.leaves))}

    def bundle(route):
        index = int(route.request.url.split("/-/proof/tlog/")[1].split("?")[0])
        route.fulfill(status=200, body=bundles[index], headers={"Content-Type": "text/plain; charset=utf-8"})
    page.route("**/-/proof/tlog/**", bundle)
    index = demo.current["claim:ro-microelectronics-90pct"]
    review = demo.review_of("claim:ro-microelectronics-90pct")
    body = claim_page(demo, index, review=review, panel={"data_source": "tlog-proof", "data_key_entry": None})
    state, check, text = open_and_wait(page, demo, body)
    assert (state, check) == ("verified", None), text
    for i in range(1, len(demo.leaves)):
        r = module_call(page, demo, VERIFY, {"logVkey": demo.vkey, "entry": i, "source": "tlog-proof"})
        assert r["ok"], (i, r["failed"])
    # The bundle's own key registration is checked like the page's.
    body = claim_page(demo, index, panel={"data_source": "tlog-proof", "data_key_entry": 2})
    assert open_and_wait(page, demo, body)[:2] == ("failed", "signer-key")


def test_a_tlog_proof_bundle_without_extra_says_so(demo, page):
    with urllib.request.urlopen(f"{demo.base}/-/proof/tlog/10") as r:
        served = r.read()
    answer(page, "**/-/proof/tlog/**", re.sub(rb"\nextra [^\n]*", b"", served, count=1))  # as the route serves it today
    body = claim_page(demo, 10, panel={"data_source": "tlog-proof"})
    state, check, _ = open_and_wait(page, demo, body)
    assert (state, check) == ("failed", "download")
    assert "no 'extra' line" in page.locator("li.check-failed code").text_content()


# --- tlog-tiles: proofs computed from hash tiles, served by Python's http.server ----------------

def tile_path(level, index: int, width: int = 256) -> str:
    """c2sp.org/tlog-tiles: tile/<L>/<N>[.p/<W>], N in 3-digit groups, all but the last x-prefixed."""
    groups = f"{index:03d}" if index < 1000 else None
    if groups is None:
        digits = str(index)
        digits = "0" * (-len(digits) % 3) + digits
        parts = [digits[i:i + 3] for i in range(0, len(digits), 3)]
        groups = "/".join([f"x{p}" for p in parts[:-1]] + [parts[-1]])
    return f"tile/{level}/{groups}" + ("" if width == 256 else f".p/{width}")


def write_tiles(root: Path, leaves: list[bytes], note: str | None = None) -> dict:
    """Write the tiles and entry bundles of a log of `leaves` under `root` (tlog-tiles, height 8).

    A hash at tile level L is the tree hash of 256**L leaves: node (8L, k) of the
    tree, which MemoryHashStore keeps at stored_hash_index(8L, k). Returns the
    number of files written per level."""
    from ledger.tree import stored_hash_index

    store = MemoryHashStore()
    for leaf in leaves:
        store.append_leaf(leaf)
    counts = {}

    def write(path, data):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)

    level = 0
    while (count := len(leaves) >> (8 * level)) > 0:
        hashes = store.read_hashes([stored_hash_index(8 * level, k) for k in range(count)])
        for t in range(0, (count + 255) // 256):
            chunk = hashes[t * 256:(t + 1) * 256]
            write(tile_path(level, t, len(chunk)), b"".join(chunk))
            counts[level] = counts.get(level, 0) + 1
        level += 1
    for t in range(0, (len(leaves) + 255) // 256):
        chunk = leaves[t * 256:(t + 1) * 256]
        write(tile_path("entries", t, len(chunk)), b"".join(len(leaf).to_bytes(2, "big") + leaf for leaf in chunk))
    if note is not None:
        write("checkpoint", note.encode())
    return counts


@pytest.fixture(scope="module")
def tiled(demo, tmp_path_factory):
    """A static directory served by `python -m http.server` on 127.0.0.1: the script, the
    demo's tiles, the tiles of the demo plus 600 sources (three level-0 tiles, a level-1
    tile), and of a synthetic 70,000-leaf log (the tlog-tiles spec's example size)."""
    import shutil

    from ledger.api import Ledger

    root = tmp_path_factory.mktemp("tiles")
    shutil.copy(SCRIPT_FILE, root / "ledger-verify.js")
    (root / "blank.html").write_text(page_html("").replace(SCRIPT, "/ledger-verify.js"))
    with urllib.request.urlopen(demo.base + "/-/checkpoint") as r:
        write_tiles(root / "demo" / "tlog", demo.leaves, r.read().decode())

    big = root / "big.db"
    shutil.copy(demo.db, big)
    with Ledger.open(big) as ledger:
        ana = read_key_file(demo.db.parent / "keys" / "ana.key", None)
        ledger.append([{"kind": "source", "id": f"source:bulk-{i}", "version": 1, "created": "2024-04-20T10:00:00Z",
                        "type": "article", "title": f"Bulk source {i}"} for i in range(600)], ana, demo.log_signer)
        big_leaves = [ledger.entry(i).leaf for i in range(ledger.size)]
        big_note = ledger.latest_checkpoint_note()
        # The same log grown to 834 entries, as a mirror keeps it: full tile 0/002 now
        # exists, so the partial tiles 0/002.p/122 and entries/002.p/122 of size 634 are gone.
        ledger.append([{"kind": "source", "id": f"source:more-{i}", "version": 1, "created": "2024-04-21T10:00:00Z",
                        "type": "article", "title": f"More {i}"} for i in range(200)], ana, demo.log_signer)
        grown_leaves = [ledger.entry(i).leaf for i in range(ledger.size)]
    big.unlink()
    big_counts = write_tiles(root / "big" / "tlog", big_leaves, big_note)
    write_tiles(root / "grown" / "tlog", big_leaves, big_note)
    write_tiles(root / "grown" / "tlog", grown_leaves)
    for gone in ("tile/0/002.p/122", "tile/entries/002.p/122"):
        (root / "grown" / "tlog" / gone).unlink()

    synthetic = [b"leaf %d" % i for i in range(70_000)]
    synthetic_counts = write_tiles(root / "synthetic" / "tlog", synthetic)

    with static_server(root) as served:
        base = served.rstrip("/")
        yield {"base": base, "root": root, "big_leaves": big_leaves, "synthetic": synthetic,
               "big_counts": big_counts, "synthetic_counts": synthetic_counts}


def tiles_call(page, tiled, expression, arg=None):
    if not page.url.startswith(tiled["base"]):
        page.goto(tiled["base"] + "/blank.html")
    return page.evaluate(f"async (arg) => {{ const m = await import('/ledger-verify.js'); {expression} }}", arg)


VERIFY_TILES = """
const reader = m.tilesReader(arg.prefix);
const r = await m.verifyEntry({...arg, reader});
return {ok: r.ok, failed: r.failed, treeSize: r.treeSize, fetched: reader.fetched};
"""


def test_the_synthetic_log_has_the_tiles_the_spec_counts(tiled):
    # tlog-tiles: 70,000 entries are 273 full level-0 tiles and a partial one of width 112,
    # one full level-1 tile and a partial of width 17, and a partial level-2 tile of width 1.
    assert tiled["synthetic_counts"] == {0: 274, 1: 2, 2: 1}
    tlog = tiled["root"] / "synthetic" / "tlog"
    assert (tlog / "tile/0/272").stat().st_size == 8192 and (tlog / "tile/0/273.p/112").stat().st_size == 112 * 32
    assert (tlog / "tile/1/000").exists() and (tlog / "tile/1/001.p/17").exists() and (tlog / "tile/2/000.p/1").exists()
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"


def test_tile_paths_in_js_match(tiled, page):
    got = tiles_call(page, tiled, "return arg.map(([l, n, w]) => m.tilePath(l, n, w));",
                     [[0, 0, 256], [0, 1234067, 256], [1, 1, 17], ["entries", 273, 112], [2, 1000, 1]])
    assert got == ["tile/0/000", "tile/0/x001/x234/067", "tile/1/001.p/17", "tile/entries/273.p/112", "tile/2/x001/000.p/1"]


def test_inclusion_proofs_from_tiles_equal_the_librarys(tiled, page):
    """At most one tile per tile level plus the right-edge partial tiles, for any leaf."""
    size = len(tiled["synthetic"])
    store = MemoryHashStore()
    for leaf in tiled["synthetic"]:
        store.append_leaf(leaf)
    indexes = [0, 1, 255, 256, 257, 65535, 65536, 65537, 69887, 69888, 69999, 33333]
    got = tiles_call(page, tiled, """
        const out = [];
        for (const i of arg.indexes) {
            const fetched = [];
            const proof = await m.inclusionProofFromTiles(i, arg.size, async (l, n, w) => {
                fetched.push(m.tilePath(l, n, w));
                const r = await fetch('/synthetic/tlog/' + m.tilePath(l, n, w));
                return new Uint8Array(await r.arrayBuffer());
            });
            out.push({proof: proof.map(h => m.hex(h)), fetched});
        }
        return out;
    """, {"indexes": indexes, "size": size})
    for i, r in zip(indexes, got):
        assert r["proof"] == [h.hex() for h in prove_inclusion(size, i, store)], i
        levels = [p.split("/")[1] for p in r["fetched"]]
        full = [p for p in r["fetched"] if ".p/" not in p]
        assert len(full) == len({p.split("/")[1] for p in full}) <= 3, (i, r["fetched"])  # one full tile per level at most
        assert len(r["fetched"]) <= 3 + 3, (i, r["fetched"])  # plus the partial tiles of the right edge
        assert set(levels) <= {"0", "1", "2"}
    # Every size's proofs, on a small log: the right edge in every shape.
    for size in (1, 2, 3, 255, 256, 257, 511, 512, 513, 600):
        small = MemoryHashStore()
        for leaf in tiled["synthetic"][:size]:
            small.append_leaf(leaf)
        want = {i: [h.hex() for h in prove_inclusion(size, i, small)] for i in {0, size // 2, size - 1, min(256, size - 1)}}
        got = tiles_call(page, tiled, """
            const tiles = new Map();
            const hashes = await Promise.all(arg.leaves.map(l => m.leafHash(new TextEncoder().encode(l))));
            // Tiles of a `size`-leaf log built in JS from its leaf hashes, for the reader under test.
            const level = async (h, L) => { let cur = h; for (let i = 0; i < 8 * L; i++) { const up = []; for (let j = 0; j + 1 < cur.length; j += 2) up.push(await m.nodeHash(cur[j], cur[j + 1])); cur = up; } return cur; };
            const out = {};
            for (const i of arg.indexes) {
                const proof = await m.inclusionProofFromTiles(i, arg.leaves.length, async (L, n, w) => {
                    const all = await level(hashes, L);
                    const part = all.slice(n * 256, n * 256 + w);
                    if (part.length !== w) throw new Error('asked for a tile that does not exist: ' + m.tilePath(L, n, w));
                    const bytes = new Uint8Array(w * 32); part.forEach((p, k) => bytes.set(p, k * 32)); return bytes;
                });
                out[i] = proof.map(h => m.hex(h));
            }
            return out;
        """, {"leaves": [leaf.decode() for leaf in tiled["synthetic"][:size]], "indexes": sorted(want)})
        assert {int(k): v for k, v in got.items()} == want, size


def test_every_demo_entry_verifies_from_tiles(demo, tiled, page):
    for index in range(len(demo.leaves)):
        r = tiles_call(page, tiled, VERIFY_TILES, {"prefix": "/demo/tlog/", "logVkey": demo.vkey, "entry": index,
                                                   "keyEntry": demo.signer_key_entry(index), "recordId": demo.record(index)["id"]})
        assert r["ok"], (index, r["failed"])
        assert r["fetched"][0] == "checkpoint" and set(r["fetched"][1:]) == {"tile/entries/000.p/34", "tile/0/000.p/34"}


def test_a_larger_log_verifies_from_tiles(demo, tiled, page):
    leaves = tiled["big_leaves"]
    assert tiled["big_counts"] == {0: 3, 1: 1}  # 634 entries: two full level-0 tiles, a partial, a level-1 partial
    for index in (0, 10, 255, 256, 300, 511, 512, len(leaves) - 1):
        env = json.loads(leaves[index])
        r = tiles_call(page, tiled, VERIFY_TILES, {"prefix": "/big/tlog/", "logVkey": demo.vkey, "entry": index,
                                                   "keyEntry": demo.key_entry[env["signer"]], "recordId": env["record"]["id"]})
        assert r["ok"], (index, r["failed"])
        assert r["treeSize"] == len(leaves)
        hash_tiles = [p for p in r["fetched"] if p.startswith("tile/") and "entries" not in p]
        assert len(hash_tiles) <= 4, (index, r["fetched"])


def test_a_tampered_tile_or_bundle_fails_inclusion(demo, tiled, page):
    index = 300
    env = json.loads(tiled["big_leaves"][index])
    for path in ("tile/0/001", "tile/entries/001", "tile/1/000.p/2"):
        original = (tiled["root"] / "big" / "tlog" / path).read_bytes()
        at = {"tile/0/001": ((index - 256) ^ 1) * 32 + 3,  # the sibling: the leaf's own hash is recomputed
               "tile/entries/001": sum(2 + len(leaf) for leaf in tiled["big_leaves"][256:index]) + 2 + 40,  # in leaf 300
               "tile/1/000.p/2": 5}[path]
        flipped = original[:at] + bytes([original[at] ^ 1]) + original[at + 1:]
        page.unroute("**/*")
        answer(page, f"{tiled['base']}/big/tlog/{path}", flipped, "application/octet-stream")
        r = tiles_call(page, tiled, VERIFY_TILES, {"prefix": "/big/tlog/", "logVkey": demo.vkey, "entry": index,
                                                   "keyEntry": demo.key_entry[env["signer"]]})
        assert r["failed"] and r["failed"]["name"] == "inclusion", (path, r)


def test_a_claim_page_reads_tiles(demo, tiled, page):
    """The panel, with data-source="tiles", on a page of a static mirror."""
    index = demo.current["claim:ro-microelectronics-90pct"]
    body = claim_page(demo, index, panel={"data_source": "tiles", "data_base": "/demo/tlog/"}).replace(SCRIPT, "/ledger-verify.js")
    (tiled["root"] / "claim.html").write_text(body)
    page.goto(tiled["base"] + "/claim.html")
    page.wait_for_selector("[data-verification=verified], [data-verification=failed]")
    assert page.locator("[data-ledger-verify]").get_attribute("data-verification") == "verified"


# --- witnesses: cosignatures (c2sp.org/tlog-cosignature, cosignature/v1) on the checkpoint --------

def witness(name: str, seed: bytes):
    """A witness key: Ed25519 with signature type 0x04 in its key ID and verifier key."""
    import hashlib

    signer = Signer.from_seed(name, seed)
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + signer.public_key).digest()[:4]
    typed_key = base64.b64encode(b"\x04" + signer.public_key).decode()
    vkey = f"{name}+{key_id.hex()}+{typed_key}"
    return signer, key_id, vkey


def cosignature_line(note_text: str, signer: Signer, key_id: bytes, timestamp: int, signed_time: int | None = None) -> str:
    message = f"cosignature/v1\ntime {timestamp if signed_time is None else signed_time}\n".encode() + note_text.encode()
    body = key_id + timestamp.to_bytes(8, "big") + signer.sign(message)
    return f"— {signer.name} {base64.b64encode(body).decode()}\n"


def test_witness_cosignatures_are_shown(demo, page):
    with urllib.request.urlopen(demo.base + "/-/checkpoint") as r:
        note = r.read().decode()
    text = note[: note.rindex("\n\n") + 1]
    w1, w1_id, w1_vkey = witness("witness-one.example", b"\x31" * 32)
    w2, w2_id, w2_vkey = witness("witness-two.example", b"\x32" * 32)
    t = 1713175200  # 2024-04-15T10:00:00Z
    answer(page, "**/-/checkpoint", (note + cosignature_line(text, w1, w1_id, t)).encode())
    index = demo.current["claim:ro-nitrocellulose"]
    state, check, _ = open_and_wait(page, demo, claim_page(demo, index, panel={"data_witness_vkeys": f"{w1_vkey} {w2_vkey}"}))
    assert (state, check) == ("verified", None)
    summary = page.locator(".verification-summary").inner_text()
    assert summary.endswith("verified in your browser. Cosigned by witness-one.example (2024-04-15T10:00:00Z) of 2 witnesses.")
    assert "witness-two.example did not cosign" in page.locator("li[data-check=witnesses] code").text_content()
    # Without witness keys on the page, the cosignature is an unknown signature: ignored.
    assert open_and_wait(page, demo, claim_page(demo, index))[:2] == ("verified", None)
    # A cosignature whose time is not the one signed does not verify.
    page.unroute("**/-/checkpoint")
    answer(page, "**/-/checkpoint", (note + cosignature_line(text, w1, w1_id, t, signed_time=t + 1)).encode())
    state, check, shown = open_and_wait(page, demo, claim_page(demo, index, panel={"data_witness_vkeys": w1_vkey}))
    assert (state, check) == ("failed", "witnesses")
    assert "The cosignature of the witness witness-one.example on the checkpoint does not verify." in shown


def test_proofs_for_another_size_are_asked_again_at_the_checkpoints(demo, page):
    """Entries and proofs are asked for while the checkpoint downloads; if the log grew in
    between (here: /-/checkpoint answers an older checkpoint), the proofs are asked again
    at the checkpoint's size."""
    with urllib.request.urlopen(demo.base + "/-/ledger.json") as r:
        sizes = json.loads(r.read())["checkpoint_sizes"]
    older = [s for s in sizes if 12 < s < len(demo.leaves)][0]
    with urllib.request.urlopen(f"{demo.base}/-/checkpoint/{older}") as r:
        answer(page, "**/-/checkpoint", r.read())
    asked = []
    page.on("request", lambda req: asked.append(req.url.split("/-/")[1]) if "/-/proof/" in req.url else None)
    index = demo.current["claim:ro-microelectronics-90pct"]
    assert index < older
    state, check, text = open_and_wait(page, demo, claim_page(demo, index))
    assert (state, check) == ("verified", None), text
    assert f"included in the log at entry {index} of {older}," in text
    assert f"proof/inclusion/{index}.json" in asked and f"proof/inclusion/{index}.json?size={older}" in asked


def test_a_partial_tile_that_is_gone_is_read_from_the_full_tile(demo, tiled, page):
    """tlog-tiles "Partial Tiles": a log may delete a partial tile once the full one exists;
    a client at the older checkpoint reads the full tile instead."""
    for index in (600, len(tiled["big_leaves"]) - 1, 10):
        env = json.loads(tiled["big_leaves"][index])
        r = tiles_call(page, tiled, VERIFY_TILES, {"prefix": "/grown/tlog/", "logVkey": demo.vkey, "entry": index,
                                                   "keyEntry": demo.key_entry[env["signer"]]})
        assert r["ok"], (index, r["failed"])
        assert r["treeSize"] == len(tiled["big_leaves"])
        if index >= 512:
            assert {"tile/entries/002.p/122", "tile/entries/002", "tile/0/002.p/122", "tile/0/002"} <= set(r["fetched"]), r["fetched"]


# --- the parsers and the proof check against the vectors the Python code passes --------------------

VECTORS = Path(__file__).parent / "vectors"
B64 = "(s) => s ? Uint8Array.from(atob(s), c => c.charCodeAt(0)) : new Uint8Array(0)"


def test_inclusion_vectors_give_the_same_answers_in_js(demo, page):
    """transparency-dev/merkle's RFC 6962 inclusion vectors (tests/vectors/rfc6962/inclusion)."""
    cases = [{"name": str(p.relative_to(VECTORS)), **json.loads(p.read_text())}
             for p in sorted((VECTORS / "rfc6962" / "inclusion").rglob("*.json"))]
    assert len(cases) > 20
    got = module_call(page, demo, f"""
        const b = {B64};
        const out = [];
        for (const c of arg) {{
            try {{ await m.verifyInclusion(c.leafIdx, c.treeSize, b(c.leafHash), (c.proof || []).map(b), b(c.root)); out.push(false); }}
            catch (e) {{ out.push(true); }}
        }}
        return out;
    """, cases)
    assert {c["name"]: e for c, e in zip(cases, got)} == {c["name"]: c["wantErr"] for c in cases}


def test_signed_note_vectors_and_rejections_match_ledger_note(demo, page):
    from ledger.errors import LedgerError
    from ledger.note import open_note_untrusted, sign_note

    cases = [(c["vkey"], c["note"]) for c in json.loads((VECTORS / "signed-note.json").read_text())]
    alice = Signer.from_seed("example.com/alice", bytes(range(32)))
    bob = Signer.from_seed("bob.example/log", bytes(32))
    text = "hello\nworld\n"
    signed = sign_note(text, [alice])
    line = signed[len(text) + 1:]
    for note in (text + line, text + "\n\n" + line, signed + "\n", signed[:-1], text + "\n", text + "\n" + line.replace("\u2014", "-"),
                 text + "\n" + line.replace(" ", "  ", 1), signed[:-2] + "!\n", signed[:-3] + "B=\n", text + "\n\u2014 " + alice.name + " AAAA\n",
                 "hel\x01lo\n\n" + line, "hello\r\n\n" + line, text.replace("world", "w0rld") + "\n" + line, sign_note(text, [bob]),
                 text + "\n" + line.replace(alice.name, "example.com/mallory"), signed, sign_note(text, [bob, alice]),
                 sign_note("a\n\nb\n", [alice]), text + "\n" + line * 101):
        cases.append((alice.vkey, note))
    want = []
    for vkey, note in cases:
        try:
            open_note_untrusted(note, [parse_verifier_key_untrusted(vkey)])
            want.append(None)
        except LedgerError:
            want.append("rejected")
    got = module_call(page, demo, """
        const out = [];
        for (const [vkey, note] of arg) {
            try { await m.openNote(note, await m.parseVerifierKey(vkey)); out.push(null); } catch (e) { out.push('rejected'); }
        }
        return out;
    """, cases)
    assert got == want
    # Accepted: the 3 valid vectors, the note, the note signed by two keys, a text with a blank line.
    assert want.count(None) == 6


def test_verifier_keys_are_accepted_and_refused_as_ledger_note_does(demo, page):
    import hashlib

    from ledger.errors import LedgerError

    alice = Signer.from_seed("example.com/alice", bytes(range(32)))

    def vkey(name="example.com/alice", hex_id=None, key=None):
        key = b"\x01" + alice.public_key if key is None else key
        hex_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() if hex_id is None else hex_id
        return f"{name}+{hex_id}+{base64.b64encode(key).decode()}"
    cases = [alice.vkey, demo.vkey, vkey(name=""), vkey(name="a b"), vkey(name="a\tb"), vkey(name="a\u00a0b"),
             vkey(name="a\u007fb"), vkey(name="ünï/cødé"), vkey(hex_id="1234567"), vkey(hex_id="123456789"),
             vkey(hex_id=alice.key_id.hex().upper()), vkey(hex_id="00000000"), vkey(key=b"\x02" + alice.public_key),
             vkey(key=b"\x01" + alice.public_key[:31]), vkey(key=b"\x01" + alice.public_key + b"\x00"), vkey(key=b""),
             alice.vkey + "=", alice.vkey[:-1] + "\n", "a+b+" + alice.vkey.split("+", 2)[2], "no-plus-at-all"]
    want = []
    for case in cases:
        try:
            parse_verifier_key_untrusted(case)
            want.append(None)
        except LedgerError:
            want.append("rejected")
    got = module_call(page, demo, """
        const out = [];
        for (const v of arg) { try { await m.parseVerifierKey(v); out.push(null); } catch (e) { out.push('rejected'); } }
        return out;
    """, cases)
    assert dict(zip(cases, got)) == dict(zip(cases, want))
    assert want.count(None) == 4


# The real claim pages, as served (wired by publish/templates/ledger_claim.html), are checked in
# tests/test_browser_reader.py: every demo claim page verified, and a changed claims row failed.
