"""Ed25519 key files for editors and for the log (docs/format.md, "Key files").

A key file starts with one line that names the key. An encrypted key file
(the default) then records its verifier key and how the passphrase becomes
the encryption key, and holds the PKCS#8 DER private key (RFC 8410)
encrypted with AES-256-GCM under an Argon2id key (RFC 9106)::

    fact-ledger-key-name: ana@desk.example
    fact-ledger-key-vkey: ana@desk.example+1a2b3c4d+AZ...
    fact-ledger-key-kdf: argon2id v=19 m=19456 t=2 p=1 salt=<base64, 16 bytes>
    -----BEGIN FACT-LEDGER ENCRYPTED PRIVATE KEY-----
    <base64 of nonce (12 bytes) || ciphertext || tag (16 bytes)>
    -----END FACT-LEDGER ENCRYPTED PRIVATE KEY-----

The three header lines are the cipher's associated data, so none of them
can be changed without the passphrase. An unencrypted key file (asked for
explicitly) holds a PKCS#8 PEM private key after the name line. Files
written before Argon2id, a PKCS#8 PEM key encrypted with PBES2 (PBKDF2,
2,048 iterations), are still read; ``ledger key passwd`` re-encrypts them.

The name and the public key together give the C2SP signed-note verifier key
(``name+hex(keyid)+base64(0x01||pubkey)``), the one string that identifies an
editor everywhere. Files are created with mode 0600 and never overwritten,
except by ``change_passphrase``, which replaces a file in one rename.
"""

import base64
import binascii
import os
import re
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import KeyFileError
from ledger.note import Signer
from ledger.schema import DISPLAY_UNSAFE

HEADER = "fact-ledger-key-name: "
VKEY_HEADER = "fact-ledger-key-vkey: "
KDF_HEADER = "fact-ledger-key-kdf: "
ENCRYPTED_LABEL = "FACT-LEDGER ENCRYPTED PRIVATE KEY"
_NAME = re.compile(r"^[^\x00-\x20+\x7f]{1,200}$")
_PEM = re.compile(r"-----BEGIN (ENCRYPTED )?PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END (ENCRYPTED )?PRIVATE KEY-----\n?")
_KDF = re.compile(r"argon2id v=19 m=([1-9][0-9]{0,7}) t=([1-9][0-9]?) p=([1-9][0-9]?) salt=([A-Za-z0-9+/]{22}==)")
_ENCRYPTED = re.compile(rf"-----BEGIN {ENCRYPTED_LABEL}-----\n((?:[A-Za-z0-9+/]{{1,64}}\n)*[A-Za-z0-9+/]*={{0,2}}\n)"
                        rf"-----END {ENCRYPTED_LABEL}-----\n")

# Argon2id's parameters for new key files: the RFC 9106 / OWASP setting of
# 19 MiB, 2 passes, 1 lane. One derivation takes about 25 ms on one core here,
# and `ledger claim add` derives two keys (the editor's and the log key) within
# its 300 ms (benchmarks/RESULTS.md). Reading accepts other values, recorded
# in the file, within the bounds below.
ARGON2_MEMORY_KIB = 19_456
ARGON2_PASSES = 2
ARGON2_LANES = 1
MAX_MEMORY_KIB, MAX_PASSES, MAX_LANES = 4 * 2**20, 64, 16  # a file cannot make reading it take unbounded memory or time
SALT_BYTES, NONCE_BYTES = 16, 12
# RFC 8410 section 7: the PKCS#8 DER of an Ed25519 private key is this prefix and the 32-byte seed.
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


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


# --- writing ------------------------------------------------------------------------------
def key_file_bytes(signer: Signer, passphrase: bytes | None) -> bytes:
    """The key file of ``signer``: encrypted under ``passphrase``, or a plain PKCS#8 PEM key when it is None."""
    if not passphrase:
        from cryptography.hazmat.primitives import serialization

        pem = signer.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())
        return (HEADER + signer.name + "\n").encode() + pem
    import secrets

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(NONCE_BYTES)
    header = _encrypted_header(signer, ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, salt)
    key = _derive(passphrase, salt, ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES)
    sealed = nonce + AESGCM(key).encrypt(nonce, PKCS8_ED25519_PREFIX + signer.private_key.private_bytes_raw(), header)
    body = base64.b64encode(sealed).decode("ascii")
    lines = "".join(body[i:i + 64] + "\n" for i in range(0, len(body), 64))
    return header + f"-----BEGIN {ENCRYPTED_LABEL}-----\n{lines}-----END {ENCRYPTED_LABEL}-----\n".encode("ascii")


def _encrypted_header(signer: Signer, memory_kib: int, passes: int, lanes: int, salt: bytes) -> bytes:
    return (f"{HEADER}{signer.name}\n{VKEY_HEADER}{signer.vkey}\n"
            f"{KDF_HEADER}argon2id v=19 m={memory_kib} t={passes} p={lanes} salt={base64.b64encode(salt).decode()}\n").encode("utf-8")


def _derive(passphrase: bytes, salt: bytes, memory_kib: int, passes: int, lanes: int) -> bytes:
    """RFC 9106 Argon2id (version 0x13) of the passphrase: the 32-byte AES-256-GCM key."""
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    return Argon2id(salt=salt, length=32, iterations=passes, lanes=lanes, memory_cost=memory_kib).derive(passphrase)


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
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # a key written is a key kept, even if the machine stops now
    except OSError as e:
        path.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write {path}: {e.strerror}") from e


def change_passphrase(path, old: bytes | None, new: bytes) -> Signer:
    """Re-encrypt the key file at ``path`` under ``new`` with the current Argon2id parameters.

    The new file (``PATH.new``, mode 0600) is written and synced beside the
    old one, then renamed over it: the key file is at all times either the old
    one or the new one.
    """
    path = Path(path)
    signer = read_key_file(path, old)
    partial = path.with_name(path.name + ".new")
    write_key_file(partial, signer, new)  # refuses if PATH.new exists (left by an interrupted run: check it, remove it)
    try:
        os.replace(partial, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise KeyFileError(f"cannot replace {path}: {e.strerror}") from e
    return signer


# --- reading ------------------------------------------------------------------------------
def _read(path) -> tuple[str, str]:
    """(key name, the rest of the file) of a key file, read strictly."""
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
    if not first.startswith(HEADER) or not (_PEM.fullmatch(rest) or rest.startswith(VKEY_HEADER)):
        raise KeyFileError(f"{path} is not a fact-ledger key file (expected a '{HEADER}NAME' line and a PKCS#8 PEM key)")
    return check_key_name(first[len(HEADER):]), rest


def key_file_is_encrypted(path) -> bool:
    return "ENCRYPTED PRIVATE KEY" in _read(path)[1]


def key_file_vkey(path):
    """The verifier key an encrypted key file records (readable without its passphrase), or None."""
    rest = _read(path)[1]
    return rest.partition("\n")[0][len(VKEY_HEADER):] if rest.startswith(VKEY_HEADER) else None


def key_file_uses_old_encryption(path) -> bool:
    """Whether the key file is encrypted the old way (PKCS#8 PBES2, PBKDF2 with 2,048 iterations)."""
    return "-----BEGIN ENCRYPTED PRIVATE KEY-----" in _read(path)[1]


def key_file_exposure(path):
    """A warning if others than the owner may read or change the key file, else None."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    who = "its group and others" if mode & 0o070 and mode & 0o007 else "its group" if mode & 0o070 else "others"
    return f"{path} is open to {who} (mode {mode:04o}); make it private with 'chmod 600 {path}'"


def read_key_file(path, passphrase: bytes | None) -> Signer:
    """Load a key file; a wrong or missing passphrase is a KeyFileError."""
    name, rest = _read(path)
    if rest.startswith(VKEY_HEADER):
        return _read_encrypted(path, name, rest, passphrase)
    return _read_pkcs8(path, name, rest.encode("ascii"), passphrase)


def _read_encrypted(path, name: str, rest: str, passphrase: bytes | None) -> Signer:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    vkey_line, kdf_line, armored = _encrypted_parts(path, rest)
    memory_kib, passes, lanes, salt = _kdf_parameters(path, kdf_line)
    if not passphrase:
        raise KeyFileError(f"{path} is encrypted: set LEDGER_PASSPHRASE or enter the passphrase when asked")
    sealed = base64.b64decode(armored)
    header = f"{HEADER}{name}\n{VKEY_HEADER}{vkey_line}\n{KDF_HEADER}{kdf_line}\n".encode("utf-8")
    key = _derive(passphrase, salt, memory_kib, passes, lanes)
    try:
        plain = AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], header)
    except (InvalidTag, ValueError) as e:
        raise KeyFileError(f"wrong passphrase for {path}") from e
    if len(plain) != 48 or not plain.startswith(PKCS8_ED25519_PREFIX):
        raise KeyFileError(f"{path} holds no Ed25519 private key")
    signer = Signer(name=name, private_key=Ed25519PrivateKey.from_private_bytes(plain[16:]))
    if signer.vkey != vkey_line:
        raise KeyFileError(f"{path} records the verifier key {vkey_line}, but its private key's is {signer.vkey}")
    return signer


def _encrypted_parts(path, rest: str) -> tuple[str, str, str]:
    """(verifier key, KDF line, base64 body) of an encrypted key file after its name line."""
    vkey_line, _, rest = rest.partition("\n")
    kdf_line, _, armored = rest.partition("\n")
    match = _ENCRYPTED.fullmatch(armored)
    if not kdf_line.startswith(KDF_HEADER) or not match:
        raise KeyFileError(f"{path} is not a fact-ledger key file (expected '{VKEY_HEADER}', '{KDF_HEADER}' and "
                           f"a {ENCRYPTED_LABEL} block)")
    body = match[1].replace("\n", "")
    try:
        if len(base64.b64decode(body, validate=True)) < NONCE_BYTES + 16 + 48:
            raise ValueError("too short")
    except (binascii.Error, ValueError) as e:
        raise KeyFileError(f"{path}: the encrypted key is not valid base64 of a nonce, a key and a tag") from e
    return vkey_line[len(VKEY_HEADER):], kdf_line[len(KDF_HEADER):], body


def _kdf_parameters(path, kdf_line: str) -> tuple[int, int, int, bytes]:
    match = _KDF.fullmatch(kdf_line)
    if not match:
        raise KeyFileError(f"{path}: '{KDF_HEADER}{kdf_line}' is not 'argon2id v=19 m=KIB t=PASSES p=LANES salt=BASE64'")
    memory_kib, passes, lanes = int(match[1]), int(match[2]), int(match[3])
    if not (8 * lanes <= memory_kib <= MAX_MEMORY_KIB and passes <= MAX_PASSES and lanes <= MAX_LANES):
        raise KeyFileError(f"{path}: Argon2id parameters m={memory_kib} t={passes} p={lanes} are outside "
                           f"8*p <= m <= {MAX_MEMORY_KIB}, t <= {MAX_PASSES}, p <= {MAX_LANES}")
    return memory_kib, passes, lanes, base64.b64decode(match[4])


def _read_pkcs8(path, name: str, pem: bytes, passphrase: bytes | None) -> Signer:
    """A plain PKCS#8 PEM key, or one encrypted the old way (PBES2 with PBKDF2)."""
    # Imported here, not at the top: the serialization package also loads
    # cryptography's SSH key support and ciphers, which commands that never
    # read such a key file need not load.
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

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
