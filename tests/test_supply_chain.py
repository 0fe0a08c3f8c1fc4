"""The verifier's supply chain (issue 13 item 13).

The attack: the published bundle's README and requirements, ``ledger
publish`` and the export bundle told a stranger to ``pip install
fact-ledger``, a name nobody has published: whoever registers it ships the
verifier everyone runs, and it can always say OK. Now the bundle ships this
package's wheel, built offline and reproducibly, with its SHA-256 in the
bundle, in ``/-/ledger.json`` and beside the wheel the site serves, and names
the source commit it was built from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port
from ledger import distribution
from ledger.site import publish_bundle

NEVER = re.compile(r"pip install (-U )?fact-ledger\b(?!\[)|fact-ledger==")


@pytest.fixture(scope="module")
def demo(_demo_build):
    """The session's demo ledger (conftest), read only: the servers and bundles here never write to it."""
    return _demo_build / "demo.db"


@pytest.fixture(scope="module")
def bundle(demo, tmp_path_factory):
    """``ledger publish`` as a user runs it, with every network route closed (a dead proxy, no index)."""
    out = tmp_path_factory.mktemp("bundle") / "site"
    env = {**os.environ, "PIP_NO_INDEX": "1", "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-m", "ledger", "publish", str(demo), str(out), "--base-url", "https://ledger.example.org"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    return out, done


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_nothing_tells_a_reader_to_pip_install_fact_ledger(bundle, demo, run, tmp_path):
    out, done = bundle
    for path in (out / "README.md", out / "requirements.txt"):
        text = path.read_text()
        assert not NEVER.search(text.replace("Never `pip install fact-ledger`", "")), (path, NEVER.search(text))
    assert not NEVER.search(done.stdout + done.stderr)
    assert run("export", demo, "--format", "bundle", tmp_path / "offline").exit_code == 0
    readme = (tmp_path / "offline" / "README.md").read_text()
    assert "never with\n`pip install fact-ledger`" in readme and not NEVER.search(readme.replace("never with\n`pip install fact-ledger`", ""))


def test_the_bundle_ships_the_wheel_with_its_sha256(bundle):
    out, _ = bundle
    wheels = sorted((out / "ledger-verifier").glob("fact_ledger-*.whl"))
    assert len(wheels) == 1
    wheel, digest = wheels[0], sha256(wheels[0])
    assert (out / "ledger-verifier" / "SHA256SUMS").read_text() == f"{digest}  {wheel.name}\n"
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out / "ledger-verifier", capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout == f"{wheel.name}: OK\n"
    readme = (out / "README.md").read_text()
    assert digest in readme and f"pip install ./ledger-verifier/{wheel.name}" in readme
    assert (out / "requirements.txt").read_text() == f"datasette==0.65.5\n./ledger-verifier/{wheel.name}\n"
    verifier = json.loads((out / "metadata.json").read_text())["plugins"]["fact-ledger"]["verifier"]
    assert verifier["wheel"] == wheel.name and verifier["sha256"] == digest
    assert verifier["commit"] == distribution.source_commit(distribution.source_checkout())


def test_the_wheel_is_reproducible(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    assert distribution.build_wheel(first).sha256 == distribution.build_wheel(second).sha256


def test_the_shipped_wheel_is_a_working_verifier(bundle, demo, tmp_path):
    """Installed on its own (``pip install --no-deps --target``, offline), the wheel's ``ledger verify`` checks the ledger."""
    out, _ = bundle
    wheel = next((out / "ledger-verifier").glob("fact_ledger-*.whl"))
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", "import ledger, sys; print(ledger.__file__); from ledger.cli import main; "
                           "sys.argv = ['ledger', 'verify', sys.argv[1]]; main()", str(demo)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.stdout.splitlines()[0].startswith(str(target)), done.stdout
    assert done.returncode == 0 and "OK: every check holds." in done.stdout, done.stdout + done.stderr


def test_the_deployed_site_serves_the_wheel_and_states_its_sha256(bundle):
    """The bundle served with the README's own `datasette serve` line: /-/ledger.json names the wheel the site serves."""
    out, _ = bundle
    readme = (out / "README.md").read_text()
    line = next(l.strip() for l in readme.splitlines() if l.strip().startswith("datasette serve "))
    port = free_port()
    args = shlex.split(line)[2:] + ["--port", str(port)]
    proc = subprocess.Popen([sys.executable, "-m", "datasette", "serve", *args], cwd=out, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        info = None
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ledger.json", timeout=2) as response:
                    info = json.loads(response.read())
                break
            except OSError:
                assert proc.poll() is None
                time.sleep(0.1)
        verifier = info["verifier"]
        wheel = next((out / "ledger-verifier").glob("fact_ledger-*.whl"))
        assert verifier["wheel"] == wheel.name and verifier["sha256"] == sha256(wheel)
        assert verifier["url"] == f"https://ledger.example.org/ledger-verifier/{wheel.name}"
        assert verifier["source_url"] is None  # plugins.fact-ledger.source_url, set by whoever deploys
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ledger-verifier/{wheel.name}", timeout=30) as response:
            assert hashlib.sha256(response.read()).hexdigest() == verifier["sha256"]
        # The reader's page says how to install this wheel, checked, and never from a package index.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/how-to-verify", timeout=30) as response:
            page = response.read().decode()
        assert verifier["sha256"] in page and f"curl -sO {verifier['url']}" in page
        assert f"python3 -m pip install ./{wheel.name}" in page and "pip install fact-ledger" not in page
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_given_wheel_is_shipped_without_a_commit(demo, tmp_path):
    built = distribution.build_wheel(tmp_path)
    out = publish_bundle(demo, tmp_path / "site", wheel=built.path)
    assert sha256(out / "ledger-verifier" / built.name) == built.sha256
    verifier = json.loads((out / "metadata.json").read_text())["plugins"]["fact-ledger"]["verifier"]
    assert verifier == {"wheel": built.name, "sha256": built.sha256, "commit": None}
    assert "not built from a recorded commit" in (out / "README.md").read_text()


def test_the_commit_is_named_only_for_a_clean_checkout(tmp_path):
    """``source_commit`` of a real git repository: its HEAD, and nothing once a file that goes into the wheel changed."""
    repo = tmp_path / "repo"
    (repo / "ledger").mkdir(parents=True)
    (repo / "ledger" / "x.py").write_text("x = 1\n")
    (repo / "pyproject.toml").write_text('name = "fact-ledger"\n')
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "x"]):
        subprocess.run(git + args, check=True, capture_output=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert distribution.source_commit(repo) == head
    (repo / "notes.txt").write_text("not in the wheel")
    assert distribution.source_commit(repo) == head
    (repo / "ledger" / "x.py").write_text("x = 2\n")
    assert distribution.source_commit(repo) is None


def test_publish_says_what_to_do_when_it_cannot_build(demo, tmp_path, run):
    result = run("publish", demo, tmp_path / "site", "--wheel", demo)
    assert result.exit_code == 1 and result.stderr_lines == [
        f"Error: {demo} is not a fact-ledger wheel (expected a file named fact_ledger-VERSION-py3-none-any.whl)"]
    assert not (tmp_path / "site").exists()
