"""Shared fixtures: deterministic test keys, a fresh ledger, the demo ledger, and CLI runners.

CLI fixtures (``log_key_file``, ``editor_key_file``, ``ledger_db``, ``demo_db``,
``run``, ``run_process``, ``file_hash``) are used by ``test_cli.py`` and
``test_concurrency.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import settings

from ledger.api import Ledger
from ledger.demo import build_demo
from ledger.keys import write_key_file
from ledger.note import Signer
from ledger.records import KeyRecord

# Speed is the benchmarks' to measure, never a test's: Hypothesis's per-example deadline (200 ms) is a
# timed assertion that fails on a loaded CI machine (a 0.4 ms example took 338 ms once), so it is off.
settings.register_profile("ledger", deadline=None)
settings.load_profile("ledger")

# --- keys and a fresh ledger (CLI tests) ------------------------------------------------------
TEST_PASSPHRASE = "correct horse battery staple"
TEST_ORIGIN = "test.fact-ledger.example/log"
TEST_EDITOR = "ana@test.fact-ledger.example"
TEST_CREATED = "2024-05-01T10:00:00Z"
LEDGER_ENV_VARS = ("LEDGER_PASSPHRASE", "LEDGER_LOG_PASSPHRASE", "LEDGER_KEY", "LEDGER_LOG_KEY")


def test_signer(name: str):
    """A deterministic signer: the seed is derived from the name."""
    return Signer.from_seed(name, hashlib.sha256(b"fact-ledger test key seed\n" + name.encode()).digest())


test_signer.__test__ = False  # not a test, despite the name


@pytest.fixture
def ledger_env(monkeypatch):
    """A clean environment: only LEDGER_PASSPHRASE is set (to TEST_PASSPHRASE)."""
    for name in LEDGER_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEDGER_PASSPHRASE", TEST_PASSPHRASE)
    return TEST_PASSPHRASE


@pytest.fixture
def log_key_file(tmp_path, ledger_env) -> Path:
    """The log key (origin TEST_ORIGIN), encrypted with TEST_PASSPHRASE."""
    path = tmp_path / "log.key"
    write_key_file(path, test_signer(TEST_ORIGIN), TEST_PASSPHRASE.encode())
    return path


@pytest.fixture
def editor_key_file(tmp_path, ledger_env) -> Path:
    """An editor key (TEST_EDITOR), encrypted with TEST_PASSPHRASE; registered in ``ledger_db``."""
    path = tmp_path / "ana.key"
    write_key_file(path, test_signer(TEST_EDITOR), TEST_PASSPHRASE.encode())
    return path


@pytest.fixture
def ledger_db(tmp_path, log_key_file, editor_key_file) -> Path:
    """A fresh ledger: entry 0 the log key, entry 1 the editor key. The log key file is named in meta."""
    path = tmp_path / "desk.db"
    log = test_signer(TEST_ORIGIN)
    editor = test_signer(TEST_EDITOR)
    ledger = Ledger.create(path, log, display_name="Test desk", created=TEST_CREATED,
                           extra_meta={"log_key_file": log_key_file.name})
    try:
        ledger.append([KeyRecord(id="key:ana", created=TEST_CREATED, vkey=editor.vkey, display_name="Ana Test",
                                 role="editor", status="active")], log, log)
    finally:
        ledger.close()
    return path


@pytest.fixture
def seed_source_db(ledger_db, editor_key_file, run):
    """``ledger_db`` with one source, ``source:article``, holding the seed article as its snapshot."""
    from ledger.demo import ARTICLE_PATH

    result = run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:article", "--title", "Articol",
                 "--language", "ro", "--snapshot", ARTICLE_PATH)
    assert result.exit_code == 0, result.stderr
    return ledger_db


# --- the demo ledger --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def _demo_build(tmp_path_factory):
    """Built once per session (per xdist worker); tests get copies through ``demo_db``."""
    tmp = tmp_path_factory.mktemp("demo-source")
    build_demo(tmp / "demo.db", tmp / "demo-keys").close()
    return tmp


@pytest.fixture
def demo_db(tmp_path, _demo_build, ledger_env) -> Path:
    """A private copy of the demo ledger; its (unencrypted) keys are in ``tmp_path / 'demo-keys'``."""
    shutil.copytree(_demo_build / "demo-keys", tmp_path / "demo-keys")
    path = tmp_path / "demo.db"
    shutil.copyfile(_demo_build / "demo.db", path)
    return path


def demo_copies(demo_build: Path, directory: Path, altered: dict[str, str] | None = None) -> tuple[Path, Path | None]:
    """A copy of the session's demo (``_demo_build``) in ``directory``, and, given ``altered`` (claim ID -> text),
    a second copy whose claims rows have that text, changed in place as an attacker would (no record signs it)."""
    path = directory / "demo.db"
    shutil.copyfile(demo_build / "demo.db", path)
    if altered is None:
        return path, None
    changed = directory / "altered.db"
    shutil.copyfile(path, changed)
    conn = sqlite3.connect(changed)
    with conn:
        conn.executemany("UPDATE claims SET text = ? WHERE id = ?", [(text, claim_id) for claim_id, text in altered.items()])
    conn.close()
    return path, changed


# --- running the CLI --------------------------------------------------------------------------
@attrs.frozen
class CliRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()


def _invoke_main(*args, input=None, env: dict | None = None) -> CliRun:
    """Run ``ledger.cli.main`` in this process, with the real entry point's error handling.

    ``env`` overrides environment variables for this call (None removes one).
    """
    from ledger.cli import main

    runner = CliRunner()
    code = 0
    with runner.isolation(input=input, env=env) as (out, err, _):
        saved = sys.argv
        sys.argv = ["ledger", *[str(a) for a in args]]
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            sys.argv = saved
        stdout, stderr = out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace")
    return CliRun(code, stdout, stderr)


@pytest.fixture
def run(ledger_env):
    """``run(*args, input=None, env=None)``: the CLI in this process through ``ledger.cli.main``."""
    return _invoke_main


def run_ledger_process(*args, input: bytes | None = None, env: dict | None = None, timeout: float = 60) -> CliRun:
    """``python -m ledger ARGS`` in a child process, stdin not a terminal."""
    full_env = {**os.environ, **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    proc = subprocess.run([sys.executable, "-m", "ledger", *[str(a) for a in args]],
                          input=input if input is not None else b"", capture_output=True, timeout=timeout, env=full_env)
    return CliRun(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def run_process(ledger_env):
    """``run_process(*args, input=None, env=None)``: the real entry point in a child process (None removes a variable)."""
    return run_ledger_process


def sha256_of_file(path) -> str | None:
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def one_error_line(result: CliRun) -> str:
    """The one line of a failed command: exit code 1, ``Error: ...``, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code == 1, result.stderr
    assert len(result.stderr_lines) == 1, result.stderr
    assert result.stderr_lines[0].startswith("Error: ")
    return result.stderr_lines[0]


@pytest.fixture
def file_hash():
    """``file_hash(path)``: SHA-256 hex of a file, or None when it does not exist."""
    return sha256_of_file


# --- a real `ledger serve` on 127.0.0.1 ---------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(args: list[str], probe_url: str, timeout: float = 60):
    """Run ``args`` (a server on 127.0.0.1) until ``probe_url`` answers; yields the process; stops it afterwards."""
    # Output goes to a file: a pipe nobody reads would stall the server once full.
    output = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                output.seek(0)
                raise AssertionError(f"{args[:4]} exited: {output.read().decode(errors='replace')}")
            try:
                urllib.request.urlopen(probe_url, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{args[:4]} did not answer within {timeout:.0f} s")
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        output.close()


@contextlib.contextmanager
def ledger_server(db_path, *serve_args):
    """Run `python -m ledger serve DB [SERVE_ARGS]` on a free port; yields its base URL (with a trailing '/')."""
    base = f"http://127.0.0.1:{free_port()}/"
    args = [sys.executable, "-m", "ledger", "serve", str(db_path), "--port", base.split(":")[-1].rstrip("/"), *map(str, serve_args)]
    with running(args, base + "-/ledger.json"):
        yield base


@contextlib.contextmanager
def static_server(directory):
    """``python -m http.server`` on a free 127.0.0.1 port serving ``directory`` (another origin than a site's);
    yields its base URL (with a trailing '/')."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with running([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)], base):
        yield base


# --- Chromium (browser tests) -----------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def chromium(*extra_args):
    """Debian's Chromium, headless, driven by Playwright (never `playwright install`)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args], headless=True)
        try:
            yield launched
        finally:
            launched.close()
