"""``ledger verify`` and witnesses: the stored cosignatures of a ledger file, the reader's quorum
(``--witness/--quorum``, ``--policy``) on a file, a live site and a tiled mirror, and reading a log
from tiles alone (served by Python's own ``http.server``)."""

from __future__ import annotations

import base64
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port, ledger_server, running
from ledger.api import Ledger
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import Cosignature, CosignatureSigner, parse_signature_lines_untrusted
from ledger.note import Signer
from ledger.site import publish_bundle
from ledger.verify import open_source, verify_ledger
from ledger.witness import Witness, format_add_checkpoint, init

T = "2024-05-01T00:00:00Z"
LOG = Signer.from_seed("verify-witnesses.test.example/log", b"v" * 32)
W1, W2, W3 = (CosignatureSigner(Signer.from_seed(f"w{i}.verify.test.example", bytes([i]) * 32)) for i in (1, 2, 3))


def wid(signer: CosignatureSigner) -> str:
    return f"{signer.name}+{signer.verifier.key_id.hex()}"


def cosign(ledger: Ledger, witness: Witness) -> Cosignature:
    """The witness's cosignature of the ledger's latest checkpoint (from the size it last cosigned), stored in the ledger."""
    size, note = ledger.latest_checkpoint()
    old = max((row[0] for row in witness.cosigned(LOG.name)), default=0)
    proof = [base64.b64decode(h) for h in ledger.prove_consistency(old)["hashes"]] if 0 < old < size else []
    answer = witness.add_checkpoint(format_add_checkpoint(old, proof, note))
    assert answer.status == 200, answer
    [cosignature] = [Cosignature.from_note_signature_untrusted(s) for s in parse_signature_lines_untrusted(answer.body)]
    ledger.add_cosignatures(size, [cosignature])
    return cosignature


def add_source(ledger: Ledger, n: int) -> None:
    ledger.append([{"kind": "source", "id": f"source:s{n}", "type": "other", "title": f"Source {n}", "created": T}], LOG, LOG)


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory):
    """A ledger with witnesses W1 and W2; its latest checkpoint (size 6) cosigned by both, the one before (size 5) by W1 only."""
    directory = tmp_path_factory.mktemp("verify-witnesses")
    witnesses = {}
    for signer in (W1, W2, W3):
        init(directory / signer.name, signer.name, None, signer=signer)
        witnesses[signer.name] = Witness(directory / signer.name, [LOG.vkey])
    with Ledger.create(directory / "desk.db", LOG, created=T) as ledger:
        ledger.add_witness(W1.vkey, "https://w1.example/", LOG)
        cosign(ledger, witnesses[W1.name])
        add_source(ledger, 1)
        ledger.add_witness(W2.vkey, "https://w2.example/", LOG)
        add_source(ledger, 2)
        cosign(ledger, witnesses[W1.name])
        add_source(ledger, 3)
        cosign(ledger, witnesses[W1.name])
        cosign(ledger, witnesses[W2.name])
        assert ledger.size == 6
    return directory, witnesses


def copy(witnessed, tmp_path) -> Path:
    directory, _ = witnessed
    shutil.copyfile(directory / "desk.db", tmp_path / "desk.db")
    return tmp_path / "desk.db"


def test_a_quorum_of_named_witnesses(witnessed, run, tmp_path):
    db = copy(witnessed, tmp_path)
    done = run("verify", db, "--vkey", LOG.vkey, "--witness", W1.vkey, "--witness", W2.vkey)
    assert done.exit_code == 0, done.stdout
    assert "  cosignatures  4 stored cosignatures by the log's witnesses verify\n" in done.stdout
    assert f"  witnesses     size 6 cosigned by {wid(W1)} at " in done.stdout
    assert f"quorum 2 of {W1.name}, {W2.name}: met\n" in done.stdout
    # One more entry, cosigned by W1 only: a quorum of 2 fails, of 1 holds.
    with Ledger.open(db) as ledger:
        add_source(ledger, 4)
        cosign(ledger, Witness(witnessed[0] / W1.name, [LOG.vkey]))
    done = run("verify", db, "--vkey", LOG.vkey, "--witness", W1.vkey, "--witness", W2.vkey, "--quorum", "2", "--json")
    assert done.exit_code == 1
    import json

    report = json.loads(done.stdout)
    assert [f["where"] for f in report["failures"]] == ["witnesses"]
    assert report["failures"][0]["message"].startswith(f"the checkpoint of size 7 is cosigned by 1 of the 2 trusted witnesses ({wid(W1)} at ")
    assert report["failures"][0]["message"].endswith(f"the quorum is 2 of {W1.name}, {W2.name}")
    assert report["witnesses"]["ok"] is False and list(report["witnesses"]["cosigned"]) == [wid(W1)]
    assert run("verify", db, "--vkey", LOG.vkey, "--witness", W1.vkey, "--witness", W2.vkey, "--quorum", "1").exit_code == 0
    # A witness that never cosigned anything of this log.
    done = run("verify", db, "--vkey", LOG.vkey, "--witness", W3.vkey)
    assert done.exit_code == 1 and "cosigned by 0 of the 1 trusted witnesses (none of them); the quorum is 1 of" in done.stdout


def test_a_policy_file(witnessed, run, tmp_path):
    db = copy(witnessed, tmp_path)
    policy = tmp_path / "policy"
    policy.write_text(f"log {LOG.vkey}\nwitness one {W1.vkey}\nwitness two {W2.vkey}\nwitness three {W3.vkey}\n"
                      "group trusted 2 one two three\nquorum trusted\n")
    done = run("verify", db, "--policy", policy)
    assert done.exit_code == 0, done.stdout
    assert "(pinned with --vkey)" in done.stdout and "quorum 2 of one, two, three: met" in done.stdout
    policy.write_text(f"log {LOG.vkey}\nwitness one {W1.vkey}\nwitness three {W3.vkey}\ngroup trusted all one three\nquorum trusted\n")
    assert run("verify", db, "--policy", policy).exit_code == 1
    other = Signer.from_seed("other.example/log", b"o" * 32)
    policy.write_text(f"log {other.vkey}\nquorum none\n")
    done = run("verify", db, "--policy", policy, "--vkey", LOG.vkey)
    assert (done.exit_code, done.stderr) == (1, f"Error: --vkey {LOG.vkey} is not one of the log keys the policy accepts\n")
    done = run("verify", db, "--policy", policy)
    assert done.exit_code == 1 and f"log key is {LOG.vkey}, expected the pinned {other.vkey}" in done.stdout
    done = run("verify", db, "--policy", policy, "--witness", W1.vkey)
    assert done.stderr == "Error: give either --policy FILE or --witness/--quorum, not both\n"
    done = run("verify", "claim:x", "--proof", policy, "--vkey", LOG.vkey, "--witness", W1.vkey)
    assert done.stderr == "Error: --witness and --policy check a whole ledger's latest checkpoint, not a --proof bundle\n"


def insert_cosignature(db: Path, size: int, witness: str, timestamp: int, line: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO cosignatures VALUES (?, ?, ?, ?)", (size, witness, timestamp, line))
    conn.commit()
    conn.close()


def cosignature_of(signer: CosignatureSigner, note: str, directory: Path) -> Cosignature:
    """A cosignature of ``note`` by a fresh witness with ``signer``'s key (one that has seen nothing else)."""
    init(directory, signer.name, None, signer=signer)
    answer = Witness(directory, [LOG.vkey]).add_checkpoint(format_add_checkpoint(0, [], note))
    return Cosignature.from_note_signature_untrusted(parse_signature_lines_untrusted(answer.body)[0])


def failures(db: Path) -> list[str]:
    report = verify_ledger(open_source(str(db)), vkey=LOG.vkey, workers=1)
    return [str(f) for f in report.failures]


def test_stored_cosignatures_are_each_checked(witnessed, tmp_path):
    db = copy(witnessed, tmp_path)
    assert failures(db) == []
    with Ledger.open(db, readonly=True) as ledger:
        notes = dict(ledger.checkpoints())
    by_w3 = cosignature_of(W3, notes[6], tmp_path / "w3")
    insert_cosignature(db, 6, wid(W3), by_w3.timestamp, by_w3.line)
    assert failures(db) == [f"cosignature of checkpoint 6 by {wid(W3)}: {wid(W3)} is not a witness the log named "
                            "before its checkpoint of size 6"]

    db = copy(witnessed, tmp_path)
    early = cosignature_of(W2, notes[3], tmp_path / "w2-early")  # W2 was added by entry 3: not in the tree of size 3
    insert_cosignature(db, 3, wid(W2), early.timestamp, early.line)
    assert failures(db) == [f"cosignature of checkpoint 3 by {wid(W2)}: {wid(W2)} is not a witness the log named "
                            "before its checkpoint of size 3"]

    db = copy(witnessed, tmp_path)
    late = cosignature_of(W2, notes[6], tmp_path / "w2-late")
    insert_cosignature(db, 5, wid(W2), late.timestamp, late.line)  # a cosignature of 6 filed under 5
    [failure] = failures(db)
    assert failure.startswith(f"cosignature of checkpoint 5 by {wid(W2)}: does not verify over the checkpoint of size 5")
    db = copy(witnessed, tmp_path)
    insert_cosignature(db, 9, wid(W2), late.timestamp, late.line)
    assert failures(db) == [f"cosignature of checkpoint 9 by {wid(W2)}: there is no checkpoint of size 9 for it to cosign"]
    db = copy(witnessed, tmp_path)
    conn = sqlite3.connect(db)
    w1_times = {t for (t,) in conn.execute("SELECT timestamp FROM cosignatures WHERE tree_size = 6 AND witness = ?",
                                           (wid(W1),))}
    conn.close()
    while late.timestamp in w1_times:  # the table's key is (size, witness, time): wait for a second W1 did not use
        time.sleep(0.25)
        late = cosignature_of(W2, notes[6], tmp_path / f"w2-late-{time.monotonic_ns()}")
    # W2's line under W1's name
    insert_cosignature(db, 6, wid(W1), late.timestamp, late.line)
    assert failures(db) == [f"cosignature of checkpoint 6 by {wid(W1)}: its witness or time column ({wid(W1)}, "
                            f"{late.timestamp}) is not what its line says"]
    db = copy(witnessed, tmp_path)
    insert_cosignature(db, 6, wid(W2), 1, "— not a cosignature\n")
    [failure] = failures(db)
    assert failure.startswith(f"cosignature of checkpoint 6 by {wid(W2)}: not a cosignature line: ")


@pytest.fixture(scope="module")
def mirror(witnessed, tmp_path_factory):
    """`ledger publish`'s tlog/ of the witnessed ledger, served by Python's http.server."""
    directory, _ = witnessed
    out = publish_bundle(directory / "desk.db", tmp_path_factory.mktemp("mirror") / "bundle")
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with running([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(out)],
                 base + "tlog/checkpoint"):
        yield out, base


def test_verify_reads_a_log_from_its_tiles(mirror, run):
    out, base = mirror
    done = run("verify", base + "tlog/", "--vkey", LOG.vkey, "--witness", W1.vkey, "--witness", W2.vkey)
    assert done.exit_code == 0, done.stdout
    assert done.stdout.startswith(f"Verified {base}tlog/\n")
    assert "  entries       6; signatures checked 6\n" in done.stdout and "quorum 2 of" in done.stdout
    for spec in (base + "tlog", str(out / "tlog")):
        assert run("verify", spec, "--vkey", LOG.vkey).exit_code == 0, spec


def test_a_mirror_serving_another_tree_or_checkpoint_fails(mirror, run, tmp_path):
    out, _ = mirror
    forged = tmp_path / "forged"
    shutil.copytree(out / "tlog", forged)
    impostor = Signer.from_seed(LOG.name, b"i" * 32)
    with Ledger.open(out / "ledger.db", readonly=True) as ledger:
        size, root = ledger.size, ledger.root()
    (forged / "checkpoint").write_text(sign_checkpoint(Checkpoint(LOG.name, size, root), impostor))
    done = run("verify", forged, "--vkey", LOG.vkey)
    assert done.exit_code == 1 and "checkpoint: not a valid checkpoint signed by the log key" in done.stdout
    tampered = tmp_path / "tampered"
    shutil.copytree(out / "tlog", tampered)
    bundle = tampered / "tile/entries/000.p/6"
    data = bytearray(bundle.read_bytes())
    data[40] ^= 1
    bundle.write_bytes(bytes(data))
    done = run("verify", tampered, "--vkey", LOG.vkey)
    assert (done.exit_code, done.stderr) == (1, "Error: tile/entries/000.p/6: entry 0 does not hash to its leaf hash in the level-0 tile\n")
    (tampered / "tile/0/000.p/6").unlink()
    done = run("verify", tampered, "--vkey", LOG.vkey)
    assert (done.exit_code, done.stderr) == (1, "Error: the log serves neither tile/0/000.p/6 nor the full tile tile/0/000\n")


def test_verify_a_live_site_with_a_quorum(witnessed, run, tmp_path):
    db = copy(witnessed, tmp_path)
    with ledger_server(db) as base:
        done = run("verify", base, "--vkey", LOG.vkey, "--witness", W1.vkey, "--witness", W2.vkey)
        assert done.exit_code == 0, done.stdout
        assert "quorum 2 of" in done.stdout and ": met" in done.stdout


def test_a_claims_tlog_proof_carries_the_cosignatures(witnessed, run, tmp_path):
    db = copy(witnessed, tmp_path)
    with Ledger.open(db, readonly=True) as ledger:
        bundle = ledger.tlog_proof(4)
        assert bundle.endswith(ledger.cosigned_checkpoint_note())
    assert bundle.count(f"\n— {W1.name} ") == 1 and bundle.count(f"\n— {W2.name} ") == 1
    (tmp_path / "claim.tlog-proof").write_text(bundle)
    # Entry 4 is source:s2 (entries: log key, witness W1, source:s1, witness W2, source:s2, source:s3).
    done = run("verify", "source:s2", "--proof", tmp_path / "claim.tlog-proof", "--vkey", LOG.vkey)
    assert done.exit_code == 0, done.stderr


def test_the_witness_keys_a_served_checkpoint_may_carry(witnessed, tmp_path):
    from ledger.verify.witnesses import witness_verifiers
    from ledger.verify.replay import Replay
    from ledger.verify.report import Report
    from ledger.verify.workers import Workers

    source = open_source(str(copy(witnessed, tmp_path)))
    with Workers(1) as pool, Replay(source, Report(source=source.name), pool, pinned=None, checkpoint_sizes=[]) as replay:
        replay.run()
        assert [v.vkey for v in witness_verifiers(replay)] == [W1.vkey, W2.vkey]
