"""Files that cannot be written, full disks and links: one ``Error:`` line, exit 1, nothing changed (issue 13 item 12).

Each attack is real: ``chattr +i`` on the ledger or its directory, a small
tmpfs filled to the last block, a file size limit (``ulimit -f``), and a
dangling symbolic link where ``ledger init`` is asked to create a ledger.
The commands run as the real entry point in a child process. Tests that need
root (chattr, mount) skip with the reason when the machine does not allow it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEST_PASSPHRASE, one_error_line, sha256_of_file

QUOTE = "în 2023 aproximativ 90% din microelectronica Rusiei a venit din China"


def claim_add(db, key, claim_id="claim:new", **kw):
    return ["claim", "add", db, "--key", key, "--id", claim_id, "--source", "source:article", "--language", "ro", "--quote", QUOTE]


@contextlib.contextmanager
def immutable(path: Path):
    """``chattr +i PATH`` for the block (skip if this machine cannot), always undone."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i does not work here ({done.stderr.strip() or done.returncode}): needs root and ext2/3/4, xfs or btrfs")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@contextlib.contextmanager
def small_filesystem(directory: Path, size_kib: int):
    """A tmpfs of SIZE_KIB mounted on DIRECTORY for the block (skip if mounting is not allowed)."""
    directory.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(directory)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}): needs root (CAP_SYS_ADMIN)")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def fill(directory: Path, leave: int = 0) -> Path:
    """Write zeros to a file until the file system is full, then give back ``leave`` bytes."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        if leave:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler


def test_appending_to_an_immutable_file(seed_source_db, editor_key_file, run_process):
    before = sha256_of_file(seed_source_db)
    with immutable(seed_source_db):
        line = one_error_line(run_process(*claim_add(seed_source_db, editor_key_file)))
    assert line == (f"Error: cannot append to {seed_source_db}: the file cannot be opened for writing (Operation not permitted: "
                    f"check 'lsattr {seed_source_db}' for the immutable flag, the mount and the permissions); nothing was changed")
    assert sha256_of_file(seed_source_db) == before and not Path(f"{seed_source_db}-journal").exists()


def test_appending_in_an_immutable_directory(seed_source_db, editor_key_file, run_process):
    before = sha256_of_file(seed_source_db)
    directory = seed_source_db.parent
    with immutable(directory):
        line = one_error_line(run_process(*claim_add(seed_source_db, editor_key_file)))
        assert line.startswith(f"Error: cannot append to {seed_source_db}: its directory {directory.resolve()} does not let SQLite "
                               f"create {seed_source_db.name}-journal beside it")
        assert sorted(p.name for p in directory.iterdir()) == sorted(["desk.db", "ana.key", "log.key"])
    assert sha256_of_file(seed_source_db) == before


def test_appending_on_a_full_disk(seed_source_db, editor_key_file, log_key_file, run_process, tmp_path):
    # Room for the file (8 KiB pages: about 450 KiB with its 40 tables and indexes) and one append's journal.
    with small_filesystem(tmp_path / "small", 1536) as small:
        db = small / "desk.db"
        db.write_bytes(seed_source_db.read_bytes())
        filler = fill(small)
        before = sha256_of_file(db)
        line = one_error_line(run_process(*claim_add(db, editor_key_file), "--log-key", log_key_file))
        assert line == (f"Error: cannot append to {db}: the disk is full (database or disk is full): free some space and "
                        "try again; nothing was appended")
        assert sha256_of_file(db) == before
        filler.unlink()
        assert run_process("verify", db).exit_code == 0
        result = run_process(*claim_add(db, editor_key_file), "--log-key", log_key_file)
        assert result.exit_code == 0, result.stderr


def test_appending_past_a_file_size_limit(seed_source_db, editor_key_file):
    """``ulimit -f 8``: no file may grow past 8 KiB, so the batch's journal cannot be written (EFBIG; Python ignores SIGXFSZ)."""
    size = 8192
    before = sha256_of_file(seed_source_db)
    env = {**os.environ, "LEDGER_PASSPHRASE": TEST_PASSPHRASE}
    done = subprocess.run([sys.executable, "-m", "ledger", *map(str, claim_add(seed_source_db, editor_key_file))], env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size)))
    assert "Traceback" not in done.stderr and done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot append to {seed_source_db}: the file system refused a write ("), lines
    assert lines[0].endswith("check free space, quotas and file size limits; nothing was appended")
    assert sha256_of_file(seed_source_db) == before


def test_init_does_not_follow_a_dangling_symlink(run_process, tmp_path, log_key_file):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "desk.db"
    link.symlink_to(elsewhere / "victim.db")
    line = one_error_line(run_process("init", link, "--log-key", log_key_file))
    assert line == f"Error: {link} is a symbolic link; choose a new file name (a ledger is never created through a link)"
    assert list(elsewhere.iterdir()) == [] and link.is_symlink()


def test_the_library_does_not_create_a_ledger_through_a_link(tmp_path):
    from ledger.api import Ledger
    from ledger.errors import LedgerError
    from ledger.note import Signer

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "desk.db"
    link.symlink_to(elsewhere / "victim.db")
    with pytest.raises(LedgerError, match=r"is a symbolic link to .*victim.db; choose a new file name"):
        Ledger.create(link, Signer.from_seed("x.example/log", b"\x01" * 32))
    assert list(elsewhere.iterdir()) == [] and link.is_symlink()


def test_init_in_an_immutable_directory_creates_nothing(run_process, tmp_path, log_key_file):
    directory = tmp_path / "desk"
    directory.mkdir()
    with immutable(directory):
        line = one_error_line(run_process("init", directory / "desk.db", "--log-key", log_key_file))
        assert line == f"Error: cannot create {directory / 'desk.db'}: Operation not permitted"
        assert list(directory.iterdir()) == []


def test_init_on_a_full_disk_leaves_nothing_behind(run_process, tmp_path, log_key_file):
    with small_filesystem(tmp_path / "small", 200) as small:
        fill(small, leave=8192)  # room for the empty file, not for the ledger
        line = one_error_line(run_process("init", small / "desk.db", "--log-key", log_key_file))
        assert line == (f"Error: cannot create {small / 'desk.db'}: the disk is full (database or disk is full): free some space "
                        "and try again; nothing was created")
        assert sorted(p.name for p in small.iterdir()) == ["filler"]


def test_a_ledger_in_a_directory_with_uri_characters(run_process, tmp_path, log_key_file, editor_key_file):
    """'?', '#' and '%' in the path are percent-encoded in SQLite's file: URI (they cut the path before)."""
    directory = tmp_path / "desk #1?%20"
    directory.mkdir()
    db = directory / "desk.db"
    assert run_process("init", db, "--log-key", log_key_file).exit_code == 0
    result = run_process("verify", db)
    assert result.exit_code == 0, result.stdout + result.stderr
