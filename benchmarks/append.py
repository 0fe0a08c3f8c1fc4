"""1. Bulk append: ``ledger append`` of a JSONL file against the raw limit of the same work.

The raw limit is issue 17's stricter one: RFC 8785 (``rfc8785.dumps``) +
Ed25519 signing (``cryptography``) + one ``sqlite3`` ``executemany`` of
``(seq, leaf, signature)`` rows in one transaction, on one core, for the
same records, with no ledger logic (until issue 17 it inserted through
sqlite-utils, a looser limit: 0.67–0.74× this one's rate here, in turn). The two are run in
turn (``PAIRS`` pairs, the order alternating); the SQLite floor and the
record check give the bounds of the report.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from benchmarks.floor import sqlite_floor
from benchmarks.workload import EDITOR, ORIGIN, PAIRS, claims, in_turn, installed_env, ledger_cmd, new_ledger, signer


def raw_append_rate(records: list[dict], directory: Path) -> float:
    """RFC 8785 + Ed25519 sign (OpenSSL) + one sqlite3 executemany of (seq, leaf, signature), one transaction."""
    import rfc8785

    from ledger.envelope import signed_message

    private_key = signer(EDITOR).private_key  # cryptography's Ed25519PrivateKey
    path = directory / "raw.db"
    path.unlink(missing_ok=True)
    t = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")  # as the ledger's store writes
    conn.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY, leaf BLOB NOT NULL, signature BLOB NOT NULL)")
    rows = []
    for seq, record in enumerate(records):
        leaf = rfc8785.dumps(record)
        rows.append((seq, leaf, private_key.sign(signed_message(ORIGIN, leaf))))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO entries VALUES (?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()
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
    # As installed, with bytecode caches (see bench_cli); the warm-up writes them.
    env = installed_env()
    ledger_cmd("--help", env=env)

    def ledger_run(run):
        path = new_ledger(directory, f"append-{run}.db")
        wall, _ = ledger_cmd("append", path, jsonl, "--key", directory / "ana.key", env=env)
        if run:
            path.unlink()
        return n / wall

    rates, raws = in_turn(ledger_run, lambda run: raw_append_rate(records, directory))
    path = directory / "append-0.db"
    # The least disturbed of three runs is the estimate of each cost too.
    floor = min(sqlite_floor(directory / "floor.db", min(n, 20_000)) for _ in range(3))
    replay_floor = min(sqlite_floor(directory / "floor.db", min(n, 20_000), full_text=False) for _ in range(3))
    return {"n": n, "ledger_rate": max(rates), "raw_rate": max(raws), "ledger_rates": rates, "raw_rates": raws,
            "path": path, "floor_us": floor * 1e6, "replay_floor_us": replay_floor * 1e6,
            "validate_us": min(record_check_seconds(records[:20_000]) for _ in range(3)) * 1e6}
