"""Tests for ledger.tiles: c2sp.org/tlog-tiles paths, tiles and bundles, and proofs read from tiles.

Tiles are built from real logs (the demo ledger's SQLite file, and a
70,000-leaf tree built by ledger.tree), written to a directory, and read
back through ``directory_fetcher`` and through Python's own ``http.server``;
every proof computed from them must equal the one computed from the log.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import free_port, running
from ledger import tree
from ledger.api import Ledger
from ledger.errors import FormatError, NotFoundError, ProofError, RecordError
from ledger.tiles import (
    CACHE_IMMUTABLE,
    ENTRIES,
    MAX_LEAF_SIZE,
    Tile,
    TileError,
    TileHashReader,
    check_leaf_size,
    directory_fetcher,
    format_entry_bundle,
    http_fetcher,
    parse_entry_bundle_untrusted,
    parse_tile_path_untrusted,
    read_entry_bundle,
    read_tile,
    tile_in_tree,
    tiles_for_size,
    write_tiles,
)


class ListLeaves:
    """A LeafReader over a list of leaves."""

    def __init__(self, leaves):
        self.leaves = leaves

    def read_leaves(self, start, end):
        return self.leaves[start:end]


def memory_log(size: int):
    leaves = [b"leaf %d" % i for i in range(size)]
    hashes = tree.MemoryHashStore()
    for leaf in leaves:
        hashes.append_leaf(leaf)
    return hashes, ListLeaves(leaves)


@pytest.fixture(scope="module")
def log_70000(tmp_path_factory):
    """A 70,000-leaf log (the tlog-tiles worked example's size), its tiles written to a directory."""
    hashes, leaves = memory_log(70_000)
    directory = tmp_path_factory.mktemp("tiles-70000")
    write_tiles(directory, tiles_for_size(70_000), hashes, leaves)
    return hashes, leaves, directory


# --- paths ---------------------------------------------------------------------------------------


def test_path_of_the_spec_example():
    # tlog-tiles "Merkle Tree": "index 1234067 will be encoded as x001/x234/067".
    assert Tile(0, 1234067).path == "tile/0/x001/x234/067"
    assert Tile(2, 1234067, 17).path == "tile/2/x001/x234/067.p/17"
    assert Tile(ENTRIES, 5).path == "tile/entries/005"
    assert Tile(ENTRIES, 1000, 1).path == "tile/entries/x001/000.p/1"
    assert Tile(63, 0, 1).path == "tile/63/000.p/1"


@given(st.integers(-1, 63), st.integers(0, 10**12), st.integers(1, 256))
def test_paths_round_trip(level, index, width):
    tile = Tile(level, index, width)
    assert parse_tile_path_untrusted(tile.path) == tile


@pytest.mark.parametrize("path", [
    "tile/0/x000/001",      # 1 spelled with a leading zero group
    "tile/0/1",              # not zero-padded
    "tile/0/0001",
    "tile/0/001.p/256",      # a full tile has no .p
    "tile/0/001.p/0",
    "tile/0/001.p/007",      # width with leading zeros
    "tile/64/000",           # level 0-63
    "tile/00/000",
    "tile/-1/000",
    "tile/data/000",         # Go sumdb's name for bundles, not tlog-tiles'
    "tile/8/0/000",          # Go sumdb's height element
    "tile/0/000/",
    "/tile/0/000",
    "tile/0/x001",           # the last element has no x
    "tile/0/001/002",        # all but the last have one
    "tile/entries/000.p/",
    "tile/0/000\n",
])
def test_non_canonical_paths_are_refused(path):
    with pytest.raises(FormatError, match="not a tile path"):
        parse_tile_path_untrusted(path)


# --- which tiles a tree has ----------------------------------------------------------------------


def test_70000_has_the_worked_example_tiles():
    # tlog-tiles "Partial Tiles": "a tree of size 70,000 will be represented by 273 full
    # level 0 tiles, one partial level 0 tile of width 112, one full level 1 tile, one
    # partial level 1 tile of width 17, and one partial level 2 tile of width 1".
    tiles = tiles_for_size(70_000)
    by_level = {}
    for t in tiles:
        by_level.setdefault(t.level, []).append(t)
    assert set(by_level) == {ENTRIES, 0, 1, 2}
    for level in (ENTRIES, 0):
        assert [t.index for t in by_level[level] if t.is_full] == list(range(273))
        assert [(t.index, t.width) for t in by_level[level] if not t.is_full] == [(273, 112)]
    assert [(t.index, t.width) for t in by_level[1]] == [(0, 256), (1, 17)]
    assert [(t.index, t.width) for t in by_level[2]] == [(0, 1)]
    assert len(tiles) == 2 * 274 + 2 + 1
    assert "tile/0/272" in {t.path for t in tiles} and "tile/0/273.p/112" in {t.path for t in tiles}
    assert "tile/entries/273.p/112" in {t.path for t in tiles} and "tile/2/000.p/1" in {t.path for t in tiles}


def test_256_is_one_full_tile_and_a_partial_above():
    # tlog-tiles: "a tree of size 256 will be represented by a full level 0 tile and a
    # partial level 1 tile of width 1".
    assert tiles_for_size(256) == [Tile(ENTRIES, 0), Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_for_size(0) == []
    assert tiles_for_size(1) == [Tile(ENTRIES, 0, 1), Tile(0, 0, 1)]


def test_tiles_since_an_older_size():
    # From 65,536 to 70,000: level-0 tiles 256..272 become full and 273 is partial (and
    # their bundles); level 1 gets its partial of width 17; level 2 is unchanged.
    new = tiles_for_size(70_000, 65_536)
    assert len(new) == 18 + 18 + 1
    assert Tile(1, 1, 17) in new and Tile(2, 0, 1) not in new and Tile(0, 255) not in new
    with pytest.raises(ValueError):
        tiles_for_size(5, 6)


@given(st.integers(0, 200_000), st.integers(0, 200_000))
def test_tiles_since_are_the_new_ones(a, b):
    old, new = min(a, b), max(a, b)
    published = set(tiles_for_size(old))
    assert tiles_for_size(new, old) == [t for t in tiles_for_size(new) if t not in published]
    assert all(tile_in_tree(t, new) for t in tiles_for_size(new, old))


def test_tile_in_tree():
    assert tile_in_tree(Tile(0, 273, 112), 70_000)
    assert not tile_in_tree(Tile(0, 273, 113), 70_000)
    assert not tile_in_tree(Tile(0, 273), 70_000)
    assert tile_in_tree(Tile(0, 272), 70_000)
    assert tile_in_tree(Tile(1, 0, 3), 70_000)  # a partial tile of an older checkpoint
    assert not tile_in_tree(Tile(2, 0, 2), 70_000)
    assert Tile(0, 1).cache_control == CACHE_IMMUTABLE and Tile(0, 1, 5).cache_control != CACHE_IMMUTABLE


# --- tile bytes ----------------------------------------------------------------------------------


def test_tile_bytes_are_the_stored_hashes_at_their_level(log_70000):
    hashes, leaves, directory = log_70000
    tile0 = read_tile(Tile(0, 3), hashes)
    assert tile0 == b"".join(tree.leaf_hash(b"leaf %d" % i) for i in range(768, 1024))
    # Each level-1 hash is the tree hash of a full level-0 tile (tlog-tiles "Merkle Tree").
    level1 = read_tile(Tile(1, 0), hashes)
    for n in (0, 3, 255):
        first = n * 256
        want = tree.root_from_leaf_hashes(tree.leaf_hash(b"leaf %d" % i) for i in range(first, first + 256))
        assert level1[n * 32 : (n + 1) * 32] == want
    assert (directory / "tile/0/003").read_bytes() == tile0
    # The one level-2 hash is the tree hash of the first 65,536 leaves.
    assert (directory / "tile/2/000.p/1").read_bytes() == tree.tree_hash(65_536, hashes)
    assert len((directory / "tile/1/001.p/17").read_bytes()) == 17 * 32


def test_entry_bundles(log_70000):
    hashes, leaves, directory = log_70000
    bundle = read_entry_bundle(Tile(ENTRIES, 273, 112), leaves)
    assert bundle == b"".join(len(b"leaf %d" % i).to_bytes(2, "big") + b"leaf %d" % i for i in range(69_888, 70_000))
    assert (directory / "tile/entries/273.p/112").read_bytes() == bundle
    assert parse_entry_bundle_untrusted(bundle, 112) == [b"leaf %d" % i for i in range(69_888, 70_000)]


@pytest.mark.parametrize("data, width, message", [
    (b"\x00\x01a\x00\x01b", 1, "found 1 entries and 3 bytes after them"),
    (b"\x00\x01a", 2, "found 1 entries and 0 bytes"),
    (b"\x00\x05abc", 1, "claims 5 bytes, only 3 left"),
    (b"\x00", 1, "found 0 entries and 1 bytes after them"),
    (b"", 1, "found 0 entries and 0 bytes"),
])
def test_malformed_bundles_are_refused(data, width, message):
    with pytest.raises(TileError, match=message):
        parse_entry_bundle_untrusted(data, width)


def test_leaf_size_limit():
    check_leaf_size(b"x" * MAX_LEAF_SIZE)
    assert format_entry_bundle([b"", b"x" * MAX_LEAF_SIZE])[:4] == b"\x00\x00\xff\xff"
    with pytest.raises(RecordError, match="entry is 65,536 bytes, over the limit of 65,535 bytes per entry"):
        check_leaf_size(b"x" * (MAX_LEAF_SIZE + 1))
    with pytest.raises(RecordError):
        format_entry_bundle([b"x" * (MAX_LEAF_SIZE + 1)])


# --- proofs from tiles equal proofs from the log ---------------------------------------------------


def test_demo_ledger_proofs_from_tiles(demo_db, tmp_path):
    """Every inclusion and consistency proof of the demo ledger, from its tiles, equals `ledger prove`'s."""
    with Ledger.open(demo_db, readonly=True) as ledger:
        size = ledger.size
        root = ledger.root()
        inclusion = [ledger.prove_inclusion(i, size) for i in range(size)]
        consistency = [ledger.prove_consistency(m, size) for m in range(1, size + 1)]
    with Ledger.open(demo_db, readonly=True) as opened:
        tiles = tiles_for_size(size)
        assert [t.path for t in tiles] == [f"tile/entries/000.p/{size}", f"tile/0/000.p/{size}"]
        write_tiles(tmp_path / "tlog", tiles, opened, opened)
        leaves = opened.read_leaves(0, size)
    reader = TileHashReader(size, root, directory_fetcher(tmp_path / "tlog"))
    assert tree.tree_hash(size, reader) == root
    for proof in inclusion:
        hashes = tree.prove_inclusion(size, proof["leaf_index"], reader)
        assert [tree_b64(h) for h in hashes] == proof["hashes"]
    for proof in consistency:
        hashes = tree.prove_consistency(proof["old_size"], size, reader)
        assert [tree_b64(h) for h in hashes] == proof["hashes"]
    assert reader.read_leaves(0, size) == leaves
    assert sorted(reader.fetched) == [f"tile/0/000.p/{size}", f"tile/entries/000.p/{size}"]


def tree_b64(h: bytes) -> str:
    import base64

    return base64.b64encode(h).decode()


SAMPLE_INDEXES = [0, 1, 255, 256, 257, 65_535, 65_536, 69_887, 69_888, 69_999]
SAMPLE_SIZES = [1, 2, 255, 256, 257, 4096, 65_535, 65_536, 65_537, 69_888, 69_999, 70_000]


def test_70000_proofs_from_tiles(log_70000):
    hashes, leaves, directory = log_70000
    root = tree.tree_hash(70_000, hashes)
    rng = random.Random(16)
    fetch = directory_fetcher(directory)
    for index in SAMPLE_INDEXES + rng.sample(range(70_000), 40):
        reader = TileHashReader(70_000, root, fetch)
        proof = tree.prove_inclusion(70_000, index, reader)
        assert proof == tree.prove_inclusion(70_000, index, hashes)
        tree.verify_inclusion(index, 70_000, tree.leaf_hash(b"leaf %d" % index), proof, root)
        # One tile per level on the leaf's path plus the right-edge partials: at most
        # 2 per level here (levels 0, 1 and 2).
        assert len(reader.fetched) <= 5, reader.fetched
    for old in SAMPLE_SIZES + rng.sample(range(1, 70_000), 40):
        reader = TileHashReader(70_000, root, fetch)
        proof = tree.prove_consistency(old, 70_000, reader)
        assert proof == tree.prove_consistency(old, 70_000, hashes)
        tree.verify_consistency(old, 70_000, tree.tree_hash(old, hashes), root, proof)
        assert len(reader.fetched) <= 5, reader.fetched


def test_older_tree_heads_from_the_same_tiles(log_70000):
    """A client holding an older checkpoint reads it from newer tiles: a partial tile never
    written falls back to the full tile (tlog-tiles "Partial Tiles")."""
    hashes, leaves, directory = log_70000
    for size in (1, 300, 65_536):
        root = tree.tree_hash(size, hashes)
        reader = TileHashReader(size, root, directory_fetcher(directory))
        assert tree.tree_hash(size, reader) == root
        index = size // 2
        assert tree.prove_inclusion(size, index, reader) == tree.prove_inclusion(size, index, hashes)
        assert reader.read_leaves(max(0, size - 3), size) == leaves.read_leaves(max(0, size - 3), size)
    reader = TileHashReader(300, tree.tree_hash(300, hashes), directory_fetcher(directory))
    tree.tree_hash(300, reader)
    assert sorted(reader.fetched) == ["tile/0/001", "tile/0/001.p/44", "tile/1/000", "tile/1/000.p/1"]
    # Size 69,999's partial tiles were never written and their full tiles do not exist yet.
    reader = TileHashReader(69_999, tree.tree_hash(69_999, hashes), directory_fetcher(directory))
    with pytest.raises(NotFoundError, match="the log serves neither tile/0/273.p/111 nor the full tile tile/0/273"):
        tree.tree_hash(69_999, reader)


def test_publishing_every_checkpoint_keeps_each_readable(tmp_path):
    """Publishing tiles_for_size(size, previous) at each checkpoint serves every checkpoint's tree."""
    hashes, leaves = memory_log(1000)
    sizes = [3, 300, 301, 600, 1000]
    written = 0
    for old, new in zip([0] + sizes, sizes):
        written += write_tiles(tmp_path, tiles_for_size(new, old), hashes, leaves)
    assert written == len({t.path for size in sizes for t in tiles_for_size(size)})
    for size in sizes:
        reader = TileHashReader(size, tree.tree_hash(size, hashes), directory_fetcher(tmp_path))
        assert tree.prove_consistency(1, size, reader) == tree.prove_consistency(1, size, hashes)
        assert reader.read_leaves(0, size) == leaves.read_leaves(0, size)
        # Served from this checkpoint's own tiles, with no fallback to a full tile.
        assert set(reader.fetched) <= {t.path for t in tiles_for_size(size)}


def test_read_leaves_across_bundles(log_70000):
    hashes, leaves, directory = log_70000
    reader = TileHashReader(70_000, tree.tree_hash(70_000, hashes), directory_fetcher(directory), workers=3)
    assert reader.read_leaves(250, 1030) == leaves.read_leaves(250, 1030)
    assert reader.read_leaves(69_990, 70_000) == leaves.read_leaves(69_990, 70_000)
    assert reader.read_leaves(5, 5) == []
    with pytest.raises(ValueError):
        reader.read_leaves(69_990, 70_001)


def test_tiles_are_fetched_once_per_reader(log_70000):
    hashes, leaves, directory = log_70000
    reader = TileHashReader(70_000, tree.tree_hash(70_000, hashes), directory_fetcher(directory))
    tree.prove_inclusion(70_000, 1000, reader)
    first = list(reader.fetched)
    tree.prove_inclusion(70_000, 1001, reader)
    tree.prove_consistency(1002, 70_000, reader)
    assert reader.fetched == first
    with pytest.raises(ValueError, match="not in the tree of size 70000"):
        reader.read_hashes([tree.stored_hash_index(0, 70_000)])


# --- tampered tiles --------------------------------------------------------------------------------


def tampered(directory: Path, path: str, change) -> Path:
    """A copy of a tile directory with one file replaced by change(bytes)."""
    data = change((directory / path).read_bytes())
    copy = directory.parent / f"{directory.name}-tampered-{hashlib.sha256(path.encode() + data).hexdigest()[:12]}"
    if not copy.exists():
        shutil.copytree(directory, copy)
        (copy / path).write_bytes(data)
    return copy


def flip(data: bytes, at: int = 100) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


@pytest.mark.parametrize("path, change, index, message", [
    ("tile/0/005", flip, 5 * 256 + 3, "tile/0/005 does not hash to its entry in tile/1/000"),
    ("tile/1/000", flip, 5 * 256 + 3, "tile/1/000 does not hash to its entry in tile/2/000.p/1"),
    ("tile/0/273.p/112", flip, 69_900, r"hash to root .*, not the checkpoint's"),
    ("tile/2/000.p/1", lambda d: flip(d, 0), 7, r"hash to root .*, not the checkpoint's"),
    ("tile/0/005", lambda d: d[:-1], 5 * 256, "tile/0/005: expected 8192 bytes, found 8191"),
    ("tile/1/001.p/17", lambda d: d + b"\0" * 32, 69_000, r"tile/1/001.p/17: expected 544 bytes, found 576"),
])
def test_tampered_tiles_are_refused(log_70000, path, change, index, message):
    hashes, leaves, directory = log_70000
    root = tree.tree_hash(70_000, hashes)
    reader = TileHashReader(70_000, root, directory_fetcher(tampered(directory, path, change)))
    with pytest.raises(TileError, match=message):
        tree.prove_inclusion(70_000, index, reader)
    assert isinstance(TileError("x"), ProofError)
    # Nothing from the failed read is kept: asking again fails again.
    with pytest.raises(TileError):
        tree.prove_inclusion(70_000, index, reader)


def test_tampered_entry_bundle_is_refused(log_70000):
    hashes, leaves, directory = log_70000
    root = tree.tree_hash(70_000, hashes)
    swap = lambda d: d.replace(b"leaf 1290", b"leaf 1291", 1)  # noqa: E731 - same length, other leaf
    reader = TileHashReader(70_000, root, directory_fetcher(tampered(directory, "tile/entries/005", swap)))
    assert reader.read_leaves(1280, 1290) == leaves.read_leaves(1280, 1290)
    with pytest.raises(TileError, match="tile/entries/005: entry 1290 does not hash to its leaf hash"):
        reader.read_leaves(1289, 1292)


def test_tiles_of_another_tree_are_refused(tmp_path, log_70000):
    hashes, leaves, directory = log_70000
    other_hashes, other_leaves = memory_log(70_000)
    other_hashes.append_leaf(b"one more")  # a different tree of the next size
    write_tiles(tmp_path, tiles_for_size(70_001), other_hashes, ListLeaves(other_leaves.leaves + [b"one more"]))
    reader = TileHashReader(70_000, tree.tree_hash(70_000, hashes), directory_fetcher(tmp_path))
    # Full tiles are shared with the real tree, the partial tiles are not there at all.
    with pytest.raises(NotFoundError):
        tree.tree_hash(70_000, reader)
    wrong_root = tree.leaf_hash(b"not the root")
    reader = TileHashReader(70_000, wrong_root, directory_fetcher(directory))
    with pytest.raises(TileError, match="not the checkpoint's"):
        tree.prove_inclusion(70_000, 12, reader)


# --- over HTTP, from Python's own http.server ----------------------------------------------------------


@pytest.fixture
def http_server(log_70000):
    """Python's own http.server serving the 70,000-leaf log's tile directory."""
    hashes, leaves, directory = log_70000
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with running([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)],
                 base + "tile/2/000.p/1"):
        yield base


def test_proofs_through_http_server(log_70000, http_server):
    hashes, leaves, directory = log_70000
    root = tree.tree_hash(70_000, hashes)
    fetch = http_fetcher(http_server, timeout=10)
    for index in (0, 4_242, 69_999):
        reader = TileHashReader(70_000, root, fetch)
        assert tree.prove_inclusion(70_000, index, reader) == tree.prove_inclusion(70_000, index, hashes)
    reader = TileHashReader(70_000, root, fetch)
    assert tree.prove_consistency(12_345, 70_000, reader) == tree.prove_consistency(12_345, 70_000, hashes)
    assert reader.read_leaves(69_000, 69_100) == leaves.read_leaves(69_000, 69_100)
    with pytest.raises(NotFoundError, match="404"):
        fetch("tile/0/999")


def test_fetch_count_benchmark_runs(capsys):
    from benchmarks.tile_fetches import main

    main(["--size", "70000", "--proofs", "3"])
    out = capsys.readouterr().out
    assert "level 0: 273 full + partial of width 112, level 1: 1 full + partial of width 17" in out
    assert "| inclusion proof | 0 | 2 |" in out


def test_doc_worked_example(tmp_path):
    import re

    text = (Path(__file__).parent.parent / "docs" / "log.md").read_text(encoding="utf-8")
    examples = dict(re.findall(r"<!-- example: (\S+) -->\n```\n(.*?)```\n", text, re.DOTALL))
    hashes, leaves = tree.MemoryHashStore(), ListLeaves([b"a", b"b", b"c"])
    for leaf in leaves.leaves:
        hashes.append_leaf(leaf)
    tiles = tiles_for_size(3)
    assert "".join(t.path + "\n" for t in tiles) == examples["tile-paths"]
    assert read_entry_bundle(tiles[0], leaves).hex() + "\n" == examples["entry-bundle"]
    assert read_tile(tiles[1], hashes).hex() == "".join(examples["leaf-hashes"].split())
