"""Snapshots served by a real ``ledger serve`` can never be a page of the ledger's origin (issue 13 item 4).

The attack: an archived HTML page reading "RETRACTION: all claims withdrawn"
(with a script), served from ``/-/snapshots/`` with its own media type, is a
page of the ledger's own site. The operator can add such a snapshot that no
record names (a row in the snapshots table); an editor can archive one
honestly. Now only inert types (plain text and raster images) keep their
media type; other text is served as ``text/plain``, PDF as a download and
everything else as ``application/octet-stream`` download, always with
``nosniff`` and a sandboxing CSP; ``X-Ledger-Media-Type`` carries the stored
type. Script media types are refused at append.
"""

from __future__ import annotations

import hashlib
import http.client
import sqlite3
import urllib.parse

import pytest

from conftest import chromium, ledger_server
from ledger.api import Ledger
from ledger.note import Signer

T = "2024-05-01T10:00:00Z"
LOG = Signer.from_seed("snapshots.example/log", b"\x61" * 32)
ANA = Signer.from_seed("ana@snapshots.example", b"\x62" * 32)
RETRACTION = (b"<!doctype html><html><head><title>RETRACTION</title></head><body>"
              b"<h1>RETRACTION: all claims withdrawn</h1>"
              b"<script>document.title = 'script ran'; window.ran = true;</script></body></html>")
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="50"><script>document.title = "script ran"</script>'
       b"<text y='20'>RETRACTION</text></svg>")
XHTML = (b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>RETRACTION</title></head>'
         b"<body><script>document.title = 'script ran'</script></body></html>")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

# (name, content, stored media type, served Content-Type, disposition)
SNAPSHOTS = [
    ("html", RETRACTION, "text/html; charset=utf-8", "text/plain; charset=utf-8", "inline"),
    ("html-latin2", b"<p>Ministerul: \xb1</p>", "text/html; charset=iso-8859-2", "text/plain; charset=iso-8859-2", "inline"),
    ("markdown", b"# RETRACTION\n", "text/markdown", "text/plain; charset=utf-8", "inline"),
    ("xhtml", XHTML, "application/xhtml+xml", "text/plain; charset=utf-8", "inline"),
    ("svg", SVG, "image/svg+xml", "application/octet-stream", "attachment"),
    ("pdf", PDF, "application/pdf", "application/pdf", "attachment"),
    ("png", PNG, "image/png", "image/png", "inline"),
    ("text", "Textul articolului.\n".encode(), "text/plain; charset=utf-8", "text/plain; charset=utf-8", "inline"),
    ("text-bare", b"plain\n", "text/plain", "text/plain; charset=utf-8", "inline"),
    ("binary", b"\x00\x01<html><script>x</script>", "application/octet-stream", "application/octet-stream", "attachment"),
]
# What the operator adds to the file: a snapshot row that no record names, claiming to be HTML.
UNREFERENCED = b"<!doctype html><h1>RETRACTION: all claims withdrawn</h1><script>window.ran = true</script> (operator)"


def build_snapshot_ledger(path) -> Ledger:
    ledger = Ledger.create(path, LOG, display_name="Snapshot desk", created=T)
    ledger.register_key(ANA.vkey, "Ana", LOG, LOG)
    for name, content, media_type, *_ in SNAPSHOTS:
        ledger.add_source(f"source:{name}", f"Archived {name}", ANA, LOG, snapshot=(content, media_type), created=T)
    return ledger


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real ``ledger serve`` of a ledger with every kind of snapshot, plus one the operator slipped in."""
    path = tmp_path_factory.mktemp("snapshots") / "desk.db"
    build_snapshot_ledger(path).close()
    honest = path.with_name("honest.db")
    honest.write_bytes(path.read_bytes())
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO snapshots VALUES (?, ?, ?, ?)", (sha(UNREFERENCED), "text/html", len(UNREFERENCED), UNREFERENCED))
    conn.close()
    with ledger_server(path) as base, ledger_server(honest) as honest_base:
        yield base, honest_base


def fetch(base: str, path: str):
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


@pytest.mark.parametrize("name,content,media_type,content_type,disposition", SNAPSHOTS, ids=[s[0] for s in SNAPSHOTS])
def test_each_snapshot_is_served_inert(name, content, media_type, content_type, disposition, served):
    base, _ = served
    response, body = fetch(base, f"/-/snapshots/{sha(content)}")
    assert response.status == 200 and body == content
    assert response.getheader("Content-Type") == content_type
    assert response.getheader("Content-Disposition").split(";")[0] == disposition
    assert response.getheader("Content-Disposition").startswith(f'{disposition}; filename="{sha(content)}.')
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    csp = response.getheader("Content-Security-Policy")
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert response.getheader("X-Ledger-Media-Type") == media_type
    assert not response.getheader("Content-Type").startswith(("text/html", "image/svg", "application/xhtml", "text/javascript"))


def test_the_operators_unreferenced_html_is_served_as_text(served):
    base, _ = served
    response, body = fetch(base, f"/-/snapshots/{sha(UNREFERENCED)}")
    assert body == UNREFERENCED
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_datasettes_blob_route_is_a_download_too(served):
    base, _ = served
    response, body = fetch(base, f"/desk/snapshots/{sha(RETRACTION)}.blob?_blob_column=content")
    assert response.status == 200 and body == RETRACTION
    assert response.getheader("Content-Disposition").startswith("attachment")
    assert not response.getheader("Content-Type").startswith("text/html")
    assert response.getheader("X-Content-Type-Options") == "nosniff"


@pytest.mark.browser
def test_a_browser_shows_the_archived_pages_as_text_and_runs_nothing(served):
    base, _ = served
    with chromium() as browser:
        page = browser.new_page()
        for content in (RETRACTION, UNREFERENCED, XHTML):
            page.goto(f"{base}-/snapshots/{sha(content)}")
            assert page.evaluate("document.contentType") == "text/plain"
            assert page.evaluate("window.ran === undefined && document.title !== 'script ran'")
            assert page.locator("h1").count() == 0
            assert content.decode() in page.locator("body").inner_text()
        # The SVG (with its script) is a download; navigated to from a page of the ledger, not from a sandboxed snapshot.
        page.goto(f"{base}-/vkey")
        with page.expect_download() as download:
            page.evaluate(f"location.href = '{base}-/snapshots/{sha(SVG)}'")
        assert download.value.suggested_filename == f"{sha(SVG)}.svg"


def test_url_verify_compares_the_stored_media_type(served, run):
    """Serving HTML as text must not hide the stored type from ``ledger verify URL``: X-Ledger-Media-Type carries it."""
    _, honest_base = served
    result = run("verify", honest_base, "--vkey", LOG.vkey)
    assert result.exit_code == 0, result.stdout + result.stderr


SCRIPT_TYPES = ["text/javascript", "application/javascript", "application/x-javascript", "text/ecmascript",
                "text/javascript; charset=utf-8", "text/jscript", "text/livescript", "text/javascript1.5"]


@pytest.mark.parametrize("media_type", SCRIPT_TYPES)
def test_append_refuses_script_media_types(media_type, run, tmp_path, file_hash):
    path = tmp_path / "desk.db"
    build_snapshot_ledger(path).close()
    keys = tmp_path / "ana.key"
    from ledger.keys import write_key_file

    write_key_file(keys, ANA, None)
    script = tmp_path / "app.js"
    script.write_bytes(b"document.body.innerHTML = 'RETRACTION: all claims withdrawn'")
    before = file_hash(path)
    result = run("source", "add", path, "--key", keys, "--log-key", _log_key_file(tmp_path), "--id", "source:js", "--title", "Script",
                 "--snapshot", script, "--media-type", media_type)
    assert result.exit_code == 1 and len(result.stderr_lines) == 1, result.stderr
    assert result.stderr_lines[0].startswith(f'Error: record 1: $.snapshot.media_type: "{media_type}" is not valid here '
                                             "(A media type, type/subtype with an optional charset; not a JavaScript type")
    assert file_hash(path) == before


def _log_key_file(tmp_path):
    from ledger.keys import write_key_file

    path = tmp_path / "log.key"
    if not path.exists():
        write_key_file(path, LOG, None)
    return path
