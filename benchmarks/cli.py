"""5. The CLI: wall time of one ``ledger claim add`` from the shell, and what Python and the imports cost of it."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.workload import installed_env, ledger_cmd, new_ledger

QUOTE = "exports of machine tools rose by a third in 2023"


def bench_cli(directory: Path, runs: int = 5) -> dict:
    """Wall time of one `ledger claim add` from the shell, with the README's encrypted key files."""
    sub = directory / "cli"
    sub.mkdir()
    passphrase = "correct horse battery staple"
    path = new_ledger(sub, "desk.db", passphrase.encode())
    env = {**installed_env(), "LEDGER_PASSPHRASE": passphrase}
    claim_add = ("claim", "add", path, "--key", sub / "ana.key", "--source", "source:bench", "--quote", QUOTE, "--language", "en")
    ledger_cmd(*claim_add, "--id", "claim:cli-warm-up", env=env)
    times = []
    for i in range(runs):
        wall, _ = ledger_cmd(*claim_add, "--id", f"claim:cli-{i}", env=env)
        times.append(wall * 1000)
    probe = subprocess.run([sys.executable, "-c", "import sys, ledger.cli, ledger.api; print('datasette' in sys.modules)"],
                           capture_output=True, text=True, check=True)
    # What any Python command costs here, and what importing the CLI adds.
    bare = statistics.median(_wall([sys.executable, "-c", "pass"], env) for _ in range(runs))
    imports = statistics.median(_wall([sys.executable, "-c", "import ledger.cli, ledger.api"], env) for _ in range(runs))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "imports_datasette": probe.stdout.strip() == "True",
            "python_ms": bare, "imports_ms": imports - bare}


def _wall(argv, env=None) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return (time.perf_counter() - t) * 1000
