"""docs/verify.md's procedure, step by step, over any ``Source``."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Callable, Optional

from ledger.note import parse_verifier_key_untrusted
from ledger.policy import Policy
from ledger.verify.checkpoints import check_checkpoints, check_since, saved_size
from ledger.verify.replay import Replay
from ledger.verify.report import Report
from ledger.verify.sources import Source
from ledger.verify.site_checks import check_site
from ledger.verify.site_source import SiteSource
from ledger.verify.sqlite_checks import check_ledger_file, file_findings
from ledger.verify.witnesses import check_witnesses, witness_verifiers
from ledger.verify.workers import Workers


def verify_ledger(source: Source, *, vkey: Optional[str] = None, since_note: Optional[str] = None,
                  progress: Optional[Callable[[int], None]] = None, workers: Optional[int] = None,
                  policy: Optional[Policy] = None) -> Report:
    """Run every check of docs/verify.md on ``source``, trusting only the log key ``vkey``.

    ``since_note`` is a checkpoint saved earlier (step 6); ``progress(n)`` is
    called as entries are replayed; ``workers`` processes share the checks
    (default: one per core); ``policy`` names the witnesses that must cosign
    the latest checkpoint (docs/witness.md). A stored checkpoint's signature
    lines must each be the log key's or a cosignature by a witness the log
    named (or the policy names); any other line fails step 4. The report's
    ``ok`` is True when every check held.
    """
    report = Report(source=source.name)
    with Workers(workers) as pool:
        try:
            _run_steps(report, source, pool, vkey=vkey, since_note=since_note, progress=progress, policy=policy)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
            # A damaged file: SQLite refuses to read part of it, or its schema
            # text is no longer UTF-8. Keep what was found before.
            report.fail("file", f"SQLite cannot read the ledger file, it is damaged or was altered: {e}")
    return report


def _run_steps(report: Report, source: Source, pool: Workers, *, vkey, since_note, progress, policy=None) -> None:
    pinned = parse_verifier_key_untrusted(vkey) if vkey else None
    report.vkey_pinned = pinned is not None
    notes = source.checkpoint_notes()
    sizes = [size for size, _ in notes] + ([saved_size(since_note)] if since_note is not None else [])
    with Replay(source, report, pool, pinned=pinned, checkpoint_sizes=sizes) as replay:
        findings = _start_file_findings(source, pool)
        replay.run(progress)                                 # steps 1, 2 and 3
        _check_signatures(pool, report)                      # step 2.3, on every core
        if replay.log_verifier is None:
            report.fail("entry 0", "no log key: the ledger is empty or its first entry is unreadable")
            return
        known_witnesses = witness_verifiers(replay) + (policy.verifiers() if policy is not None else [])
        check_checkpoints(notes, replay, report, known_witnesses)  # step 4
        check_witnesses(source, notes, replay, report, policy)  # step 4: cosignatures, and the reader's quorum
        if since_note is not None:
            check_since(since_note, replay, report)          # step 6
        _check_snapshots(source, replay, report)             # step 2.6, for every snapshot a file holds
        _check_tables(source, replay, report, findings)      # step 5


def _start_file_findings(source: Source, pool: Workers):
    # SQLite's integrity_check and the search-index check read only the file:
    # a worker runs them while this process replays the entries.
    file = source.ledger_file()
    if file is None or not pool.parallel or source.size() < pool.CHUNK:
        return None
    return pool.submit(file_findings, file.path)


def _check_signatures(pool: Workers, report: Report) -> None:
    bad = pool.bad_signatures()
    report.signatures = pool.signatures_checked
    for index in bad:
        report.fail(f"entry {index}", "Ed25519 signature does not verify under the signer's registered key")


def _check_tables(source: Source, replay: Replay, report: Report, findings) -> None:
    file = source.ledger_file()
    if file is not None:
        check_ledger_file(file, replay, report, findings)
    elif isinstance(source, SiteSource):
        check_site(source, replay, report)


def _check_snapshots(source: Source, replay: Replay, report: Report) -> None:
    # Step 2.6 read every snapshot a record names: any other is one no signature vouches for,
    # served on the ledger's own origin (docs/security.md, "Snapshots no record names").
    for sha in source.snapshot_names():
        if sha not in replay.snapshots:
            report.fail(f"snapshot {sha}", "no record refers to it: it is stored and served, but nothing in the log vouches for it")
    file = source.ledger_file()
    if file is None:
        report.snapshots = sum(1 for value in replay.snapshots.values() if value is not None)
        return
    for sha, media_type, size, content in file.snapshot_rows():
        found = hashlib.sha256(content).hexdigest()
        if found != sha or len(content) != size:
            report.fail(f"snapshot {sha}", f"content hashes to {found} ({len(content)} bytes, recorded {size})")
        report.snapshots += 1
