"""A holder of the log key rewrites history: caught by ``ledger verify --since`` with a checkpoint saved before.

The attacker holds every key (the worst case): they rebuild the ledger from
the first entry with one old record changed, re-sign every entry and every
checkpoint, and replace the file. On its own the rewritten ledger is perfectly
valid, so a plain ``ledger verify`` passes; only a reader who saved a
checkpoint earlier can tell (docs/security.md).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from security_ledger import LOG, build_full_ledger


def ledger_cli(*args):
    return subprocess.run([sys.executable, "-m", "ledger", *[str(a) for a in args]], capture_output=True, text=True, timeout=300)


def change_claim_5(record):
    if record.get("id") == "claim:c5" and record.get("version", 1) == 1:
        return {**record, "translation": {"language": "en", "text": "a different translation"}}
    return record


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rewrite")
    build_full_ledger(tmp / "original.db").close()
    build_full_ledger(tmp / "rewritten.db", with_change=change_claim_5).close()
    saved = tmp / "saved.checkpoint"
    result = ledger_cli("checkpoint", tmp / "original.db")
    assert result.returncode == 0, result.stderr
    saved.write_text(result.stdout)
    return tmp


def test_the_rewrite_changed_an_old_entry_only(ledgers):
    import sqlite3

    rows = [sqlite3.connect(ledgers / name).execute("SELECT idx, leaf FROM entries ORDER BY idx").fetchall()
            for name in ("original.db", "rewritten.db")]
    differing = [a[0] for a, b in zip(*rows) if a != b]
    assert len(rows[0]) == len(rows[1]) and differing and differing[0] < len(rows[0]) // 2


def test_plain_verify_of_the_rewritten_ledger_passes(ledgers):
    result = ledger_cli("verify", ledgers / "rewritten.db", "--vkey", LOG.vkey)
    assert result.returncode == 0, result.stdout
    assert result.stdout.endswith("OK: every check holds.\n")


def test_verify_since_the_saved_checkpoint_catches_the_rewrite(ledgers, tmp_path):
    # The attacker replaces the file the reader checks.
    target = tmp_path / "desk.db"
    shutil.copyfile(ledgers / "rewritten.db", target)
    result = ledger_cli("verify", target, "--vkey", LOG.vkey, "--since", ledgers / "saved.checkpoint")
    assert result.returncode == 1
    assert "  - --since: history was rewritten: the saved checkpoint of size " in result.stdout


def test_verify_since_passes_on_the_honest_ledger(ledgers):
    result = ledger_cli("verify", ledgers / "original.db", "--vkey", LOG.vkey, "--since", ledgers / "saved.checkpoint")
    assert result.returncode == 0, result.stdout
    assert "since         extends the checkpoint of size " in result.stdout


def test_rewrite_plus_new_entries_is_still_caught(ledgers, tmp_path):
    from ledger.api import Ledger
    from security_ledger import ANA, T

    target = tmp_path / "grown.db"
    shutil.copyfile(ledgers / "rewritten.db", target)
    with Ledger.open(target) as ledger:
        ledger.append([{"kind": "source", "id": "source:new", "type": "article", "title": "New", "created": T}], ANA, LOG)
    result = ledger_cli("verify", target, "--vkey", LOG.vkey, "--since", ledgers / "saved.checkpoint")
    assert result.returncode == 1 and "history was rewritten" in result.stdout
