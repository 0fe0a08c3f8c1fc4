"""More bad inputs: the commands and cases tests/test_cli.py's corpus does not reach.

Same rule, same runner (``test_cli.test_bad_input``): exit code 1, exactly one
line ``Error: ...``, no traceback, nothing on stdout, and every file the command
was given byte-identical afterwards. Together with test_cli.BAD this covers
every command and the issue's list (schema violations, wrong types, huge
fields, invalid UTF-8, control characters, wrong key, revoked key, wrong
passphrase, missing snapshot, quote not found, duplicate IDs, a revision of a
non-existent record, a version gap).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import test_cli
from conftest import sha256_of_file
from test_cli import APPEND, SRC, Bad, _rec, appending, bad_ctx  # noqa: F401  (bad_ctx is a fixture)

RANDOM = {"random.db": bytes(range(256)) * 8}

MORE_BAD = [
    # --- append JSONL -------------------------------------------------------------------------
    appending("duplicate-ids-in-one-batch", _rec(**SRC) + "\n" + _rec(**{**SRC, "title": "Again"}) + "\n",
              "already exists", exact=False, process=True),
    appending("invalid-utf8-json-object", b'{"kind": "source", "id": "source:new", "type": "article", "title": "\xc3\x28"}',
              "not valid UTF-8", exact=False, process=True),
    appending("nul-in-text", _rec(**{**SRC, "title": "a\u0000b"}), "is not valid here", exact=False),
    appending("line-field-too-long", _rec(**{**SRC, "title": "x" * 1001}), "more than the limit of 1000", exact=False),
    appending("list-instead-of-object", _rec(**{**SRC, "links": {"rel": "cites", "source": "source:x"}}),
              "Error: record 1: $.links: expected array", exact=False),
    appending("revoked-key-append", _rec(**SRC), "which was revoked at entry ", exact=False, process=True),
    Bad("append-missing-snapshot-file", APPEND + ("--snapshot", "{tmp}/nope.txt"),
        "Error: cannot read {tmp}/nope.txt: No such file or directory", files={"r.jsonl": _rec(**SRC)}),
    # --- commands test_cli's corpus does not cover ------------------------------------------------
    Bad("history-nonexistent", ("history", "{db}", "claim:nope"), "Error: no record 'claim:nope' in this ledger"),
    Bad("correct-nonexistent", ("correct", "{db}", "claim:nope", "--key", "{ana}", "--set", "text=x", "--reason", "r"),
        "Error: no record 'claim:nope' in this ledger"),
    Bad("retract-nonexistent", ("retract", "{db}", "claim:nope", "--key", "{ana}", "--reason", "r"),
        "Error: no record 'claim:nope' in this ledger", process=True),
    Bad("rebuild-nonexistent-db", ("rebuild", "{tmp}/nope.db"),
        "Error: no ledger at {tmp}/nope.db; create one with 'ledger init {tmp}/nope.db'"),
    Bad("log-random-bytes-db", ("log", "{tmp}/random.db"), "Error: {tmp}/random.db is not a ledger file (file is not a database)",
        files=RANDOM),
    Bad("checkpoint-nonexistent-db", ("checkpoint", "{tmp}/nope.db"),
        "Error: no ledger at {tmp}/nope.db; create one with 'ledger init {tmp}/nope.db'"),
    Bad("export-random-bytes-db", ("export", "{tmp}/random.db"), "Error: {tmp}/random.db is not a ledger file (file is not a database)",
        files=RANDOM),
    Bad("key-vkey-missing-file", ("key", "vkey", "{tmp}/nope.key"), "Error: cannot read {tmp}/nope.key: No such file or directory"),
    Bad("serve-not-a-ledger", ("serve", "{tmp}/random.db", "--port", "0"),
        "Error: {tmp}/random.db is not a ledger file (file is not a database)", files=RANDOM, process=True),
    Bad("publish-nonexistent-db", ("publish", "{tmp}/nope.db", "{tmp}/site"),
        "Error: no ledger at {tmp}/nope.db; create one with 'ledger init {tmp}/nope.db'", process=True),
    Bad("wrong-log-key-passphrase", ("key", "add", "{db}", "{eve_vkey}", "--display-name", "Eve", "--log-key", "{log}"),
        "Error: wrong passphrase for {log}", base="fresh", env={"LEDGER_LOG_PASSPHRASE": "not the passphrase"}, process=True),
    Bad("ratings-set-not-an-object", ("ratings", "set", "{db}", "{tmp}/r.json", "--key", "{ana}"),
        "Error: {tmp}/r.json: expected a JSON object with 'title' and 'labels'", files={"r.json": "[1, 2]"}),
]


def test_more_bad_corpus_is_distinct():
    ids = [case.id for case in test_cli.BAD + MORE_BAD]
    assert len(set(ids)) == len(ids)
    assert len(ids) >= 100


def _params():
    for case in MORE_BAD:
        yield pytest.param(case, case.base, id=case.id)


@pytest.mark.parametrize("case, bad_ctx", list(_params()), indirect=["bad_ctx"])
def test_more_bad_input(case, bad_ctx, tmp_path, run, run_process):
    if case.id == "revoked-key-append":
        bad_ctx = {**bad_ctx, "ana": bad_ctx["mihai"]}  # the JSONL signed by the revoked key
    test_cli.test_bad_input(case, bad_ctx, tmp_path, run, run_process)


@pytest.mark.parametrize("value", [b"\xff\xfe", b"caf\xe9", b"a\x00b"[:1] + b"\xc3"])
def test_invalid_utf8_in_an_argument(ledger_db, editor_key_file, value):
    """A title given on the command line that is not UTF-8 (a Latin-1 terminal, say)."""
    before = sha256_of_file(ledger_db)
    result = subprocess.run([sys.executable.encode(), b"-m", b"ledger", b"source", b"add", str(ledger_db).encode(),
                             b"--key", str(editor_key_file).encode(), b"--id", b"source:x", b"--title", value],
                            capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    err = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert result.returncode == 1, err
    assert len(err.splitlines()) == 1 and err.startswith("Error: "), err
    assert sha256_of_file(ledger_db) == before
