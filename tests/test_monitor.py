"""ledger.monitor: following ledgers published as tiles (written from real ledger files by
``tiles.publish_tiles``, as ``ledger publish`` writes them), with the monitor's state in a real
SQLite file and witnesses (real SQLite state) cosigning the checkpoints. Witnesses answering over
HTTP, the site and the CLI are in tests/test_witness_e2e.py."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from conftest import TEST_CREATED, TEST_ORIGIN
from test_tiles import ListLeaves
from ledger import tree
from ledger.api import Ledger
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import Cosignature, parse_cosigner_vkey_untrusted, parse_signature_lines_untrusted
from ledger.envelope import Entry
from ledger.errors import FormatError, LedgerError
from ledger.monitor import MonitorError, describe, follow, tiles_location
from ledger.note import Signer
from ledger.policy import Policy
from ledger.records import Record
from ledger.tiles import publish_tiles, tiles_for_size, write_file_atomically, write_tiles
from ledger.witness import Witness, format_add_checkpoint, init
from test_witness import LOG, Clock, Log, log, rewritten  # noqa: F401 - log and rewritten are fixtures


def publish(db: Path, directory: Path, note: str | None = None) -> Path:
    """``ledger publish``'s tlog/: every checkpoint's tiles, then the (cosigned) latest checkpoint, or ``note``."""
    with Ledger.open(db, readonly=True) as ledger:
        sizes = [size for size, _ in ledger.checkpoints()]
        publish_tiles(directory, sizes, note or ledger.cosigned_checkpoint_note(), ledger, ledger)
    return directory


def state_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT tree_size, note FROM monitor_checkpoints").fetchall()
    finally:
        conn.close()


def test_first_run_on_the_demo_ledger_then_nothing_new(demo_db, tmp_path):
    with Ledger.open(demo_db, readonly=True) as ledger:
        size, vkey, note = ledger.size, ledger.log_vkey, ledger.latest_checkpoint_note()
    site = publish(demo_db, tmp_path / "tlog")
    report = follow(str(site), tmp_path / "state", vkey=vkey, now=1e9)
    assert (report.previous_size, report.size, len(report.changes)) == (None, size, size)
    whats = [c.what for c in report.changes]
    for what in ("new key", "new source", "new claim", "new review", "revision", "correction", "retraction"):
        assert what in whats
    correction = next(c for c in report.changes if c.what == "correction")
    assert correction.text.startswith(f"entry {correction.index}: correction of claim:")
    assert report.summary.startswith(f"{report.origin}: first check, {size} entries ({size} new: new key ×")
    assert report.summary.endswith(", consistent; cosigned by 0 of 0 trusted witness(es)")
    assert state_rows(tmp_path / "state") == [(size, note)]
    again = follow(str(site), tmp_path / "state", now=1e9)
    assert (again.previous_size, again.size, again.changes) == (size, size, ())
    assert again.summary == f"{report.origin}: {size} → {size} entries (nothing new), consistent; cosigned by 0 of 0 trusted witness(es)"
    assert state_rows(tmp_path / "state") == [(size, note), (size, note)]


def test_a_growing_log(log, tmp_path):
    log.grow(2)
    follow(str(publish(log.path, tmp_path / "a")), tmp_path / "state", vkey=LOG.vkey)
    log.grow(3)
    report = follow(str(publish(log.path, tmp_path / "b")), tmp_path / "state")
    assert [(c.index, c.what) for c in report.changes] == [(3, "new key"), (4, "new key"), (5, "new key")]
    assert (report.previous_size, report.size) == (3, 6)
    assert report.summary.startswith(f"{TEST_ORIGIN}: 3 → 6 entries (3 new: new key ×3), consistent")


def unchanged(path: Path):
    """The state file's bytes now; compare after a run that must save nothing."""
    return path.read_bytes()


def test_rollback_leaves_the_state_as_it_was(log, tmp_path):
    log.grow(4)
    state = tmp_path / "state"
    follow(str(publish(log.path, tmp_path / "a")), state, vkey=LOG.vkey)
    before = unchanged(state)
    site = publish(log.path, tmp_path / "b", note=log.note(3))
    with pytest.raises(MonitorError, match="shows size 3, smaller than the size 5 verified before: it rolled back") as e:
        follow(str(site), state)
    assert e.value.finding == "rollback" and unchanged(state) == before


def test_rewritten_history(log, rewritten, tmp_path):
    log.grow(2)
    state = tmp_path / "state"
    follow(str(publish(log.path, tmp_path / "a")), state, vkey=LOG.vkey)
    before = unchanged(state)
    rewritten.grow(4)
    with pytest.raises(MonitorError, match="does not extend the one of size 3 verified before: its history was rewritten") as e:
        follow(str(publish(rewritten.path, tmp_path / "b")), state)
    assert e.value.finding == "rewrite"
    # The same size with another root.
    site = publish(rewritten.path, tmp_path / "c", note=rewritten.note(3))
    with pytest.raises(MonitorError) as e:
        follow(str(site), state)
    assert e.value.finding == "rewrite" and unchanged(state) == before


def test_bad_signature_and_bad_tiles(log, tmp_path):
    log.grow(300, batch=True)
    impostor = Signer.from_seed(TEST_ORIGIN, b"\5" * 32)
    forged = sign_checkpoint(Checkpoint(TEST_ORIGIN, log.ledger.size, log.ledger.root()), impostor)
    site = publish(log.path, tmp_path / "a", note=forged)
    with pytest.raises(MonitorError, match="the log's checkpoint does not verify") as e:
        follow(str(site), tmp_path / "state", vkey=LOG.vkey)
    assert e.value.finding == "signature" and not (tmp_path / "state").exists()
    site = publish(log.path, tmp_path / "b")
    tile = site / "tile/0/000"
    data = bytearray(tile.read_bytes())
    data[5] ^= 1
    tile.write_bytes(bytes(data))
    with pytest.raises(MonitorError, match="tiles do not match its checkpoint: tile/0/000 does not hash") as e:
        follow(str(site), tmp_path / "state", vkey=LOG.vkey)
    assert e.value.finding == "tiles"
    (site / "tile/0/000").unlink()
    with pytest.raises(MonitorError, match="does not serve the tiles") as e:
        follow(str(site), tmp_path / "state", vkey=LOG.vkey)
    assert e.value.finding == "tiles" and not (tmp_path / "state").exists()
    assert not list(tmp_path.glob(".state.*"))  # no first-run state left behind


def crafted_log(directory: Path, records_and_signers: list) -> Path:
    """Tiles of a log of hand-made entries (which the ledger itself would refuse), with a checkpoint signed by the log key."""
    hashes, leaves = tree.MemoryHashStore(), []
    for index, (data, signer) in enumerate(records_and_signers):
        entry = Entry.sign(index, Record.from_dict(data), signer, TEST_ORIGIN)
        leaves.append(entry.leaf)
        hashes.append_leaf(entry.leaf)
    size = len(leaves)
    write_tiles(directory, tiles_for_size(size), hashes, ListLeaves(leaves))
    write_file_atomically(directory / "checkpoint", sign_checkpoint(Checkpoint(TEST_ORIGIN, size, tree.tree_hash(size, hashes)), LOG).encode())
    return directory


LOG_KEY = {"kind": "key", "id": "key:log", "version": 1, "created": TEST_CREATED, "vkey": LOG.vkey, "display_name": "Log",
           "role": "log", "status": "active"}
SOURCE = {"kind": "source", "id": "source:s", "version": 1, "created": TEST_CREATED, "type": "other", "title": "S"}


def test_every_new_entry_is_replayed_as_verify_does(tmp_path):
    stranger = Signer.from_seed("eve@test.example", b"\6" * 32)
    site = crafted_log(tmp_path / "a", [(LOG_KEY, LOG), (SOURCE, stranger)])
    with pytest.raises(MonitorError, match=r"a new entry does not verify: entry 1 \(source:s v1\): signed by eve@test.example\+[0-9a-f]{8}, "
                                           "which is not a registered key") as e:
        follow(str(site), tmp_path / "state", vkey=LOG.vkey)
    assert e.value.finding == "entry"
    other = Signer.from_seed(TEST_ORIGIN, b"\7" * 32)  # another key under the log's name
    site = crafted_log(tmp_path / "b", [({**LOG_KEY, "vkey": other.vkey}, other)])
    with pytest.raises(MonitorError, match="entry 0 does not register the log key"):
        follow(str(site), tmp_path / "state", vkey=LOG.vkey)
    # A signature that does not verify: the signed record changed after signing, the leaf still canonical.
    site = crafted_log(tmp_path / "c", [(LOG_KEY, LOG), (SOURCE, LOG)])
    bundle = site / "tile/entries/000.p/2"
    good = Entry.sign(1, Record.from_dict(SOURCE), LOG, TEST_ORIGIN).leaf
    bad = good.replace(b'"title":"S"', b'"title":"T"')
    data = bundle.read_bytes().replace(good, bad)
    hashes = tree.MemoryHashStore()
    for leaf in (Entry.sign(0, Record.from_dict(LOG_KEY), LOG, TEST_ORIGIN).leaf, bad):
        hashes.append_leaf(leaf)
    write_tiles(site, tiles_for_size(2), hashes, ListLeaves([Entry.sign(0, Record.from_dict(LOG_KEY), LOG, TEST_ORIGIN).leaf, bad]))
    assert bundle.read_bytes() == data
    write_file_atomically(site / "checkpoint", sign_checkpoint(Checkpoint(TEST_ORIGIN, 2, tree.tree_hash(2, hashes)), LOG).encode())
    with pytest.raises(MonitorError, match=r"entry 1 \(source:s v1\): signature by .* does not verify under its registered key"):
        follow(str(site), tmp_path / "state", vkey=LOG.vkey)
    assert not (tmp_path / "state").exists()


def test_the_state_is_checked_and_names_its_log(log, tmp_path):
    log.grow(1)
    site = str(publish(log.path, tmp_path / "a"))
    state = tmp_path / "state"
    with pytest.raises(LedgerError, match="the first run needs the log's verifier key"):
        follow(site, state)
    follow(site, state, vkey=LOG.vkey)
    other = Signer.from_seed("other.example/log", b"\10" * 32)
    with pytest.raises(LedgerError, match=re.escape(f"follows the log {LOG.vkey}, not --vkey {other.vkey}")):
        follow(site, state, vkey=other.vkey)
    # A state whose saved checkpoint was changed on disk is refused when read.
    conn = sqlite3.connect(state)
    conn.execute("UPDATE monitor_checkpoints SET note = replace(note, ?, ?)", (f"\n2\n", "\n3\n"))
    conn.commit()
    conn.close()
    with pytest.raises(MonitorError, match="does not verify") as e:
        follow(site, state)
    assert e.value.finding == "signature"
    (tmp_path / "junk").write_bytes(b"not a state")
    with pytest.raises(FormatError, match="is not a monitor state"):
        follow(site, tmp_path / "junk")


@pytest.fixture
def witness(tmp_path):
    vkey = init(tmp_path / "witness", "witness.test/w1", None)
    return Witness(tmp_path / "witness", [LOG.vkey], clock=Clock()), parse_cosigner_vkey_untrusted(vkey)


def cosign(witness_: Witness, log_: Log) -> int:
    """The witness cosigns the log's latest checkpoint; the log stores it. Returns the cosignature's time."""
    old = max((row[0] for row in witness_.cosigned(TEST_ORIGIN)), default=0)
    response = witness_.add_checkpoint(log_.body(old))
    assert response.status == 200, response
    [line] = parse_signature_lines_untrusted(response.body)
    cosignature = Cosignature.from_note_signature_untrusted(line)
    log_.ledger.add_cosignatures(log_.ledger.size, [cosignature])
    return cosignature.timestamp


def test_quorum_and_max_age(log, witness, tmp_path):
    w, verifier = witness
    log.grow(2)
    policy = Policy.from_options([verifier.vkey], 1)
    plain = str(publish(log.path, tmp_path / "a"))
    with pytest.raises(MonitorError, match="cosigned by 0 of the trusted witnesses \\(none of them\\); the quorum is 1 of witness.test/w1") as e:
        follow(plain, tmp_path / "state", vkey=LOG.vkey, policy=policy)
    assert e.value.finding == "quorum"
    log.ledger.add_witness(verifier.vkey, "http://127.0.0.1:9/", LOG)  # nothing listens there: a witness that is down
    timestamp = cosign(w, log)
    site = str(publish(log.path, tmp_path / "b"))
    report = follow(site, tmp_path / "state", vkey=LOG.vkey, policy=policy, max_age=3600, now=timestamp + 60)
    assert report.checkpoint.cosigners() == {"witness.test/w1+" + verifier.key_id.hex(): timestamp}
    assert report.summary.endswith("cosigned by 1 of 1 trusted witness(es), freshest 60 s ago; 1 warning(s), see --verbose")
    [warning] = report.warnings
    assert warning.startswith(f"cannot ask witness witness.test/w1+{verifier.key_id.hex()} for its checkpoint: http://127.0.0.1:9/")
    # Frozen: the same checkpoint two hours later.
    with pytest.raises(MonitorError, match="may be frozen: its freshest cosignature is 7200 s old, more than --max-age 3600 s") as e:
        follow(site, tmp_path / "state", max_age=3600, now=timestamp + 7200)
    assert e.value.finding == "stale"
    # Without a policy, the log's own witnesses are the trusted ones.
    report = follow(site, tmp_path / "other-state", vkey=LOG.vkey, max_age=3600, now=timestamp + 1)
    assert report.trusted == ("witness.test/w1+" + verifier.key_id.hex(),)
    with pytest.raises(MonitorError, match="it has no cosignature by a trusted witness") as e:
        follow(plain, tmp_path / "third-state", vkey=LOG.vkey, max_age=3600, policy=policy.__class__())
    assert e.value.finding == "stale"


def test_describe_witness_changes(log, witness):
    _, verifier = witness
    [added] = log.ledger.add_witness(verifier.vkey, "https://w1.example/", LOG)
    [removed] = log.ledger.remove_witness(verifier.vkey, "retired", LOG)
    [back] = log.ledger.add_witness(verifier.vkey, "https://w1.example/new", LOG)
    assert [describe(e).what for e in (added, removed, back)] == ["new witness", "witness removed", "witness changed"]
    assert describe(removed).text.startswith(f"entry {removed.index}: witness removed: witness.test/w1+{verifier.key_id.hex()} "
                                             "at https://w1.example/ (retired), signed by")


def test_tiles_location():
    assert tiles_location("https://desk.example") == "https://desk.example/-/tlog/"
    assert tiles_location("https://desk.example/") == "https://desk.example/-/tlog/"
    assert tiles_location("https://mirror.example/ledger/tlog") == "https://mirror.example/ledger/tlog/"
    assert tiles_location("https://mirror.example/ledger/tlog/") == "https://mirror.example/ledger/tlog/"
    assert tiles_location("some/folder") == "some/folder"


def test_a_first_run_over_several_chunks_reads_earlier_versions_from_the_tiles(log, tmp_path):
    """4,300 new entries are replayed a chunk of 4,096 at a time; a revision in the second chunk of a claim in the first
    needs the version it replaces, read back from the tiles."""
    source = {"kind": "source", "id": "source:s", "type": "other", "title": "S", "created": TEST_CREATED}
    claims = [{"kind": "claim", "id": f"claim:c{i}", "text": f"claim {i}", "language": "en", "source": "source:s",
               "created": TEST_CREATED} for i in range(4300)]
    log.ledger.append([source] + claims, LOG, LOG)
    log.ledger.revise("claim:c5", "Clearer", LOG, LOG, changes={"text": "claim five"})
    report = follow(str(publish(log.path, tmp_path / "a")), tmp_path / "state", vkey=LOG.vkey)
    assert report.size == 4303 and report.new_entries == 4303
    assert report.counts == {"new key": 1, "new source": 1, "new claim": 4300, "revision": 1}
    assert report.changes[-1].text.startswith("entry 4302: revision 2 of claim:c5 (Clearer), signed by ")
    conn = sqlite3.connect(tmp_path / "state")
    assert conn.execute("SELECT text, version FROM claims WHERE id = 'claim:c5'").fetchone() == ("claim five", 2)
    [(changes,)] = conn.execute("SELECT changes FROM claim_versions WHERE claim_id = 'claim:c5' AND version = 2").fetchall()
    assert "claim five" in changes
    conn.close()
