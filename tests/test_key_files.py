"""Key files resist offline guessing, keep old files readable, and say when they are exposed (issue 13 item 10).

The attack: a copied key file encrypted with PBKDF2 at 2,048 iterations
(cryptography's BestAvailableEncryption) costs a guesser about 0.2 ms of one
core per passphrase and no memory. Key files are now encrypted under an
Argon2id key (19 MiB, 2 passes) that records its parameters in the file;
old files are read (with a warning) and re-encrypted by ``ledger key passwd``.
"""

from __future__ import annotations

import os
import stat
import time

import pytest

from conftest import TEST_EDITOR, TEST_ORIGIN, TEST_PASSPHRASE, test_signer
from ledger.demo import ARTICLE_PATH
from ledger.errors import KeyFileError
from ledger.keys import HEADER, read_key_file, write_key_file

NEW_PASSPHRASE = "a much longer passphrase nobody guesses"


def old_key_file_bytes(signer, passphrase: bytes) -> bytes:
    """A key file as fact-ledger wrote it before Argon2id: PKCS#8 PEM, PBES2 with PBKDF2 (2,048 iterations)."""
    from cryptography.hazmat.primitives import serialization

    pem = signer.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(passphrase))
    return (HEADER + signer.name + "\n").encode() + pem


def write_old_key_file(path, signer, passphrase: bytes):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(old_key_file_bytes(signer, passphrase))


def guesses_per_second(path, seconds: float = 1.0) -> float:
    """How fast a guesser with a copy of the file tries wrong passphrases (one core)."""
    tried, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or tried < 3:
        with pytest.raises(KeyFileError, match="wrong passphrase"):
            read_key_file(path, f"guess {tried}".encode())
        tried += 1
    return tried / (time.perf_counter() - started)


def test_guessing_a_new_key_file_costs_far_more_than_an_old_one(tmp_path):
    signer = test_signer(TEST_EDITOR)
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    write_old_key_file(old, signer, b"pw")
    write_key_file(new, signer, b"pw")
    old_rate, new_rate = guesses_per_second(old), guesses_per_second(new)
    print(f"\nguesses per second on one core: PBKDF2 (2,048 iterations) {old_rate:,.0f}, Argon2id (19 MiB, t=2) {new_rate:,.1f}")
    assert old_rate > 20 * new_rate
    assert "fact-ledger-key-kdf: argon2id v=19 m=19456 t=2 p=1 salt=" in new.read_text()


def test_the_header_cannot_be_weakened_or_swapped(tmp_path):
    """The name, verifier key and Argon2id parameters are the cipher's associated data."""
    signer, other = test_signer(TEST_EDITOR), test_signer("eve@elsewhere.example")
    path = tmp_path / "ana.key"
    write_key_file(path, signer, b"pw")
    text = path.read_text()
    for old, new in [("m=19456 t=2 p=1", "m=8 t=1 p=1"), (f"vkey: {signer.vkey}", f"vkey: {other.vkey}"),
                     ("name: ana@", "name: eve@")]:
        changed = tmp_path / f"changed-{len(new)}.key"
        changed.write_text(text.replace(old, new, 1))
        with pytest.raises(KeyFileError, match="wrong passphrase"):
            read_key_file(changed, b"pw")
    assert read_key_file(path, b"pw").vkey == signer.vkey


def test_an_old_key_file_still_signs_with_a_warning_and_passwd_upgrades_it(run, ledger_db, tmp_path, file_hash):
    key = tmp_path / "old-ana.key"
    write_old_key_file(key, test_signer(TEST_EDITOR), TEST_PASSPHRASE.encode())
    result = run("source", "add", ledger_db, "--key", key, "--id", "source:a", "--title", "A")
    assert result.exit_code == 0, result.stderr
    assert result.stderr_lines == [f"Warning: {key} is encrypted the old way (PBKDF2, 2,048 iterations: fast to guess); "
                                   f"re-encrypt it with 'ledger key passwd {key}'"]

    result = run("key", "passwd", key, env={"LEDGER_NEW_PASSPHRASE": NEW_PASSPHRASE})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Re-encrypted {key} with Argon2id; its verifier key is unchanged: {test_signer(TEST_EDITOR).vkey}\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and not key.with_name(key.name + ".new").exists()
    assert "argon2id v=19 m=19456 t=2 p=1" in key.read_text()
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        read_key_file(key, TEST_PASSPHRASE.encode())
    assert read_key_file(key, NEW_PASSPHRASE.encode()).vkey == test_signer(TEST_EDITOR).vkey

    result = run("source", "add", ledger_db, "--key", key, "--id", "source:b", "--title", "B",
                 env={"LEDGER_PASSPHRASE": NEW_PASSPHRASE, "LEDGER_LOG_PASSPHRASE": TEST_PASSPHRASE})
    assert result.exit_code == 0 and result.stderr == "", result.stderr


def test_passwd_refuses_without_changing_the_file(run, tmp_path, file_hash):
    key = tmp_path / "ana.key"
    write_key_file(key, test_signer(TEST_EDITOR), TEST_PASSPHRASE.encode())
    before = file_hash(key)
    cases = [({"LEDGER_PASSPHRASE": "wrong", "LEDGER_NEW_PASSPHRASE": NEW_PASSPHRASE}, f"Error: wrong passphrase for {key}"),
             ({"LEDGER_NEW_PASSPHRASE": None}, f"Error: New passphrase for {key} needed: set LEDGER_NEW_PASSPHRASE or run in a "
                                               "terminal to be asked")]
    for env, expected in cases:
        result = run("key", "passwd", key, env=env)
        assert (result.exit_code, result.stderr_lines) == (1, [expected])
        assert file_hash(key) == before
    key.with_name("ana.key.new").write_text("left by an interrupted run")
    result = run("key", "passwd", key, env={"LEDGER_NEW_PASSPHRASE": NEW_PASSPHRASE})
    assert result.exit_code == 1 and result.stderr_lines == [
        f"Error: {key}.new already exists; choose another file name (keys are never overwritten)"]
    assert file_hash(key) == before


@pytest.mark.parametrize("mode,who", [(0o644, "its group and others"), (0o640, "its group"), (0o604, "others"), (0o600, None)],
                         ids=["0644", "0640", "0604", "0600"])
def test_a_key_file_others_can_read_is_named_in_one_line(mode, who, run, ledger_db, editor_key_file):
    os.chmod(editor_key_file, mode)
    result = run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:a", "--title", "A")
    assert result.exit_code == 0, result.stderr
    expected = [] if who is None else [f"Warning: {editor_key_file} is open to {who} (mode {mode:04o}); "
                                       f"make it private with 'chmod 600 {editor_key_file}'"]
    assert result.stderr_lines == expected


def test_key_vkey_needs_no_passphrase(run, tmp_path):
    key = tmp_path / "ana.key"
    write_key_file(key, test_signer(TEST_EDITOR), TEST_PASSPHRASE.encode())
    result = run("key", "vkey", key, env={"LEDGER_PASSPHRASE": None})
    assert (result.exit_code, result.stdout) == (0, test_signer(TEST_EDITOR).vkey + "\n")


def test_the_log_key_and_the_editor_key_are_both_derived(run, ledger_db, editor_key_file, log_key_file, file_hash):
    """claim add derives the log key while it appends (the checkpoint is signed last): a wrong log passphrase
    still stops the batch, and nothing is written."""
    assert run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:a", "--title", "A",
               "--snapshot", ARTICLE_PATH).exit_code == 0
    before = file_hash(ledger_db)
    for env in ({"LEDGER_LOG_PASSPHRASE": "wrong"}, {"LEDGER_PASSPHRASE": "wrong", "LEDGER_LOG_PASSPHRASE": TEST_PASSPHRASE}):
        result = run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:b", "--title", "B", env=env)
        wrong = log_key_file if "LEDGER_PASSPHRASE" not in env else editor_key_file
        assert (result.exit_code, result.stderr_lines) == (1, [f"Error: wrong passphrase for {wrong}"])
        assert file_hash(ledger_db) == before
