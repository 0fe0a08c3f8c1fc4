"""Steps 4 and 6 of docs/verify.md: the signed checkpoints match the recomputed tree, and
the log is an append-only extension of a checkpoint saved earlier (``--since``)."""

from __future__ import annotations

import base64

from typing import TYPE_CHECKING, Sequence

from ledger import tree
from ledger.checkpoint import open_checkpoint_untrusted, parse_checkpoint_untrusted
from ledger.cosignature import CosignatureVerifier, open_cosigned_checkpoint_untrusted
from ledger.errors import FormatError, SignatureError
from ledger.note import Verifier
from ledger.verify.report import Report

if TYPE_CHECKING:  # the replay reads sources, one of which opens files through servable, which uses this module
    from ledger.verify.replay import Replay


def saved_checkpoint_from_untrusted(data: bytes) -> str:
    """The note of a checkpoint a reader saved (``--since``); FormatError unless its text is a checkpoint.

    Its signature is checked by ``check_since``, against the log key entry 0 gives.
    """
    note = data.decode("utf-8", "replace")
    saved_size(note)
    return note


def saved_size(note: str) -> int:
    """The tree size a saved checkpoint claims (its signature is not checked yet): the replay
    computes the root at that size from the same leaves it checks (``check_since``)."""
    return parse_checkpoint_untrusted(note.split("\n\n", 1)[0] + "\n").size


def check_signature_lines(note, log_verifier: Verifier, witnesses: Sequence[CosignatureVerifier] = ()) -> None:
    """SignatureError unless every signature line of a stored checkpoint is one a known key checks
    (the log key's, or a cosignature by one of ``witnesses``), each line once.

    A signed note's readers ignore lines by unknown keys (C2SP signed-note,
    "Signatures"), which is right for a note passed around; but the ledger
    displays and exports the lines it stores, so a line nobody can check,
    e.g. a made-up witness's, would be shown to readers as if it meant something.
    """
    opened = open_cosigned_checkpoint_untrusted(note, log_verifier, witnesses)
    for sig in opened.unknown:
        keys = f"{len(witnesses)} witness keys" if witnesses else "no witness keys were given"
        raise SignatureError(f"a signature line by {sig.name}+{bytes(sig.key_id).hex()} that no known key can check "
                             f"(the log key; {keys})")
    text = note.decode("utf-8", "replace") if isinstance(note, bytes) else note
    lines = text[text.rfind("\n\n") + 2:].splitlines()
    if len(lines) != len(set(lines)):
        raise SignatureError("a signature line appears twice")


def check_checkpoints(notes: list, replay: Replay, report: Report, witnesses: Sequence[CosignatureVerifier] = ()) -> None:
    """Step 4: every note is a checkpoint signed by the log key, for this origin, whose root
    is the recomputed root at its size; the latest covers every entry. Every signature line
    on it is checked: the log key's, or a cosignature by one of ``witnesses``."""
    size = replay.tree.size
    last_size = 0
    for stored_size, note in notes:
        where = f"checkpoint {stored_size}" if stored_size else "checkpoint"
        try:
            checkpoint = open_checkpoint_untrusted(note, replay.log_verifier, replay.origin)
        except (FormatError, SignatureError) as e:
            report.fail(where, f"not a valid checkpoint signed by the log key: {e}")
            continue
        try:
            check_signature_lines(note, replay.log_verifier, witnesses)
        except (FormatError, SignatureError) as e:
            report.fail(where, str(e))
            continue
        if stored_size is not None and checkpoint.size != stored_size:
            report.fail(where, f"the note says tree size {checkpoint.size}")
            continue
        if checkpoint.size > size:
            report.fail(where, f"covers {checkpoint.size} entries but only {size} are present (entries were removed)")
            continue
        root = replay.roots.get(checkpoint.size) if checkpoint.size in replay.roots else (
            replay.tree.root() if checkpoint.size == size else None)
        if root != checkpoint.root_hash:
            report.fail(where, f"signed root {_b64(checkpoint.root_hash)} differs from the root recomputed from the entries "
                               f"{_b64(root) if root else '?'}")
            continue
        report.checkpoints += 1
        last_size = max(last_size, checkpoint.size)
    if last_size != size:
        report.fail("checkpoints", f"the latest signed checkpoint covers {last_size} entries, but the log has {size}: "
                                   "the rest is not committed")


def check_since(note: str, replay: Replay, report: Report) -> None:
    """Step 6: the saved checkpoint is signed by the log key and its root is the root of the
    first entries of the current log, so the log only grew since (RFC 9162 §2.1.4).

    That root is the one the replay computed at the saved size (``saved_size`` was
    among the sizes it was asked for), from the very leaves every other step
    checked: nothing is read twice, so a source cannot answer a rewritten log to
    the other steps and the original to this one.
    """
    try:
        old = open_checkpoint_untrusted(note, replay.log_verifier, replay.origin)
    except (FormatError, SignatureError) as e:
        report.fail("--since", f"the saved checkpoint is not signed by this log's key: {e}")
        return
    if old.size > replay.tree.size:
        report.fail("--since", f"the saved checkpoint covers {old.size} entries but the log now has only {replay.tree.size}: "
                               "entries were removed")
        return
    recomputed = replay.roots.get(old.size) if old.size else tree.EMPTY_ROOT
    if recomputed != old.root_hash:
        report.fail("--since", f"history was rewritten: the saved checkpoint of size {old.size} has root "
                               f"{_b64(old.root_hash)}, the current log's first {old.size} entries give "
                               f"{_b64(recomputed) if recomputed else '?'}")
        return
    report.since = {"size": old.size, "root": _b64(old.root_hash)}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
