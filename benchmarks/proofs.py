"""3. Proofs: inclusion and consistency proofs from the ledger against pymerkle's ``SqliteTree``.

Both prove the same tree (the ledger's leaves, in order; the roots are
compared first). *Cold* is a fresh process: the clock starts after the
imports (Python's cost, not the tree's) and covers opening the file,
reading the hashes and building the proof. *Warm* is one open file
answering many proofs, as a server does. The ledger's side is the library's
verb a server calls (``Ledger.prove_inclusion``/``prove_consistency``): its
range checks and the proof's base64 are counted too.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.workload import exported_leaves

_COLD_OURS = """
import sys, time
from ledger.api import Ledger
t = time.perf_counter()
ledger = Ledger.open(sys.argv[1], readonly=True)
kind, a, size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
proof = ledger.prove_inclusion(a, size) if kind == "inclusion" else ledger.prove_consistency(a, size)
print((time.perf_counter() - t) * 1000)
"""

_COLD_PYMERKLE = """
import sys, time
from pymerkle import SqliteTree
t = time.perf_counter()
tree = SqliteTree(sys.argv[1])
kind, a, size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
proof = tree.prove_inclusion(a + 1, size) if kind == "inclusion" else tree.prove_consistency(a, size)
print((time.perf_counter() - t) * 1000)
"""


def _cold_ms(script: str, *args) -> float:
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def _warm_ms(prove, args) -> float:
    prove(args[0])
    t = time.perf_counter()
    for a in args:
        prove(a)
    return (time.perf_counter() - t) * 1000 / len(args)


def pymerkle_tree(ledger_path: Path, directory: Path) -> Path:
    """pymerkle's SqliteTree holding exactly the ledger's leaves, in order."""
    from pymerkle import SqliteTree

    path = directory / "pymerkle.db"
    path.unlink(missing_ok=True)
    with SqliteTree(str(path)) as mtree:
        mtree.append_entries(exported_leaves(ledger_path, directory), chunksize=100_000)
    return path


def bench_proofs(ledger_path: Path, pm_path: Path, sizes: list[int], samples: int) -> list[dict]:
    from pymerkle import SqliteTree

    from ledger.api import Ledger

    rnd = random.Random(6)
    out = []
    ledger = Ledger.open(ledger_path, readonly=True)
    mtree = SqliteTree(str(pm_path))
    for size in sizes:
        # Our leaves and pymerkle's give the same root: the peer proves the same tree.
        assert ledger.root(size) == mtree.get_root(size)
        for kind in ("inclusion", "consistency"):
            args = [rnd.randrange(size) if kind == "inclusion" else rnd.randrange(1, size) for _ in range(samples)]
            if kind == "inclusion":
                ours, theirs = (lambda a: ledger.prove_inclusion(a, size)), (lambda a: mtree.prove_inclusion(a + 1, size))
            else:
                ours, theirs = (lambda a: ledger.prove_consistency(a, size)), (lambda a: mtree.prove_consistency(a, size))
            row = {"kind": kind, "size": size}
            for name, prove, script, path in (("ours", ours, _COLD_OURS, ledger_path), ("pymerkle", theirs, _COLD_PYMERKLE, pm_path)):
                row[f"{name}_cold_ms"] = statistics.median(_cold_ms(script, path, kind, a, size) for a in args[:3])
                row[f"{name}_warm_ms"] = _warm_ms(prove, args if name == "ours" else args[: max(3, samples // 10)])
            out.append(row)
    mtree.close()
    ledger.close()
    return out
