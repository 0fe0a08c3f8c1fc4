"""The log as static tiles (c2sp.org/tlog-tiles), and a client that reads proofs from them.

A tiled log is a finite set of files under a URL prefix (tlog-tiles "APIs"):

    checkpoint                     the signed checkpoint (ledger.checkpoint)
    tile/<L>/<N>[.p/<W>]           a hash tile: W consecutive tree hashes at level 8*L
    tile/entries/<N>[.p/<W>]       an entry bundle: W leaves, each uint16 length-prefixed

Tiles have height 8: a full tile holds 256 hashes (8,192 bytes); the right
edge of each level is a partial tile of W < 256 hashes. Level-0 tiles hold
leaf hashes; each hash of a level-L tile is the tree hash of a full tile at
level L-1 (tlog-tiles "Merkle Tree"). This is Go's sumdb/tlog tiling at
height 8 (``tile.go``), with entry bundles in place of its ``data`` tiles.

This module builds tile bytes from a ``tree.HashReader`` (the store's stored
hashes follow Go tlog's layout, so a tile is 256 stored hashes) and a
``LeafReader``, lists the tiles of a tree size, and, on the client side,
``TileHashReader`` is a ``tree.HashReader`` over fetched tiles: it checks
every tile against the signed root before handing out a hash, so
``tree.prove_inclusion``, ``tree.prove_consistency`` and ``tree.tree_hash``
work unchanged on a mirror nobody trusts. Nothing here knows SQL or notes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Protocol

import attrs

from ledger.errors import FormatError, LedgerError, NotFoundError, ProofError, RecordError
from ledger.tree import HASH_SIZE, HashReader, leaf_hash, node_hash, split_stored_hash_index, stored_hash_index

# tlog-tiles "Merkle Tree": tiles are 256 hashes wide, i.e. subtrees of height 8.
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
# tlog-tiles "Merkle Tree": <L> is between 0 and 63.
MAX_LEVEL = 63
# The level of entry bundles in ``Tile`` (Go tlog uses -1 for its data tiles too).
ENTRIES = -1
# tlog-tiles "Log entries": each entry is prefixed by a big-endian uint16 length.
MAX_LEAF_SIZE = 0xFFFF
# Largest entry bundle: 256 entries of 2 + 65,535 bytes.
MAX_BUNDLE_SIZE = TILE_WIDTH * (2 + MAX_LEAF_SIZE)

# tlog-tiles: full tiles never change; partial tiles and the checkpoint do.
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_SHORT = "public, max-age=10"


class TileError(ProofError):
    """A fetched tile or entry bundle is malformed or does not match the signed checkpoint."""


class FetchError(LedgerError):
    """A tile, entry bundle or checkpoint could not be fetched from a tiled log."""


def check_leaf_size(leaf: bytes) -> None:
    """Raise RecordError unless ``leaf`` fits an entry bundle (at most 65,535 bytes)."""
    if len(leaf) > MAX_LEAF_SIZE:
        raise RecordError(
            f"entry is {len(leaf):,} bytes, over the limit of {MAX_LEAF_SIZE:,} bytes per entry "
            "(c2sp.org/tlog-tiles entry bundles): shorten the record, or keep long text in a snapshot"
        )


# ---------------------------------------------------------------------------
# Coordinates and paths (tlog-tiles "Merkle Tree" and "Log entries").
# ---------------------------------------------------------------------------


def _check_tile(instance, attribute, value) -> None:
    if not (ENTRIES <= instance.level <= MAX_LEVEL and instance.index >= 0 and 1 <= instance.width <= TILE_WIDTH):
        raise ValueError(f"no such tile: level {instance.level}, index {instance.index}, width {instance.width}")


@attrs.frozen(order=True)
class Tile:
    """Tile ``index`` of a level (``ENTRIES`` for an entry bundle), ``width`` hashes or entries wide."""

    level: int
    index: int
    width: int = attrs.field(default=TILE_WIDTH, validator=_check_tile)

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def is_bundle(self) -> bool:
        return self.level == ENTRIES

    @property
    def start(self) -> int:
        """First leaf index the tile covers (tlog-tiles "start index")."""
        return (self.index * TILE_WIDTH) << (TILE_HEIGHT * max(self.level, 0))

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``."""
        level = "entries" if self.is_bundle else str(self.level)
        partial = "" if self.is_full else f".p/{self.width}"
        return f"tile/{level}/{_format_index(self.index)}{partial}"

    @property
    def cache_control(self) -> str:
        """The Cache-Control a server should send: long-lived for full tiles only."""
        return CACHE_IMMUTABLE if self.is_full else CACHE_SHORT


def _format_index(n: int) -> str:
    # tlog-tiles: zero-padded 3-digit path elements, all but the last
    # prefixed with "x" (1234067 -> x001/x234/067), as Go's Tile.Path.
    text = f"{n % 1000:03d}"
    n //= 1000
    while n:
        text = f"x{n % 1000:03d}/{text}"
        n //= 1000
    return text


_TILE_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


def parse_tile_path_untrusted(path: str) -> Tile:
    """Parse a tile or entry bundle path, accepting only its one canonical spelling."""
    match = _TILE_PATH.fullmatch(path) if isinstance(path, str) else None
    if match is None:
        raise FormatError(f"not a tile path: {path!r} (expected tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])")
    level_text, index_text, width_text = match.groups()
    level = ENTRIES if level_text == "entries" else int(level_text)
    width = int(width_text) if width_text else TILE_WIDTH
    index = int(index_text.replace("x", "").replace("/", ""))
    if level > MAX_LEVEL or width >= TILE_WIDTH and width_text:
        raise FormatError(f"not a tile path: {path!r} (level 0-63, partial width 1-255)")
    tile = Tile(level, index, width)
    # "x000/001" spells 1 too; only the canonical "001" is a tile path.
    if tile.path != path:
        raise FormatError(f"not a tile path: {path!r} (the canonical spelling is {tile.path!r})")
    return tile


def _level_width(tree_size: int, level: int) -> int:
    # Number of hashes at tile level `level` in a tree of this size: the
    # level's tiles, full and partial, hold this many (tlog-tiles "Partial Tiles").
    return tree_size >> (TILE_HEIGHT * max(level, 0))


def _widest(level: int, index: int, tree_size: int) -> Tile:
    """Tile ``index`` of ``level`` as published for ``tree_size``: full, or the right-edge partial."""
    width = min(TILE_WIDTH, _level_width(tree_size, level) - index * TILE_WIDTH)
    return Tile(level, index, width)


def tile_in_tree(tile: Tile, tree_size: int) -> bool:
    """Whether every hash (or entry) of ``tile`` is in the tree of ``tree_size``."""
    return tile.index * TILE_WIDTH + tile.width <= _level_width(tree_size, tile.level)


def tiles_for_size(tree_size: int, old_size: int = 0) -> list[Tile]:
    """The tiles and entry bundles to publish for ``tree_size`` when ``old_size`` was published.

    Full tiles completed since ``old_size`` and the right-edge partial tiles
    of ``tree_size`` (tlog-tiles "Partial Tiles"; Go tlog ``NewTiles``).
    With ``old_size=0``, every tile of the tree. Entry bundles come first,
    then hash tiles level by level.
    """
    if not 0 <= old_size <= tree_size:
        raise ValueError(f"tiles_for_size: want 0 <= old size <= tree size, got {old_size}, {tree_size}")
    tiles = []
    for level in range(ENTRIES, MAX_LEVEL + 1):
        new, old = _level_width(tree_size, level), _level_width(old_size, level)
        if new == 0:
            break
        if new == old:
            continue
        tiles.extend(Tile(level, n) for n in range(old // TILE_WIDTH, new // TILE_WIDTH))
        if new % TILE_WIDTH:
            tiles.append(Tile(level, new // TILE_WIDTH, new % TILE_WIDTH))
    return tiles


# ---------------------------------------------------------------------------
# Building tiles and entry bundles from the log.
# ---------------------------------------------------------------------------


class LeafReader(Protocol):
    """Reads leaves (entries) by index; what entry bundles need from storage."""

    def read_leaves(self, start: int, end: int) -> Sequence[bytes]:
        """The leaves ``start`` .. ``end - 1``, in order; exactly ``end - start`` of them or raise."""
        ...


def read_tile(tile: Tile, reader: HashReader) -> bytes:
    """The bytes of a hash tile: its ``width`` hashes at level 8*L, in one ``read_hashes`` call."""
    if tile.is_bundle:
        raise ValueError(f"read_tile: {tile.path} is an entry bundle, use read_entry_bundle")
    level = TILE_HEIGHT * tile.level
    first = tile.index * TILE_WIDTH
    hashes = reader.read_hashes([stored_hash_index(level, first + i) for i in range(tile.width)])
    if len(hashes) != tile.width or any(len(h) != HASH_SIZE for h in hashes):
        raise ValueError(f"read_hashes returned {len(hashes)} hashes for {tile.width} indexes")
    return b"".join(hashes)


def format_entry_bundle(leaves: Iterable[bytes]) -> bytes:
    """tlog-tiles "Log entries": each leaf as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for leaf in leaves:
        check_leaf_size(leaf)
        out += len(leaf).to_bytes(2, "big") + leaf
    return bytes(out)


def parse_entry_bundle_untrusted(data: bytes, width: int) -> list[bytes]:
    """Split an entry bundle into exactly ``width`` leaves; anything else is a TileError."""
    leaves, pos = [], 0
    while pos < len(data) and len(leaves) < width:
        if pos + 2 > len(data):
            break
        size = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + size > len(data):
            raise TileError(f"entry bundle: entry {len(leaves)} claims {size} bytes, only {len(data) - pos - 2} left")
        leaves.append(bytes(data[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    if len(leaves) != width or pos != len(data):
        raise TileError(f"entry bundle: expected exactly {width} length-prefixed entries, "
                        f"found {len(leaves)} entries and {len(data) - pos} bytes after them")
    return leaves


def read_entry_bundle(tile: Tile, reader: LeafReader) -> bytes:
    """The bytes of an entry bundle, from the leaves it covers."""
    if not tile.is_bundle:
        raise ValueError(f"read_entry_bundle: {tile.path} is a hash tile, use read_tile")
    leaves = reader.read_leaves(tile.start, tile.start + tile.width)
    if len(leaves) != tile.width:
        raise ValueError(f"read_leaves returned {len(leaves)} leaves for {tile.width}")
    return format_entry_bundle(leaves)


def read_tile_or_bundle(tile: Tile, hashes: HashReader, leaves: LeafReader) -> bytes:
    """The bytes served at ``tile.path``."""
    return read_entry_bundle(tile, leaves) if tile.is_bundle else read_tile(tile, hashes)


def write_tiles(directory, tiles: Iterable[Tile], hashes: HashReader, leaves: LeafReader) -> int:
    """Write each tile as ``directory/<tile.path>`` (atomically: a temporary file, then a rename).

    Returns the number of files written. ``directory`` is the tiled log's
    prefix: ``ledger publish`` would write the checkpoint next to ``tile/``.
    """
    root = Path(directory)
    count = 0
    for tile in tiles:
        write_file_atomically(root / tile.path, read_tile_or_bundle(tile, hashes, leaves))
        count += 1
    return count


def publish_tiles(directory, checkpoint_sizes: Sequence[int], checkpoint_note: str, hashes: HashReader,
                  leaves: LeafReader) -> int:
    """Write a whole tiled log under ``directory``: for each checkpoint size in order, the tiles
    completed since the one before and its partial tiles, then the ``checkpoint`` file.

    So every full tile is written once, and the partial tiles of every
    checkpoint stay readable by a client holding that checkpoint
    (tlog-tiles "Partial Tiles"). Returns the number of files written.
    """
    count, old = 0, 0
    for size in checkpoint_sizes:
        count += write_tiles(directory, tiles_for_size(size, old), hashes, leaves)
        old = size
    write_file_atomically(Path(directory) / "checkpoint", checkpoint_note.encode("utf-8"))
    return count + 1


def write_file_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader (a web server of the folder) sees the old file or
    the new one, never half. Not synced to disk: tiles can always be written again from the ledger."""
    import tempfile  # here, not at the top: the append path imports this module only for MAX_LEAF_SIZE

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------
# Fetching: a tiled log is anything with fetch(path) -> bytes.
# ---------------------------------------------------------------------------

Fetch = Callable[[str], bytes]


def http_fetcher(prefix: str, timeout: float = 10.0) -> Fetch:
    """``fetch(path)`` by HTTP GET of ``prefix + path``; 404 raises NotFoundError.

    Accepts gzip (tlog-tiles: "Clients SHOULD include gzip and identity"),
    and refuses bodies larger than the largest entry bundle.
    """
    import urllib.error
    import urllib.request
    import zlib

    base = prefix if prefix.endswith("/") else prefix + "/"

    def fetch(path: str) -> bytes:
        url = base + path
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, identity"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read(MAX_BUNDLE_SIZE + 1)
                encoding = response.headers.get("Content-Encoding", "identity")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise NotFoundError(f"{url}: 404 Not Found") from e
            raise FetchError(f"{url}: HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, OSError) as e:
            raise FetchError(f"{url}: {getattr(e, 'reason', e)}") from e
        if encoding == "gzip":
            # Bounded, so a small compressed body cannot expand without limit.
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                body = inflater.decompress(body, MAX_BUNDLE_SIZE + 1)
            except zlib.error as e:
                raise FetchError(f"{url}: bad gzip body: {e}") from e
        elif encoding != "identity":
            raise FetchError(f"{url}: unexpected Content-Encoding {encoding!r}")
        if len(body) > MAX_BUNDLE_SIZE:
            raise FetchError(f"{url}: response larger than {MAX_BUNDLE_SIZE:,} bytes")
        return body

    return fetch


def directory_fetcher(directory) -> Fetch:
    """``fetch(path)`` reading ``directory/path``: a tiled log copied to disk (``ledger publish``'s tlog/)."""
    root = Path(directory)

    def fetch(path: str) -> bytes:
        parts = PurePosixPath(path).parts
        if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
            raise NotFoundError(f"{path!r} is not a path inside {root}")
        target = root.joinpath(*parts)
        try:
            return target.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as e:
            raise NotFoundError(f"{target} not found") from e
        except OSError as e:
            raise FetchError(f"cannot read {target}: {e.strerror}") from e

    return fetch


# ---------------------------------------------------------------------------
# The client: a HashReader over tiles, authenticated against a signed root.
# ---------------------------------------------------------------------------


def _perfect_subtree_hash(data: bytes) -> bytes:
    """The tree hash of 2^k consecutive hashes (RFC 6962 §2.1: k levels of node_hash)."""
    level = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class TileHashReader:
    """A ``tree.HashReader`` (and ``LeafReader``) over a tiled log, for one verified tree head.

    Give it the tree size and root hash of a checkpoint you have verified,
    and ``fetch(path) -> bytes`` for the log's prefix. For each request it
    fetches the tile holding each hash (the widest one the tree size
    publishes) and the tiles above it up to a right-edge partial tile, plus,
    once, the right-edge partial tiles of every level, which together hash to
    the root. It checks the partial tiles against the root and every full
    tile against its hash in the tile above (as Go's ``TileHashReader``),
    and keeps only tiles that checked out, so a proof needs at most one tile
    per level plus the partial tiles, and later proofs fewer. A tile that does
    not check out raises TileError and nothing fetched with it is kept.

    ``fetched`` lists every path fetched, in order.
    """

    def __init__(self, tree_size: int, root_hash: bytes, fetch: Fetch, *, workers: int = 8) -> None:
        if tree_size < 0 or len(root_hash) != HASH_SIZE:
            raise ValueError(f"TileHashReader: want a tree size >= 0 and a {HASH_SIZE}-byte root hash")
        self.tree_size = tree_size
        self.root_hash = bytes(root_hash)
        self._fetch = fetch
        self._workers = workers
        self._verified: dict[Tile, bytes] = {}
        # tlog-tiles "Partial Tiles": each level's right edge, floor(s / 256**l) mod 256 wide.
        self._edge = [t for t in (_widest(level, _level_width(tree_size, level) // TILE_WIDTH, tree_size)
                                  for level in range(MAX_LEVEL + 1) if _level_width(tree_size, level) % TILE_WIDTH)]
        self.fetched: list[str] = []

    def _get(self, path: str) -> bytes:
        self.fetched.append(path)
        return self._fetch(path)

    def _map(self, fn, items: list) -> list:
        # tlog-tiles "Merkle Tree": clients can fetch the tiles they need in parallel.
        if len(items) <= 1 or self._workers <= 1:
            return [fn(item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(self._workers, len(items))) as pool:
            return list(pool.map(fn, items))

    # --- planning ---------------------------------------------------------------
    def _tile_of(self, level: int, n: int) -> Tile:
        # Node (level, n) is in tile level level//8; below that tile level's
        # base it covers 2^sub consecutive hashes of the tile.
        sub = level % TILE_HEIGHT
        return _widest(level // TILE_HEIGHT, (n << sub) // TILE_WIDTH, self.tree_size)

    def _plan(self, tiles: Iterable[Tile]) -> list[Tile]:
        """Tiles to fetch so that ``tiles`` can be authenticated, parents before children."""
        need: set[Tile] = set()
        for tile in tiles:
            # Walk up to a tile already checked, or to a partial one (checked against the root).
            while tile not in self._verified and tile not in need:
                need.add(tile)
                if not tile.is_full:
                    break
                tile = _widest(tile.level + 1, tile.index // TILE_WIDTH, self.tree_size)
        if any(not t.is_full for t in need):
            need.update(t for t in self._edge if t not in self._verified)
        return sorted(need, key=lambda t: (-t.level, t.index))

    # --- fetching -----------------------------------------------------------------
    def _fetch_tile(self, tile: Tile) -> bytes:
        try:
            data = self._get(tile.path)
        except NotFoundError:
            # tlog-tiles "Partial Tiles": a log may delete a partial tile once
            # the full one exists; its first W hashes are the partial tile.
            if tile.is_full:
                raise
            data = self._get_full_instead(tile)[: tile.width * HASH_SIZE]
        if len(data) != tile.width * HASH_SIZE:
            raise TileError(f"{tile.path}: expected {tile.width * HASH_SIZE} bytes, found {len(data)}")
        return data

    def _fetch_bundle(self, bundle: Tile) -> list[bytes]:
        try:
            return parse_entry_bundle_untrusted(self._get(bundle.path), bundle.width)
        except NotFoundError:
            if bundle.is_full:
                raise
            return parse_entry_bundle_untrusted(self._get_full_instead(bundle), TILE_WIDTH)[: bundle.width]

    def _get_full_instead(self, partial: Tile) -> bytes:
        full = Tile(partial.level, partial.index)
        try:
            return self._get(full.path)
        except NotFoundError as e:
            raise NotFoundError(f"the log serves neither {partial.path} nor the full tile {full.path}") from e

    # --- authenticating -----------------------------------------------------------
    def _hash_in(self, tile: Tile, data: bytes, level: int, n: int) -> bytes:
        # Node (level, n) from the tile holding it: the subtree hash of the
        # 2^sub tile hashes it covers.
        sub = level - TILE_HEIGHT * tile.level
        first = (n << sub) - tile.index * TILE_WIDTH
        return _perfect_subtree_hash(data[first * HASH_SIZE : (first + (1 << sub)) * HASH_SIZE])

    def _authenticate(self, fetched: dict[Tile, bytes]) -> None:
        tiles = {**self._verified, **fetched}
        if any(t in fetched for t in self._edge):
            # The root folds the complete subtrees of [0, size), one per 1 bit
            # of the size, largest first (RFC 6962 §2.1); each lies in its
            # level's partial tile.
            parts = []
            for bit in reversed(range(self.tree_size.bit_length())):
                if self.tree_size >> bit & 1:
                    n = (self.tree_size >> bit) - 1
                    tile = self._tile_of(bit, n)
                    parts.append(self._hash_in(tile, tiles[tile], bit, n))
            root = parts[-1]
            for left in reversed(parts[:-1]):
                root = node_hash(left, root)
            if root != self.root_hash:
                raise TileError(f"tiles {', '.join(t.path for t in self._edge)} hash to root {root.hex()}, "
                                f"not the checkpoint's {self.root_hash.hex()}: the mirror serves tiles of another tree")
        # Parents first, so each full tile is checked against a checked hash.
        for tile in sorted(fetched, key=lambda t: -t.level):
            if not tile.is_full:
                continue
            parent = _widest(tile.level + 1, tile.index // TILE_WIDTH, self.tree_size)
            want = self._hash_in(parent, tiles[parent], TILE_HEIGHT * parent.level, tile.index)
            if _perfect_subtree_hash(fetched[tile]) != want:
                raise TileError(f"{tile.path} does not hash to its entry in {parent.path}: "
                                "the mirror serves a tile of another tree")
        self._verified.update(fetched)

    # --- the HashReader and LeafReader interfaces ------------------------------------
    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """The stored hashes at these indexes, each from a tile checked against the root."""
        limit = stored_hash_index(0, self.tree_size)
        nodes = []
        for index in indexes:
            if not 0 <= index < limit:
                raise ValueError(f"stored hash index {index} is not in the tree of size {self.tree_size}")
            level, n = split_stored_hash_index(index)
            nodes.append((level, n, self._tile_of(level, n)))
        missing = self._plan(tile for _, _, tile in nodes)
        if missing:
            self._authenticate(dict(zip(missing, self._map(self._fetch_tile, missing))))
        return [self._hash_in(tile, self._verified[tile], level, n) for level, n, tile in nodes]

    def read_leaves(self, start: int, end: int) -> list[bytes]:
        """Leaves ``start`` .. ``end - 1`` from entry bundles, each checked against its leaf hash."""
        if not 0 <= start <= end <= self.tree_size:
            raise ValueError(f"read_leaves: want 0 <= start <= end <= {self.tree_size}, got {start}, {end}")
        if start == end:
            return []
        # The level-0 tiles of the same range as the bundles: checked against the root first.
        numbers = range(start // TILE_WIDTH, (end - 1) // TILE_WIDTH + 1)
        hash_tiles = [_widest(0, n, self.tree_size) for n in numbers]
        missing = self._plan(hash_tiles)
        if missing:
            self._authenticate(dict(zip(missing, self._map(self._fetch_tile, missing))))
        bundles = [_widest(ENTRIES, n, self.tree_size) for n in numbers]
        leaves = []
        for tile, bundle, entries in zip(hash_tiles, bundles, self._map(self._fetch_bundle, bundles)):
            hashes = self._verified[tile]
            for i in range(max(start, bundle.start), min(end, bundle.start + bundle.width)):
                leaf, at = entries[i - bundle.start], (i - bundle.start) * HASH_SIZE
                if leaf_hash(leaf) != hashes[at : at + HASH_SIZE]:
                    raise TileError(f"{bundle.path}: entry {i} does not hash to its leaf hash in the level-0 tile")
                leaves.append(leaf)
        return leaves
