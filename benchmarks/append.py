"""1. Bulk append: ``ledger append`` of a JSONL file against the raw limit of the same work.

The raw limit is RFC 8785 + Ed25519 signing + a sqlite-utils insert of the
same records, with no ledger logic. The two are run in turn (``REPEATS``
pairs); the SQLite floor and the record check give the bounds of the report.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from benchmarks.floor import sqlite_floor
from benchmarks.workload import EDITOR, ORIGIN, REPEATS, claims, installed_env, ledger_cmd, new_ledger, signer


def raw_append_rate(records: list[dict], directory: Path) -> float:
    """RFC 8785 + Ed25519 sign + sqlite-utils insert of the same records, no ledger logic."""
    import rfc8785
    import sqlite_utils

    from ledger.envelope import signed_message

    key = signer(EDITOR)
    def message(record_bytes):  # the signed message of canonical(record) bytes
        return signed_message(ORIGIN, record_bytes)

    path = directory / "raw.db"
    path.unlink(missing_ok=True)
    t = time.perf_counter()
    db = sqlite_utils.Database(path)
    rows = []
    for record in records:
        data = rfc8785.dumps(record)
        rows.append({"record": data.decode(), "sig": base64.b64encode(key.sign(message(data))).decode()})
    with db.conn:
        db["entries"].insert_all(rows, batch_size=1000)
    db.close()
    return len(records) / (time.perf_counter() - t)


def record_check_seconds(records: list[dict]) -> float:
    """CPU seconds per record to check it against its schema and build the typed record (Record.from_dict)."""
    from ledger.records import Record

    t = time.process_time()
    for record in records:
        Record.from_dict(record)
    return (time.process_time() - t) / len(records)


def bench_append(n: int, directory: Path) -> dict:
    records = claims(n)
    jsonl = directory / "records.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    rates, raws = [], []
    # As installed, with bytecode caches (see bench_cli); the warm-up writes them.
    env = installed_env()
    ledger_cmd("--help", env=env)
    for run in range(REPEATS):
        path = new_ledger(directory, f"append-{run}.db")
        wall, _ = ledger_cmd("append", path, jsonl, "--key", directory / "ana.key", env=env)
        rates.append(n / wall)
        raws.append(raw_append_rate(records, directory))
        if run:
            path.unlink()
    path = directory / "append-0.db"
    # The least disturbed of three runs is the estimate of each cost too.
    floor = min(sqlite_floor(directory / "floor.db", min(n, 20_000)) for _ in range(3))
    replay_floor = min(sqlite_floor(directory / "floor.db", min(n, 20_000), full_text=False) for _ in range(3))
    return {"n": n, "ledger_rate": max(rates), "raw_rate": max(raws), "ledger_rates": rates, "raw_rates": raws,
            "path": path, "floor_us": floor * 1e6, "replay_floor_us": replay_floor * 1e6,
            "validate_us": min(record_check_seconds(records[:20_000]) for _ in range(3)) * 1e6}
