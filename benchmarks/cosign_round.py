"""6. What asking the witnesses adds to an append (issue 16: "one cosignature round with two local
witnesses adds <= 50 ms to an append").

    python -m benchmarks.cosign_round                 # 2 witnesses, 30 appends
    python -m benchmarks.cosign_round --witnesses 3 --rounds 100

A real ledger file with two (or more) witnesses added, each a ``ledger
witness serve`` process on 127.0.0.1 (with its own SQLite state, synchronous
FULL). Each round appends one claim (``Ledger.append``, as ``ledger claim
add`` does after reading its key) and then runs the cosignature round the
command runs after it (``Ledger.cosign``: the witnesses asked in parallel
with the consistency proof from the size each last cosigned, each answer
verified and the cosignatures stored in one more transaction). The two are
timed apart: the round is what witnesses add to an append. Nothing here is
asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
import tempfile

from benchmarks.workload import EDITOR, ORIGIN, claims, new_ledger, signer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server_process(args: list[str], probe: str):
    """Run ``args`` (a server on 127.0.0.1) until ``probe`` answers; stop it afterwards."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(probe, timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(args[1:4])} did not start")
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def witness_process(directory: Path, name: str, log_vkey: str):
    """``ledger witness serve`` of a new witness in ``directory``; yields (url, vkey)."""
    from ledger import witness

    vkey = witness.init(directory, name, None)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with server_process([sys.executable, "-m", "ledger", "witness", "serve", str(directory), "--port", str(port),
                         "--log", log_vkey], url):
        yield url, vkey


def _ms(values: list[float]) -> dict:
    ms = sorted(v * 1000 for v in values)
    return {"median": statistics.median(ms), "p95": ms[int(0.95 * (len(ms) - 1))], "max": ms[-1]}


def bench_cosign_round(directory: Path, rounds: int = 30, witnesses: int = 2) -> dict:
    """Append one claim, then one cosignature round, ``rounds`` times; both timed."""
    from ledger.api import Ledger

    directory.mkdir(parents=True, exist_ok=True)
    path = new_ledger(directory, "cosign.db")
    log, ana = signer(ORIGIN), signer(EDITOR)
    appends, cosigns = [], []
    with contextlib.ExitStack() as stack, Ledger.open(path) as ledger:
        for i in range(witnesses):
            url, vkey = stack.enter_context(witness_process(directory / f"w{i}", f"w{i}.bench.fact-ledger.example", log.vkey))
            ledger.add_witness(vkey, url, log)
        ledger.cosign()  # each witness's first cosignature (from size 0) is not a round after an append
        for r in range(rounds):
            start = time.perf_counter()
            ledger.append(claims(1, 10**6 + r), ana, log)
            appended = time.perf_counter()
            answers = ledger.cosign(timeout=5)
            cosigns.append(time.perf_counter() - appended)
            appends.append(appended - start)
            if not all(a.ok for a in answers):
                raise RuntimeError(f"round {r}: {[a.error for a in answers if not a.ok]}")
    return {"witnesses": witnesses, "rounds": rounds, "append_ms": _ms(appends), "round_ms": _ms(cosigns)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--witnesses", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ledger-cosign-") as tmp:
        r = bench_cosign_round(Path(tmp), args.rounds, args.witnesses)
    a, c = r["append_ms"], r["round_ms"]
    print("| witnesses | rounds | append alone: median / p95 ms | cosignature round: median / p95 / max ms |")
    print("|---|---|---|---|")
    print(f"| {r['witnesses']} | {r['rounds']} | {a['median']:.1f} / {a['p95']:.1f} | {c['median']:.1f} / {c['p95']:.1f} / {c['max']:.1f} |")


if __name__ == "__main__":
    main()
