"""A verifiable offline bundle of the log: what a recipient needs to check it with no network.

    OUTDIR/entries.jsonl          line i = the leaf bytes of entry i (docs/format.md)
    OUTDIR/checkpoint             the latest signed checkpoint
    OUTDIR/checkpoints/<size>     every signed checkpoint, by tree size
    OUTDIR/vkey                   the log's verifier key
    OUTDIR/snapshots/<sha256>     every archived snapshot, named by its SHA-256,
    OUTDIR/snapshots/<sha256>.type   and its media type
    OUTDIR/README.md              how to verify it

``ledger verify OUTDIR --vkey "$(cat OUTDIR/vkey)"`` checks it (``verify.open_source``
reads a directory as an export). The bundle is written to ``OUTDIR.partial``
and renamed when complete, so a half-written bundle never has the final name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ledger.errors import LedgerError

README = """# Offline bundle of the fact-ledger log `{origin}`

This folder is a complete copy of the log at tree size {size}: every entry
(`entries.jsonl`, line *i* is exactly the leaf bytes of entry *i*), every
checkpoint the log key signed (`checkpoints/<tree size>`, the latest also in
`checkpoint`), the archived snapshots that quotes are anchored in
(`snapshots/<sha256>`, media type in `<sha256>.type`) and the log's verifier
key (`vkey`).

## How to verify it

Install fact-ledger's verifier from its source repository at a commit you
pinned, or as the wheel the publishing site serves with its SHA-256
(`/-/ledger.json`, "verifier"; check it with `sha256sum`) — never with
`pip install fact-ledger`: its authors have not published that name, and
whoever registers it could ship a verifier that always says OK
(docs/security.md, "Installing the verifier"). Verification needs only
`cryptography`, `attrs` and `rfc8785`, and no network. Then:

```sh
ledger verify {dirname} --vkey '{vkey}'
```

Compare the verifier key with one you obtained independently (the desk's
site at `/-/vkey`, its publications): the bundle's own `vkey` file proves
nothing by itself. `ledger verify` replays every entry (canonical bytes,
schemas, Ed25519 signatures, key validity, version links, references, quote
anchors against the snapshots), recomputes the RFC 6962 Merkle tree and
checks the root of every checkpoint in `checkpoints/`. If you saved a
checkpoint of this log earlier, add `--since saved.checkpoint` to prove the
log only grew since. The format is specified in docs/format.md,
docs/log.md and docs/verify.md of fact-ledger.
"""


def write_bundle(ledger, outdir) -> dict:
    """Write the bundle to ``outdir`` (which must not exist, or be empty); returns counts."""
    out = Path(outdir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LedgerError(f"{outdir} already exists and is not an empty folder; choose a new one")
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    (partial / "checkpoints").mkdir(parents=True)
    (partial / "snapshots").mkdir()
    try:
        with open(partial / "entries.jsonl", "wb") as f:
            count = ledger.export_jsonl(f)
        checkpoints = ledger.checkpoints()
        for size, note in checkpoints:
            (partial / "checkpoints" / str(size)).write_text(note, encoding="utf-8")
        (partial / "checkpoint").write_text(ledger.latest_checkpoint_note(), encoding="utf-8")
        (partial / "vkey").write_text(ledger.log_vkey + "\n", encoding="utf-8")
        snapshots = 0
        for sha, media_type, content in ledger.snapshots():
            (partial / "snapshots" / sha).write_bytes(content)
            (partial / "snapshots" / f"{sha}.type").write_text(media_type + "\n", encoding="utf-8")
            snapshots += 1
        (partial / "README.md").write_text(README.format(origin=ledger.origin, size=count, dirname=out.name, vkey=ledger.log_vkey),
                                           encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return {"entries": count, "checkpoints": len(checkpoints), "snapshots": snapshots}
