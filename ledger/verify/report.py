"""What a verification found: the figures of each step and every failure, with where it is."""

from __future__ import annotations

import hashlib
from typing import Optional

import attrs

MAX_FAILURES = 1000  # a badly damaged ledger fails at every entry; the first thousand say enough


def key_fingerprint(vkey: str) -> str:
    """SHA-256 of the verifier key line as /-/vkey serves it (the key and a newline), in groups of eight
    hex digits: what the site's in-browser check shows (docs/browser-verify.md), for comparing by eye."""
    digest = hashlib.sha256((vkey + "\n").encode("utf-8")).hexdigest()
    return " ".join(digest[i:i + 8] for i in range(0, len(digest), 8))


@attrs.frozen
class Failure:
    where: str
    message: str

    def __str__(self):
        return f"{self.where}: {self.message}"


@attrs.define
class Report:
    """The outcome of ``verify_ledger``: ``ok`` when every check held."""

    source: str
    origin: Optional[str] = None
    log_vkey: Optional[str] = None
    log_key_fingerprint: Optional[str] = None
    vkey_pinned: bool = False
    entries: int = 0
    tree_size: int = 0
    root: Optional[str] = None
    checkpoints: int = 0
    signatures: int = 0
    snapshots: int = 0
    quotes_checked: int = 0
    tables_checked: list = attrs.Factory(list)
    indexes_checked: int = 0
    claims_found: Optional[int] = None
    since: Optional[dict] = None
    cosignatures: int = 0  # stored cosignatures checked (a ledger file)
    witnesses: Optional[dict] = None  # the quorum asked for: {size, quorum, ok, cosigned: {witness: time}}
    failures: list = attrs.Factory(list)
    warnings: list = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.entries > 0

    def fail(self, where: str, message: str) -> None:
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(Failure(where, message))

    def to_json(self) -> dict:
        data = attrs.asdict(self)
        data["failures"] = [{"where": f.where, "message": f.message} for f in self.failures]
        data["ok"] = self.ok
        return data

    def summary(self) -> str:
        lines = [f"Verified {self.source}"]
        lines.append(f"  origin        {self.origin}")
        lines.append(f"  log key       {self.log_vkey} ({'pinned with --vkey' if self.vkey_pinned else 'NOT pinned: taken from entry 0'})")
        if self.log_key_fingerprint:
            lines.append(f"  fingerprint   {self.log_key_fingerprint}")
        lines.append(f"  entries       {self.entries}; signatures checked {self.signatures}")
        lines.append(f"  tree          size {self.tree_size}, root {self.root}")
        lines.append(f"  checkpoints   {self.checkpoints} signed checkpoints match the tree")
        lines.append(f"  snapshots     {self.snapshots} checked; {self.quotes_checked} quote anchors checked")
        lines.extend(self._optional_lines())
        for warning in self.warnings:
            lines.append(f"  warning: {warning}")
        if self.ok:
            lines.append("OK: every check holds.")
        else:
            lines.append(f"FAILED: {len(self.failures)} problem(s):")
            lines.extend(f"  - {f}" for f in self.failures[:50])
            if len(self.failures) > 50:
                lines.append(f"  ... and {len(self.failures) - 50} more (use --json for all)")
        return "\n".join(lines)

    def _optional_lines(self) -> list[str]:
        """The summary's lines for checks only some sources allow or only some options ask for."""
        found = []
        if self.tables_checked:
            found.append(f"  site tables   {', '.join(self.tables_checked)} equal the projection of the entries")
        if self.indexes_checked:
            found.append(f"  indexes       {self.indexes_checked} indexes lead to exactly the rows of their tables")
        if self.claims_found is not None:
            found.append(f"  search        {self.claims_found} claims found by the words of their own text")
        if self.since:
            found.append(f"  since         extends the checkpoint of size {self.since['size']} (append-only)")
        if self.cosignatures:
            found.append(f"  cosignatures  {self.cosignatures} stored cosignatures by the log's witnesses verify")
        if self.witnesses:
            cosigned = ", ".join(f"{name} at {t}" for name, t in self.witnesses["cosigned"].items()) or "none"
            found.append(f"  witnesses     size {self.witnesses['size']} cosigned by {cosigned}; "
                         f"quorum {self.witnesses['quorum']}: {'met' if self.witnesses['ok'] else 'NOT met'}")
        return found
