"""How many tiles a client fetches per level to compute proofs from a tiled log (issue 16).

    python -m benchmarks.tile_fetches                      # a 1,000,000-leaf log, 200 proofs of each kind
    python -m benchmarks.tile_fetches --size 70000 --proofs 50

Builds the tree in memory (ledger.tree), serves its tiles from memory through
ledger.tiles.read_tile, and for each proof starts a fresh TileHashReader (a
client with an empty cache) holding only the tree size and root, then counts
the tiles it fetched at each level. Prints a markdown table. Counts only:
nothing here is asserted, and the counts do not depend on the machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from ledger import tree
from ledger.tiles import ENTRIES, TileHashReader, parse_tile_path_untrusted, read_tile, tiles_for_size


def build(size: int) -> tree.MemoryHashStore:
    hashes = tree.MemoryHashStore()
    for i in range(size):
        hashes.append_leaf_hash(tree.leaf_hash(b"entry %d" % i))
    return hashes


def per_level(paths: list[str], levels: int) -> list[int]:
    counts = [0] * levels
    for path in paths:
        tile = parse_tile_path_untrusted(path)
        counts[tile.level] += 1
    return counts


def measure(name: str, size: int, root: bytes, fetch, runs, levels: int) -> list[str]:
    counts, seconds = [], []
    for run in runs:
        reader = TileHashReader(size, root, fetch, workers=1)
        start = time.perf_counter()
        run(reader)
        seconds.append(time.perf_counter() - start)
        counts.append(per_level(reader.fetched, levels))
    rows = []
    for level in range(levels):
        column = [c[level] for c in counts]
        rows.append(f"| {name} | {level} | {max(column)} | {statistics.mean(column):.2f} |")
    totals = [sum(c) for c in counts]
    rows.append(f"| {name} | all | {max(totals)} | {statistics.mean(totals):.2f} "
                f"(median {statistics.median(seconds) * 1000:.1f} ms per proof, tiles in memory) |")
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="leaves in the log")
    parser.add_argument("--proofs", type=int, default=200, help="proofs of each kind")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    hashes = build(args.size)
    size = args.size
    root = tree.tree_hash(size, hashes)
    built = time.perf_counter() - started

    def fetch(path: str) -> bytes:
        return read_tile(parse_tile_path_untrusted(path), hashes)

    tiles = [t for t in tiles_for_size(size) if t.level != ENTRIES]
    levels = max(t.level for t in tiles) + 1
    rng = random.Random(args.seed)
    leaves = [rng.randrange(size) for _ in range(args.proofs)]
    olds = [rng.randrange(1, size) for _ in range(args.proofs)]

    def inclusion(index):
        return lambda reader: tree.prove_inclusion(size, index, reader)

    def consistency(old):
        return lambda reader: tree.prove_consistency(old, size, reader)

    def both(index, old):
        return lambda reader: (tree.prove_consistency(old, size, reader), tree.prove_inclusion(size, index, reader))

    print(f"Tiles of a {size:,}-leaf log: " + ", ".join(
        f"level {level}: {sum(1 for t in tiles if t.level == level and t.is_full)} full"
        + "".join(f" + partial of width {t.width}" for t in tiles if t.level == level and not t.is_full)
        for level in range(levels)) + f" (tree built in {built:.1f} s)")
    print()
    print("| proofs from a fresh client | tile level | max fetches | mean fetches |")
    print("|---|---|---|---|")
    for row in (measure("inclusion proof", size, root, fetch, [inclusion(i) for i in leaves], levels)
                + measure("consistency proof", size, root, fetch, [consistency(m) for m in olds], levels)
                + measure("both, one client", size, root, fetch, [both(i, m) for i, m in zip(leaves, olds)], levels)):
        print(row)


if __name__ == "__main__":
    main()
