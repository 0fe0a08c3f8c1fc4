"""A transparency-log witness (c2sp.org/tlog-witness), and the client a log uses to ask witnesses.

A witness keeps, for each log it is configured for (by the log's verifier
key; the log's origin is the key's name), the latest checkpoint it cosigned,
and cosigns a new checkpoint only with a consistency proof from that one: so
it never cosigns a smaller tree, nor one from another history. Its answer is
a cosignature line (``ledger.cosignature``, cosignature/v1).

HTTP interface (tlog-witness "HTTP Interface"):

    POST /add-checkpoint                 body: "old <size>\\n", proof lines, "\\n", the signed checkpoint
    GET  /<hex sha256(origin)>/checkpoint   the latest cosigned checkpoint (tlog-witness "Monitor Retrieval")

State lives in a directory: ``witness.key`` (its Ed25519 key file, as
``ledger.keys`` writes them) and ``witness.db`` (SQLite): every checkpoint it
cosigned, kept forever so that a log's misbehaviour stays provable, and every
validly signed checkpoint it refused, with the reason. Checking the old size
against the latest cosigned checkpoint and storing the new one happen in one
``BEGIN IMMEDIATE`` transaction, so of two concurrent requests from the same
old size exactly one wins (tlog-witness: "must be performed atomically").

``make_app`` is a plain ASGI application (run it with uvicorn, which
Datasette already brings; ``serve`` does). ``request_cosignature`` and
``request_cosignatures`` are the log's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs

from ledger.checkpoint import parse_checkpoint_untrusted
from ledger.cosignature import (
    Cosignature,
    CosignatureSigner,
    CosignatureVerifier,
    parse_signature_lines_untrusted,
    sign_cosignature,
    verify_cosignature,
)
from ledger.errors import FormatError, LedgerError, NotFoundError, ProofError, SignatureError
from ledger.keys import read_key_file, write_key_file
from ledger.note import SIGNATURE_PREFIX, Signer, Verifier, b64decode_canonical, b64encode, open_note_untrusted, parse_verifier_key_untrusted
from ledger.tree import EMPTY_ROOT, HASH_SIZE, verify_consistency

KEY_FILE = "witness.key"
DB_FILE = "witness.db"
FORMAT = "fact-ledger-witness/1"
# tlog-witness "add-checkpoint": "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES = 63
# A checkpoint note with the 100 signatures a verifier accepts (ledger.note) fits easily.
MAX_BODY = 256 * 1024
# tlog-witness: the 409 answer's media type.
SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Every checkpoint cosigned: the note as served by the monitoring endpoint
    # (checkpoint text, the log signatures verified, this witness's cosignature).
    """CREATE TABLE cosigned (origin TEXT NOT NULL, tree_size INTEGER NOT NULL, root_hash BLOB NOT NULL,
        timestamp INTEGER NOT NULL, note TEXT NOT NULL, PRIMARY KEY (origin, tree_size, timestamp))""",
    # Validly signed checkpoints refused (409, 422): evidence against the log.
    """CREATE TABLE refused (id INTEGER PRIMARY KEY, origin TEXT NOT NULL, old_size INTEGER NOT NULL,
        tree_size INTEGER NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL, received INTEGER NOT NULL,
        body TEXT NOT NULL)""",
) + tuple(
    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    for table in ("meta", "cosigned", "refused")
    for op in ("UPDATE", "DELETE")
)


class WitnessError(LedgerError):
    """A witness refused a checkpoint, gave a malformed answer, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, size: int | None = None):
        super().__init__(message)
        self.status = status
        self.size = size


# ---------------------------------------------------------------------------
# The add-checkpoint request body (tlog-witness "add-checkpoint").
# ---------------------------------------------------------------------------

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


@attrs.frozen
class AddCheckpointRequest:
    """A parsed add-checkpoint body: the old size, the consistency proof and the signed checkpoint."""

    old_size: int
    proof: tuple[bytes, ...] = attrs.field(converter=tuple, repr=lambda hs: repr([h.hex() for h in hs]))
    checkpoint_note: str


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], checkpoint_note: str) -> bytes:
    """``old <size>``, one base64 line per proof hash, a blank line, then the signed checkpoint."""
    if type(old_size) is not int or old_size < 0 or len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"add-checkpoint: want old size >= 0 and at most {MAX_PROOF_LINES} proof hashes")
    lines = [f"old {old_size}", *(b64encode(h) for h in proof)]
    return ("".join(line + "\n" for line in lines) + "\n" + checkpoint_note).encode("utf-8")


def parse_add_checkpoint_untrusted(body: bytes) -> AddCheckpointRequest:
    """Parse an add-checkpoint body, accepting only its canonical form (FormatError otherwise)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"add-checkpoint body: expected UTF-8, found invalid byte at offset {e.start}") from e
    head, sep, note = text.partition("\n\n")
    if not sep or not note:
        raise FormatError("add-checkpoint body: expected 'old N', proof lines, a blank line and the checkpoint")
    lines = head.split("\n")
    old = lines[0][len("old "):] if lines[0].startswith("old ") else None
    if old is None or not _DECIMAL.fullmatch(old) or int(old) > 2**64 - 1:
        raise FormatError(f"add-checkpoint body: expected first line 'old <decimal size>', found {lines[0]!r}")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise FormatError(f"add-checkpoint body: expected at most {MAX_PROOF_LINES} proof lines, found {len(lines) - 1}")
    proof = []
    for i, line in enumerate(lines[1:]):
        h = b64decode_canonical(line, f"consistency proof line {i + 1}")
        if len(h) != HASH_SIZE:
            raise FormatError(f"consistency proof line {i + 1}: expected {HASH_SIZE} bytes, found {len(h)}")
        proof.append(h)
    return AddCheckpointRequest(int(old), tuple(proof), note)


def _note_text(note: str) -> str:
    # signed-note "Format": the text ends at the last blank line.
    split = note.rfind("\n\n")
    if split < 0:
        raise FormatError("checkpoint: expected a signed note (text, a blank line, signature lines)")
    return note[: split + 1]


# ---------------------------------------------------------------------------
# The witness.
# ---------------------------------------------------------------------------


@attrs.frozen
class Response:
    """What the witness answers: an HTTP status, a body and its media type."""

    status: int
    body: bytes
    content_type: str = TEXT_CONTENT_TYPE


def _text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode("utf-8"))


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def init(directory, name: str, passphrase: bytes | None, *, signer: CosignatureSigner | None = None) -> str:
    """Create a witness in ``directory``: its key file and state database. Returns its verifier key.

    ``passphrase=None`` writes the key unencrypted (a witness usually runs
    unattended); refuses to touch a directory that already holds a witness.
    ``signer`` gives the key instead of a new random one (test vectors).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / DB_FILE).exists() or (directory / KEY_FILE).exists():
        raise LedgerError(f"{directory} already holds a witness ({KEY_FILE}, {DB_FILE}): choose another directory")
    signer = signer if signer is not None else CosignatureSigner(Signer.generate(name))
    if signer.name != name:
        raise ValueError(f"init: the signer is named {signer.name!r}, not {name!r}")
    write_key_file(directory / KEY_FILE, signer.key, passphrase)
    conn = _connect(directory / DB_FILE)
    try:
        conn.execute("BEGIN")
        for statement in SCHEMA:
            conn.execute(statement)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [("format", FORMAT), ("name", name), ("vkey", signer.vkey)])
        conn.execute("COMMIT")
    finally:
        conn.close()
    return signer.vkey


def read_vkey(directory) -> str:
    """The verifier key of the witness in ``directory`` (from its state database: no passphrase needed)."""
    db_path = Path(directory) / DB_FILE
    if not db_path.is_file():
        raise NotFoundError(f"{db_path} not found: make a witness there first ('ledger witness init {directory} --name NAME')")
    try:
        with contextlib.closing(sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError as e:
        raise FormatError(f"{db_path} is not a witness's state database ({e})") from e
    if meta.get("format") != FORMAT or "vkey" not in meta:
        raise FormatError(f"{db_path} is not a witness's state database (expected format {FORMAT})")
    return meta["vkey"]


def origin_hash(origin: str) -> str:
    """tlog-witness "Monitor Retrieval Mechanism": lowercase hex SHA-256 of the origin."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


def _signature_line(sig) -> str:
    return f"{SIGNATURE_PREFIX}{sig.name} {b64encode(bytes(sig.key_id) + bytes(sig.signature))}\n"


class Witness:
    """A witness opened from its directory, configured with the logs it witnesses.

    ``log_vkeys`` are the logs' verifier keys; a log's origin is its key's
    name, and several keys with one name are all trusted for that origin.
    ``clock`` gives POSIX seconds for cosignature timestamps.
    """

    def __init__(self, directory, log_vkeys: Sequence[str], *, passphrase: bytes | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.db_path = self.directory / DB_FILE
        if not self.db_path.is_file():
            raise NotFoundError(f"{self.db_path} not found: make a witness there first "
                                f"('ledger witness init {self.directory} --name NAME')")
        self.signer = CosignatureSigner(read_key_file(self.directory / KEY_FILE, passphrase))
        with contextlib.closing(_connect(self.db_path)) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT or meta.get("vkey") != self.signer.vkey:
            raise LedgerError(f"{self.directory / KEY_FILE} is not the key of the witness in {self.db_path} "
                              f"(expected {meta.get('vkey')}, found {self.signer.vkey})")
        self.logs: dict[str, list[Verifier]] = {}
        for vkey in log_vkeys:
            verifier = parse_verifier_key_untrusted(vkey)
            self.logs.setdefault(verifier.name, []).append(verifier)
        self._origins = {origin_hash(origin): origin for origin in self.logs}
        self._clock = clock

    @property
    def vkey(self) -> str:
        return self.signer.vkey

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = _connect(self.db_path)
        try:
            # RESERVED lock before reading the latest size: a concurrent
            # request for the same log waits here and then sees our row.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    # --- add-checkpoint ---------------------------------------------------------------
    def add_checkpoint(self, body: bytes) -> Response:
        """Handle ``POST /add-checkpoint`` (tlog-witness "add-checkpoint"), status codes as the spec says."""
        try:
            request = parse_add_checkpoint_untrusted(body)
            cp = parse_checkpoint_untrusted(_note_text(request.checkpoint_note))
        except FormatError as e:
            return _text(400, f"malformed request: {e}")
        verifiers = self.logs.get(cp.origin)
        if verifiers is None:
            return _text(404, f"unknown log origin {cp.origin!r}: this witness does not witness it")
        try:
            opened = open_note_untrusted(request.checkpoint_note, verifiers)
        except SignatureError as e:
            return _text(403, f"checkpoint not signed by the log's key: {e}")
        except FormatError as e:
            return _text(400, f"malformed checkpoint note: {e}")
        if request.old_size > cp.size:
            return _text(400, f"old size {request.old_size} is larger than the checkpoint's size {cp.size}")
        if cp.size == 0 and cp.root_hash != EMPTY_ROOT:
            return _text(422, "a checkpoint of size 0 must have the root hash of the empty tree")
        with self._transaction() as conn:
            row = conn.execute("SELECT tree_size, root_hash FROM cosigned WHERE origin = ? "
                               "ORDER BY tree_size DESC LIMIT 1", (cp.origin,)).fetchone()
            latest_size, latest_root = (row[0], bytes(row[1])) if row else (0, EMPTY_ROOT)
            now = int(self._clock())

            def refuse(status: int, reason: str, response: Response) -> Response:
                # tlog-witness: a witness MAY log a validly signed checkpoint it refuses.
                conn.execute("INSERT INTO refused (origin, old_size, tree_size, status, reason, received, body) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (cp.origin, request.old_size, cp.size, status, reason, now, body.decode("utf-8")))
                return response

            if request.old_size != latest_size:
                reason = f"old size {request.old_size} is not the size {latest_size} last cosigned"
                return refuse(409, reason, Response(409, f"{latest_size}\n".encode(), SIZE_CONTENT_TYPE))
            try:
                if request.old_size == 0:
                    if request.proof:
                        raise ProofError(f"from old size 0: expected no consistency proof, found {len(request.proof)} hashes")
                else:
                    verify_consistency(latest_size, cp.size, latest_root, cp.root_hash, request.proof)
            except ProofError as e:
                return refuse(422, str(e), _text(422, f"not consistent with the checkpoint of size {latest_size} "
                                                       f"this witness cosigned: {e}"))
            cosignature = sign_cosignature(opened.text, self.signer, now)
            note = opened.text + "\n" + "".join(_signature_line(s) for s in opened.signatures) + cosignature.line
            conn.execute("INSERT OR IGNORE INTO cosigned VALUES (?, ?, ?, ?, ?)",
                         (cp.origin, cp.size, cp.root_hash, now, note))
        return Response(200, cosignature.line.encode("utf-8"))

    # --- reading the state ----------------------------------------------------------------
    def latest_checkpoint(self, origin: str) -> str | None:
        """The latest checkpoint cosigned for ``origin``, with the log's and this witness's signatures."""
        with contextlib.closing(_connect(self.db_path)) as conn:
            row = conn.execute("SELECT note FROM cosigned WHERE origin = ? ORDER BY tree_size DESC, timestamp DESC LIMIT 1",
                               (origin,)).fetchone()
        return row[0] if row else None

    def cosigned(self, origin: str) -> list[tuple[int, int, str]]:
        """Every checkpoint cosigned for ``origin``: (tree size, timestamp, note), oldest first."""
        with contextlib.closing(_connect(self.db_path)) as conn:
            return conn.execute("SELECT tree_size, timestamp, note FROM cosigned WHERE origin = ? "
                                "ORDER BY tree_size, timestamp", (origin,)).fetchall()

    def refused(self, origin: str) -> list[tuple[int, int, int, str, str]]:
        """Every validly signed checkpoint refused for ``origin``: (old size, size, status, reason, body)."""
        with contextlib.closing(_connect(self.db_path)) as conn:
            return conn.execute("SELECT old_size, tree_size, status, reason, body FROM refused WHERE origin = ? "
                                "ORDER BY id", (origin,)).fetchall()

    def checkpoint_response(self, hex_origin_hash: str) -> Response:
        """Handle ``GET /<origin hash>/checkpoint`` (tlog-witness "Monitor Retrieval Mechanism")."""
        origin = self._origins.get(hex_origin_hash)
        note = self.latest_checkpoint(origin) if origin is not None else None
        if note is None:
            return _text(404, "this witness has not cosigned a checkpoint of that log")
        return Response(200, note.encode("utf-8"))


# ---------------------------------------------------------------------------
# The ASGI application.
# ---------------------------------------------------------------------------

_CHECKPOINT_PATH = re.compile(r"/([0-9a-f]{64})/checkpoint")


def make_app(witness: Witness):
    """A plain ASGI 3 application serving ``witness`` (no framework: two routes)."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        headers = []
        checkpoint_path = _CHECKPOINT_PATH.fullmatch(path)
        if path == "/add-checkpoint":
            if method != "POST":
                response, headers = _text(405, "use POST"), [(b"allow", b"POST")]
            else:
                body = await _read_body(receive)
                if body is None:
                    response = _text(413, f"request body larger than {MAX_BODY} bytes")
                else:
                    # SQLite and Ed25519 block: run them off the event loop.
                    response = await asyncio.to_thread(witness.add_checkpoint, body)
        elif checkpoint_path and method in ("GET", "HEAD"):
            response = await asyncio.to_thread(witness.checkpoint_response, checkpoint_path.group(1))
            headers = [(b"cache-control", b"no-store")]
        elif path == "/" and method in ("GET", "HEAD"):
            response = _text(200, f"c2sp.org/tlog-witness\n{witness.vkey}\n" + "".join(f"log {o}\n" for o in sorted(witness.logs)))
        else:
            response = _text(404, "not found: POST /add-checkpoint or GET /<origin hash>/checkpoint")
        await send({"type": "http.response.start", "status": response.status, "headers": [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(response.body)).encode()),
            *headers,
        ]})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else response.body})

    return app


async def _read_body(receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def serve(directory, host: str, port: int, log_vkeys: Sequence[str], *, passphrase: bytes | None = None) -> None:
    """Run the witness in ``directory`` with uvicorn until interrupted."""
    import uvicorn  # Datasette's dependency; only serving needs it

    app = make_app(Witness(directory, log_vkeys, passphrase=passphrase))
    uvicorn.run(app, host=host, port=port, interface="asgi3", log_level="warning", lifespan="on")


# ---------------------------------------------------------------------------
# The log's side: asking witnesses.
# ---------------------------------------------------------------------------


def request_cosignature(url: str, witness: CosignatureVerifier, old_size: int, proof: Sequence[bytes],
                        checkpoint_note: str, timeout: float = 5.0) -> Cosignature:
    """POST the checkpoint to the witness at ``url``; return its verified cosignature.

    Raises WitnessError with ``status`` (and, for 409 Conflict, the witness's
    ``size``) when it refuses or cannot be reached, FormatError or
    SignatureError when its answer is malformed or does not verify.
    """
    endpoint = url.rstrip("/") + "/add-checkpoint"
    request = urllib.request.Request(endpoint, data=format_add_checkpoint(old_size, proof, checkpoint_note),
                                     method="POST", headers={"Content-Type": TEXT_CONTENT_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = response.read(MAX_BODY + 1)
    except urllib.error.HTTPError as e:
        detail = e.read(MAX_BODY)
        if e.code == 409:
            size = _parse_size_untrusted(detail, e.headers.get("Content-Type"))
            raise WitnessError(f"{endpoint}: 409 Conflict: the witness last cosigned size {size}, not {old_size}",
                               status=409, size=size) from e
        first = detail.decode("utf-8", "replace").strip().splitlines()[:1]
        raise WitnessError(f"{endpoint}: {e.code} {e.reason}" + (f": {first[0]}" if first else ""), status=e.code) from e
    except (urllib.error.URLError, OSError) as e:
        raise WitnessError(f"{endpoint}: cannot reach the witness: {getattr(e, 'reason', e)}") from e
    text = _note_text(checkpoint_note)
    # tlog-witness: "The client MUST ignore any cosignatures from unknown keys."
    ours = [Cosignature.from_note_signature_untrusted(s) for s in parse_signature_lines_untrusted(answer)
            if witness.matches(s)]
    if not ours:
        raise WitnessError(f"{endpoint}: answered no cosignature by {witness.name}+{witness.key_id.hex()}", status=200)
    for cosignature in ours:
        verify_cosignature(text, cosignature, witness)
    return max(ours, key=lambda c: c.timestamp)


def _parse_size_untrusted(body: bytes, content_type: str | None) -> int:
    # tlog-witness: the 409 body is the size in decimal and a newline, as text/x.tlog.size.
    text = body.decode("ascii", "replace")
    if (content_type or "").split(";")[0].strip() != SIZE_CONTENT_TYPE or not text.endswith("\n") \
            or not _DECIMAL.fullmatch(text[:-1]):
        raise FormatError(f"409 answer: expected a {SIZE_CONTENT_TYPE} body '<decimal size>\\n', found {text[:40]!r}")
    return int(text[:-1])


@attrs.frozen
class WitnessAnswer:
    """What one witness answered: a cosignature, or why not (``status`` and ``size`` when it said)."""

    url: str
    vkey: str
    cosignature: Cosignature | None = None
    status: int | None = None
    size: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.cosignature is not None


def request_cosignatures(witnesses: Sequence[tuple[str, CosignatureVerifier]], checkpoint_note: str,
                         prove: Callable[[int], Sequence[bytes]], old_sizes: Mapping[str, int] | None = None,
                         timeout: float = 5.0) -> list[WitnessAnswer]:
    """Ask every witness ``(url, verifier)`` to cosign, in parallel; one answer each, in order.

    ``old_sizes`` maps a witness's vkey to the size it last cosigned, if
    known (else 0). ``prove(m)`` is the consistency proof from size ``m`` to
    the checkpoint's size, for 0 < m < size. A witness answering 409 with a
    size the checkpoint extends is asked once more from that size (tlog-witness:
    "a client ... MAY initially make a request with an old size of zero").
    Never raises for a witness's failure: it is in the answer.
    """
    size = parse_checkpoint_untrusted(_note_text(checkpoint_note)).size
    old_sizes = old_sizes or {}

    def proof_from(m: int) -> Sequence[bytes]:
        return prove(m) if 0 < m < size else []

    def ask(url: str, verifier: CosignatureVerifier) -> WitnessAnswer:
        old = old_sizes.get(verifier.vkey, 0)
        for attempt in range(2):
            try:
                cosignature = request_cosignature(url, verifier, old, proof_from(old), checkpoint_note, timeout)
                return WitnessAnswer(url, verifier.vkey, cosignature, 200, size)
            except WitnessError as e:
                if e.status == 409 and attempt == 0 and e.size is not None and e.size <= size:
                    old = e.size
                    continue
                return WitnessAnswer(url, verifier.vkey, None, e.status, e.size, str(e))
            except LedgerError as e:
                return WitnessAnswer(url, verifier.vkey, None, None, None, f"{url}: {e}")
        raise AssertionError("unreachable")

    if not witnesses:
        return []
    with ThreadPoolExecutor(max_workers=len(witnesses)) as pool:
        return list(pool.map(lambda w: ask(*w), witnesses))
