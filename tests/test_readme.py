"""The README is true: its walk-through runs as written, and every command is documented."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ledger.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def sh_blocks():
    return re.findall(r"```sh\n(.*?)```\n", README, re.DOTALL)


def walkthrough():
    return re.search(r"<!-- walkthrough -->\n```sh\n(.*?)```\n", README, re.DOTALL).group(1)


def test_walkthrough_runs_as_written(tmp_path):
    (tmp_path / "data" / "seed").mkdir(parents=True)
    shutil.copy(ROOT / "data" / "seed" / "article-ro.txt", tmp_path / "data" / "seed" / "article-ro.txt")
    # The walk-through, then the correction/retraction and append examples after it.
    later = [b for b in sh_blocks() if "ledger correct" in b or "ledger append" in b]
    script = walkthrough() + "\n".join(later)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "OK: every check holds." in result.stdout
    assert "tags: [\"optics\"] → [\"optics\", \"tanks\"]" in result.stdout
    assert "Appended claim:nitrocellulose v1" in result.stdout
    verify = subprocess.run([sys.executable, "-m", "ledger", "verify", "desk.db", "--json"], cwd=tmp_path, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout
    import sqlite3

    chain = sqlite3.connect(tmp_path / "desk.db").execute(
        "SELECT source_id FROM claim_chain WHERE claim_id = 'claim:microelectronics-90' ORDER BY position").fetchall()
    assert [c[0] for c in chain] == ["source:ro-article", "source:ap-report", "source:us-officials", "source:us-assessment"]
    # The publisher readers see on the site: the log key's display name, given at `ledger init`.
    publisher = sqlite3.connect(tmp_path / "desk.db").execute("SELECT display_name FROM editors WHERE role = 'log'").fetchone()
    assert publisher == ("Example Fact-Check Desk",)


def test_library_example_runs_as_written(tmp_path):
    (block,) = re.findall(r"```python\n(.*?)```\n", README, re.DOTALL)
    (tmp_path / "data" / "seed").mkdir(parents=True)
    shutil.copy(ROOT / "data" / "seed" / "article-ro.txt", tmp_path / "data" / "seed" / "article-ro.txt")
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # What the example's comments say it prints.
    assert result.stdout == "corrected 6\n6\n"
    verify = subprocess.run([sys.executable, "-m", "ledger", "verify", "library.db"], cwd=tmp_path, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout


def all_commands(group=cli, prefix="ledger"):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from all_commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


@pytest.mark.parametrize("path,command", list(all_commands()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_has_help_with_an_example_and_is_documented(path, command):
    assert command.help and "Example" in command.help, f"{path} --help has no example"
    assert f"`{path}" in README, f"{path} is not in the README's command table"
