"""`ledger verify URL` against a real `ledger serve` on 127.0.0.1, honest and tampered."""

import contextlib
import shutil
import sqlite3
import subprocess
import sys

import pytest

from conftest import free_port, ledger_server
from rewriting_proxy import RewritingProxy
from ledger.demo import build_demo


@pytest.fixture
def serve():
    """Start servers on free ports for one test; returns a function DB -> base URL."""
    with contextlib.ExitStack() as stack:
        yield lambda db_path: stack.enter_context(ledger_server(db_path))


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


def test_since_over_a_proxy_that_answers_the_rewrite_first_and_the_original_after(rewrite, serve):
    tmp, vkey = rewrite
    rewritten, original = serve(tmp / "rewritten.db"), serve(tmp / "original.db")

    def choose(path, seen):
        # What a hostile mirror does: the rewritten log the first time anything is asked,
        # the original the second time (when an old verify fetched the entries again for --since).
        return (rewritten if seen == 0 else original), None

    with RewritingProxy(choose) as proxy:
        result = verify(proxy.base, "--vkey", vkey, "--since", tmp / "saved.checkpoint")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "  - --since: history was rewritten: the saved checkpoint of size " in result.stdout
    assert proxy.asked_twice() == []  # every root comes from the one set of bytes that was checked


def test_since_over_the_honest_site_passes(rewrite, serve):
    tmp, vkey = rewrite
    result = verify(serve(tmp / "original.db"), "--vkey", vkey, "--since", tmp / "saved.checkpoint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "since         extends the checkpoint of size " in result.stdout
