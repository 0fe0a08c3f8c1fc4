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


def measure(size: int, root: bytes, fetch, runs, levels: int) -> dict:
    """Fetches per tile level of each run (a fresh client each), and the time per run."""
    counts, seconds = [], []
    for run in runs:
        reader = TileHashReader(size, root, fetch, workers=1)
        start = time.perf_counter()
        run(reader)
        seconds.append(time.perf_counter() - start)
        counts.append(per_level(reader.fetched, levels))
    return {"max": [max(c[level] for c in counts) for level in range(levels)],
            "mean": [statistics.mean(c[level] for c in counts) for level in range(levels)],
            "max_total": max(sum(c) for c in counts), "mean_total": statistics.mean(sum(c) for c in counts),
            "median_ms": statistics.median(seconds) * 1000}


def bench_tile_fetches(size: int, proofs: int = 200, seed: int = 16) -> dict:
    """Tiles a fresh client fetches per level for an inclusion proof, a consistency proof, and both, in a ``size``-leaf log."""
    started = time.perf_counter()
    hashes = build(size)
    root = tree.tree_hash(size, hashes)
    built = time.perf_counter() - started

    def fetch(path: str) -> bytes:
        return read_tile(parse_tile_path_untrusted(path), hashes)

    tiles = [t for t in tiles_for_size(size) if t.level != ENTRIES]
    levels = max(t.level for t in tiles) + 1
    rng = random.Random(seed)
    leaves = [rng.randrange(size) for _ in range(proofs)]
    olds = [rng.randrange(1, size) for _ in range(proofs)]

    def inclusion(index):
        return lambda reader: tree.prove_inclusion(size, index, reader)

    def consistency(old):
        return lambda reader: tree.prove_consistency(old, size, reader)

    def both(index, old):
        return lambda reader: (tree.prove_consistency(old, size, reader), tree.prove_inclusion(size, index, reader))

    shape = ", ".join(f"level {level}: {sum(1 for t in tiles if t.level == level and t.is_full)} full"
                      + "".join(f" + partial of width {t.width}" for t in tiles if t.level == level and not t.is_full)
                      for level in range(levels))
    return {"size": size, "proofs": proofs, "levels": levels, "shape": shape, "built_s": built,
            "inclusion": measure(size, root, fetch, [inclusion(i) for i in leaves], levels),
            "consistency": measure(size, root, fetch, [consistency(m) for m in olds], levels),
            "both": measure(size, root, fetch, [both(i, m) for i, m in zip(leaves, olds)], levels)}


def table(r: dict) -> str:
    rows = ["| proofs from a fresh client | tile level | max fetches | mean fetches |", "|---|---|---|---|"]
    for name, key in (("inclusion proof", "inclusion"), ("consistency proof", "consistency"), ("both, one client", "both")):
        m = r[key]
        rows += [f"| {name} | {level} | {m['max'][level]} | {m['mean'][level]:.2f} |" for level in range(r["levels"])]
        rows.append(f"| {name} | all | {m['max_total']} | {m['mean_total']:.2f} "
                    f"(median {m['median_ms']:.1f} ms per proof, tiles in memory) |")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="leaves in the log")
    parser.add_argument("--proofs", type=int, default=200, help="proofs of each kind")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    r = bench_tile_fetches(args.size, args.proofs, args.seed)
    print(f"Tiles of a {r['size']:,}-leaf log: {r['shape']} (tree built in {r['built_s']:.1f} s)")
    print()
    print(table(r))


if __name__ == "__main__":
    main()
