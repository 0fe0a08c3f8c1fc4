"""Witnesses in verify (docs/witness.md): the cosignatures a ledger file stores beside its
checkpoints, and the reader's quorum (``--witness W --quorum K`` or ``--policy FILE``).

A stored cosignature must be one line by a witness the log named (a witness
record) before the checkpoint it cosigns, whose ``cosignature/v1`` signature
verifies over that checkpoint (c2sp.org/tlog-cosignature). The quorum is
checked on the checkpoint that commits to every entry verified: the
witnesses of the policy whose cosignatures of it verify must meet the
policy's rule (``ledger.policy``). A cosignature says a witness saw this
tree and found it consistent with every earlier one it saw, so a quorum of
independent witnesses means the log could not show this history to some
readers and another to the rest.
"""

from __future__ import annotations

import time
from typing import Optional

from ledger.cosignature import (Cosignature, CosignatureVerifier, add_cosignatures, open_cosigned_checkpoint_untrusted,
                                parse_cosigner_vkey_untrusted, parse_signature_lines_untrusted, verify_cosignature)
from ledger.errors import FormatError, SignatureError
from ledger.policy import Policy
from ledger.store import Store
from ledger.verify.replay import Replay
from ledger.verify.report import Report
from ledger.verify.sources import Source


def check_witnesses(source: Source, notes: list, replay: Replay, report: Report, policy: Optional[Policy]) -> None:
    """A file's stored cosignatures, then, with a policy, its quorum on the latest checkpoint."""
    file = source.ledger_file()
    if file is not None:
        check_stored_cosignatures(file, dict(n for n in notes if n[0] is not None), replay, report)
    if policy is not None:
        check_quorum(file, notes, replay, report, policy)


def witness_verifiers(replay: Replay) -> list[CosignatureVerifier]:
    """The cosignature/v1 keys of every witness the log has named (its witness records, any status): the keys
    whose signature lines a served checkpoint may carry besides the log's own."""
    return [parse_cosigner_vkey_untrusted(w.vkey) for w in replay.projection.witnesses()]


def check_stored_cosignatures(file: Store, notes: dict, replay: Replay, report: Report) -> None:
    """Every row of the cosignatures table is a valid cosignature of a stored checkpoint by a witness the log named."""
    for row in file.cosignatures():
        size, witness, timestamp, line = row
        where = f"cosignature of checkpoint {size} by {witness}"
        try:
            cosignature = _cosignature_from_untrusted(line)
        except FormatError as e:
            report.fail(where, f"not a cosignature line: {e}")
            continue
        if (f"{cosignature.name}+{bytes(cosignature.key_id).hex()}", cosignature.timestamp, cosignature.line) != (witness, timestamp, line):
            report.fail(where, f"its witness or time column ({witness}, {timestamp}) is not what its line says")
            continue
        named = replay.projection.witness(witness)
        if named is None or not isinstance(size, int) or named.added_idx >= size:
            report.fail(where, f"{witness} is not a witness the log named before its checkpoint of size {size}")
            continue
        note = notes.get(size)
        if note is None:
            report.fail(where, f"there is no checkpoint of size {size} for it to cosign")
            continue
        try:
            verify_cosignature(note.split("\n\n", 1)[0] + "\n", cosignature, parse_cosigner_vkey_untrusted(named.vkey))
        except (FormatError, SignatureError) as e:
            report.fail(where, f"does not verify over the checkpoint of size {size}: {e}")
            continue
        report.cosignatures += 1


def _cosignature_from_untrusted(line) -> Cosignature:
    signatures = parse_signature_lines_untrusted(line)
    if len(signatures) != 1:
        raise FormatError(f"expected one signature line, found {len(signatures)}")
    return Cosignature.from_note_signature_untrusted(signatures[0])


def check_quorum(file: Optional[Store], notes: list, replay: Replay, report: Report, policy: Policy) -> None:
    """The checkpoint covering every verified entry is cosigned as the policy requires."""
    size = replay.tree.size
    note = notes[-1][1] if notes else None
    if note is None:
        report.fail("witnesses", "there is no checkpoint to check the witnesses' cosignatures on")
        return
    if file is not None:
        # A ledger file keeps the cosignatures beside the note (checked above).
        found = [c for c in (_try_cosignature(row[3]) for row in file.cosignatures(size)) if c is not None]
        note = add_cosignatures(note, found)
    try:
        opened = open_cosigned_checkpoint_untrusted(note, replay.log_verifier, policy.verifiers(), replay.origin)
    except (FormatError, SignatureError) as e:
        report.fail("witnesses", f"the cosignatures on the latest checkpoint do not verify: {e}")
        return
    if opened.checkpoint.size != size or opened.checkpoint.root_hash != replay.tree.root():
        report.fail("witnesses", f"the latest checkpoint (size {opened.checkpoint.size}) is not the tree of the {size} "
                                 "entries verified, so its cosignatures do not vouch for them")
        return
    cosigners = opened.cosigners()
    ok = policy.satisfied_by(cosigners)
    report.witnesses = {"size": size, "quorum": policy.describe(), "ok": ok,
                        "cosigned": {name: _utc(t) for name, t in sorted(cosigners.items())}}
    if not ok:
        who = ", ".join(f"{name} at {_utc(t)}" for name, t in sorted(cosigners.items())) or "none of them"
        report.fail("witnesses", f"the checkpoint of size {size} is cosigned by {len(cosigners)} of the "
                                 f"{len(policy.witnesses)} trusted witnesses ({who}); the quorum is {policy.describe()}")


def _try_cosignature(line) -> Optional[Cosignature]:
    try:
        return _cosignature_from_untrusted(line)
    except FormatError:
        return None


def _utc(timestamp: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
