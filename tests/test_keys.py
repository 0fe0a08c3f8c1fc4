"""ledger.keys: Ed25519 key files (PKCS#8 PEM, encrypted by default, mode 0600, never overwritten)."""

import os
import stat

import pytest

from ledger.errors import KeyFileError
from ledger.keys import HEADER, check_key_name, key_file_is_encrypted, read_key_file, write_key_file
from ledger.note import Signer

SEED = bytes(range(32))


@pytest.fixture
def signer():
    return Signer.from_seed("ana@desk.example", SEED)


@pytest.mark.parametrize("passphrase", [b"correct horse", None], ids=["encrypted", "plain"])
def test_round_trip(tmp_path, signer, passphrase):
    path = tmp_path / "ana.key"
    write_key_file(path, signer, passphrase)
    assert key_file_is_encrypted(path) is (passphrase is not None)
    loaded = read_key_file(path, passphrase)
    assert loaded.name == signer.name
    assert loaded.vkey == signer.vkey
    assert loaded.sign(b"m") == signer.sign(b"m")
    text = path.read_text()
    if passphrase:
        assert text.startswith(f"{HEADER}ana@desk.example\nfact-ledger-key-vkey: {signer.vkey}\n"
                               "fact-ledger-key-kdf: argon2id v=19 m=19456 t=2 p=1 salt=")
        assert "\n-----BEGIN FACT-LEDGER ENCRYPTED PRIVATE KEY-----\n" in text
    else:
        assert text.startswith(HEADER + "ana@desk.example\n-----BEGIN PRIVATE KEY-----\n")


def test_generated_keys_differ(tmp_path):
    a, b = Signer.generate("a@x"), Signer.generate("a@x")
    assert a.vkey != b.vkey


@pytest.mark.parametrize("passphrase", [b"pw", None])
def test_mode_0600(tmp_path, signer, passphrase):
    old = os.umask(0)
    try:
        path = tmp_path / "k.key"
        write_key_file(path, signer, passphrase)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_refuses_overwrite(tmp_path, signer):
    path = tmp_path / "k.key"
    path.write_bytes(b"precious")
    with pytest.raises(KeyFileError) as e:
        write_key_file(path, signer, b"pw")
    assert str(e.value) == f"{path} already exists; choose another file name (keys are never overwritten)"
    assert path.read_bytes() == b"precious"


def test_cannot_create_in_missing_dir(tmp_path, signer):
    path = tmp_path / "missing" / "k.key"
    with pytest.raises(KeyFileError, match=r"^cannot create .*: No such file or directory$"):
        write_key_file(path, signer, b"pw")


def test_wrong_passphrase(tmp_path, signer):
    path = tmp_path / "k.key"
    write_key_file(path, signer, b"right")
    with pytest.raises(KeyFileError) as e:
        read_key_file(path, b"wrong")
    assert str(e.value) == f"wrong passphrase for {path}"


def test_missing_passphrase(tmp_path, signer):
    path = tmp_path / "k.key"
    write_key_file(path, signer, b"right")
    with pytest.raises(KeyFileError) as e:
        read_key_file(path, None)
    assert str(e.value) == f"{path} is encrypted: set LEDGER_PASSPHRASE or enter the passphrase when asked"


def test_missing_file(tmp_path):
    with pytest.raises(KeyFileError) as e:
        read_key_file(tmp_path / "nope.key", None)
    assert str(e.value) == f"key file {tmp_path / 'nope.key'} not found"


@pytest.mark.parametrize("content", [
    b"hello\n",
    b"\xff\xfe binary",
    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",  # no header line
    (HEADER + "ana@x\n").encode(),  # header, no PEM
    (HEADER + "ana@x\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").encode(),
])
def test_not_a_key_file(tmp_path, content):
    path = tmp_path / "k.key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError) as e:
        read_key_file(path, None)
    assert str(e.value).startswith(f"{path} is not a fact-ledger key file")


def test_garbage_pem_body(tmp_path):
    path = tmp_path / "k.key"
    path.write_bytes((HEADER + "ana@x\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").encode())
    with pytest.raises(KeyFileError) as e:
        read_key_file(path, None)
    assert str(e.value).startswith(f"{path} holds no readable private key")


def test_non_ed25519_key_refused(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "k.key"
    path.write_bytes((HEADER + "ana@x\n").encode() + pem)
    with pytest.raises(KeyFileError) as e:
        read_key_file(path, None)
    assert str(e.value).startswith(f"{path} holds a ") and str(e.value).endswith(", not an Ed25519 key")


def test_header_name_is_checked(tmp_path, signer):
    path = tmp_path / "k.key"
    write_key_file(path, signer, None)
    path.write_text(path.read_text().replace("ana@desk.example", "ana desk", 1))
    with pytest.raises(KeyFileError, match=r"^key name 'ana desk' is not valid"):
        read_key_file(path, None)


@pytest.mark.parametrize("name", ["ana@desk.example", "example.org/ledger", "a", "x" * 200])
def test_valid_names(name):
    assert check_key_name(name) == name


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "x" * 201, "a\x00", "a\x7f", None])
def test_invalid_names(name):
    with pytest.raises(KeyFileError) as e:
        check_key_name(name)
    assert str(e.value) == (f"key name {name!r} is not valid: use 1-200 characters without spaces or '+', "
                            "e.g. ana@desk.example")


def test_name_with_trailing_newline_refused():
    with pytest.raises(KeyFileError):
        check_key_name("ana\n")


def test_non_ascii_name_round_trip(tmp_path):
    signer = Signer.from_seed("ană@desk.example", SEED)
    write_key_file(tmp_path / "k.key", signer, None)
    assert read_key_file(tmp_path / "k.key", None).vkey == signer.vkey
