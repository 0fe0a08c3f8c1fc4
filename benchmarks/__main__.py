"""One command for every measurement of issue 6; prints a markdown table and writes RESULTS.md.

    python -m benchmarks                 # default sizes: 20,000-record append, 100,000-entry ledger
    python -m benchmarks --large         # 1,000,000 records appended and a 1,000,000-entry ledger
    python -m benchmarks --size 200 --big 1000 --requests 5 --feed 300 --out /tmp/r.md   # a smoke run

Speed is only ever measured here, never asserted by the tests. One module a
measurement (``append``, ``verify``, ``proofs``, ``site``, ``cli``, issue
16's ``cosign_round``, ``tile_fetches``, ``monitor``, issue 15's
``import_feed``, issue 17's ``load`` and issue 18's ``share``), what they work on in ``workload``, the table and RESULTS.md
in ``report``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import append, cli, cosign_round, import_feed, load, monitor, proofs, report, share, site, tile_fetches, verify, workload


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, help="records for the bulk append and verify (default 20,000; 1,000,000 with --large)")
    parser.add_argument("--big", type=int, help="entries of the ledger for proofs, the site and bytes on disk (default 100,000; 1,000,000 with --large)")
    parser.add_argument("--large", action="store_true", help="the issue's 1M sizes (about 1.5 hours on 2 cores, see README)")
    parser.add_argument("--requests", type=int, default=200, help="requests per site page (default 200)")
    parser.add_argument("--samples", type=int, default=200, help="proofs per warm measurement (default 200)")
    parser.add_argument("--feed", type=int, default=100_000, help="ClaimReviews in the feed the import reads (default 100,000)")
    parser.add_argument("--out", type=Path, default=report.RESULTS, help="where to write the report (default benchmarks/RESULTS.md)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep the files")
    parser.add_argument("--clients", type=int, default=load.CLIENTS, help="load test: concurrent clients (default 50)")
    parser.add_argument("--seconds", type=float, default=load.SECONDS, help="load test: seconds (default 30)")
    parser.add_argument("--load-workers", type=int, default=2, help="load test: also with this many server processes (default 2)")
    args = parser.parse_args(argv)
    args.size = args.size or (1_000_000 if args.large else 20_000)
    args.big = args.big or (1_000_000 if args.large else 100_000)
    return args


def measure(args, directory: Path, r: dict, step) -> None:
    """Every measurement, in order, into ``r``."""
    step(f"1. bulk append of {args.size:,} records and the raw limit")
    r["append"] = append.bench_append(args.size, directory)
    step("2. verify and the raw Ed25519 rates; OpenSSL/libsodium differential")
    r["verify"] = verify.bench_verify(r["append"]["path"])
    step(f"building a {args.big:,}-entry ledger")
    big_path, r["big_seconds"] = workload.build_big(args.big, directory)
    r["big_size"] = args.big
    r["file_bytes"] = big_path.stat().st_size
    r["bytes_per_entry"] = r["file_bytes"] / args.big
    step("3. proofs (and pymerkle's tree of the same leaves)")
    proof_sizes = sorted({min(100_000, args.big), args.big})
    r["proofs"] = proofs.bench_proofs(big_path, proofs.pymerkle_tree(big_path, directory), proof_sizes, args.samples)
    step(f"4. site ({args.requests} requests per page)")
    r["site"] = site.bench_site(big_path, args.big, args.requests)
    step("5. one CLI append")
    r["cli"] = cli.bench_cli(directory)
    measure_witnessing(args, directory, r, step)
    step(f"9. import of a {args.feed:,}-ClaimReview feed, and append of the same records")
    r["import"] = import_feed.bench_import(args.feed, directory)
    step("10. share: JSON-LD and meta on a claim page, share cards, sitemap, ClaimReview feed")
    r["share"] = share.bench_share(big_path, directory, args.big, reviews=min(2000, args.big // 2), samples=min(200, args.requests))
    measure_load(args, big_path, r, step)


def measure_load(args, big_path: Path, r: dict, step) -> None:
    """Issue 17: the load test on the large ledger, with one server process and with --load-workers."""
    r["load"] = []
    for workers in sorted({1, args.load_workers}):
        step(f"11. load test: {args.clients} clients x {args.seconds:.0f} s, ledger serve --workers {workers}")
        r["load"].append(load.bench_load(big_path, args.big, args.clients, args.seconds, workers))


def measure_witnessing(args, directory: Path, r: dict, step) -> None:
    """Issue 16: what witnesses add to an append, tile fetches per proof, the monitor against verify."""
    small = args.size < 1_000
    step("6. cosignature rounds with two local witnesses after an append")
    r["cosign"] = cosign_round.bench_cosign_round(directory / "cosign", rounds=5 if small else 30)
    # In memory and cheap, so measured at the 1,000,000 leaves unless the run is a small one.
    tiles_size = args.big if args.big < 100_000 else max(args.big, 1_000_000)
    step(f"7. tile fetches per level for proofs of a {tiles_size:,}-leaf log")
    r["tiles"] = tile_fetches.bench_tile_fetches(tiles_size, args.samples)
    step("8. ledger monitor against ledger verify on the same entries")
    r["monitor"] = monitor.bench_monitor(directory / "monitor", min(10_000, args.size), repeats=1 if small else workload.REPEATS)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    r = {"machine": report.machine(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), "requests": args.requests,
         "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])}
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        measure(args, directory, r, lambda what: print(f"[{time.time() - started:6.0f} s] {what}", file=sys.stderr, flush=True))
    r["seconds"] = time.time() - started
    r["load_after"] = os.getloadavg()
    print(report.table(r))
    report.write_results(report.report(r), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
