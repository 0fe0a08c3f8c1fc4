"""`ledger verify URL` against a real `ledger serve` on 127.0.0.1, honest and tampered."""

import contextlib
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest

from conftest import free_port, ledger_server
import attacks
from rewriting_proxy import Redirect, RewritingProxy
from ledger.demo import build_demo


@pytest.fixture
def serve():
    """Start servers on free ports for one test; returns a function DB -> base URL."""
    with contextlib.ExitStack() as stack:
        yield lambda db_path: stack.enter_context(ledger_server(db_path))


@pytest.fixture
def serve_tampered():
    """What a hostile operator runs: the site without `ledger serve`'s start-up check (which refuses
    most tampered files, tests/test_verify_servable.py); returns a function DB -> base URL."""
    with contextlib.ExitStack() as stack:
        yield lambda db_path: stack.enter_context(attacks.serve_unchecked(db_path))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site-verify")
    ledger = build_demo(tmp / "demo.db", tmp / "keys")
    vkey = ledger.log_vkey
    ledger.close()
    return tmp / "demo.db", vkey


def verify(*args):
    return subprocess.run([sys.executable, "-m", "ledger", "verify", *args], capture_output=True, text=True, timeout=120)


def test_verify_a_live_site(demo, serve):
    db, vkey = demo
    base = serve(db)
    result = verify(base, "--vkey", vkey)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: every check holds." in result.stdout
    assert "9 signed checkpoints match the tree" in result.stdout
    assert "claims, claim_versions, claim_chain" in result.stdout


def test_a_site_showing_text_the_log_does_not_contain_fails(demo, serve, tmp_path):
    # ledger serve's start-up check is structural: a consistent change of a row's values passes it (verify catches it).
    db, vkey = demo
    forged = tmp_path / "forged.db"
    shutil.copy(db, forged)
    conn = sqlite3.connect(forged)
    conn.execute("UPDATE claims SET translation = 'China supplies nothing to Russia' WHERE id = 'claim:ro-microelectronics-90pct'")
    conn.commit()
    conn.close()
    result = verify(serve(forged), "--vkey", vkey)
    assert result.returncode == 1
    assert "table claims: row claim:ro-microelectronics-90pct column translation: expected " in result.stdout
    assert "found 'China supplies nothing to Russia'" in result.stdout
    assert "FAILED: 1 problem(s):" in result.stdout
    site_tables = next(line for line in result.stdout.splitlines() if line.strip().startswith("site tables"))
    assert " claims," not in site_tables


def test_a_site_of_another_log_key_fails_when_pinned(demo, serve, tmp_path):
    db, _ = demo
    other = "someone.example/log+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    result = verify(serve(db), "--vkey", other)
    assert result.returncode == 1
    assert result.stderr == "Error: verifier key someone.example/log: key ID expected c5017f7e, found 00000000\n"


def test_an_unreachable_site_is_a_one_line_error():
    result = verify(f"http://127.0.0.1:{free_port()}/")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot reach http://127.0.0.1:")
    assert result.stderr.count("\n") == 1


def test_a_site_signed_by_another_log_key_fails_at_entry_0(demo, serve):
    from ledger.note import Signer

    db, vkey = demo
    impostor = Signer.from_seed("demo.fact-ledger.example/log", b"\x42" * 32).vkey
    result = verify(serve(db), "--vkey", impostor)
    assert result.returncode == 1
    assert f"entry 0: log key is {vkey}, expected the pinned {impostor}" in result.stdout


# --- 1. --since: the site cannot answer the rewritten log first and the original second --------
@pytest.fixture(scope="module")
def rewrite(tmp_path_factory):
    """The security ledger and a rewrite of it re-signed by the log key holder, a checkpoint saved from the original."""
    from security_ledger import LOG, build_full_ledger
    from test_rewrite import change_claim_5

    tmp = tmp_path_factory.mktemp("site-rewrite")
    build_full_ledger(tmp / "original.db").close()
    build_full_ledger(tmp / "rewritten.db", with_change=change_claim_5).close()
    from ledger.api import Ledger

    with Ledger.open(tmp / "original.db", readonly=True) as ledger:
        (tmp / "saved.checkpoint").write_text(ledger.latest_checkpoint_note())
    return tmp, LOG.vkey


@pytest.mark.parametrize("path", ["", "-/tlog/"], ids=["site", "tiles"])
def test_since_over_a_proxy_that_answers_the_rewrite_first_and_the_original_after(rewrite, serve, path):
    tmp, vkey = rewrite
    rewritten, original = serve(tmp / "rewritten.db"), serve(tmp / "original.db")

    def choose(path, seen):
        # What a hostile mirror does: the rewritten log the first time anything is asked,
        # the original the second time (when an old verify fetched the entries again for --since).
        return (rewritten if seen == 0 else original), None

    with RewritingProxy(choose) as proxy:
        result = verify(proxy.base + path, "--vkey", vkey, "--since", tmp / "saved.checkpoint")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "  - --since: history was rewritten: the saved checkpoint of size " in result.stdout
    # Every root comes from the one set of bytes that was checked: the site's entries, or the tiles
    # (the saved size's root comes from them too).
    assert proxy.asked_twice() == []


def test_since_over_the_honest_site_passes(rewrite, serve):
    tmp, vkey = rewrite
    result = verify(serve(tmp / "original.db"), "--vkey", vkey, "--since", tmp / "saved.checkpoint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "since         extends the checkpoint of size " in result.stdout


# --- what a claim page shows: index-only rows, and the rest of what readers see (items 2 and 5) ------
CLAIM = "claim:ro-microelectronics-90pct"


@pytest.fixture
def tampered(demo, tmp_path):
    """A copy of the demo file to tamper with: (path, the log's key)."""
    db, vkey = demo
    copy = tmp_path / "demo.db"
    shutil.copy(db, copy)
    return copy, vkey


def claim_page_text(base, claim_id):
    import urllib.request

    with urllib.request.urlopen(base + "claim/" + claim_id.split(":", 1)[1]) as page:
        return page.read().decode()


def test_a_claims_row_reachable_only_through_its_index_fails(tampered, serve_tampered):
    db, vkey = tampered
    attacks.index_only_row(db, CLAIM, text="China supplies nothing to Russia", verdict="true")
    base = serve_tampered(db)
    assert "China supplies nothing to Russia" in claim_page_text(base, CLAIM)  # what a reader is shown
    result = verify(base, "--vkey", vkey)
    assert result.returncode == 1, result.stdout
    # The extra row, read from the table itself; the index that leads the claim page to it; the listing that skips it.
    assert f"  - table claims: row {CLAIM} appears 2 times (the entries produce it once)" in result.stdout
    assert "  - table claims: the row at rowid 2 is not where index sqlite_autoindex_claims_1 leads" in result.stdout
    assert "  - table claims: index claims_entry holds 16 entries for the 17 rows of the table" in result.stdout


def test_a_swapped_log_key_in_meta_fails_with_and_without_vkey(tampered, serve_tampered):
    from ledger.note import Signer

    db, vkey = tampered
    impostor = Signer.from_seed("demo.fact-ledger.example/log", b"\x66" * 32).vkey
    attacks.swap_meta_vkey(db, impostor)
    base = serve_tampered(db)
    for pinned in ([ "--vkey", vkey], []):
        result = verify(base, *pinned)
        assert result.returncode == 1, result.stdout
        assert f"  - site key: /-/vkey states the log key {impostor}, but the log's key (entry 0" in result.stdout
        assert f"  - site key: /-/ledger.json states the log key {impostor}" in result.stdout
        assert f"  - site key: the home page states the log key {impostor}" in result.stdout
        assert f"  - meta: log_vkey is '{impostor}' on the site; entry 0 gives '{vkey}'" in result.stdout


def test_without_vkey_the_report_says_the_key_came_from_the_site_with_its_fingerprint(demo, serve):
    import hashlib

    db, vkey = demo
    result = verify(serve(db))
    assert result.returncode == 0, result.stdout
    digest = hashlib.sha256((vkey + "\n").encode()).hexdigest()
    assert f"  fingerprint   {' '.join(digest[i:i + 8] for i in range(0, 64, 8))}\n" in result.stdout
    assert "warning: the log key was not pinned (--vkey): it was taken from the site (entry 0 of the log it serves)" in result.stdout


def test_a_claim_deleted_from_the_search_index_fails(tampered, serve_tampered):
    db, vkey = tampered
    attacks.hide_from_search(db, CLAIM)
    result = verify(serve_tampered(db), "--vkey", vkey)
    assert result.returncode == 1, result.stdout
    assert f"  - search: {CLAIM} is not found by a search for the words of its own text" in result.stdout
    assert "FAILED: 1 problem(s):" in result.stdout


@pytest.mark.parametrize("column, value", [("signer", "mallory@evil.example+00000000"), ("record_id", "claim:invented")])
def test_rewritten_columns_of_the_entries_table_fail(tampered, serve_tampered, column, value):
    db, vkey = tampered
    with attacks.connect(db) as conn, attacks.unlocked(conn, "entries"):
        conn.execute(f"UPDATE entries SET {column} = ? WHERE idx = 10", (value,))
    result = verify(serve_tampered(db), "--vkey", vkey)
    assert result.returncode == 1, result.stdout
    assert "  - entry 10: stored columns (" in result.stdout and value in result.stdout


def test_an_extra_table_the_site_lists_fails(tampered, serve_tampered):
    db, vkey = tampered
    with attacks.connect(db) as conn:
        conn.execute("CREATE TABLE corrections_official (claim TEXT, note TEXT)")
        conn.execute("INSERT INTO corrections_official VALUES (?, 'All claims withdrawn')", (CLAIM,))
    base = serve_tampered(db)
    import urllib.request

    with urllib.request.urlopen(base + "demo") as database_page:  # the home page's link to the tables
        assert "corrections_official" in database_page.read().decode()
    result = verify(base, "--vkey", vkey)
    assert result.returncode == 1, result.stdout
    assert "  - schema: the site lists a table 'corrections_official' that is not the ledger's" in result.stdout


def test_renumbered_claim_rowids_fail(tampered, serve_tampered):
    db, vkey = tampered
    attacks.renumber_claims(db, CLAIM, "claim:ro-imports-q4-2023-70pct")
    result = verify(serve_tampered(db), "--vkey", vkey)
    assert result.returncode == 1, result.stdout
    assert f"  - table claims: row {CLAIM} column rowid: expected 2, found 18" in result.stdout


def test_a_snapshot_no_record_names_fails(tampered, serve_tampered):
    db, vkey = tampered
    sha = attacks.add_unreferenced_snapshot(db)
    result = verify(serve_tampered(db), "--vkey", vkey)
    assert result.returncode == 1, result.stdout
    assert f"  - snapshot {sha}: no record refers to it" in result.stdout


def test_an_extra_signature_line_on_a_stored_checkpoint_fails(tampered, serve_tampered):
    db, vkey = tampered
    size = attacks.add_signature_line(db)
    result = verify(serve_tampered(db), "--vkey", vkey)
    assert result.returncode == 1, result.stdout
    assert (f"  - checkpoint {size}: a signature line by witness.example/fake+00000000 that no known key can check "
            "(the log key; no witness keys were given)") in result.stdout


# --- 9. only the site's own addresses: no next_url, link or redirect elsewhere ------------------------
@pytest.fixture
def internal_server():
    """A server on another port standing for an internal address; counts what it is asked."""
    import http.server
    import threading

    asked = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            body = b'{"rows": [{"id": "INTERNAL-ONLY-DATA"}], "next_url": null}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", asked
    server.shutdown()
    server.server_close()


def test_next_url_pointing_at_a_local_file_or_an_internal_address_is_not_followed(demo, serve, tmp_path, internal_server):
    db, vkey = demo
    secret = tmp_path / "secret.json"
    secret.write_text('{"rows": [{"id": "LOCAL-FILE-CONTENT"}], "next_url": null}')
    internal, asked = internal_server
    targets = iter([secret.as_uri(), internal + "internal.json"] * 1000)
    upstream = serve(db)

    def point_next_url_elsewhere(body):
        # Every JSON page of a listing now says its next page is elsewhere.
        return body.replace(b'"next_url": null', f'"next_url": "{next(targets)}"'.encode())

    with RewritingProxy(lambda path, seen: (upstream, point_next_url_elsewhere)) as proxy:
        result = verify(proxy.base, "--vkey", vkey)
    assert "LOCAL-FILE-CONTENT" not in result.stdout + result.stderr
    assert "INTERNAL-ONLY-DATA" not in result.stdout + result.stderr
    assert asked == []
    assert result.returncode == 0, result.stdout + result.stderr  # what the site serves is right; only its links lie


def test_a_redirect_to_another_address_is_refused(demo, serve, internal_server):
    db, vkey = demo
    internal, asked = internal_server
    upstream = serve(db)

    def choose(path, seen):
        return (Redirect(internal + "ledger.json") if path.startswith("/-/ledger.json") else upstream), None

    with RewritingProxy(choose) as proxy:
        result = verify(proxy.base, "--vkey", vkey)
    assert asked == []
    assert result.returncode == 1
    assert result.stderr == (f"Error: {proxy.base}-/ledger.json: the site redirects to {internal}ledger.json, outside "
                             f"http://{proxy.base[7:-1]}; verify follows the site's own addresses only\n")


# --- what the verifier needs of a site ------------------------------------------------------------------
def test_a_site_returning_few_rows_a_request_is_read_in_as_many_parts(demo):
    db, vkey = demo
    with attacks.serve_unchecked(db, "max_returned_rows", "7") as base:
        result = verify(base, "--vkey", vkey)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = re.search(r"indexes +(\d+) indexes lead to exactly the rows of their tables", result.stdout)
    assert checked and int(checked[1]) >= 20, result.stdout  # every index of every table the pages read


def test_a_site_refusing_sql_is_one_error_line(demo):
    db, vkey = demo
    with attacks.serve_unchecked(db, "default_allow_sql", "off") as base:
        result = verify(base, "--vkey", vkey)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"Error: {base}demo.json?sql=")
    assert result.stderr.endswith(": HTTP 403: the site does not answer read-only SQL queries, which verify needs to check "
                                  "what its pages read; verify the ledger file or an export instead\n")
