"""Tests for ledger.witness: the C2SP tlog-witness add-checkpoint protocol, in process and served by
uvicorn on 127.0.0.1, with real ledgers built by ledger.api as the logs."""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import TEST_CREATED, TEST_ORIGIN, free_port, running, test_signer
from ledger import tree
from ledger.api import Ledger
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import (
    CosignatureSigner,
    open_cosigned_checkpoint_untrusted,
    parse_cosigner_vkey_untrusted,
    parse_signature_lines_untrusted,
    Cosignature,
    verify_cosignature,
)
from ledger.errors import FormatError, LedgerError
from ledger.note import Signer
from ledger.records import KeyRecord
from ledger.witness import (
    KEY_FILE,
    MAX_PROOF_LINES,
    SIZE_CONTENT_TYPE,
    Witness,
    WitnessError,
    format_add_checkpoint,
    init,
    origin_hash,
    parse_add_checkpoint_untrusted,
    request_cosignature,
    request_cosignatures,
)

LOG = test_signer(TEST_ORIGIN)
DOC = Path(__file__).parent.parent / "docs" / "witness.md"


# --- logs built by the library ----------------------------------------------------------------


class Log:
    """A real ledger file: its checkpoints and consistency proofs, as a log asking witnesses has them."""

    def __init__(self, path: Path, flavour: str = "a"):
        self.path = path
        self.ledger = Ledger.create(path, LOG, display_name=f"Desk {flavour}", created=TEST_CREATED)
        self.flavour = flavour

    def grow(self, count: int = 1, *, batch: bool = False) -> int:
        """Append ``count`` key records: one checkpoint each, or one for all with ``batch``."""
        records = []
        for i in range(self.ledger.size, self.ledger.size + count):
            editor = test_signer(f"e{i}-{self.flavour}@test.fact-ledger.example")
            records.append(KeyRecord(id=f"key:e{i}", created=TEST_CREATED, vkey=editor.vkey,
                                     display_name=f"Editor {i}", role="editor", status="active"))
        for chunk in [records] if batch else [[r] for r in records]:
            self.ledger.append(chunk, LOG, LOG)
        return self.ledger.size

    def note(self, size: int | None = None) -> str:
        return self.ledger.checkpoint_note(size or self.ledger.size)

    def prove(self, old: int, size: int | None = None) -> list[bytes]:
        proof = self.ledger.prove_consistency(old, size or self.ledger.size)
        return [base64.b64decode(h) for h in proof["hashes"]]

    def body(self, old: int, size: int | None = None) -> bytes:
        size = size or self.ledger.size
        return format_add_checkpoint(old, self.prove(old, size) if 0 < old < size else [], self.note(size))


@pytest.fixture
def log(tmp_path):
    log = Log(tmp_path / "desk.db")
    yield log
    log.ledger.close()


@pytest.fixture
def rewritten(tmp_path):
    """The same log key signing another history (different entries from entry 0 on)."""
    log = Log(tmp_path / "rewritten.db", flavour="b")
    yield log
    log.ledger.close()


class Clock:
    """POSIX seconds that advance by one per call; ``pause`` holds each caller that long first.

    The witness reads the clock inside its transaction, after reading the
    latest size: a pause there lets racing requests all reach that point.
    """

    def __init__(self, now: int = 1_700_000_000, pause: float = 0.0):
        self.now = now
        self.pause = pause

    def __call__(self) -> float:
        time.sleep(self.pause)
        self.now += 1
        return self.now


@pytest.fixture
def witness_dir(tmp_path):
    directory = tmp_path / "witness"
    vkey = init(directory, "witness.test/w1", None)
    return directory, parse_cosigner_vkey_untrusted(vkey)


@pytest.fixture
def witness(witness_dir):
    directory, _ = witness_dir
    return Witness(directory, [LOG.vkey], clock=Clock())


# --- the request body ---------------------------------------------------------------------------


def test_spec_example_request_parses():
    import json

    vectors = json.loads((Path(__file__).parent / "vectors" / "cosignature.json").read_text(encoding="utf-8"))
    ex = vectors["spec_add_checkpoint"]
    request = parse_add_checkpoint_untrusted(ex["request"].encode())
    assert request.old_size == ex["old_size"] and len(request.proof) == ex["proof_lines"]
    assert request.checkpoint_note.startswith("example.com/behind-the-sofa\n20852163\n")
    assert format_add_checkpoint(request.old_size, request.proof, request.checkpoint_note) == ex["request"].encode()


NOTE = "o\n1\n" + base64.b64encode(b"\0" * 32).decode() + "\n\n— o AAAAAAAA\n"
HASH = base64.b64encode(b"\1" * 32).decode()


@pytest.mark.parametrize("body, message", [
    (b"old 1\n" + NOTE.encode(), "consistency proof line 1: expected standard base64"),
    (b"old 01\n\n" + NOTE.encode(), "expected first line 'old <decimal size>'"),
    (b"old -1\n\n" + NOTE.encode(), "expected first line"),
    (b"Old 1\n\n" + NOTE.encode(), "expected first line"),
    (b"old  1\n\n" + NOTE.encode(), "expected first line"),
    (b"old 1\n\n", "expected 'old N'"),
    (f"old 1\n{HASH[:-2]}\n\n{NOTE}".encode(), "standard base64"),
    (f"old 1\n{base64.b64encode(b'x' * 31).decode()}\n\n{NOTE}".encode(), "expected 32 bytes, found 31"),
    (("old 1\n" + (HASH + "\n") * (MAX_PROOF_LINES + 1) + "\n" + NOTE).encode(), "at most 63 proof lines"),
    (b"old 1\n\n\xff", "expected UTF-8"),
])
def test_malformed_requests(body, message):
    with pytest.raises(FormatError, match=message):
        parse_add_checkpoint_untrusted(body)


# --- the witness, in process ------------------------------------------------------------------------


def test_init(tmp_path):
    vkey = init(tmp_path / "w", "witness.test/w9", None)
    verifier = parse_cosigner_vkey_untrusted(vkey)
    assert verifier.name == "witness.test/w9"
    assert (tmp_path / "w" / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert Witness(tmp_path / "w", [LOG.vkey]).vkey == vkey
    with pytest.raises(LedgerError, match="already holds a witness"):
        init(tmp_path / "w", "witness.test/w9", None)
    # An encrypted key needs its passphrase.
    init(tmp_path / "e", "witness.test/e", b"pass phrase")
    Witness(tmp_path / "e", [LOG.vkey], passphrase=b"pass phrase")
    with pytest.raises(LedgerError, match="encrypted"):
        Witness(tmp_path / "e", [LOG.vkey])
    # Another witness's key file in this directory is refused.
    (tmp_path / "w" / KEY_FILE).unlink()
    (tmp_path / "e" / KEY_FILE).rename(tmp_path / "w" / KEY_FILE)
    with pytest.raises(LedgerError, match="is not the key of the witness"):
        Witness(tmp_path / "w", [LOG.vkey], passphrase=b"pass phrase")


def test_cosigns_a_growing_log(witness, witness_dir, log):
    _, verifier = witness_dir
    first = witness.add_checkpoint(log.body(0))
    assert first.status == 200
    [line] = parse_signature_lines_untrusted(first.body)
    cosignature = Cosignature.from_note_signature_untrusted(line)
    text = log.note()[: log.note().rfind("\n\n") + 1]
    verify_cosignature(text, cosignature, verifier)
    old = log.ledger.size
    log.grow(3)
    second = witness.add_checkpoint(log.body(old))
    assert second.status == 200, second
    # The same checkpoint again (old size = size, same root): cosigned again, later.
    again = witness.add_checkpoint(log.body(log.ledger.size))
    assert again.status == 200
    cosigned = witness.cosigned(TEST_ORIGIN)
    assert [size for size, _, _ in cosigned] == [1, 4, 4]
    latest = witness.latest_checkpoint(TEST_ORIGIN)
    opened = open_cosigned_checkpoint_untrusted(latest, LOG.verifier, [verifier], TEST_ORIGIN)
    assert opened.checkpoint.size == 4 and len(opened.cosignatures) == 1
    assert opened.cosignatures[0].timestamp == cosigned[-1][1]
    assert witness.refused(TEST_ORIGIN) == []


def test_conflict_answers_the_size_it_cosigned(witness, log):
    assert witness.add_checkpoint(log.body(0)).status == 200
    log.grow(2)
    response = witness.add_checkpoint(log.body(0))
    assert (response.status, response.body, response.content_type) == (409, b"1\n", SIZE_CONTENT_TYPE)
    assert witness.add_checkpoint(log.body(2)).status == 409
    assert witness.add_checkpoint(log.body(1)).status == 200
    [(old, size, status, reason, body)] = witness.refused(TEST_ORIGIN)[:1]
    assert (old, size, status) == (0, 3, 409) and "not the size 1 last cosigned" in reason
    assert body == log.body(0).decode()


def test_never_cosigns_a_smaller_tree(witness, log):
    log.grow(3)
    assert witness.add_checkpoint(log.body(0)).status == 200  # size 4
    response = witness.add_checkpoint(log.body(4, 2))
    assert response.status == 400 and b"old size 4 is larger than the checkpoint's size 2" in response.body
    assert witness.add_checkpoint(log.body(2, 2)).status == 409
    assert witness.add_checkpoint(log.body(0, 2)).status == 409
    assert [size for size, _, _ in witness.cosigned(TEST_ORIGIN)] == [4]


def test_refuses_a_rewritten_history(witness, log, rewritten):
    log.grow(2)
    assert witness.add_checkpoint(log.body(0)).status == 200  # size 3 of the real history
    rewritten.grow(4)                                          # size 5 of another, same key
    response = witness.add_checkpoint(rewritten.body(3))
    assert response.status == 422 and b"not consistent with the checkpoint of size 3" in response.body
    # The same size, another root.
    other_3 = format_add_checkpoint(3, [], rewritten.note(3))
    assert witness.add_checkpoint(other_3).status == 422
    # Without the witness's size, the log learns it from the 409 and still cannot prove consistency.
    assert witness.add_checkpoint(rewritten.body(0)).status == 409
    assert [size for size, _, _ in witness.cosigned(TEST_ORIGIN)] == [3]
    statuses = [status for _, _, status, _, _ in witness.refused(TEST_ORIGIN)]
    assert statuses == [422, 422, 409]
    # The refused checkpoints are kept, signed by the log: evidence of the rewrite.
    assert rewritten.note(5) in witness.refused(TEST_ORIGIN)[0][4]


def test_status_codes(witness, log, tmp_path):
    stranger = Signer.from_seed("stranger.example/log", b"\7" * 32)
    cp = Checkpoint(TEST_ORIGIN, 1, log.ledger.root(1))
    impostor = Signer.from_seed(TEST_ORIGIN, b"\5" * 32)  # the log's name, another key
    good = log.note(1)
    bad_signature = good[:-10] + ("A" if good[-10] != "A" else "B") + good[-9:]
    empty = Checkpoint(TEST_ORIGIN, 0, tree.EMPTY_ROOT)
    cases = [
        (b"garbage", 400),
        (format_add_checkpoint(0, [], sign_checkpoint(Checkpoint("stranger.example/log", 1, cp.root_hash), stranger)), 404),
        (format_add_checkpoint(0, [], sign_checkpoint(cp, impostor)), 403),
        (format_add_checkpoint(0, [], bad_signature), 403),
        (format_add_checkpoint(2, [], good), 400),
        (format_add_checkpoint(0, [b"\1" * 32], good), 422),
        (format_add_checkpoint(0, [], sign_checkpoint(Checkpoint(TEST_ORIGIN, 0, b"\1" * 32), LOG)), 422),
        (format_add_checkpoint(0, [], sign_checkpoint(empty, LOG)), 200),
        (format_add_checkpoint(0, [], good), 200),
    ]
    for body, status in cases:
        assert witness.add_checkpoint(body).status == status, body
    assert [size for size, _, _ in witness.cosigned(TEST_ORIGIN)] == [0, 1]


def test_concurrent_requests_exactly_one_wins(witness_dir, log):
    """Threads, each with its own connection, race from the same old size: one cosignature, the rest 409."""
    directory, _ = witness_dir
    witnesses = [Witness(directory, [LOG.vkey], clock=Clock(pause=0.05)) for _ in range(8)]
    sizes = [log.grow() for _ in range(8)]
    barrier = threading.Barrier(len(witnesses))
    statuses = {}

    def race(i):
        barrier.wait()
        statuses[sizes[i]] = witnesses[i].add_checkpoint(log.body(0, sizes[i])).status

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses.values()) == [200] + [409] * 7
    [(size, _, _)] = witnesses[0].cosigned(TEST_ORIGIN)
    assert statuses[size] == 200


def test_doc_protocol_example(tmp_path):
    """docs/witness.md's add-checkpoint example, recomputed with the documented keys and clock."""
    examples = dict(re.findall(r"<!-- example: (\S+) -->\n```\n(.*?)```\n", DOC.read_text(encoding="utf-8"), re.DOTALL))
    signer = CosignatureSigner(Signer.from_seed("witness.example.org/w1", bytes(range(64, 96))))
    log_key = Signer.from_seed("example.org/ledger", bytes(range(32)))
    store = tree.MemoryHashStore()
    for leaf in (b"a", b"b", b"c"):
        store.append_leaf(leaf)
    notes = {n: sign_checkpoint(Checkpoint("example.org/ledger", n, tree.tree_hash(n, store)), log_key) for n in (2, 3)}
    init(tmp_path / "w", signer.name, None, signer=signer)
    clock = iter([1_699_999_999, 1_700_000_000, 1_700_000_001])
    witness = Witness(tmp_path / "w", [log_key.vkey], clock=lambda: next(clock))
    assert witness.add_checkpoint(format_add_checkpoint(0, [], notes[2])).status == 200
    request = format_add_checkpoint(2, tree.prove_consistency(2, 3, store), notes[3])
    assert request.decode() == examples["add-checkpoint-request"]
    response = witness.add_checkpoint(request)
    assert (response.status, response.body.decode()) == (200, examples["add-checkpoint-response"])
    assert response.body.decode() == examples["cosignature-line"]
    conflict = witness.add_checkpoint(request)
    assert (conflict.status, conflict.content_type, conflict.body.decode()) == (409, SIZE_CONTENT_TYPE, examples["add-checkpoint-conflict"])
    assert origin_hash("example.org/ledger") + "\n" == examples["origin-hash"]
    assert witness.latest_checkpoint("example.org/ledger") == examples["cosigned-checkpoint"]


# --- real witness processes on 127.0.0.1 ----------------------------------------------------------------


@contextlib.contextmanager
def witness_process(directory: Path, log_vkeys: list[str], port: int | None = None):
    """``ledger.witness.serve`` in a child process (uvicorn); yields its base URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    code = "import sys; from ledger.witness import serve; serve(sys.argv[1], '127.0.0.1', int(sys.argv[2]), sys.argv[3:])"
    with running([sys.executable, "-c", code, str(directory), str(port), *log_vkeys], url):
        yield url


@pytest.fixture
def two_witnesses(tmp_path):
    dirs, verifiers = [], []
    for name in ("witness.test/w1", "witness.test/w2"):
        directory = tmp_path / name.replace("/", "-")
        verifiers.append(parse_cosigner_vkey_untrusted(init(directory, name, None)))
        dirs.append(directory)
    with witness_process(dirs[0], [LOG.vkey]) as url1, witness_process(dirs[1], [LOG.vkey]) as url2:
        yield [(url1, verifiers[0]), (url2, verifiers[1])], dirs


def test_two_witnesses_cosign_in_parallel(two_witnesses, log):
    witnesses, _ = two_witnesses
    answers = request_cosignatures(witnesses, log.note(), log.prove)
    assert [a.ok for a in answers] == [True, True], answers
    assert [a.size for a in answers] == [1, 1]
    log.grow(5)
    # The log knows what each witness cosigned: one request each.
    answers = request_cosignatures(witnesses, log.note(), log.prove, {v.vkey: 1 for _, v in witnesses})
    assert [a.ok for a in answers] == [True, True], answers
    from ledger.cosignature import add_cosignatures

    note = add_cosignatures(log.note(), [a.cosignature for a in answers])
    opened = open_cosigned_checkpoint_untrusted(note, LOG.verifier, [v for _, v in witnesses], TEST_ORIGIN)
    assert len(opened.cosigners()) == 2 and opened.checkpoint.size == 6
    # Not knowing the sizes costs a 409 and a second request, not a failure.
    log.grow()
    answers = request_cosignatures(witnesses, log.note(), log.prove)
    assert [(a.ok, a.size) for a in answers] == [(True, 7), (True, 7)]


def test_http_interface(two_witnesses, log):
    witnesses, _ = two_witnesses
    url, verifier = witnesses[0]
    request_cosignature(url, verifier, 0, [], log.note())
    with urllib.request.urlopen(f"{url}{origin_hash(TEST_ORIGIN)}/checkpoint") as response:
        note = response.read().decode()
    opened = open_cosigned_checkpoint_untrusted(note, LOG.verifier, [verifier], TEST_ORIGIN)
    assert opened.checkpoint.size == 1 and len(opened.cosignatures) == 1
    for method, path, status in [("GET", "add-checkpoint", 405), ("GET", "nothing", 404),
                                 ("GET", "0" * 64 + "/checkpoint", 404), ("PUT", "", 404)]:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(url + path, method=method))
        assert e.value.code == status
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(url + "add-checkpoint", data=b"x" * (300 * 1024), method="POST"))
    assert e.value.code == 413
    with pytest.raises(WitnessError, match="409 Conflict: the witness last cosigned size 1, not 0") as e:
        request_cosignature(url, verifier, 0, [], log.note())
    assert (e.value.status, e.value.size) == (409, 1)


def test_rewritten_history_is_refused_by_both(two_witnesses, log, rewritten):
    witnesses, _ = two_witnesses
    log.grow(3)
    assert all(a.ok for a in request_cosignatures(witnesses, log.note(), log.prove))
    rewritten.grow(6)
    # The first answer of each witness is 409 with the size it cosigned...
    for url, verifier in witnesses:
        with pytest.raises(WitnessError) as e:
            request_cosignature(url, verifier, 0, [], rewritten.note())
        assert (e.value.status, e.value.size) == (409, 4)
    # ...and from that size the rewritten log has no consistency proof that verifies.
    answers = request_cosignatures(witnesses, rewritten.note(), rewritten.prove)
    assert [(a.ok, a.status, a.size) for a in answers] == [(False, 422, None), (False, 422, None)]
    assert all("not consistent with the checkpoint of size 4" in a.error for a in answers)


def test_concurrent_requests_to_two_processes_sharing_a_directory(tmp_path, log):
    """Two uvicorn processes on one witness directory: still exactly one cosignature per old size."""
    directory = tmp_path / "shared"
    verifier = parse_cosigner_vkey_untrusted(init(directory, "witness.test/shared", None))
    sizes = [log.grow() for _ in range(6)]
    with witness_process(directory, [LOG.vkey]) as url1, witness_process(directory, [LOG.vkey]) as url2:
        barrier = threading.Barrier(len(sizes))
        results = {}

        def race(i):
            barrier.wait()
            try:
                request_cosignature([url1, url2][i % 2], verifier, 0, [], log.note(sizes[i]), timeout=30)
                results[sizes[i]] = 200
            except WitnessError as e:
                results[sizes[i]] = e.status

        threads = [threading.Thread(target=race, args=(i,)) for i in range(len(sizes))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(results.values()) == [200] + [409] * 5, results
    [(size, _, _)] = Witness(directory, [LOG.vkey]).cosigned(TEST_ORIGIN)
    assert results[size] == 200


def test_restart_keeps_state(tmp_path, log):
    directory = tmp_path / "w"
    verifier = parse_cosigner_vkey_untrusted(init(directory, "witness.test/w", None))
    log.grow(2)
    with witness_process(directory, [LOG.vkey]) as url:
        request_cosignature(url, verifier, 0, [], log.note())
    log.grow(2)
    with witness_process(directory, [LOG.vkey]) as url:
        with pytest.raises(WitnessError) as e:
            request_cosignature(url, verifier, 0, [], log.note())
        assert e.value.size == 3
        request_cosignature(url, verifier, 3, log.prove(3), log.note())
    assert [size for size, _, _ in Witness(directory, [LOG.vkey]).cosigned(TEST_ORIGIN)] == [3, 5]


def test_unreachable_and_silent_witnesses(two_witnesses, log):
    witnesses, _ = two_witnesses
    down = (f"http://127.0.0.1:{free_port()}/", witnesses[0][1])
    # A socket that accepts connections and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        mute = (f"http://127.0.0.1:{silent.getsockname()[1]}/", witnesses[1][1])
        answers = request_cosignatures([down, mute, witnesses[1]], log.note(), log.prove, timeout=0.5)
    assert [a.ok for a in answers] == [False, False, True]
    assert "cannot reach the witness" in answers[0].error and answers[0].status is None
    assert "cannot reach the witness" in answers[1].error


def test_answers_by_another_key_are_refused(two_witnesses, log):
    witnesses, _ = two_witnesses
    (url1, _), (_, verifier2) = witnesses
    answers = request_cosignatures([(url1, verifier2)], log.note(), log.prove)
    assert not answers[0].ok and "answered no cosignature by witness.test/w2" in answers[0].error
