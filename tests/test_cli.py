"""End-to-end tests of the ``ledger`` command line.

Success paths run ``ledger.cli.main`` in-process (fast); the corpus of bad
inputs runs the real entry point, ``python -m ledger``, in a child process, and
asserts the product rule: exit code 1, exactly one line on stderr starting
``Error: `` that says how to fix it, no traceback, and the ledger file
byte-identical.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
import stat
from pathlib import Path

import attrs
import pytest

from conftest import TEST_EDITOR, TEST_ORIGIN, sha256_of_file, test_signer
from ledger.api import Ledger
from ledger.demo import (ARTICLE_PATH, CLAIM_90PCT, CLAIM_DUPLICATE, CLAIM_Q4_IMPORTS, DEMO_ORIGIN, MIHAI, SRC_AP,
                         SRC_ARTICLE)
from ledger.keys import write_key_file

QUOTE_90 = "în 2023 aproximativ 90% din microelectronica Rusiei a venit din China"
ARTICLE_TEXT = ARTICLE_PATH.read_text("utf-8")


def signer_id(vkey: str) -> str:
    """name+keyid of a verifier key (its base64 part may itself hold '+')."""
    return "+".join(vkey.split("+")[:2])


def ok(result):
    """Assert a command succeeded, showing its stderr when it did not."""
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def show_json(run, db, record_id):
    return json.loads(ok(run("show", db, record_id, "--json")).stdout)


def entry_count(db) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM entries").fetchone()[0]


@pytest.fixture
def article_db(run, ledger_db, editor_key_file):
    """The fresh ledger with the seed article as a source (with snapshot) and the AP report it translates."""
    ok(run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:ap", "--title", "AP report"))
    ok(run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:article", "--title", "Articol",
           "--language", "ro", "--snapshot", ARTICLE_PATH, "--third-party", "--link", "translation-of=source:ap"))
    return ledger_db


@pytest.fixture
def claim_db(run, article_db, editor_key_file):
    ok(run("claim", "add", article_db, "--key", editor_key_file, "--id", "claim:c90", "--source", "source:article",
           "--quote", QUOTE_90, "--language", "ro", "--translation", "in 2023 about 90%"))
    return article_db


# === keys ====================================================================================
def test_key_new_is_encrypted_mode_0600(run, tmp_path):
    path = tmp_path / "new.key"
    result = ok(run("key", "new", path, "--name", "ion@desk.example"))
    vkey = result.stdout.strip()
    assert re.fullmatch(r"ion@desk\.example\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}", vkey), vkey
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.startswith(f"fact-ledger-key-name: ion@desk.example\nfact-ledger-key-vkey: {vkey}\nfact-ledger-key-kdf: argon2id ")
    assert ok(run("key", "vkey", path)).stdout.strip() == vkey


def test_key_new_unencrypted_json(run, tmp_path):
    path = tmp_path / "plain.key"
    data = json.loads(ok(run("key", "new", path, "--name", "ion@desk.example", "--unencrypted", "--json")).stdout)
    assert data["file"] == str(path) and data["name"] == "ion@desk.example" and data["encrypted"] is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "-----BEGIN PRIVATE KEY-----" in path.read_text()
    assert "ENCRYPTED" not in path.read_text()
    assert ok(run("key", "vkey", path)).stdout.strip() == data["vkey"]


def test_key_vkey_of_a_ledger_is_the_log_key(run, ledger_db):
    assert ok(run("key", "vkey", ledger_db)).stdout == test_signer(TEST_ORIGIN).vkey + "\n"


def test_key_add_and_revoke(run, ledger_db, tmp_path, file_hash):
    bob = test_signer("bob@test.fact-ledger.example")
    result = ok(run("key", "add", ledger_db, bob.vkey, "--display-name", "Bob", "--json"))
    data = json.loads(result.stdout)
    assert data["tree_size"] == 3
    assert data["entries"] == [{"index": 2, "id": f"key:bob-test.fact-ledger.example-{bob.key_id.hex()}", "kind": "key",
                                "version": 1, "entry_hash": data["entries"][0]["entry_hash"],
                                "signer": signer_id(test_signer(TEST_ORIGIN).vkey)}]
    bob_id = signer_id(bob.vkey)
    result = ok(run("key", "revoke", ledger_db, bob_id, "--reason", "laptop stolen 2024-05-01"))
    assert result.stdout.startswith(f"Appended key:bob-test.fact-ledger.example-{bob.key_id.hex()} v2 as entry 3 (")
    assert result.stdout.endswith("Signed checkpoint: tree size 4\n")
    record = show_json(run, ledger_db, data["entries"][0]["id"])
    assert record["record"]["status"] == "revoked"
    assert record["record"]["reason"] == "laptop stolen 2024-05-01"


# === init =====================================================================================
def test_init_with_new_log_key(run, tmp_path):
    db, key = tmp_path / "new.db", tmp_path / "newlog.key"
    result = ok(run("init", db, "--log-key", key, "--origin", "desk.example/ledger", "--display-name", "The Desk"))
    lines = result.stdout.splitlines()
    assert lines[0] == f"Created {db} (origin desk.example/ledger)"
    assert lines[1].startswith("Log verifier key: desk.example/ledger+")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "ENCRYPTED PRIVATE KEY" in key.read_text()
    assert ok(run("key", "vkey", db)).stdout.strip() == lines[1].split(": ", 1)[1]
    log = json.loads(ok(run("log", db, "--json")).stdout)
    assert [(e["index"], e["id"], e["kind"]) for e in log] == [(0, "key:log", "key")]
    assert show_json(run, db, "key:log")["record"]["display_name"] == "The Desk"


def test_init_with_existing_log_key(run, tmp_path, log_key_file):
    db = tmp_path / "other.db"
    result = ok(run("init", db, "--log-key", log_key_file))
    assert result.stdout == f"Created {db} (origin {TEST_ORIGIN})\nLog verifier key: {test_signer(TEST_ORIGIN).vkey}\n"
    ok(run("verify", db, "--vkey", test_signer(TEST_ORIGIN).vkey))


# === sources and claims =======================================================================
def test_source_add_with_snapshot_and_links(run, article_db):
    data = show_json(run, article_db, "source:article")
    digest = hashlib.sha256(ARTICLE_PATH.read_bytes()).hexdigest()
    assert data["record"]["snapshot"] == {"sha256": digest, "media_type": "text/plain; charset=utf-8",
                                          "size": ARTICLE_PATH.stat().st_size}
    assert data["record"]["links"] == [{"rel": "translation-of", "source": "source:ap"}]
    assert data["record"]["third_party"] is True
    assert data["record"]["language"] == "ro"
    assert data["signer"] == signer_id(test_signer(TEST_EDITOR).vkey)
    with Ledger.open(article_db) as ledger:
        assert ledger.read_snapshot(digest) == ("text/plain; charset=utf-8", ARTICLE_PATH.read_bytes())


def test_source_add_prints_what_was_done(run, ledger_db, editor_key_file):
    result = ok(run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:ap", "--title", "AP",
                    "--url", "https://apnews.example/report", "--published", "2024-04-12"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Appended source:ap v1 as entry 2 (") and lines[0].endswith("…)")
    assert lines[1] == "Signed checkpoint: tree size 3"
    assert result.stderr == ""


def test_claim_add_anchors_the_quote(run, article_db, editor_key_file):
    ok(run("claim", "add", article_db, "--key", editor_key_file, "--id", "claim:c90", "--source", "source:article",
           "--quote", QUOTE_90, "--language", "ro", "--translation", "in 2023 about 90% of Russia's microelectronics",
           "--attributed-to", "two senior officials", "--anonymous", "--attribution-source", "source:ap",
           "--quantity", "90", "--unit", "%", "--period", "2023", "--tag", "microelectronics", "--tag", "weapons",
           "--claim-date", "2024-04-12"))
    data = show_json(run, article_db, "claim:c90")
    record = data["record"]
    start = ARTICLE_TEXT.index(QUOTE_90)
    assert ARTICLE_TEXT.count(QUOTE_90) == 1
    assert record["quote"] == {"exact": QUOTE_90, "start": start, "end": start + len(QUOTE_90),
                               "prefix": ARTICLE_TEXT[start - 32:start], "suffix": ARTICLE_TEXT[start + len(QUOTE_90):start + len(QUOTE_90) + 32]}
    assert record["text"] == QUOTE_90  # --text defaults to the quote
    assert record["translation"] == {"language": "en", "text": "in 2023 about 90% of Russia's microelectronics"}
    assert record["attribution"] == {"text": "two senior officials", "anonymous": True, "source": "source:ap"}
    assert record["quantity"] == {"value": "90", "unit": "%", "period": "2023"}
    assert record["tags"] == ["microelectronics", "weapons"]
    assert record["claim_date"] == "2024-04-12"
    assert (record["version"], data["status"], data["index"]) == (1, "active", 4)


def test_claim_add_ambiguous_quote_with_start(run, article_db, editor_key_file):
    second = ARTICLE_TEXT.index("China", ARTICLE_TEXT.index("China") + 1)
    ok(run("claim", "add", article_db, "--key", editor_key_file, "--id", "claim:china", "--source", "source:article",
           "--quote", "China", "--start", second, "--language", "ro"))
    quote = show_json(run, article_db, "claim:china")["record"]["quote"]
    assert (quote["start"], quote["end"]) == (second, second + 5)


def test_claim_revise_and_history_diff(run, claim_db, editor_key_file):
    result = ok(run("claim", "revise", claim_db, "claim:c90", "--key", editor_key_file,
                    "--translation", "In 2023 about 90% of Russia's microelectronics came from China",
                    "--note", "Fuller translation"))
    assert result.stdout.startswith("Appended claim:c90 v2 as entry 5 (")
    data = show_json(run, claim_db, "claim:c90")
    assert data["record"]["version"] == 2 and data["record"]["note"] == "Fuller translation"
    history = json.loads(ok(run("history", claim_db, "claim:c90", "--json")).stdout)
    assert [v["index"] for v in history["versions"]] == [4, 5]
    assert data["record"]["replaces"] == history["versions"][0]["entry_hash"]
    text = ok(run("history", claim_db, "claim:c90")).stdout.splitlines()
    assert text[0].startswith("v1  entry 4  ")
    assert text[1].startswith("v2  entry 5  ")
    assert text[2] == "    why: Fuller translation"
    assert text[3] == "    translation.text: in 2023 about 90% → In 2023 about 90% of Russia's microelectronics came from China"


def test_revise_any_record_with_set_and_unset(run, article_db, editor_key_file):
    ok(run("revise", article_db, "source:article", "--key", editor_key_file, "--set", "published=2024-04-12",
           "--unset", "third_party", "--note", "Date added"))
    record = show_json(run, article_db, "source:article")["record"]
    assert record["published"] == "2024-04-12" and "third_party" not in record
    assert record["version"] == 2 and record["note"] == "Date added"


def test_review_add(run, claim_db, editor_key_file):
    ok(run("review", "add", claim_db, "--key", editor_key_file, "--id", "review:c90", "--claim", "claim:c90",
           "--label", "Neverificabil", "--label-language", "ro", "--rating", "unproven",
           "--explanation", "The assessment is not public.", "--evidence", "source:ap", "--reviewed", "2024-04-16"))
    record = show_json(run, claim_db, "review:c90")["record"]
    assert record["rating"] == {"label": "Neverificabil", "label_language": "ro", "normalized": "unproven"}
    assert record["claim"] == "claim:c90" and record["evidence"] == ["source:ap"]


def test_correct_then_history_shows_correction(run, claim_db, editor_key_file):
    result = ok(run("correct", claim_db, "claim:c90", "--key", editor_key_file,
                    "--set", "translation.text=In 2023 about 90 percent", "--reason", "Percent spelled out"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Appended claim:c90 v2 as entry 5 (")
    assert lines[1].startswith("Appended correction:claim.c90.v1 v1 as entry 6 (")
    assert lines[2] == "Signed checkpoint: tree size 7"
    history = json.loads(ok(run("history", claim_db, "claim:c90", "--json")).stdout)
    notice = history["notices"][0]["record"]
    assert notice["target_entry"] == history["versions"][0]["entry_hash"]
    assert notice["corrected_entry"] == history["versions"][1]["entry_hash"]
    text = ok(run("history", claim_db, "claim:c90")).stdout
    assert "    why: Correction: Percent spelled out\n" in text
    assert "    translation.text: in 2023 about 90% → In 2023 about 90 percent\n" in text
    assert "\nCORRECTION  entry 6  " in text and text.endswith(": Percent spelled out\n")


def test_retract_then_history_and_show(run, claim_db, editor_key_file):
    result = ok(run("retract", claim_db, "claim:c90", "--key", editor_key_file, "--reason", "Duplicate"))
    assert result.stdout.startswith("Appended retraction:claim.c90.v1 v1 as entry 5 (")
    assert show_json(run, claim_db, "claim:c90")["status"] == "retracted"
    text = ok(run("history", claim_db, "claim:c90")).stdout.splitlines()
    assert text[-1].startswith("RETRACTION  entry 5  ") and text[-1].endswith(": Duplicate")


def test_demo_history_shows_correction_and_retraction(run, demo_db):
    text = ok(run("history", demo_db, CLAIM_Q4_IMPORTS)).stdout
    assert "translation.text: Nearly 70% of Russia's imports of about $900 billion" in text
    assert "→ Nearly 70% of Russia's imports of about $900 million" in text
    assert "\nCORRECTION  entry " in text
    assert ok(run("history", demo_db, CLAIM_DUPLICATE)).stdout.splitlines()[-1].endswith(f": duplicate of {CLAIM_90PCT}")
    assert show_json(run, demo_db, CLAIM_DUPLICATE)["status"] == "retracted"


# === append ===================================================================================
def _claim(i, **extra):
    return {"kind": "claim", "id": f"claim:bulk-{i}", "text": f"claim {i}", "language": "en", "source": "source:ap", **extra}


def test_append_json_object(run, article_db, editor_key_file, tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps(_claim(1)))
    result = ok(run("append", article_db, path, "--key", editor_key_file))
    assert result.stdout.splitlines()[-1] == "Signed checkpoint: tree size 5"
    record = show_json(run, article_db, "claim:bulk-1")["record"]
    assert record["version"] == 1 and record["created"].endswith("Z")  # filled in


def test_append_json_array_and_jsonl(run, article_db, editor_key_file, tmp_path):
    array, jsonl = tmp_path / "a.json", tmp_path / "b.jsonl"
    array.write_text(json.dumps([_claim(1), _claim(2)]))
    jsonl.write_text("".join(json.dumps(_claim(i)) + "\n" for i in (3, 4, 5)))
    data = json.loads(ok(run("append", article_db, array, "--key", editor_key_file, "--json")).stdout)
    assert [(e["index"], e["id"]) for e in data["entries"]] == [(4, "claim:bulk-1"), (5, "claim:bulk-2")]
    data = json.loads(ok(run("append", article_db, jsonl, "--key", editor_key_file, "--json")).stdout)
    assert [(e["index"], e["id"]) for e in data["entries"]] == [(6, "claim:bulk-3"), (7, "claim:bulk-4"), (8, "claim:bulk-5")]
    assert data["tree_size"] == 9


def test_append_from_stdin_anchors_quote(run, article_db, editor_key_file):
    line = json.dumps({**_claim(1, source="source:article", language="ro"), "quote": {"exact": QUOTE_90}})
    ok(run("append", article_db, "-", "--key", editor_key_file, input=line + "\n"))
    quote = show_json(run, article_db, "claim:bulk-1")["record"]["quote"]
    assert quote["start"] == ARTICLE_TEXT.index(QUOTE_90) and quote["end"] == quote["start"] + len(QUOTE_90)


def test_append_with_snapshot(run, ledger_db, editor_key_file, tmp_path):
    content = ARTICLE_PATH.read_bytes()
    source = {"kind": "source", "id": "source:article", "type": "article", "title": "Articol",
              "snapshot": {"sha256": hashlib.sha256(content).hexdigest(), "media_type": "text/plain; charset=utf-8",
                           "size": len(content)}}
    claim = {**_claim(1, source="source:article", language="ro"), "quote": {"exact": QUOTE_90}}
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(source) + "\n" + json.dumps(claim) + "\n")
    result = ok(run("append", ledger_db, path, "--key", editor_key_file, "--snapshot", ARTICLE_PATH))
    assert result.stdout.splitlines()[:2][0].startswith("Appended source:article v1 as entry 2 (")
    assert result.stdout.splitlines()[1].startswith("Appended claim:bulk-1 v1 as entry 3 (")
    ok(run("verify", ledger_db))


def test_append_more_than_twenty_summarizes(run, article_db, editor_key_file, tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(_claim(i)) + "\n" for i in range(25)))
    lines = ok(run("append", article_db, path, "--key", editor_key_file)).stdout.splitlines()
    assert len(lines) == 22 and lines[20] == "... and 5 more" and lines[21] == "Signed checkpoint: tree size 29"


# === reading, export, rebuild =================================================================
def test_show_text(run, claim_db):
    lines = ok(run("show", claim_db, "claim:c90")).stdout.splitlines()
    assert lines[0] == "claim:c90  version 1  status active"
    assert lines[1].startswith("entry 4  hash ") and lines[1].endswith(f"signed by {signer_id(test_signer(TEST_EDITOR).vkey)}")
    assert json.loads("\n".join(lines[2:]))["id"] == "claim:c90"


def test_log(run, claim_db):
    result = ok(run("log", claim_db))
    lines = result.stdout.splitlines()
    assert len(lines) == 6 and lines[-1] == "(5 entries in all)"
    assert lines[4].split()[2:5] == ["claim", "claim:c90", "v1"]
    data = json.loads(ok(run("log", claim_db, "--start", 1, "--limit", 2, "--json")).stdout)
    assert [(e["index"], e["id"]) for e in data] == [(1, "key:ana"), (2, "source:ap")]


def test_rebuild(run, demo_db):
    before = show_json(run, demo_db, CLAIM_90PCT)
    result = ok(run("rebuild", demo_db))
    assert result.stdout == f"Rebuilt the browsing tables from {entry_count(demo_db)} entries\n"
    assert show_json(run, demo_db, CLAIM_90PCT) == before
    ok(run("verify", demo_db))


def test_export_line_i_is_leaf_i(run, demo_db, tmp_path):
    out = tmp_path / "entries.jsonl"
    result = ok(run("export", demo_db, "-o", out))
    count = entry_count(demo_db)
    assert result.stderr == f"Wrote {count} entries to {out}\n"
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == count + 1
    with Ledger.open(demo_db) as ledger:
        for index, leaf in ledger._store.leaves():
            assert lines[index] == leaf
    assert ok(run("export", demo_db)).stdout.encode() == out.read_bytes()
    checkpoint = tmp_path / "checkpoint.txt"
    checkpoint.write_text(ok(run("checkpoint", demo_db)).stdout)
    assert ok(run("verify", out, "--checkpoint", checkpoint)).exit_code == 0


# === checkpoints, proofs, verification ========================================================
def test_checkpoint(run, demo_db):
    count = entry_count(demo_db)
    note = ok(run("checkpoint", demo_db)).stdout
    lines = note.split("\n")
    assert lines[:2] == [DEMO_ORIGIN, str(count)]
    assert base64.b64decode(lines[2]) == Ledger.open(demo_db).root()
    assert lines[3] == "" and lines[4].startswith(f"— {DEMO_ORIGIN} ")
    assert ok(run("checkpoint", demo_db, "--size", 3)).stdout.split("\n")[1] == "3"


def test_prove_inclusion_json(run, demo_db):
    from ledger import tree

    data = json.loads(ok(run("prove", demo_db, 5)).stdout)
    size = entry_count(demo_db)
    assert data["leaf_index"] == 5 and data["tree_size"] == size
    with Ledger.open(demo_db) as ledger:
        tree.verify_inclusion(5, size, ledger.entry(5).leaf_hash, [base64.b64decode(h) for h in data["hashes"]], ledger.root())


def test_prove_consistency(run, demo_db):
    from ledger import tree

    data = json.loads(ok(run("prove", demo_db, "--consistency", 3)).stdout)
    size = entry_count(demo_db)
    assert (data["old_size"], data["tree_size"]) == (3, size)
    with Ledger.open(demo_db) as ledger:
        tree.verify_consistency(3, size, ledger.root(3), ledger.root(), [base64.b64decode(h) for h in data["hashes"]])


def test_prove_tlog_proof_and_verify_claim_offline(run, demo_db, tmp_path):
    with Ledger.open(demo_db) as ledger:
        index, vkey = ledger.current(CLAIM_90PCT).index, ledger.log_vkey
    text = ok(run("prove", demo_db, index, "--format", "tlog-proof")).stdout
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    assert f"\nindex {index}\n" in text
    proof = tmp_path / "claim.tlog-proof"
    proof.write_text(text)
    result = ok(run("verify", CLAIM_90PCT, "--proof", proof, "--vkey", vkey))
    assert result.stdout.startswith(f"OK: {CLAIM_90PCT} is entry {index} of the log, included in the checkpoint of size "
                                    f"{entry_count(demo_db)} signed by {DEMO_ORIGIN}; signed by ana@demo.fact-ledger.example+")
    data = json.loads(ok(run("verify", CLAIM_90PCT, "--proof", proof, "--vkey", vkey, "--json")).stdout)
    assert data["ok"] is True and data["claim_id"] == CLAIM_90PCT and data["leaf_index"] == index


def test_verify_ledger(run, demo_db):
    with Ledger.open(demo_db) as ledger:
        vkey = ledger.log_vkey
    result = ok(run("verify", demo_db))
    assert result.stdout.splitlines()[0] == f"Verified {demo_db}"
    assert "(NOT pinned: taken from entry 0)" in result.stdout
    assert result.stdout.endswith("OK: every check holds.\n")
    pinned = ok(run("verify", demo_db, "--vkey", vkey))
    assert "NOT pinned" not in pinned.stdout and "warning" not in pinned.stdout
    data = json.loads(ok(run("verify", demo_db, "--vkey", vkey, "--json", "--workers", 1)).stdout)
    assert data["ok"] is True and data["vkey_pinned"] is True and data["failures"] == []
    assert data["entries"] == data["signatures"] == data["tree_size"] == entry_count(demo_db)
    assert data["quotes_checked"] >= 10


def test_verify_since_saved_checkpoint(run, claim_db, editor_key_file, tmp_path):
    saved = tmp_path / "saved.checkpoint"
    saved.write_text(ok(run("checkpoint", claim_db)).stdout)
    ok(run("retract", claim_db, "claim:c90", "--key", editor_key_file, "--reason", "test"))
    data = json.loads(ok(run("verify", claim_db, "--since", saved, "--json")).stdout)
    assert data["ok"] is True and data["since"] is not None
    assert json.dumps(data["since"]).count("5")  # the saved tree size is reported


def test_verify_fails_on_a_tampered_ledger(run, claim_db):
    conn = sqlite3.connect(claim_db)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("UPDATE entries SET leaf = replace(leaf, 'about 90%', 'about 99%') WHERE idx = 4")
    conn.commit()
    conn.close()
    result = run("verify", claim_db)
    assert result.exit_code == 1
    assert "OK: every check holds" not in result.stdout


# === bad inputs ===============================================================================
@attrs.frozen
class Bad:
    """One bad command: ARGS with {placeholders}; the single expected stderr line (exact, or a substring)."""

    id: str
    args: tuple
    expected: str
    base: str = "demo"  # "demo" (unencrypted demo keys) or "fresh" (encrypted test keys)
    files: dict = attrs.field(factory=dict)  # name in tmp_path -> bytes or str
    stdin: bytes | None = None
    env: dict = attrs.field(factory=dict)  # None removes a variable
    exact: bool = True
    process: bool = False  # run `python -m ledger` in a child process (the real entry point), not in-process
    xfail: str | None = None


def _rec(**fields):
    return json.dumps(fields, ensure_ascii=False)


SRC = {"kind": "source", "id": "source:new", "type": "article", "title": "New"}
CLAIM = {"kind": "claim", "id": "claim:new", "text": "t", "language": "en", "source": SRC_AP}
R1 = "record 1: "
APPEND = ("append", "{db}", "{tmp}/r.jsonl", "--key", "{ana}")
SOURCE_ADD = ("source", "add", "{db}", "--key", "{ana}", "--id", "source:new", "--title", "New")
CLAIM_ADD = ("claim", "add", "{db}", "--key", "{ana}", "--id", "claim:new", "--source", SRC_ARTICLE, "--language", "ro")


def appending(id, content, expected, **kw):
    """An ``append`` of r.jsonl holding CONTENT (or "{name}": the record built in ``bad_ctx``)."""
    return Bad(id, APPEND, expected, files={"r.jsonl": content}, **kw)


BAD = [
    # --- schema violations -------------------------------------------------------------------
    appending("missing-field", _rec(**{k: v for k, v in SRC.items() if k != "title"}),
              "Error: record 1: $: missing required field 'title'", process=True),
    appending("unknown-field", _rec(**SRC, colour="red"),
              "Error: record 1: $: unknown field 'colour' (allowed: kind, id, version, replaces, created, note, type, title, url, "
              "publisher, author, language, published, retrieved, description, anonymous, public, third_party, license, "
              "snapshot, archives, links)"),
    appending("wrong-type", _rec(**{**SRC, "title": 5}), "Error: record 1: $.title: expected string, found integer 5"),
    appending("version-0", _rec(**SRC, version=0), "Error: record 1: $.version: 0 is less than the minimum 1"),
    appending("bad-id-prefix", _rec(**{**SRC, "id": "claim:new"}),
              "Error: record 1: $.id: a source ID must start with 'source:', found 'claim:new'"),
    appending("float-value", '{"kind": "claim", "id": "claim:new", "text": "t", "language": "en", "source": "%s", '
                             '"quantity": {"value": 90.5}}' % SRC_AP,
              "Error: {tmp}/r.jsonl: number 90.5 has a fraction or exponent; use a decimal string", exact=False, process=True),
    appending("javascript-url", _rec(**SRC, url="javascript:alert(1)"),
              'Error: record 1: $.url: "javascript:alert(1)" is not valid here (An http(s) URL; other schemes (javascript:, data:) are refused.)', process=True),
    appending("oversized-text", _rec(**{**CLAIM, "text": "x" * 20001}),
              "Error: record 1: $.text: 20001 characters, more than the limit of 20000", process=True),
    appending("control-character", _rec(**{**CLAIM, "text": "bell\u0007here"}),
              'Error: record 1: $.text: "bell\\u0007here" is not valid here (Free text: newlines and tabs allowed; no other control '
              'characters (C0, DEL, C1), no bidirectional embedding, override or isolate controls (U+202A-U+202E, U+2066-U+2069), '
              'no private-use characters.); it holds U+0007 (a control character) at code point 4'),
    appending("unknown-kind", _rec(kind="tweet", id="tweet:x"),
              "Error: record 1: $.kind: expected one of source, claim, review, correction, retraction, key", exact=False),
    appending("integer-out-of-range", _rec(**SRC, version=2**60),
              "Error: record 1: $.version: 1152921504606846976 is more than the maximum 1000000"),
    # --- malformed files ---------------------------------------------------------------------
    appending("invalid-utf8-jsonl", (_rec(**SRC) + "\n").encode() + b'{"kind": "source", "title": "\xff"}\n',
              "Error: {tmp}/r.jsonl line 2: not valid UTF-8 at byte 29", process=True),
    appending("malformed-json", '{"kind": "source",', "Error: {tmp}/r.jsonl: malformed JSON at line 1 column 19: ",
              exact=False, process=True),
    appending("malformed-jsonl-line", _rec(**SRC) + "\n" + '{"kind": \n',
              "Error: {tmp}/r.jsonl line 2: malformed JSON at line 1 column 10: ", exact=False),
    appending("empty-file", "", "Error: nothing to append: the batch is empty", exact=False, process=True),
    appending("json-scalar", "42", f"Error: {R1}a record must be a JSON object", process=True),
    appending("nan", '{"kind": "source", "id": "source:new", "version": NaN}', "NaN is not valid JSON", exact=False),
    appending("duplicate-json-key", '{"kind": "source", "id": "source:a", "id": "source:b"}',
              "duplicate object key 'id'", exact=False),
    appending("deeply-nested-json", "[" * 100_000, "Error: {tmp}/r.jsonl: malformed JSON: nested too deeply", process=True),
    appending("huge-integer", '{"kind": "source", "id": "source:new", "version": %s}' % ("9" * 5000),
              "Error: {tmp}/r.jsonl: malformed JSON: an integer has too many digits",
              process=True),
    Bad("stdin-malformed", ("append", "{db}", "-", "--key", "{ana}"), "Error: -: malformed JSON at line 1 column",
        stdin=b"{nope", exact=False, process=True),
    # --- references and rules -----------------------------------------------------------------
    appending("unknown-source", _rec(**{**CLAIM, "source": "source:nope"}),
              "Error: record 1: entry {size} (claim:new v1): source source:nope is not a source in this ledger"),
    Bad("quote-not-in-snapshot", CLAIM_ADD + ("--quote", "nu apare în articol"),
        "Error: quote not found in the snapshot: 'nu apare în articol' (copy it exactly, including diacritics and punctuation)", process=True),
    Bad("ambiguous-quote", CLAIM_ADD + ("--quote", "China"),
        "times in the snapshot; give --start, a prefix or a suffix", exact=False),
    Bad("unknown-claim-for-review", ("review", "add", "{db}", "--key", "{ana}", "--claim", "claim:nope", "--label", "x",
                                     "--rating", "false"),
        "Error: record 1: entry {size} (review:nope-", exact=False),
    Bad("duplicate-id", ("source", "add", "{db}", "--key", "{ana}", "--id", SRC_AP, "--title", "Again"),
        f"Error: record 1: entry {{size}} ({SRC_AP} v1): ID {SRC_AP} already exists (version 1); revise it instead of adding it again"),
    Bad("revise-nonexistent", ("revise", "{db}", "claim:nope", "--key", "{ana}", "--set", "text=x", "--note", "n"),
        "Error: no record 'claim:nope' in this ledger"),
    appending("version-2-of-nonexistent", _rec(**CLAIM, version=2, replaces="0" * 64, note="n"),
              "Error: record 1: entry {size} (claim:new v2): version 2 revises claim:new, which does not exist"),
    appending("version-gap", "{v3}",
              f"Error: record 1: entry {{size}} ({CLAIM_90PCT} v3): expected version 2 of {CLAIM_90PCT}, found 3"),
    appending("wrong-replaces", "{wrong_replaces}",
              f"Error: record 1: entry {{size}} ({CLAIM_90PCT} v2): replaces must be the current version's entry hash ",
              exact=False),
    Bad("revise-retracted", ("claim", "revise", "{db}", CLAIM_DUPLICATE, "--key", "{ana}", "--translation", "x",
                             "--note", "n"),
        f"Error: record 1: entry {{size}} ({CLAIM_DUPLICATE} v2): {CLAIM_DUPLICATE} was retracted and cannot be revised"),
    Bad("retract-retracted", ("retract", "{db}", CLAIM_DUPLICATE, "--key", "{ana}", "--reason", "again"),
        f"is already retracted", exact=False),
    Bad("correct-nothing-to-change", ("correct", "{db}", CLAIM_90PCT, "--key", "{ana}", "--reason", "r"),
        "Error: nothing to change: give --set FIELD=VALUE or --unset FIELD"),
    appending("correction-of-single-version", "{correction_v1}",
              f"Error: record 1: entry {{size}} (correction:new v1): target_entry and corrected_entry are the same version"),
    Bad("revise-changes-kind", ("revise", "{db}", SRC_AP, "--key", "{ana}", "--set", "kind=claim", "--note", "n"),
        "Error: a revision cannot set 'kind': it keeps the record's kind and ID, and the ledger sets the rest"),
    Bad("claim-revise-of-source", ("claim", "revise", "{db}", SRC_AP, "--key", "{ana}", "--text", "x", "--note", "n"),
        f"Error: {SRC_AP} is a source, not a claim"),
    Bad("link-to-unknown-source", SOURCE_ADD + ("--link", "based-on=source:nope"),
        "Error: record 1: entry {size} (source:new v1): linked source source:nope is not a source in this ledger"),
    appending("snapshot-not-stored", _rec(**SRC, snapshot={"sha256": "ab" * 32, "media_type": "text/plain", "size": 3}),
              f"Error: record 1: entry {{size}} (source:new v1): snapshot {'ab' * 32} is not stored; add the file with --snapshot"),
    appending("atomic-batch-second-bad", _rec(**SRC) + "\n" + _rec(**{**SRC, "id": "source:new2", "title": ""}) + "\n",
              "Error: record 2: $.title: must not be empty"),
    # --- keys and signers ------------------------------------------------------------------------
    Bad("unregistered-key", ("source", "add", "{db}", "--key", "{eve}", "--id", "source:new", "--title", "New"),
        "Error: record 1: entry {size} (source:new v1): signed by {eve_id}, which is not a registered key; register it with 'ledger key add'", process=True),
    Bad("revoked-key", ("source", "add", "{db}", "--key", "{mihai}", "--id", "source:new", "--title", "New"),
        "Error: record 1: entry {size} (source:new v1): signed by {mihai_id}, which was revoked at entry ", exact=False),
    Bad("editor-key-as-log-key", ("key", "add", "{db}", "{eve_vkey}", "--display-name", "Eve", "--log-key", "{ana}"),
        "Error: record 1: entry 2 (key:eve-elsewhere.example-{eve_keyid} v1): only the log key may register or revoke keys; "
        "signed by editor key {ana_id}", base="fresh", process=True),
    Bad("wrong-passphrase", SOURCE_ADD, "Error: wrong passphrase for {ana}", base="fresh",
        env={"LEDGER_PASSPHRASE": "not the passphrase"}, process=True),
    Bad("no-passphrase-no-terminal", SOURCE_ADD,
        "Error: Passphrase for {ana} needed: set LEDGER_PASSPHRASE or run in a terminal to be asked",
        base="fresh", env={"LEDGER_PASSPHRASE": None}, process=True),
    Bad("no-key-given", ("source", "add", "{db}", "--id", "source:new", "--title", "New"),
        "Error: no key given: pass --key FILE or set LEDGER_KEY"),
    Bad("missing-key-file", ("source", "add", "{db}", "--key", "{tmp}/nope.key", "--id", "source:new", "--title", "New"),
        "Error: key file {tmp}/nope.key not found", process=True),
    Bad("not-a-key-file", ("source", "add", "{db}", "--key", str(ARTICLE_PATH), "--id", "source:new", "--title", "New"),
        f"Error: {ARTICLE_PATH} is not a fact-ledger key file", exact=False),
    Bad("key-add-malformed-vkey", ("key", "add", "{db}", "not-a-key", "--display-name", "X", "--log-key", "{log}"),
        "Error: verifier key: expected name+keyid+key, found 'not-a-key'"),
    Bad("key-add-twice", ("key", "add", "{db}", "{ana_vkey}", "--display-name", "Ana", "--log-key", "{log}"),
        "is already registered", exact=False),
    Bad("key-revoke-unknown", ("key", "revoke", "{db}", "eve@elsewhere.example+00000000", "--reason", "r", "--log-key", "{log}"),
        "Error: eve@elsewhere.example+00000000 is not a registered key in {db}"),
    Bad("key-new-existing-file", ("key", "new", "{ana}", "--name", "x@y", "--unencrypted"),
        "Error: {ana} already exists; choose another file name (keys are never overwritten)"),
    Bad("key-new-bad-name", ("key", "new", "{tmp}/k.key", "--name", "Ana Popescu", "--unencrypted"),
        "Error: key name 'Ana Popescu' is not valid: use 1-200 characters without spaces or '+', e.g. ana@desk.example"),
    # --- files ----------------------------------------------------------------------------------
    Bad("missing-snapshot-file", SOURCE_ADD + ("--snapshot", "{tmp}/nope.txt"),
        "Error: cannot read {tmp}/nope.txt: No such file or directory"),
    Bad("missing-append-file", ("append", "{db}", "{tmp}/nope.jsonl", "--key", "{ana}"),
        "Error: cannot read {tmp}/nope.jsonl: No such file or directory"),
    Bad("init-existing", ("init", "{db}", "--log-key", "{log}"), "Error: {db} already exists; choose a new file name"),
    Bad("init-new-key-without-origin", ("init", "{tmp}/other.db", "--log-key", "{tmp}/other.key"),
        "Error: making a new log key needs --origin, e.g. --origin desk.example/ledger"),
    Bad("nonexistent-db", ("show", "{tmp}/nope.db", CLAIM_90PCT),
        "Error: no ledger at {tmp}/nope.db; create one with 'ledger init {tmp}/nope.db'", process=True),
    Bad("append-to-nonexistent-db", ("append", "{tmp}/nope.db", "{tmp}/r.jsonl", "--key", "{ana}"),
        "Error: no ledger at {tmp}/nope.db; create one with 'ledger init {tmp}/nope.db'", files={"r.jsonl": _rec(**SRC)}),
    Bad("random-bytes-db", ("show", "{tmp}/random.db", CLAIM_90PCT),
        "Error: {tmp}/random.db is not a ledger file (file is not a database)", files={"random.db": bytes(range(256)) * 8}, process=True),
    Bad("empty-sqlite-db", ("source", "add", "{tmp}/empty.db", "--key", "{ana}", "--id", "source:x", "--title", "x"),
        "Error: {tmp}/empty.db is not a fact-ledger file (expected format fact-ledger/1)", files={"empty.db": "sqlite"}, process=True),
    Bad("export-over-existing", ("export", "{db}", "-o", "{tmp}/exists.jsonl"), "Error: {tmp}/exists.jsonl already exists",
        files={"exists.jsonl": "keep me\n"}),
    Bad("export-into-missing-folder", ("export", "{db}", "-o", "{tmp}/nodir/x.jsonl"),
        "Error: cannot write {tmp}/nodir/x.jsonl: No such file or directory"),
    # --- options ----------------------------------------------------------------------------------
    Bad("unknown-option", ("show", "{db}", CLAIM_90PCT, "--colour"),
        "Error: No such option '--colour'. (see '", exact=False, process=True),
    Bad("bad-choice", ("review", "add", "{db}", "--key", "{ana}", "--claim", CLAIM_90PCT, "--label", "x", "--rating", "great"),
        "Error: Invalid value for '--rating': 'great' is not one of 'true', 'mostly-true', 'mixed', 'mostly-false', "
        "'false', 'misleading', 'unproven', 'unrated'.", exact=False, process=True),
    Bad("missing-option", ("source", "add", "{db}", "--key", "{ana}", "--id", "source:x"),
        "Error: Missing option '--title'.", exact=False),
    Bad("claim-without-language", ("claim", "add", "{db}", "--key", "{ana}", "--source", SRC_ARTICLE, "--quote", "China"),
        "Error: --language is required, e.g. --language ro"),
    Bad("bad-link-syntax", SOURCE_ADD + ("--link", "translation-of"),
        "Error: --link 'translation-of': expected REL=SOURCE_ID, e.g. translation-of=source:ap", process=True),
    Bad("bad-set-syntax", ("revise", "{db}", SRC_AP, "--key", "{ana}", "--set", "published", "--note", "n"),
        "Error: --set 'published': expected FIELD=VALUE, e.g. --set translation.text='...'"),
    Bad("bad-date", SOURCE_ADD + ("--published", "12 April 2024"), "Error: record 1: $.published: \"12 April 2024\" is not valid here (A calendar date, or a year or year-month when only that is known.)"),
    # --- proofs and verification ------------------------------------------------------------------
    Bad("log-negative-limit", ("log", "{db}", "--limit", "-1"), "Error: Invalid value for '--limit': -1 is not in the range x>=1.",
        exact=False),
    Bad("log-negative-start", ("log", "{db}", "--start", "-5"), "Error: Invalid value for '--start': -5 is not in the range x>=0.",
        exact=False, process=True),
    Bad("prove-index-out-of-range", ("prove", "{db}", "999"), "Error: entry 999 is not in a tree of size {size}"),
    Bad("prove-negative-index", ("prove", "{db}", "--", "-1"), "Error: entry -1 is not in a tree of size {size}"),
    Bad("prove-consistency-0", ("prove", "{db}", "--consistency", "0"),
        "Error: old size 0 must be between 1 and the tree size {size}", process=True),
    Bad("prove-both", ("prove", "{db}", "3", "--consistency", "2"), "Error: give either INDEX or --consistency OLD, not both"),
    Bad("prove-nothing", ("prove", "{db}"), "Error: give the entry INDEX to prove, or --consistency OLD"),
    Bad("prove-size-out-of-range", ("prove", "{db}", "1", "--size", "9999"),
        "Error: tree size 9999 is out of range: the log has {size} entries"),
    Bad("checkpoint-unknown-size", ("checkpoint", "{db}", "--size", "9999"), "Error: no checkpoint was signed at tree size 9999"),
    Bad("verify-not-a-ledger", ("verify", "{tmp}/random.db"),
        "Error: {tmp}/random.db is not a ledger file; for a JSONL export also give --checkpoint FILE",
        files={"random.db": bytes(range(256)) * 8}, process=True),
    Bad("verify-missing-file", ("verify", "{tmp}/nope.db"),
        "Error: {tmp}/nope.db not found: give a ledger file, an export with --checkpoint FILE, or a site URL"),
    Bad("verify-proof-without-vkey", ("verify", CLAIM_90PCT, "--proof", "{tmp}/claim.tlog-proof"),
        "Error: verifying a proof bundle needs the log's key: --vkey 'name+keyid+key'"),
    Bad("verify-proof-wrong-vkey", ("verify", CLAIM_90PCT, "--proof", "{tmp}/claim.tlog-proof", "--vkey", "{eve_vkey}"),
        "Error: ", exact=False),
    Bad("verify-proof-tampered", ("verify", CLAIM_90PCT, "--proof", "{tmp}/tampered.tlog-proof", "--vkey", "{log_vkey}"),
        "Error: ", exact=False, process=True),
    Bad("verify-proof-other-claim", ("verify", CLAIM_Q4_IMPORTS, "--proof", "{tmp}/claim.tlog-proof", "--vkey", "{log_vkey}"),
        f"Error: the bundle proves {CLAIM_90PCT}, not {CLAIM_Q4_IMPORTS}"),
    Bad("verify-since-garbage", ("verify", "{db}", "--since", "{tmp}/garbage.checkpoint"),
        "Error: {tmp}/garbage.checkpoint is not a saved checkpoint (checkpoint: expected at least 3 lines (origin, size, root), "
        "found 2); save one with 'ledger checkpoint DB > FILE'", files={"garbage.checkpoint": "not a checkpoint\n"}),
]


def _fill(value, ctx):
    return value.format(**ctx) if isinstance(value, str) else value


def _file_content(content, ctx) -> bytes:
    if isinstance(content, bytes):
        return content
    if content.startswith("{") and content.endswith("}") and content[1:-1] in ctx:
        return ctx[content[1:-1]].encode()
    return content.encode()


@pytest.fixture
def bad_ctx(request, tmp_path, monkeypatch, ledger_env):
    """Placeholders for BAD: the ledger, its keys, an unregistered key, proof bundles, sample records."""
    base = request.param
    ctx = {"tmp": str(tmp_path)}
    eve = test_signer("eve@elsewhere.example")
    write_key_file(tmp_path / "eve.key", eve, None)
    ctx.update(eve=str(tmp_path / "eve.key"), eve_vkey=eve.vkey, eve_id=signer_id(eve.vkey), eve_keyid=eve.key_id.hex())
    if base == "demo":
        db = request.getfixturevalue("demo_db")
        keys = tmp_path / "demo-keys"
        ctx.update(db=str(db), ana=str(keys / "ana.key"), mihai=str(keys / "mihai.key"), log=str(keys / "log.key"))
        # Mihai's key is revoked first, so it can be used for the revoked-key case.
        with Ledger.open(db) as ledger:
            mihai_id = ledger._projection.key(next(s for s in [ledger.entry(i).signer for i in range(ledger.size)]
                                                  if s.startswith(MIHAI[0] + "+"))).record_id
        from ledger.keys import read_key_file

        log_signer = read_key_file(keys / "log.key", None)
        mihai = read_key_file(keys / "mihai.key", None)
        ana = read_key_file(keys / "ana.key", None)
        with Ledger.open(db) as ledger:
            ledger.append([ledger.revision(mihai_id, "Revoked: lost", status="revoked", reason="lost")], log_signer, log_signer)
            current = ledger.current(CLAIM_90PCT)
            record = current.record.to_dict()
            ctx["v3"] = json.dumps({**record, "version": 3, "replaces": current.hash_hex, "note": "n"})
            ctx["wrong_replaces"] = json.dumps({**record, "version": 2, "replaces": "0" * 64, "note": "n"})
            ctx["correction_v1"] = json.dumps({"kind": "correction", "id": "correction:new", "target": CLAIM_90PCT,
                                               "target_entry": current.hash_hex, "corrected_entry": current.hash_hex,
                                               "reason": "r"})
            proof = ledger.tlog_proof(current.index)
            ctx.update(log_vkey=ledger.log_vkey, size=str(ledger.size))
        (tmp_path / "claim.tlog-proof").write_text(proof)
        lines = proof.split("\n")
        i = next(n for n, line in enumerate(lines) if line.startswith("index "))
        h = bytearray(base64.b64decode(lines[i + 1]))
        h[0] ^= 1
        lines[i + 1] = base64.b64encode(bytes(h)).decode()
        (tmp_path / "tampered.tlog-proof").write_text("\n".join(lines))
        ctx.update(mihai_id=signer_id(mihai.vkey), ana_id=signer_id(ana.vkey), ana_vkey=ana.vkey)
    else:
        db = request.getfixturevalue("ledger_db")
        ana = test_signer(TEST_EDITOR)
        ctx.update(db=str(db), ana=str(request.getfixturevalue("editor_key_file")),
                   log=str(request.getfixturevalue("log_key_file")), ana_id=signer_id(ana.vkey),
                   ana_vkey=ana.vkey, size="2")
    return ctx


def _params():
    for case in BAD:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, case.base, id=case.id, marks=marks)


@pytest.mark.parametrize("case, bad_ctx", list(_params()), indirect=["bad_ctx"])
def test_bad_input(case, bad_ctx, tmp_path, run, run_process):
    ctx = bad_ctx
    for name, content in case.files.items():
        path = tmp_path / name
        if content == "sqlite":
            sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
        else:
            path.write_bytes(_file_content(content, ctx))
    args = [_fill(a, ctx) for a in case.args]
    watched = [Path(ctx["db"])] + [Path(a) for a in args if isinstance(a, str) and a.startswith(ctx["tmp"])]
    before = {p: sha256_of_file(p) for p in watched}
    env = dict(case.env)
    if case.base == "demo":
        env.setdefault("LEDGER_LOG_KEY", ctx["log"])  # the demo ledger does not name its log key file
    result = (run_process if case.process else run)(*args, input=case.stdin, env=env)
    expected = _fill(case.expected, ctx)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code == 1, result.stderr
    assert len(result.stderr_lines) == 1, result.stderr
    assert result.stderr.endswith("\n")
    line = result.stderr_lines[0]
    assert line.startswith("Error: "), line
    if case.exact:
        assert line == expected
    else:
        assert expected in line
    assert {p: sha256_of_file(p) for p in watched} == before
    assert result.stdout == ""


def test_bad_corpus_is_large_enough():
    assert len(BAD) >= 40
    assert len({case.id for case in BAD}) == len(BAD)


def test_error_format_in_process_matches(run, ledger_db, file_hash):
    """The in-process runner applies the same one-line error handling as the entry point."""
    before = file_hash(ledger_db)
    result = run("show", ledger_db, "claim:nope")
    assert (result.exit_code, result.stderr) == (1, "Error: no record 'claim:nope' in this ledger\n")
    assert file_hash(ledger_db) == before
