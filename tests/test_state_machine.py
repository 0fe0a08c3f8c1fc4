"""The append-only log against a plain-Python model of it (Hypothesis state machine).

Random batches of new sources, claims and reviews (later records of a batch
may name earlier ones), revisions, corrections, retractions, editor keys
registered and revoked, witnesses added, removed and added again, and
operations the rules refuse. After every step:
what ``Ledger`` shows (current version, history and notices of every record;
status and verdict as the browsing tables hold them) equals the model; every
entry's inclusion proof against the latest checkpoint and every earlier
checkpoint's consistency proof check with ``ledger.tree``'s verify functions;
a refused operation leaves the file byte-identical. At the end ``ledger
verify`` passes on the file.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import shutil
import sqlite3
import tempfile
from pathlib import Path

import attrs
import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from conftest import sha256_of_file, test_signer
from ledger import tree
from ledger.api import Ledger
from ledger.checkpoint import open_checkpoint_untrusted
from ledger.cosignature import CosignatureSigner
from ledger.errors import RecordError, SignatureError
from ledger.records import Record

ORIGIN = "state-machine.test.example/log"
LOG = test_signer(ORIGIN)
EDITORS = {name: test_signer(f"{name}@state-machine.test.example") for name in ("ana", "bob", "cid", "dan")}
STRANGER = test_signer("eve@state-machine.test.example")  # never registered
WITNESSES = {name: CosignatureSigner(test_signer(f"{name}.state-machine.test.example")) for name in ("w1", "w2")}
T = "2024-05-01T10:00:00Z"
WORDS = st.text(st.characters(categories=("L", "N", "Zs")), min_size=1, max_size=12)  # a title or claim, as the schemas allow
RATINGS = ("true", "mostly-true", "mixed", "mostly-false", "false", "misleading", "unproven", "unrated")

# 20 runs of up to 30 steps: ledgers of up to ~60 entries that reach
# retractions of revised records, revoked keys and then their refusals, and
# batches naming their own records; about 5 s of CPU.
SETTINGS = settings(max_examples=20, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@attrs.define
class Version:
    data: dict  # the record, as appended (Record.to_dict())
    index: int
    hash: str  # its entry hash, hex


@attrs.define
class Kept:
    """One record as the model keeps it."""

    kind: str
    versions: list[Version]
    status: str = "active"  # "corrected" after a correction, "retracted" after a retraction
    notices: list[str] = attrs.Factory(list)  # IDs of the corrections and retractions naming it

    @property
    def head(self) -> Version:
        return self.versions[-1]


def _b64(hashes) -> list[bytes]:
    return [base64.b64decode(h) for h in hashes]


def _shown(path) -> tuple[dict, dict]:
    """Status of every record and verdict of every claim, from the browsing tables the site reads.

    (The site reads them with SQL through Datasette; so does this check.)
    """
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        status = dict(conn.execute("SELECT id, status FROM record_heads"))
        verdicts = {row[0]: tuple(row[1:]) for row in conn.execute("SELECT id, verdict, verdict_label, review_id FROM claims")}
    return status, verdicts


class LogMachine(RuleBasedStateMachine):
    """``run`` is the in-process CLI of conftest (the ``run`` fixture)."""

    def __init__(self, run):
        super().__init__()
        self.run = run
        self.directory = Path(tempfile.mkdtemp(prefix="state-machine-"))
        self.path = self.directory / "ledger.db"
        self.ledger = Ledger.create(self.path, LOG, created=T)
        self.records: dict[str, Kept] = {}
        self.leaf_hashes: list[bytes] = []
        self.checkpoints: list[tuple[int, bytes, str]] = []  # (tree size, root hash, note), oldest first
        self.keys: dict[str, int | None] = {}  # editor name -> index of the entry that revoked it, None while active
        self.witnesses: dict[str, str] = {}  # witness name -> status of its record
        self.serial = 0
        self._stored([self.ledger.entry(0)], [{"kind": "key", "id": "key:log", "version": 1, "created": T, "vkey": LOG.vkey,
                                               "display_name": ORIGIN, "role": "log", "status": "active"}], LOG)
        self._register("ana")

    # --- the model ------------------------------------------------------------------------------
    def _next_id(self, kind: str) -> str:
        self.serial += 1
        return f"{kind}:{kind[0]}{self.serial}"

    def _ids(self, kind: str, *, live: bool = False) -> list[str]:
        return sorted(i for i, r in self.records.items() if r.kind == kind and not (live and r.status == "retracted"))

    def _revisable(self) -> list[str]:
        # A claim whose source was retracted can no longer be revised (rules: _check_claim).
        return [i for kind in ("source", "claim", "review") for i in self._ids(kind, live=True)
                if kind != "claim" or self.records[self.records[i].head.data["source"]].status != "retracted"]

    def _active_editors(self) -> list[str]:
        return sorted(name for name, revoked in self.keys.items() if revoked is None)

    def _stored(self, entries, expected: list[dict], signer) -> None:
        """Check the entries an append returned against what was asked, then keep them."""
        assert [e.index for e in entries] == list(range(len(self.leaf_hashes), len(self.leaf_hashes) + len(expected)))
        for entry, data in zip(entries, expected):
            assert entry.record.to_dict() == data
            assert entry.signer == signer.verifier.signer_id
            assert entry.leaf_hash == tree.leaf_hash(entry.leaf)
            self.leaf_hashes.append(entry.leaf_hash)
            self._keep(Version(data, entry.index, entry.hash_hex))
        note = self.ledger.latest_checkpoint_note()
        checkpoint = open_checkpoint_untrusted(note, LOG.verifier, ORIGIN)
        assert checkpoint.size == len(self.leaf_hashes)
        assert checkpoint.root_hash == tree.root_from_leaf_hashes(self.leaf_hashes)
        self.checkpoints.append((checkpoint.size, checkpoint.root_hash, note))

    def _keep(self, version: Version) -> None:
        data = version.data
        if data["version"] == 1:
            self.records[data["id"]] = Kept(data["kind"], [version])
        else:
            self.records[data["id"]].versions.append(version)
        if data["kind"] in ("correction", "retraction"):
            target = self.records[data["target"]]
            target.notices.append(data["id"])
            if data["kind"] == "retraction":
                target.status = "retracted"
            elif target.status != "retracted":
                target.status = "corrected"
        if data["kind"] == "key" and data["status"] == "revoked":
            self.keys[data["display_name"]] = version.index

    def _append(self, records: list[dict], signer) -> None:
        self._stored(self.ledger.append([Record.from_dict(r) for r in records], signer, LOG), records, signer)

    def _register(self, name: str) -> None:
        self._append([{"kind": "key", "id": f"key:{name}", "version": 1, "created": T, "vkey": EDITORS[name].vkey,
                       "display_name": name, "role": "editor", "status": "active"}], LOG)
        self.keys[name] = None

    def _verdict(self, claim_id: str) -> tuple:
        # The most recently appended review of the claim that is not retracted.
        reviews = [r for r in self.records.values()
                   if r.kind == "review" and r.head.data["claim"] == claim_id and r.status != "retracted"]
        if not reviews:
            return (None, None, None)
        latest = max(reviews, key=lambda r: r.head.index).head.data
        return (latest["rating"]["normalized"], latest["rating"]["label"], latest["id"])

    # --- appending --------------------------------------------------------------------------------
    def _new_record(self, data, kind: str, batch: list[dict]) -> dict:
        """A new record of ``kind`` that may name records of the ledger or earlier in ``batch``."""
        sources = self._ids("source") + [r["id"] for r in batch if r["kind"] == "source"]
        live_sources = self._ids("source", live=True) + [r["id"] for r in batch if r["kind"] == "source"]
        live_claims = self._ids("claim", live=True) + [r["id"] for r in batch if r["kind"] == "claim"]
        record = {"kind": kind, "id": self._next_id(kind), "version": 1, "created": T}
        if kind == "source":
            record.update(type="article", title=data.draw(WORDS))
            if sources and data.draw(st.booleans()):
                record["links"] = [{"rel": "cites", "source": data.draw(st.sampled_from(sources))}]
        elif kind == "claim":
            record.update(text=data.draw(WORDS), language="ro",
                          source=data.draw(st.sampled_from(live_sources)))
            if data.draw(st.booleans()):
                record["attribution"] = {"text": "officials", "source": data.draw(st.sampled_from(sources))}
        else:
            record.update(claim=data.draw(st.sampled_from(live_claims)),
                          rating={"label": data.draw(st.sampled_from(("Fals", "Adevărat", "Neverificat"))),
                                  "normalized": data.draw(st.sampled_from(RATINGS))})
        return record

    @precondition(lambda self: self._active_editors())
    @rule(data=st.data(), size=st.integers(min_value=1, max_value=4))
    def add_records(self, data, size):
        batch = []
        for _ in range(size):
            kinds = ["source"]
            if self._ids("source", live=True) or any(r["kind"] == "source" for r in batch):
                kinds.append("claim")
            if self._ids("claim", live=True) or any(r["kind"] == "claim" for r in batch):
                kinds.append("review")
            batch.append(self._new_record(data, data.draw(st.sampled_from(kinds)), batch))
        self._append(batch, EDITORS[data.draw(st.sampled_from(self._active_editors()))])

    def _changes(self, data, record_id: str) -> dict:
        kind = self.records[record_id].kind
        if kind == "source":
            return {"title": data.draw(WORDS)}
        if kind == "claim":
            return {"text": data.draw(WORDS)}
        return {"rating": {"label": "Revizuit", "normalized": data.draw(st.sampled_from(RATINGS))}}

    def _expected_revision(self, record_id: str, changes: dict, note: str, created: str) -> dict:
        head = self.records[record_id].head
        return {**head.data, **changes, "version": head.data["version"] + 1, "replaces": head.hash, "note": note,
                "created": created}

    @precondition(lambda self: self._active_editors() and self._revisable())
    @rule(data=st.data())
    def revise(self, data):
        record_id = data.draw(st.sampled_from(self._revisable()))
        changes = self._changes(data, record_id)
        revised = self.ledger.revision(record_id, "why", **changes)
        expected = self._expected_revision(record_id, changes, "why", revised.created)
        signer = EDITORS[data.draw(st.sampled_from(self._active_editors()))]
        self._stored(self.ledger.append([revised], signer, LOG), [expected], signer)

    @precondition(lambda self: self._active_editors() and self._revisable())
    @rule(data=st.data())
    def correct(self, data):
        record_id = data.draw(st.sampled_from(self._revisable()))
        changes, head = self._changes(data, record_id), self.records[record_id].head
        signer = EDITORS[data.draw(st.sampled_from(self._active_editors()))]
        entries = self.ledger.correct(record_id, "wrong figure", changes, signer, LOG)
        revised = self._expected_revision(record_id, changes, "Correction: wrong figure", entries[0].record.created)
        kind, slug = record_id.split(":", 1)
        notice = {"kind": "correction", "id": f"correction:{kind}.{slug}.v{head.data['version']}", "version": 1,
                  "created": revised["created"], "target": record_id, "target_entry": head.hash,
                  "corrected_entry": entries[0].hash_hex, "reason": "wrong figure"}
        self._stored(entries, [revised, notice], signer)

    @precondition(lambda self: self._active_editors() and self._retractable())
    @rule(data=st.data())
    def retract(self, data):
        record_id = data.draw(st.sampled_from(self._retractable()))
        head = self.records[record_id].head
        signer = EDITORS[data.draw(st.sampled_from(self._active_editors()))]
        entries = self.ledger.retract(record_id, "duplicate", signer, LOG)
        kind, slug = record_id.split(":", 1)
        notice = {"kind": "retraction", "id": f"retraction:{kind}.{slug}.v{head.data['version']}", "version": 1,
                  "created": entries[0].record.created, "target": record_id, "target_entry": head.hash, "reason": "duplicate"}
        self._stored(entries, [notice], signer)

    def _retractable(self) -> list[str]:
        return [i for kind in ("source", "claim", "review") for i in self._ids(kind, live=True)]

    @precondition(lambda self: len(self.keys) < len(EDITORS))
    @rule(data=st.data())
    def register_key(self, data):
        self._register(data.draw(st.sampled_from(sorted(set(EDITORS) - set(self.keys)))))

    @precondition(lambda self: len(self._active_editors()) >= 2)
    @rule(data=st.data())
    def revoke_key(self, data):
        name = data.draw(st.sampled_from(self._active_editors()))
        revoked = self.ledger.revision(f"key:{name}", "left the desk", status="revoked", reason="left the desk")
        expected = self._expected_revision(f"key:{name}", {"status": "revoked", "reason": "left the desk"}, "left the desk",
                                           revoked.created)
        self._stored(self.ledger.append([revoked], LOG, LOG), [expected], LOG)

    @precondition(lambda self: len([w for w in WITNESSES if self.witnesses.get(w) != "active"]))
    @rule(data=st.data())
    def add_witness(self, data):
        name = data.draw(st.sampled_from([w for w in WITNESSES if self.witnesses.get(w) != "active"]))
        record_id, vkey, url = f"witness:{name}", WITNESSES[name].vkey, f"https://{name}.witness.example/"
        entries = self.ledger.add_witness(vkey, url, LOG, record_id=record_id)
        if name in self.witnesses:  # removed before: a new version, without the removal's reason
            expected = self._expected_revision(record_id, {"status": "active"}, "Added again", entries[0].record.created)
            del expected["reason"]
        else:
            expected = {"kind": "witness", "id": record_id, "version": 1, "created": entries[0].record.created, "vkey": vkey,
                        "url": url, "status": "active"}
        self._stored(entries, [expected], LOG)
        self.witnesses[name] = "active"

    @precondition(lambda self: "active" in self.witnesses.values())
    @rule(data=st.data())
    def remove_witness(self, data):
        name = data.draw(st.sampled_from(sorted(w for w, status in self.witnesses.items() if status == "active")))
        entries = self.ledger.remove_witness(f"witness:{name}", "retired", LOG)
        expected = self._expected_revision(f"witness:{name}", {"status": "removed", "reason": "retired"}, "Removed: retired",
                                           entries[0].record.created)
        self._stored(entries, [expected], LOG)
        self.witnesses[name] = "removed"

    # --- refusals ---------------------------------------------------------------------------------
    def _refusals(self) -> dict:
        """Operations the rules must refuse here, by kind: [(records, signer, error class, exact message)]."""
        size, out = len(self.leaf_hashes), collections.defaultdict(list)
        active, revoked = self._active_editors(), sorted(n for n, i in self.keys.items() if i is not None)
        new = {"kind": "source", "id": "source:refused", "version": 1, "created": T, "type": "article", "title": "T"}
        out["unregistered key"].append(([new], STRANGER, SignatureError,
                                        f"record 1: entry {size} (source:refused v1): signed by {STRANGER.verifier.signer_id}, "
                                        "which is not a registered key; register it with 'ledger key add'"))
        for name in revoked:
            out["revoked key"].append(([new], EDITORS[name], SignatureError,
                                       f"record 1: entry {size} (source:refused v1): signed by {EDITORS[name].verifier.signer_id}, "
                                       f"which was revoked at entry {self.keys[name]}"))
        if not active:
            return out
        editor = EDITORS[active[0]]
        key = {"kind": "key", "id": "key:again", "version": 1, "created": T, "vkey": editor.vkey, "display_name": "again",
               "role": "editor", "status": "active"}
        out["key registered twice"].append(([key], LOG, RecordError,
                                            f"record 1: entry {size} (key:again v1): key {editor.verifier.signer_id} is already registered"))
        out["key registered by an editor"].append(([key], editor, SignatureError,
                                                   f"record 1: entry {size} (key:again v1): only the log key may register or "
                                                   f"revoke keys; signed by editor key {editor.verifier.signer_id}"))
        witness = {"kind": "witness", "id": "witness:again", "version": 1, "created": T, "vkey": WITNESSES["w1"].vkey,
                   "url": "https://again.example/", "status": "active"}
        out["witness added by an editor"].append(([witness], editor, SignatureError,
                                                  f"record 1: entry {size} (witness:again v1): only the log key may add or "
                                                  f"remove witnesses; signed by editor key {editor.verifier.signer_id}"))
        if "w1" in self.witnesses:
            out["witness named twice"].append(([witness], LOG, RecordError,
                                               f"record 1: entry {size} (witness:again v1): witness "
                                               f"{WITNESSES['w1'].verifier.name}+{WITNESSES['w1'].verifier.key_id.hex()} "
                                               "is already witness:w1; revise that record instead"))
        for record_id in self._ids("source") + self._ids("claim") + self._ids("review"):
            for kind, refusal in self._refusals_of(record_id, new, editor, size):
                out[kind].append(refusal)
        return out

    def _refusals_of(self, record_id: str, new: dict, editor, size: int) -> list:
        kept, out = self.records[record_id], []
        if kept.kind == "source":  # after a valid record: the whole batch is refused
            out.append(("ID added again", ([new, {**new, "id": record_id}], editor, RecordError,
                                           f"record 2: entry {size + 1} ({record_id} v1): ID {record_id} already exists "
                                           f"(version {kept.head.data['version']}); revise it instead of adding it again")))
        if kept.status == "retracted":
            version = kept.head.data["version"] + 1
            revised = {**kept.head.data, "version": version, "replaces": kept.head.hash, "note": "why"}
            out.append(("revised after its retraction", ([revised], editor, RecordError,
                                                         f"record 1: entry {size} ({record_id} v{version}): {record_id} was "
                                                         "retracted and cannot be revised")))
            if kept.kind == "source":
                claim = {"kind": "claim", "id": "claim:refused", "version": 1, "created": T, "text": "t", "language": "ro",
                         "source": record_id}
                out.append(("claim on a retracted source", ([claim], editor, RecordError,
                                                            f"record 1: entry {size} (claim:refused v1): source {record_id} was retracted")))
        elif len(kept.versions) >= 2:
            stale = {**kept.head.data, "version": kept.head.data["version"] + 1, "replaces": kept.versions[-2].hash, "note": "why"}
            out.append(("revised from a stale version", ([stale], editor, RecordError,
                                                         f"record 1: entry {size} ({record_id} v{stale['version']}): replaces must "
                                                         f"be the current version's entry hash {kept.head.hash}; found {kept.versions[-2].hash}")))
        return out

    @rule(data=st.data())
    def refused(self, data):
        refusals = self._refusals()
        kind = data.draw(st.sampled_from(sorted(refusals)))
        records, signer, error, message = data.draw(st.sampled_from(refusals[kind]))
        before, checkpoint = sha256_of_file(self.path), self.ledger.latest_checkpoint_note()
        try:
            self.ledger.append([Record.from_dict(r) for r in records], signer, LOG)
        except error as e:
            assert str(e) == message
        else:
            raise AssertionError(f"appended, though the rules refuse it: {message}")
        assert sha256_of_file(self.path) == before
        assert self.ledger.size == len(self.leaf_hashes)
        assert self.ledger.latest_checkpoint_note() == checkpoint

    # --- what the ledger shows equals the model ---------------------------------------------------------
    @invariant()
    def shows_the_model(self):
        assert self.ledger.size == len(self.leaf_hashes)
        status, verdicts = _shown(self.path)
        assert set(status) == set(self.records)
        for record_id, kept in self.records.items():
            current = self.ledger.current(record_id)
            assert (current.index, current.hash_hex, current.record.to_dict()) == (kept.head.index, kept.head.hash, kept.head.data)
            assert [(e.index, e.record.to_dict()) for e in self.ledger.history(record_id)] == [(v.index, v.data) for v in kept.versions]
            assert [e.record.id for e in self.ledger.notices_for(record_id)] == kept.notices
            assert status[record_id] == kept.status, record_id
        assert verdicts == {claim_id: self._verdict(claim_id) for claim_id in self._ids("claim")}
        assert {w.record_id: w.status for w in self.ledger.witnesses()} == {f"witness:{n}": s for n, s in self.witnesses.items()}

    @invariant()
    def every_proof_checks(self):
        size, root, note = self.checkpoints[-1]
        assert self.ledger.latest_checkpoint_note() == note
        for index, leaf_hash in enumerate(self.leaf_hashes):
            proof = self.ledger.prove_inclusion(index)
            assert (proof["leaf_index"], proof["tree_size"]) == (index, size)
            tree.verify_inclusion(index, size, leaf_hash, _b64(proof["hashes"]), root)
        for old_size, old_root, old_note in self.checkpoints[:-1]:
            assert self.ledger.checkpoint_note(old_size) == old_note
            proof = self.ledger.prove_consistency(old_size)
            tree.verify_consistency(old_size, size, old_root, root, _b64(proof["hashes"]))

    def teardown(self):
        self.ledger.close()
        try:
            done = self.run("verify", self.path, "--vkey", LOG.vkey, "--workers", "1")
            assert done.exit_code == 0, done.stdout + done.stderr
            assert done.stdout.endswith("OK: every check holds.\n"), done.stdout
        finally:
            shutil.rmtree(self.directory)


def test_the_log_behaves_as_its_model(run):
    run_state_machine_as_test(lambda: LogMachine(run), settings=SETTINGS)
