"""What the CLI and the key modules import at start-up: only what a command needs.

Start-up time is measured by ``python -m benchmarks``, never asserted here;
these tests only keep modules that no editing command uses from coming back.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# cryptography's serialization package also loads its SSH key support, the
# ciphers and dataclasses; reading a key file and signing need none of them.
SERIALIZATION = "cryptography.hazmat.primitives.serialization"


def loaded_after(code: str) -> set:
    script = textwrap.dedent(f"""
        import sys
        {code}
        print("\\n".join(sorted(sys.modules)))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return set(result.stdout.split())


def test_cli_imports_only_click_and_errors():
    # The command line's own modules (one family of commands each) and the errors, nothing else of ledger.
    loaded = loaded_after("import ledger.cli")
    ledger_modules = {m for m in loaded if m.startswith("ledger.")}
    assert ledger_modules == {"ledger.cli", "ledger.cli.group", "ledger.cli.keys", "ledger.cli.records", "ledger.cli.reading",
                              "ledger.cli.site", "ledger.cli.witness", "ledger.cli.monitor", "ledger.errors"}
    assert not {m for m in loaded if m.split(".")[0] in ("datasette", "sqlite_utils", "jsonschema")}


@pytest.mark.parametrize("module", ["ledger.keys", "ledger.note", "ledger.checkpoint"])
def test_key_and_note_modules_do_not_import_serialization(module):
    loaded = loaded_after(f"import {module}")
    assert SERIALIZATION not in loaded
    assert "secrets" not in loaded


def test_keys_use_only_cryptographys_public_api():
    from ledger import keys

    source = Path(keys.__file__).read_text(encoding="utf-8")
    assert "cryptography.hazmat.primitives.serialization import load_pem_private_key" in source
    assert "_rust" not in source and "bindings" not in source


@pytest.mark.parametrize("passphrase,needs_serialization", [(b"pw", False), (None, True)], ids=["encrypted", "plain"])
def test_writing_a_key_file_still_works_without_serialization_preloaded(tmp_path, passphrase, needs_serialization):
    # An encrypted key file (Argon2id, AES-GCM around the RFC 8410 DER) needs no PEM
    # parsing; key_file_bytes imports serialization itself for a plain PEM key.
    path = tmp_path / "ana.key"
    out = loaded_after(f"""
        from ledger.keys import read_key_file, write_key_file
        from ledger.note import Signer
        signer = Signer.from_seed("ana@desk.example", bytes(range(32)))
        write_key_file({str(path)!r}, signer, {passphrase!r})
        assert read_key_file({str(path)!r}, {passphrase!r}).vkey == signer.vkey
    """)
    assert (SERIALIZATION in out) is needs_serialization


def test_library_append_path_does_not_import_worker_machinery():
    # A one-record append (ledger claim add) never starts signing workers
    # (ledger.signing imports multiprocessing only when it does).
    loaded = loaded_after("import ledger.api")
    assert not {"multiprocessing", "concurrent.futures", SERIALIZATION} & loaded
    assert not {m for m in loaded if m.split(".")[0] in ("datasette", "sqlite_utils", "jsonschema")}
