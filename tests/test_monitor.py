"""Tests for ledger.monitor: following ledgers published as tiles (written from real ledger files),
with witnesses (real SQLite state) cosigning or holding the checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TEST_ORIGIN
from ledger.api import Ledger
from ledger.cosignature import Cosignature, add_cosignatures, parse_cosigner_vkey_untrusted, parse_signature_lines_untrusted
from ledger.errors import FormatError, SignatureError
from ledger.monitor import MonitorError, check, format_state, load_state, parse_state_untrusted, save_state
from ledger.note import Signer, parse_verifier_key_untrusted
from ledger.tiles import directory_fetcher, tiles_for_size, write_file_atomically, write_tiles
from ledger.witness import Witness, init
from test_witness import LOG, Clock, Log, log, rewritten  # noqa: F401 - log and rewritten are fixtures


def publish(db: Path, directory: Path, note: str | None = None) -> Path:
    """What `ledger publish` would write under OUTDIR/tlog: every checkpoint's tiles and the latest checkpoint."""
    with Ledger.open(db, readonly=True) as ledger:
        sizes = [size for size, _ in ledger.checkpoints()]
        for old, new in zip([0] + sizes, sizes):
            write_tiles(directory, tiles_for_size(new, old), ledger, ledger)
        write_file_atomically(directory / "checkpoint", (note or ledger.latest_checkpoint()[1]).encode())
    return directory


@pytest.fixture
def witness(tmp_path):
    vkey = init(tmp_path / "witness", "witness.test/w1", None)
    return Witness(tmp_path / "witness", [LOG.vkey], clock=Clock()), parse_cosigner_vkey_untrusted(vkey)


def cosign(witness: Witness, log: Log, old: int) -> str:
    """The log's latest checkpoint with the witness's cosignature."""
    response = witness.add_checkpoint(log.body(old))
    assert response.status == 200, response
    [line] = parse_signature_lines_untrusted(response.body)
    return add_cosignatures(log.note(), [Cosignature.from_note_signature_untrusted(line)])


def test_first_run_on_the_demo_ledger(demo_db, tmp_path):
    with Ledger.open(demo_db, readonly=True) as ledger:
        size, vkey = ledger.size, ledger.log_vkey
    site = publish(demo_db, tmp_path / "tlog")
    verifier = parse_verifier_key_untrusted(vkey)
    report = check(directory_fetcher(site), verifier, None)
    assert len(report.entries) == size and report.previous is None
    whats = [c.what for c in report.changes]
    for what in ("new key", "new source", "new claim", "new review", "revision", "correction", "retraction"):
        assert what in whats
    assert report.changes[31].text.startswith("entry 31: correction of claim:ro-imports-q4-2023-70pct")
    assert report.summary.endswith(f"first check: {size} entries, {size} new, consistent; cosigned by 0 witness(es)")
    save_state(tmp_path / "state.json", report.state)
    assert load_state(tmp_path / "state.json", verifier, verifier.name) == report.state
    assert load_state(tmp_path / "missing.json", verifier, verifier.name) is None
    again = check(directory_fetcher(site), verifier, report.state)
    assert again.entries == () and again.state == report.state


def test_a_growing_log(log, tmp_path):
    log.grow(2)
    state = check(directory_fetcher(publish(log.path, tmp_path / "a")), LOG.verifier, None).state
    log.grow(3)
    report = check(directory_fetcher(publish(log.path, tmp_path / "b")), LOG.verifier, state)
    assert [e.index for e in report.entries] == [3, 4, 5]
    assert [c.what for c in report.changes] == ["new key"] * 3
    assert report.state.size == 6
    assert "grew from 3 to 6 entries, 3 new" in report.summary


def test_rollback(log, tmp_path):
    log.grow(4)
    state = check(directory_fetcher(publish(log.path, tmp_path / "a")), LOG.verifier, None).state
    site = publish(log.path, tmp_path / "b", note=log.note(3))
    with pytest.raises(MonitorError, match="shows size 3, smaller than the size 5 verified before") as e:
        check(directory_fetcher(site), LOG.verifier, state)
    assert e.value.finding == "rollback"


def test_rewritten_history(log, rewritten, tmp_path):
    log.grow(2)
    state = check(directory_fetcher(publish(log.path, tmp_path / "a")), LOG.verifier, None).state
    rewritten.grow(4)
    with pytest.raises(MonitorError, match="does not extend the one of size 3") as e:
        check(directory_fetcher(publish(rewritten.path, tmp_path / "b")), LOG.verifier, state)
    assert e.value.finding == "rewrite"
    # The same size with another root.
    site = publish(rewritten.path, tmp_path / "c", note=rewritten.note(3))
    with pytest.raises(MonitorError) as e:
        check(directory_fetcher(site), LOG.verifier, state)
    assert e.value.finding == "rewrite"


def test_split_view_seen_through_a_witness(log, rewritten, witness, tmp_path):
    w, verifier = witness
    log.grow(2)
    cosign(w, log, 0)                                   # the witness saw history A at size 3
    held = w.latest_checkpoint(TEST_ORIGIN)
    rewritten.grow(4)                                   # the site shows history B to this monitor
    site = publish(rewritten.path, tmp_path / "b")
    with pytest.raises(MonitorError, match="that the log's tree does not extend: a split view") as e:
        check(directory_fetcher(site), LOG.verifier, None, witnesses=[verifier], witness_notes=[held])
    assert e.value.finding == "split-view"
    # A witness holding a larger tree than the site shows is a split view too.
    log.grow(5)
    cosign(w, log, 3)
    site = publish(log.path, tmp_path / "a", note=log.note(3))
    with pytest.raises(MonitorError, match="cosigned size 8, larger than the size 3") as e:
        check(directory_fetcher(site), LOG.verifier, None, witnesses=[verifier],
              witness_notes=[w.latest_checkpoint(TEST_ORIGIN)])
    assert e.value.finding == "split-view"
    # The honest case: the witness's checkpoint is one the site's tree extends.
    log.grow(1)
    report = check(directory_fetcher(publish(log.path, tmp_path / "c")), LOG.verifier, None,
                   witnesses=[verifier], witness_notes=[w.latest_checkpoint(TEST_ORIGIN)])
    assert report.witness_sizes == {"witness.test/w1+" + verifier.key_id.hex(): 8}


def test_quorum_and_max_age(log, witness, tmp_path):
    w, verifier = witness
    log.grow(2)
    plain = publish(log.path, tmp_path / "a")
    with pytest.raises(MonitorError, match="cosigned by 0 of the trusted witnesses, fewer than the quorum of 1") as e:
        check(directory_fetcher(plain), LOG.verifier, None, witnesses=[verifier], quorum=1)
    assert e.value.finding == "quorum"
    note = cosign(w, log, 0)
    site = publish(log.path, tmp_path / "b", note=note)
    [(_, timestamp, _)] = w.cosigned(TEST_ORIGIN)
    report = check(directory_fetcher(site), LOG.verifier, None, witnesses=[verifier], quorum=1,
                   max_age=3600, now=timestamp + 60)
    assert report.checkpoint.cosigners() == {"witness.test/w1+" + verifier.key_id.hex(): timestamp}
    assert report.state.checkpoint_note == note
    with pytest.raises(MonitorError, match="freshest cosignature is 7200 s old, more than --max-age 3600 s") as e:
        check(directory_fetcher(site), LOG.verifier, None, witnesses=[verifier], max_age=3600, now=timestamp + 7200)
    assert e.value.finding == "stale"
    with pytest.raises(MonitorError, match="no cosignature by a trusted witness") as e:
        check(directory_fetcher(plain), LOG.verifier, None, max_age=3600)
    assert e.value.finding == "stale"


def test_bad_signature_and_bad_tiles(log, tmp_path):
    log.grow(300, batch=True)
    impostor = Signer.from_seed(TEST_ORIGIN, b"\5" * 32)
    from ledger.checkpoint import Checkpoint, sign_checkpoint

    forged = sign_checkpoint(Checkpoint(TEST_ORIGIN, log.ledger.size, log.ledger.root()), impostor)
    site = publish(log.path, tmp_path / "a", note=forged)
    with pytest.raises(MonitorError) as e:
        check(directory_fetcher(site), LOG.verifier, None)
    assert e.value.finding == "signature"
    site = publish(log.path, tmp_path / "b")
    tile = site / "tile/0/000"
    data = bytearray(tile.read_bytes())
    data[5] ^= 1
    tile.write_bytes(bytes(data))
    with pytest.raises(MonitorError, match="tiles do not match its checkpoint: tile/0/000 does not hash") as e:
        check(directory_fetcher(site), LOG.verifier, None)
    assert e.value.finding == "tiles"
    (site / "tile/0/000").unlink()
    with pytest.raises(MonitorError, match="does not serve the tiles") as e:
        check(directory_fetcher(site), LOG.verifier, None)
    assert e.value.finding == "tiles"


def test_state_file_is_checked(log, tmp_path):
    log.grow(1)
    state = check(directory_fetcher(publish(log.path, tmp_path / "a")), LOG.verifier, None).state
    data = format_state(state)
    assert json.loads(data) == {"checkpoint": log.note(), "format": "fact-ledger-monitor/1"}
    assert parse_state_untrusted(data, LOG.verifier, TEST_ORIGIN) == state
    tampered = data.replace(b"\\n2\\n", b"\\n3\\n")
    assert tampered != data
    with pytest.raises(SignatureError):
        parse_state_untrusted(tampered, LOG.verifier, TEST_ORIGIN)
    for junk in (b"", b"[]", b'{"format": "fact-ledger-monitor/1"}', b'{"format": "x", "checkpoint": "y"}'):
        with pytest.raises(FormatError):
            parse_state_untrusted(junk, LOG.verifier, TEST_ORIGIN)
    with pytest.raises(SignatureError, match="origin"):
        parse_state_untrusted(data, LOG.verifier, "example.org/other")
