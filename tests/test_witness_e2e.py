"""Issue 16's acceptance, with real processes on 127.0.0.1: a log (`ledger serve` of each published
copy), two witnesses (`ledger witness serve`), the `ledger` commands a desk and a reader run, and a
monitor (`ledger monitor`). Scenarios: normal appends; one witness down; the log-key holder
rewriting history and re-signing it; a split view (a proxy showing the monitor another history than
the one witnessed); a rollback and a freeze (``--max-age``)."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from conftest import TEST_ORIGIN, free_port, ledger_server, run_ledger_process, running, test_signer
from ledger.witness import origin_hash

LOG = test_signer(TEST_ORIGIN)
PROXY = Path(__file__).parent / "split_view_proxy.py"


class World:
    """A desk's ledger, its two witnesses as processes, and its site, published again on demand."""

    def __init__(self, directory: Path, db: Path, editor_key: Path):
        self.directory, self.db, self.editor_key = directory, db, editor_key
        self.stack = contextlib.ExitStack()
        self.witnesses: dict[str, dict] = {}
        self.site: contextlib.ExitStack | None = None
        self.published = 0
        self.sources = 0

    def ledger(self, *args, ok: bool = True):
        done = run_ledger_process(*args)
        if ok:
            assert done.exit_code == 0, (args, done.stdout, done.stderr)
        return done

    # --- witnesses ---------------------------------------------------------------------------
    def start_witness(self, name: str) -> str:
        """Start (or restart, on the same port and state) witness ``name``; returns its vkey."""
        folder = self.directory / name
        if name not in self.witnesses:
            vkey = self.ledger("witness", "init", folder, "--name", f"{name}.e2e.test", "--unencrypted").stdout.strip()
            self.witnesses[name] = {"vkey": vkey, "port": free_port(), "stack": None}
        w = self.witnesses[name]
        url = f"http://127.0.0.1:{w['port']}/"
        w["stack"] = contextlib.ExitStack()
        w["stack"].enter_context(running([sys.executable, "-m", "ledger", "witness", "serve", str(folder), "--port",
                                          str(w["port"]), "--log", LOG.vkey], url))
        w["url"] = url
        return w["vkey"]

    def stop_witness(self, name: str) -> None:
        self.witnesses[name]["stack"].close()

    def vkey(self, name: str) -> str:
        return self.witnesses[name]["vkey"]

    def refused(self, name: str) -> list[tuple]:
        conn = sqlite3.connect(self.directory / name / "witness.db")
        try:
            return conn.execute("SELECT old_size, tree_size, status FROM refused ORDER BY id").fetchall()
        finally:
            conn.close()

    # --- the desk -----------------------------------------------------------------------------
    def add_source(self, db: Path | None = None, title: str = "Source"):
        self.sources += 1
        return self.ledger("source", "add", db or self.db, "--key", self.editor_key, "--id", f"source:s{self.sources}",
                           "--type", "other", "--title", f"{title} {self.sources}")

    # --- the site --------------------------------------------------------------------------------
    def publish(self, db: Path | None = None) -> str:
        """Serve a copy of the ledger as it is now (a deployed site serves a published copy)."""
        if self.site is not None:
            self.site.close()
        self.published += 1
        copy = self.directory / f"published-{self.published}.db"
        shutil.copyfile(db or self.db, copy)
        self.site = contextlib.ExitStack()
        return self.site.enter_context(ledger_server(copy))

    def close(self) -> None:
        if self.site is not None:
            self.site.close()
        for w in self.witnesses.values():
            if w["stack"] is not None:
                w["stack"].close()


@pytest.fixture
def world(tmp_path, ledger_db, editor_key_file):
    w = World(tmp_path, ledger_db, editor_key_file)
    try:
        for name in ("w1", "w2"):
            w.start_witness(name)
            added = w.ledger("witness", "add", ledger_db, "--vkey", w.vkey(name), "--url", w.witnesses[name]["url"],
                             "--display-name", f"Witness {name}")
            assert added.stdout.endswith(f"Cosigned by {2 if name == 'w2' else 1} of {2 if name == 'w2' else 1} "
                                         f"witness{'es' if name == 'w2' else ''}.\n"), added.stdout
        yield w
    finally:
        w.close()


def wid(world: World, name: str) -> str:
    """name+keyid of a witness's key (its verifier key's first two parts)."""
    return "+".join(world.vkey(name).split("+", 2)[:2])


def verify_quorum(world: World, source, quorum: int = 2, ok: bool = True):
    args = ["verify", source, "--vkey", LOG.vkey, "--witness", world.vkey("w1"), "--witness", world.vkey("w2"),
            "--quorum", str(quorum)]
    return world.ledger(*args, ok=ok)


def monitor(world: World, url: str, state: Path, *extra, ok: bool = True):
    return world.ledger("monitor", url, "--state", state, "--vkey", LOG.vkey, *extra, ok=ok)


def test_normal_appends(world, tmp_path):
    appended = world.add_source()
    assert appended.stdout.endswith("Signed checkpoint: tree size 5\nCosigned by 2 of 2 witnesses.\n")
    checkpoint = world.ledger("checkpoint", world.db).stdout
    assert checkpoint.count("\n— ") == 3 and "\n— w1.e2e.test " in checkpoint and "\n— w2.e2e.test " in checkpoint
    listed = world.ledger("witness", "list", world.db).stdout.splitlines()
    assert [line.split(":")[0].split()[:2] for line in listed] == [["active", wid(world, "w1")],
                                                                 ["active", wid(world, "w2")]]
    assert all(line.endswith(" ".join(line.split()[-4:])) and "last cosigned size 5 at" in line for line in listed)
    assert verify_quorum(world, world.db).stdout.endswith("OK: every check holds.\n")
    site = world.publish()
    assert json.loads(world.ledger("verify", site, "--vkey", LOG.vkey, "--witness", world.vkey("w1"), "--witness",
                                   world.vkey("w2"), "--quorum", "2", "--json").stdout)["witnesses"]["ok"] is True
    state = tmp_path / "reader.monitor"
    first = monitor(world, site, state, "--witness", world.vkey("w1"), "--witness", world.vkey("w2"))
    assert first.stdout == (f"{TEST_ORIGIN}: first check, 5 entries (5 new: new key ×2, new witness ×2, new source), "
                            f"consistent; cosigned by 2 of 2 trusted witness(es), freshest {first.stdout.split('freshest ')[1]}")
    world.add_source()
    world.add_source()
    site = world.publish()
    later = monitor(world, site, state, "--verbose")
    lines = later.stdout.splitlines()
    assert lines[0].startswith(f"{TEST_ORIGIN}: 5 → 7 entries (2 new: new source ×2), consistent; cosigned by 2 of 2")
    assert lines[1].startswith("  entry 5: new source: source:s2, signed by ") and lines[2].startswith("  entry 6: new source: source:s3")
    assert any(line.startswith("  cosigned by w1.e2e.test+") and line.endswith("; it holds size 7") for line in lines)
    assert monitor(world, site, state).stdout.startswith(f"{TEST_ORIGIN}: 7 → 7 entries (nothing new), consistent")


def test_one_witness_down(world):
    world.stop_witness("w2")
    appended = world.add_source()
    assert appended.stdout.endswith("Signed checkpoint: tree size 5\n")
    assert appended.stderr == (f"Cosigned by 1 of 2 witnesses ({wid(world, 'w2')}: cannot reach it); "
                               f"run 'ledger witness sync {world.db}' later\n")
    failed = verify_quorum(world, world.db, ok=False)
    assert failed.exit_code == 1 and "the checkpoint of size 5 is cosigned by 1 of the 2 trusted witnesses" in failed.stdout
    assert verify_quorum(world, world.db, quorum=1).exit_code == 0
    sync = world.ledger("witness", "sync", world.db, ok=False)
    assert sync.exit_code == 1 and sync.stderr.startswith("Error: Cosigned by 1 of 2 witnesses")
    world.start_witness("w2")  # back, on the same port, with its state
    healed = world.ledger("witness", "sync", world.db)
    assert [line.split()[0] for line in healed.stdout.splitlines()] == ["cosigned", "cosigned"]
    assert verify_quorum(world, world.db).exit_code == 0


def test_the_log_key_holder_rewrites_history(world, tmp_path):
    world.add_source()
    state = tmp_path / "reader.monitor"
    monitor(world, world.publish(), state)
    # The holder of the log key builds another history from the start, with the same log key and witnesses.
    rewritten = tmp_path / "rewritten.db"
    world.ledger("init", rewritten, "--log-key", tmp_path / "log.key")
    for name in ("w1", "w2"):
        added = world.ledger("witness", "add", rewritten, "--vkey", world.vkey(name), "--url", world.witnesses[name]["url"])
        assert "Cosigned by 0 of" in added.stderr and "(409)" in added.stderr, added.stderr
    world.ledger("key", "add", rewritten, test_signer("ana@test.fact-ledger.example").vkey, "--display-name", "Ana")
    world.add_source(rewritten, title="Rewritten")
    appended = world.add_source(rewritten, title="Rewritten")
    assert appended.stderr.startswith("Cosigned by 0 of 2 witnesses ("), appended.stderr
    for name in ("w1", "w2"):  # both refused: first 409 (they hold size 5 of the first history), then not consistent
        statuses = {status for _, _, status in world.refused(name)}
        assert 409 in statuses and statuses <= {409, 422}, world.refused(name)
    site = world.publish(rewritten)
    failed = monitor(world, site, state, ok=False)
    assert failed.exit_code == 1
    assert failed.stderr.startswith("Error: rewrite: the log's tree of size 6 does not extend the one of size 5 verified before")
    assert verify_quorum(world, site, ok=False).exit_code == 1
    assert world.ledger("verify", site, "--vkey", LOG.vkey).exit_code == 0  # a re-signed history verifies on its own


def test_a_split_view(world, tmp_path):
    state = tmp_path / "reader.monitor"
    honest = world.publish()
    monitor(world, honest, state)  # size 4: both histories share it
    fork = tmp_path / "fork.db"
    shutil.copyfile(world.db, fork)
    world.add_source()
    world.add_source()  # the witnesses cosign the honest history, size 6
    world.add_source(fork, title="Forked")  # the fork, size 5, re-signed by the log key; the witnesses refuse it
    world.add_source(fork, title="Forked")
    world.add_source(fork, title="Forked")
    pages, tiles = world.publish(), None
    fork_site = contextlib.ExitStack()
    tiles = fork_site.enter_context(ledger_server(fork))
    port = free_port()
    proxy = f"http://127.0.0.1:{port}/"
    try:
        with running([sys.executable, str(PROXY), str(port), pages, tiles], proxy + "-/ledger.json"):
            # Readers of the pages see the honest history; the monitor, reading tiles, is shown the fork.
            assert verify_quorum(world, proxy).exit_code == 0
            failed = monitor(world, proxy, state, ok=False)
            assert failed.exit_code == 1
            assert failed.stderr.startswith("Error: split-view: witness w1.e2e.test+"), failed.stderr
            assert "that the log's tree of size 7 does not extend: a split view" in failed.stderr
            with_quorum = monitor(world, proxy, state, "--witness", world.vkey("w1"), "--witness", world.vkey("w2"), ok=False)
            assert with_quorum.stderr.startswith("Error: quorum: the checkpoint of size 7 is cosigned by 0 of the trusted witnesses")
            as_json = json.loads(monitor(world, proxy, state, "--json", ok=False).stdout)
            assert (as_json["ok"], as_json["finding"]) == (False, "split-view")
    finally:
        fork_site.close()
    # Nothing was saved: the honest site still checks.
    assert monitor(world, world.publish(), state).stdout.startswith(f"{TEST_ORIGIN}: 4 → 6 entries")


def test_rollback_and_freeze(world, tmp_path):
    old = tmp_path / "old.db"
    shutil.copyfile(world.db, old)
    world.add_source()
    state = tmp_path / "reader.monitor"
    monitor(world, world.publish(), state)
    failed = monitor(world, world.publish(old), state, ok=False)
    assert failed.stderr == ("Error: rollback: the log shows size 4, smaller than the size 5 verified before: it rolled back\n")
    site = world.publish()
    assert monitor(world, site, state, "--max-age", "3600").exit_code == 0
    time.sleep(2.2)  # the site keeps serving the same checkpoint; its cosignatures age
    frozen = monitor(world, site, state, "--max-age", "1", ok=False)
    assert frozen.stderr.startswith("Error: stale: the checkpoint of size 5 may be frozen: its freshest cosignature is ")
    assert frozen.stderr.endswith(" s old, more than --max-age 1 s\n")
    world.ledger("witness", "sync", world.db)  # fresh cosignatures of the same checkpoint
    assert monitor(world, world.publish(), state, "--max-age", "60").exit_code == 0


def test_witness_endpoints_answer_as_the_spec_says(world):
    """The served witness, reached as a monitor reaches it: its latest checkpoint of the log, and 404 for another."""
    import urllib.error
    import urllib.request

    url = world.witnesses["w1"]["url"]
    with urllib.request.urlopen(f"{url}{origin_hash(TEST_ORIGIN)}/checkpoint", timeout=10) as response:
        note = response.read().decode()
    assert note.startswith(f"{TEST_ORIGIN}\n4\n") and "\n— w1.e2e.test " in note
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{url}{origin_hash('other.example/log')}/checkpoint", timeout=10)
    assert e.value.code == 404
