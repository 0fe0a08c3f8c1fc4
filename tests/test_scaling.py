"""Past one machine (docs/scaling.md): one published bundle served by two `ledger serve` replicas
(one of them with --workers 2) and its tiles by a plain static file server; `ledger verify` and
`ledger monitor` agree on all three. Real processes on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from conftest import free_port, ledger_server, static_server
from ledger.demo import DEMO_ORIGIN, _signer, build_demo
from ledger.site import publish_bundle


def ledger_json(*args):
    done = subprocess.run([sys.executable, "-m", "ledger", *map(str, args), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scaling")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    return publish_bundle(tmp / "demo.db", tmp / "bundle")


def test_two_replicas_and_static_tiles_verify_and_monitor_alike(bundle, tmp_path):
    vkey = _signer(DEMO_ORIGIN).vkey
    with ledger_server(bundle / "ledger.db") as one, ledger_server(bundle / "ledger.db", "--workers", 2) as two, \
            static_server(bundle) as static:
        sources = {"replica 1": one, "replica 2 (2 workers)": two, "static tiles": static + "tlog/"}
        # Workers serve the same read-only app: writes are refused by each of them.
        for _ in range(4):
            request = urllib.request.Request(two + "demo/claims", data=b"x=1", method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 405
        verified = {name: ledger_json("verify", url, "--vkey", vkey) for name, url in sources.items()}
        monitored = {name: ledger_json("monitor", url, "--vkey", vkey, "--state", tmp_path / f"{n}.state")
                     for n, (name, url) in enumerate(sources.items())}
    for name in sources:
        assert verified[name]["ok"], (name, verified[name])
        assert monitored[name]["ok"], (name, monitored[name])
    # The same log everywhere: verify's tree (size and root) and entries, and what the monitor saw
    # (its size, the kinds of the entries, the cosigners), the same for the three sources.
    assert len({(v["tree_size"], v["root"], v["entries"]) for v in verified.values()}) == 1, verified
    seen = {(m["size"], json.dumps(m["counts"], sort_keys=True), json.dumps(m["cosigned"], sort_keys=True)) for m in monitored.values()}
    assert len(seen) == 1, monitored
    assert {v["tree_size"] for v in verified.values()} == {m["size"] for m in monitored.values()}


def test_serve_with_workers_refuses_a_file_that_is_not_a_ledger(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"not a database")
    before = bad.read_bytes()
    done = subprocess.run([sys.executable, "-m", "ledger", "serve", str(bad), "--workers", "2", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.startswith("Error: ") and len(done.stderr.splitlines()) == 1, done.stderr
    assert bad.read_bytes() == before
