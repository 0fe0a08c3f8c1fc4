"""The witness commands' errors: one ``Error:`` line, exit code 1, the ledger file unchanged
(the commands working against real witness processes are in tests/test_witness_e2e.py)."""

from __future__ import annotations

import json

from conftest import TEST_ORIGIN, test_signer
from ledger.cosignature import CosignatureSigner
from ledger.note import Signer

W1 = CosignatureSigner(Signer.from_seed("w1.cli.test", b"c" * 32))


def test_init_and_vkey(run, tmp_path):
    made = run("witness", "init", tmp_path / "w", "--name", "w.cli.test", "--json")
    assert made.exit_code == 0
    info = json.loads(made.stdout)
    assert (info["name"], info["encrypted"]) == ("w.cli.test", True)
    assert run("witness", "vkey", tmp_path / "w").stdout == info["vkey"] + "\n"
    assert (tmp_path / "w" / "witness.key").read_bytes().count(b"ENCRYPTED PRIVATE KEY") == 2
    again = run("witness", "init", tmp_path / "w", "--name", "w.cli.test")
    assert (again.exit_code, again.stderr) == (1, f"Error: {tmp_path / 'w'} already holds a witness (witness.key, witness.db): "
                                                  "choose another directory\n")
    bad = run("witness", "init", tmp_path / "x", "--name", "has space", "--unencrypted")
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: key name 'has space' is not valid")
    missing = run("witness", "vkey", tmp_path / "nowhere")
    assert missing.stderr == (f"Error: {tmp_path / 'nowhere' / 'witness.db'} not found: make a witness there first "
                              f"('ledger witness init {tmp_path / 'nowhere'} --name NAME')\n")


def test_serve_refuses_what_it_cannot_serve(run, tmp_path):
    run("witness", "init", tmp_path / "w", "--name", "w.cli.test", "--unencrypted")
    bad = run("witness", "serve", tmp_path / "w", "--port", "1", "--log", "not a key")
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: verifier key")
    missing = run("witness", "serve", tmp_path / "nowhere", "--port", "1", "--log", test_signer(TEST_ORIGIN).vkey)
    assert missing.exit_code == 1 and "not found: make a witness there first" in missing.stderr


def test_add_and_remove_refusals_leave_the_file_unchanged(run, ledger_db, file_hash, editor_key_file):
    before = file_hash(ledger_db)
    for args, message in [
        (["--vkey", test_signer(TEST_ORIGIN).vkey, "--url", "https://w.example/"],
         "Error: witness verifier key test.fact-ledger.example/log: expected type 0x04 (cosignature/v1), found 0x01 "
         "(0x01 is a log or editor key, not a witness's)\n"),
        (["--vkey", W1.vkey, "--url", "ftp://w.example/"], "Error: record 1: $.url: "),
        (["--vkey", W1.vkey, "--url", "https://w.example/", "--key", editor_key_file],
         "Error: record 1: entry 2 (witness:w1.cli.test-"),
    ]:
        done = run("witness", "add", ledger_db, *args)
        assert done.exit_code == 1 and done.stderr.startswith(message), done.stderr
        assert file_hash(ledger_db) == before
    done = run("witness", "remove", ledger_db, W1.vkey, "--reason", "never added")
    assert done.stderr.startswith("Error: w1.cli.test+") and done.stderr.endswith(
        "is not a witness of this ledger; 'ledger witness list' shows them\n")
    assert file_hash(ledger_db) == before
    assert run("witness", "list", ledger_db).stdout == "No witnesses; add one with 'ledger witness add'.\n"
    assert run("witness", "sync", ledger_db).stdout == "No active witnesses; add one with 'ledger witness add'.\n"
    assert file_hash(ledger_db) == before


def test_a_witness_that_is_down_does_not_fail_the_append(run, ledger_db, editor_key_file):
    added = run("witness", "add", ledger_db, "--vkey", W1.vkey, "--url", "http://127.0.0.1:9/", "--json")
    assert added.exit_code == 0
    report = json.loads(added.stdout)
    assert report["tree_size"] == 3
    [answer] = report["witnesses"]
    assert (answer["vkey"], answer["cosigned"]) == (W1.vkey, False) and "cannot reach the witness" in answer["error"]
    appended = run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:s", "--title", "S")
    assert appended.exit_code == 0
    assert appended.stderr == (f"Cosigned by 0 of 1 witness ({W1.name}+{W1.verifier.key_id.hex()}: cannot reach it); "
                               f"run 'ledger witness sync {ledger_db}' later\n")
    synced = run("witness", "sync", ledger_db, "--json")
    assert synced.exit_code == 1 and json.loads(synced.stdout)["witnesses"][0]["ok"] is False
    assert run("checkpoint", ledger_db).stdout.count("\n— ") == 1
    removed = run("witness", "remove", ledger_db, f"{W1.name}+{W1.verifier.key_id.hex()}", "--reason", "never answered")
    assert removed.exit_code == 0 and removed.stderr == ""  # no active witness is left to ask
    assert run("witness", "list", ledger_db).stdout.startswith(f"removed  {W1.name}+{W1.verifier.key_id.hex()} http://127.0.0.1:9/:")
