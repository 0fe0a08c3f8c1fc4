"""The log as C2SP tlog-tiles on the site (``/-/tlog/``) and in ``ledger publish``'s ``tlog/``:
the same bytes, the caching the spec asks for, and proofs read from them (through Python's own
``http.server``, not our code) equal to what ``ledger prove`` prints."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from conftest import free_port, running
from ledger import tree
from ledger.api import Ledger
from ledger.checkpoint import parse_checkpoint_untrusted
from ledger.cosignature import Cosignature, CosignatureSigner, parse_signature_lines_untrusted
from ledger.note import Signer
from ledger.site import make_datasette, publish_bundle
from ledger.tiles import CACHE_IMMUTABLE, CACHE_SHORT, TileHashReader, http_fetcher, parse_tile_path_untrusted, tiles_for_size
from ledger.witness import Witness, format_add_checkpoint, init

T = "2024-05-01T00:00:00Z"
LOG = Signer.from_seed("tiles.test.example/log", b"t" * 32)
W1 = CosignatureSigner(Signer.from_seed("tiles.test.example/w1", b"w" * 32))
# Batches whose checkpoints fall before, on and after tile edges: 256 and 512 entries.
BATCHES = (2, 250, 3, 1, 300, 10, 1)


def sources(start: int, count: int) -> list[dict]:
    return [{"kind": "source", "id": f"source:s{i}", "type": "other", "title": f"Source {i}", "created": T}
            for i in range(start, start + count)]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A 568-entry ledger appended in several batches, cosigned by one witness, and `ledger publish`'s bundle of it."""
    directory = tmp_path_factory.mktemp("tlog-site")
    path = directory / "tiles.db"
    with Ledger.create(path, LOG, created=T) as ledger:
        ledger.add_witness(W1.vkey, "https://w1.example/", LOG)
        done = 0
        for count in BATCHES:
            ledger.append(sources(done, count), LOG, LOG)
            done += count
        init(directory / "w1", W1.name, None, signer=W1)
        witness = Witness(directory / "w1", [LOG.vkey])
        answer = witness.add_checkpoint(format_add_checkpoint(0, [], ledger.latest_checkpoint_note()))
        cosignature = Cosignature.from_note_signature_untrusted(parse_signature_lines_untrusted(answer.body)[0])
        ledger.add_cosignatures(ledger.size, [cosignature])
        sizes = [size for size, _ in ledger.checkpoints()]
    out = publish_bundle(path, directory / "bundle")
    return path, out, sizes


def published_files(out: Path) -> dict[str, bytes]:
    tlog = out / "tlog"
    return {p.relative_to(tlog).as_posix(): p.read_bytes() for p in sorted(tlog.rglob("*")) if p.is_file()}


def test_publish_writes_every_checkpoints_tiles_and_the_cosigned_checkpoint(published, run):
    path, out, sizes = published
    files = published_files(out)
    assert sizes == [1, 2, 4, 254, 257, 258, 558, 568, 569]
    expected = {t.path for size in sizes for t in tiles_for_size(size)}
    assert set(files) == expected | {"checkpoint"}
    # The full tiles the log has, and each checkpoint's partial tiles, e.g. 254's and 558's.
    assert {"tile/0/000", "tile/entries/000", "tile/0/001", "tile/0/000.p/254", "tile/0/002.p/46", "tile/1/000.p/2"} <= set(files)
    checkpoint = files["checkpoint"].decode()
    assert checkpoint == (out / "checkpoint.txt").read_text() == run("checkpoint", path).stdout
    assert checkpoint.count("\n— ") == 2 and f"\n— {W1.name} " in checkpoint


async def test_the_site_serves_the_same_bytes(published):
    path, out, _ = published
    ds = make_datasette(path)
    for name, data in published_files(out).items():
        response = await ds.client.get(f"/-/tlog/{name}")
        assert response.status_code == 200, name
        assert response.content == data, name
        assert response.headers["access-control-allow-origin"] == "*"
        if name == "checkpoint":
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
            assert response.headers["cache-control"] == CACHE_SHORT
            continue
        tile = parse_tile_path_untrusted(name)
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["cache-control"] == (CACHE_IMMUTABLE if tile.is_full else CACHE_SHORT), name
    latest = await ds.client.get("/-/checkpoint")
    assert latest.text == published_files(out)["checkpoint"].decode()


@pytest.mark.parametrize("name", [
    "tile/0/x000/001", "tile/0/1", "tile/0/003", "tile/entries/003", "tile/1/001", "tile/2/000.p/1",
    "tile/0/002.p/58", "tile/0/000.p/0", "tile/0/000.p/256", "tile/64/000", "tile/00/000", "tile/-1/000", "tile/0",
])
async def test_the_site_answers_404_for_paths_that_are_not_tiles_of_its_tree(published, name):
    path, _, _ = published
    response = await make_datasette(path).client.get(f"/-/tlog/{name}")
    assert response.status_code == 404, (name, response.text)
    assert json.loads(response.text)["ok"] is False


async def test_a_partial_tile_of_an_older_size_is_a_prefix(published):
    """Any width up to the level's is served (tlog-tiles: a partial tile is the prefix of the full one)."""
    path, out, _ = published
    ds = make_datasette(path)
    files = published_files(out)
    assert (await ds.client.get("/-/tlog/tile/0/000.p/7")).content == files["tile/0/000"][:7 * 32]
    assert (await ds.client.get("/-/tlog/tile/0/002.p/57")).content == files["tile/0/002.p/57"]


def test_publishing_twice_gives_the_same_files(published, tmp_path):
    path, out, _ = published
    again = publish_bundle(path, tmp_path / "again")
    assert published_files(again) == published_files(out)


def test_proofs_from_the_published_tiles_equal_ledger_prove(published, run):
    """A client reading only the static files, served by Python's http.server, computes the proofs `ledger prove` prints."""
    path, out, sizes = published
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with running([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(out / "tlog")],
                 base + "checkpoint"):
        fetch = http_fetcher(base, timeout=10)
        checkpoint = parse_checkpoint_untrusted(fetch("checkpoint").decode().split("\n\n")[0] + "\n")
        size = checkpoint.size
        for index in (0, 1, 255, 256, 300, 511, 512, size - 1):
            reader = TileHashReader(size, checkpoint.root_hash, fetch)
            expected = json.loads(run("prove", path, index).stdout)
            assert [_b64(h) for h in tree.prove_inclusion(size, index, reader)] == expected["hashes"], index
        for old in sizes[:-1] + [3, 256, 300, 513]:
            reader = TileHashReader(size, checkpoint.root_hash, fetch)
            expected = json.loads(run("prove", path, "--consistency", old).stdout)
            assert [_b64(h) for h in tree.prove_consistency(old, size, reader)] == expected["hashes"], old
        # Each older checkpoint's tree is readable from its own partial tiles.
        with Ledger.open(path, readonly=True) as ledger:
            for old in sizes:
                reader = TileHashReader(old, ledger.root(old), fetch)
                assert reader.read_leaves(0, old) == ledger.read_leaves(0, old)


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()
