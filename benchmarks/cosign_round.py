"""How long one cosignature round with local witnesses takes (issue 16: "adds <= 50 ms to an append").

    python -m benchmarks.cosign_round                 # 2 witnesses, 50 rounds
    python -m benchmarks.cosign_round --witnesses 3 --rounds 200

Starts the witnesses as real processes (``ledger.witness.serve`` under
uvicorn) on 127.0.0.1, then, per round, appends a few leaves to an in-memory
log, signs its checkpoint and asks every witness in parallel
(``request_cosignatures``, with the sizes they last cosigned, as a log
would). Prints the round times. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ledger import tree
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import parse_cosigner_vkey_untrusted
from ledger.note import Signer
from ledger.witness import init, request_cosignatures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_witness(directory: Path, log_vkey: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    code = "import sys; from ledger.witness import serve; serve(sys.argv[1], '127.0.0.1', int(sys.argv[2]), sys.argv[3:])"
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory), str(port), log_vkey])
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"witness in {directory} did not start")
            time.sleep(0.05)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--witnesses", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--leaves", type=int, default=10, help="leaves appended per round")
    args = parser.parse_args(argv)

    log = Signer.generate("bench.fact-ledger.example/log")
    hashes = tree.MemoryHashStore()
    with tempfile.TemporaryDirectory() as tmp:
        procs, witnesses = [], []
        try:
            for i in range(args.witnesses):
                vkey = init(Path(tmp) / f"w{i}", f"bench.fact-ledger.example/w{i}", None)
                proc, url = start_witness(Path(tmp) / f"w{i}", log.vkey)
                procs.append(proc)
                witnesses.append((url, parse_cosigner_vkey_untrusted(vkey)))
            old_sizes: dict[str, int] = {}
            seconds = []
            for r in range(args.rounds):
                for i in range(args.leaves):
                    hashes.append_leaf(b"round %d leaf %d" % (r, i))
                size = hashes.size
                note = sign_checkpoint(Checkpoint(log.name, size, tree.tree_hash(size, hashes)), log)
                start = time.perf_counter()
                answers = request_cosignatures(witnesses, note, lambda m: tree.prove_consistency(m, size, hashes),
                                               old_sizes, timeout=5)
                seconds.append(time.perf_counter() - start)
                if not all(a.ok for a in answers):
                    raise SystemExit(f"round {r}: {[a.error for a in answers if not a.ok]}")
                old_sizes.update((a.vkey, a.size) for a in answers)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    ms = sorted(s * 1000 for s in seconds)
    print(f"| witnesses | rounds | median ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    print(f"| {args.witnesses} | {args.rounds} | {statistics.median(ms):.1f} | {ms[int(0.95 * (len(ms) - 1))]:.1f} | {ms[-1]:.1f} |")


if __name__ == "__main__":
    main()
