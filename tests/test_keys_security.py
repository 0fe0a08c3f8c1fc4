"""What each key can and cannot do (docs/security.md): key files, revoked and unregistered keys, a stolen editor key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from conftest import sha256_of_file
from security_ledger import ANA, LOG, MIHAI, T, build_full_ledger
from ledger.api import Ledger
from ledger.errors import LedgerError
from ledger.note import Signer

EVE = Signer.from_seed("eve@elsewhere.example", b"\x66" * 32)
SOURCE = {"kind": "source", "id": "source:stolen", "type": "article", "title": "Stolen", "created": T}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "full.db"
    build_full_ledger(path).close()
    return path


@pytest.fixture
def db(template, tmp_path):
    path = tmp_path / "full.db"
    path.write_bytes(template.read_bytes())
    return path


def refused(db, records, signer, log_signer, expected):
    before = sha256_of_file(db)
    with Ledger.open(db) as ledger:
        size = ledger.size
        with pytest.raises(LedgerError) as info:
            ledger.append(records, signer, log_signer)
        assert ledger.size == size
    assert expected in str(info.value), str(info.value)
    assert sha256_of_file(db) == before
    return str(info.value)


@pytest.mark.parametrize("args", [["key", "new", "{d}/k.key", "--name", "ion@desk.example"],
                                  ["init", "{d}/new.db", "--log-key", "{d}/log.key", "--origin", "desk.example/ledger"]])
def test_key_files_are_0600_and_encrypted_even_with_umask_0(tmp_path, args):
    code = "import os, sys; os.umask(0); from ledger.cli import main; sys.argv = ['ledger'] + sys.argv[1:]; main()"
    env = {**os.environ, "LEDGER_PASSPHRASE": "correct horse battery staple"}
    result = subprocess.run([sys.executable, "-c", code, *[a.format(d=tmp_path) for a in args]], env=env,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    key = tmp_path / ("k.key" if args[0] == "key" else "log.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "-----BEGIN FACT-LEDGER ENCRYPTED PRIVATE KEY-----" in key.read_text()


def test_unregistered_key_never_enters_the_log(db):
    refused(db, [SOURCE], EVE, LOG, "which is not a registered key")


def test_revoked_key_never_enters_the_log(db):
    refused(db, [SOURCE], MIHAI, LOG, "which was revoked at entry")


def test_stolen_editor_key_cannot_register_a_key(db):
    key = {"kind": "key", "id": "key:eve", "created": T, "vkey": EVE.vkey, "display_name": "Eve", "role": "editor", "status": "active"}
    refused(db, [key], ANA, LOG, "only the log key may register or revoke keys")


def test_stolen_editor_key_cannot_register_a_log_key(db):
    key = {"kind": "key", "id": "key:eve", "created": T, "vkey": EVE.vkey, "display_name": "Eve", "role": "log", "status": "active"}
    refused(db, [key], ANA, LOG, "only the log key may register or revoke keys")


def test_stolen_editor_key_cannot_revoke_a_key(db):
    with Ledger.open(db) as ledger:
        revocation = ledger.revision("key:ana", "Revoked: hostile", status="revoked", reason="hostile")
    refused(db, [revocation], ANA, LOG, "only the log key may register or revoke keys")


def test_stolen_editor_key_cannot_sign_a_checkpoint(db):
    refused(db, [SOURCE], ANA, ANA, "is not this ledger's log key")


def test_a_key_from_another_ledger_cannot_sign_its_checkpoints(db):
    other_log = Signer.from_seed(LOG.name, b"\x99" * 32)  # same name, other key
    refused(db, [SOURCE], ANA, other_log, "is not this ledger's log key")
