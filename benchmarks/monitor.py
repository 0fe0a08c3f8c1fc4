"""8. ``ledger monitor`` against ``ledger verify`` on the same entries (issue 16: "the monitor
checks 10,000 new entries at >= 0.5x the speed of ledger verify on the same entries").

    python -m benchmarks.monitor              # 10,000 claims
    python -m benchmarks.monitor --size 2000

A ledger of the benchmark's claims (``workload``), published as tiles the
way ``ledger publish`` writes them and served by Python's own
``http.server``. In turn, REPEATS times: ``ledger verify LEDGER`` (the
file: every entry, its signature, the tree, every checkpoint, the browsing
tables), ``ledger verify URL/tlog/`` (the same entries read from the tiles),
and a first ``ledger monitor URL/tlog/ --state NEW`` (every entry is new: read
from entry bundles checked against the tree, replayed with the rules, the
signatures on the worker pool, the state saved). Then, after as many entries
again are appended and published, one later monitor run that checks only
those. Wall times of the commands as a user runs them; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.cosign_round import free_port, server_process
from benchmarks.workload import EDITOR, ORIGIN, REPEATS, claims, installed_env, ledger_cmd, new_ledger, signer


def publish(path: Path, directory: Path) -> None:
    """``ledger publish``'s tlog/ of the ledger: every checkpoint's tiles, then the checkpoint."""
    from ledger.api import Ledger
    from ledger.tiles import publish_tiles

    with Ledger.open(path, readonly=True) as ledger:
        publish_tiles(directory, [size for size, _ in ledger.checkpoints()], ledger.cosigned_checkpoint_note(), ledger, ledger)


@contextlib.contextmanager
def http_server(directory: Path):
    """Python's own http.server serving ``directory``; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with server_process([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)],
                        url + "tlog/checkpoint"):
        yield url


def bench_monitor(directory: Path, size: int = 10_000, repeats: int = REPEATS) -> dict:
    from ledger.api import Ledger

    directory.mkdir(parents=True, exist_ok=True)
    path = new_ledger(directory, "monitor.db")
    log, ana = signer(ORIGIN), signer(EDITOR)
    with Ledger.open(path) as ledger:
        ledger.append(claims(size), ana, log)
        entries = ledger.size
    site = directory / "site"
    publish(path, site / "tlog")
    env = installed_env()
    verify_file, verify_tiles, first = [], [], []
    with http_server(site) as url:
        tiles = url + "tlog/"
        for run in range(repeats):
            verify_file.append(ledger_cmd("verify", path, "--vkey", log.vkey, env=env)[0])
            verify_tiles.append(ledger_cmd("verify", tiles, "--vkey", log.vkey, env=env)[0])
            first.append(ledger_cmd("monitor", tiles, "--state", directory / f"state-{run}", "--vkey", log.vkey, env=env)[0])
        with Ledger.open(path) as ledger:
            ledger.append(claims(size, size), ana, log)
        publish(path, site / "tlog")
        later = ledger_cmd("monitor", tiles, "--state", directory / "state-0", env=env)[0]
    ratios = [v / m for v, m in zip(verify_file, first)]
    return {"entries": entries, "new": size, "verify_file_s": verify_file, "verify_tiles_s": verify_tiles, "monitor_s": first,
            "ratio": statistics.median(ratios), "ratio_tiles": statistics.median(v / m for v, m in zip(verify_tiles, first)),
            "later_s": later}


def describe(r: dict) -> str:
    return (f"first monitor run over {r['entries']:,} entries: median {statistics.median(r['monitor_s']):.2f} s "
            f"({r['entries'] / statistics.median(r['monitor_s']):,.0f} entries/s); `ledger verify` of the file "
            f"{statistics.median(r['verify_file_s']):.2f} s, of the same tiles {statistics.median(r['verify_tiles_s']):.2f} s; "
            f"a later run checking {r['new']:,} new entries of {r['entries'] + r['new']:,}: {r['later_s']:.2f} s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="claims appended (then as many again)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ledger-monitor-") as tmp:
        r = bench_monitor(Path(tmp), args.size, args.repeats)
    print(describe(r))
    print(f"monitor speed / verify speed (median of {args.repeats} pairs run in turn): {r['ratio']:.2f}× against the file, "
          f"{r['ratio_tiles']:.2f}× against the same tiles")


if __name__ == "__main__":
    main()
