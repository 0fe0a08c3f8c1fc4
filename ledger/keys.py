"""Ed25519 key files for editors and for the log.

A key file is a PKCS#8 PEM private key, encrypted with the passphrase by
default (``BestAvailableEncryption``), preceded by one header line that
names the key::

    fact-ledger-key-name: ana@desk.example
    -----BEGIN ENCRYPTED PRIVATE KEY-----
    ...

The name and the public key together give the C2SP signed-note verifier key
(``name+hex(keyid)+base64(0x01||pubkey)``), the one string that identifies an
editor everywhere. Files are created with mode 0600 and never overwritten.
"""

import os
import re
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import KeyFileError
from ledger.note import Signer
from ledger.schema import DISPLAY_UNSAFE

HEADER = "fact-ledger-key-name: "
_NAME = re.compile(r"^[^\x00-\x20+\x7f]{1,200}$")
_PEM = re.compile(r"-----BEGIN (ENCRYPTED )?PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END (ENCRYPTED )?PRIVATE KEY-----\n?")


def check_key_name(name: str) -> str:
    """Key names follow C2SP signed-note (non-empty, no spaces and no '+') and, as every text of a
    record, hold no character refused for display (``ledger.schema.DISPLAY_UNSAFE``)."""
    if not _NAME.fullmatch(name or ""):
        raise KeyFileError(f"key name {name!r} is not valid: use 1-200 characters without spaces or '+', e.g. ana@desk.example")
    unsafe = DISPLAY_UNSAFE.search(name)
    if unsafe:
        raise KeyFileError(f"key name {name!r} is not valid: it holds U+{ord(unsafe[0]):04X}; a name may not hold control, "
                           "bidirectional-control or private-use characters")
    return name


def key_file_bytes(signer: Signer, passphrase: bytes | None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    pem = signer.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return (HEADER + signer.name + "\n").encode() + pem


def write_key_file(path, signer: Signer, passphrase: bytes | None) -> None:
    """Write a new key file with mode 0600; refuse to overwrite an existing file.

    ``passphrase=None`` writes an unencrypted key: callers only do that when
    the user asked for it explicitly.
    """
    path = Path(path)
    data = key_file_bytes(signer, passphrase)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise KeyFileError(f"{path} already exists; choose another file name (keys are never overwritten)") from e
    except OSError as e:
        raise KeyFileError(f"cannot create {path}: {e.strerror}") from e
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _read(path) -> tuple[str, bytes]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise KeyFileError(f"key file {path} not found") from e
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise KeyFileError(f"{path} is not a fact-ledger key file") from e
    first, _, rest = text.partition("\n")
    match = _PEM.fullmatch(rest) if first.startswith(HEADER) else None
    if not match:
        raise KeyFileError(f"{path} is not a fact-ledger key file (expected a '{HEADER}NAME' line and a PKCS#8 PEM key)")
    return check_key_name(first[len(HEADER):]), rest.encode("ascii")


def key_file_is_encrypted(path) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in _read(path)[1]


def read_key_file(path, passphrase: bytes | None) -> Signer:
    """Load a key file; a wrong or missing passphrase is a KeyFileError."""
    # Imported here, not at the top: the serialization package also loads
    # cryptography's SSH key support and ciphers, which commands that never
    # read a key file need not load.
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    name, pem = _read(path)
    encrypted = b"ENCRYPTED PRIVATE KEY" in pem
    if encrypted and not passphrase:
        raise KeyFileError(f"{path} is encrypted: set LEDGER_PASSPHRASE or enter the passphrase when asked")
    try:
        key = load_pem_private_key(pem, password=passphrase if encrypted else None)
    except ValueError as e:
        if encrypted:
            raise KeyFileError(f"wrong passphrase for {path}") from e
        raise KeyFileError(f"{path} holds no readable private key") from e
    except (TypeError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"{path} holds no readable private key: {e}") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return Signer(name=name, private_key=key)
