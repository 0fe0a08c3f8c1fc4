"""The ``ledger`` command line: a thin layer over the library.

Each command parses its options, calls one ``Ledger`` verb (or ``verify``,
``site``), and prints the result. Every library error becomes one line,
``Error: ...``, with exit code 1; nothing is written when a command fails.
Only passphrases are asked for here. Datasette is imported only by
``serve``, ``publish`` and ``demo`` so the editing commands start fast.

This module holds the ``ledger`` group, ``main``, the helpers every command
shares, and the commands for keys, reading, the log and the site; the
commands that add and change records are in ``ledger.cli_records``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import click

from ledger.errors import LedgerError

LOG_PASSPHRASES = ("LEDGER_LOG_PASSPHRASE", "LEDGER_PASSPHRASE")


# --- helpers shared by the commands (here and in ledger.cli_records) ---------------------
def _passphrase(env_names, prompt, *, confirm=False):
    for name in env_names:
        if os.environ.get(name):
            return os.environ[name].encode()
    if not sys.stdin.isatty():
        raise click.ClickException(f"{prompt} needed: set {env_names[0]} or run in a terminal to be asked")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True).encode()


def _load_key(path, env_names=("LEDGER_PASSPHRASE",)):
    from ledger.keys import key_file_is_encrypted, read_key_file

    if path is None:
        raise click.ClickException("no key given: pass --key FILE or set LEDGER_KEY")
    passphrase = _passphrase(env_names, f"Passphrase for {path}") if key_file_is_encrypted(path) else None
    return read_key_file(path, passphrase)


def _load_log_key(path):
    return _load_key(path, LOG_PASSPHRASES)


def open_ledger(db):
    """``Ledger.open(db)``, imported when a command first needs it."""
    from ledger.api import Ledger

    return Ledger.open(db)


def _read_file(path) -> bytes:
    from ledger.editing import read_file

    return read_file(path)


def waiting():
    """Tell the editor why an append has not started yet (``on_wait`` of the appending verbs)."""
    click.echo("Another editor is appending to this ledger; waiting for them to finish...", err=True)


@contextlib.contextmanager
def _progress(total, label):
    """A progress bar's update function, on stderr, for bulk work in a terminal; None otherwise."""
    if total < 200 or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def append_signed(db, key, log_key, as_json, verb, *, log_key_signs=False, report=True):
    """Open ``db``, load the signers and append with ``verb(ledger, signer, log_signer)``; print what it appended.

    The records are signed by --key, or for the key commands by the log key
    (--log-key, or the file named at init); ``Ledger.log_signer_for`` picks
    who signs the checkpoint.
    """
    with open_ledger(db) as ledger:
        if log_key_signs:
            signer, log_key = _load_log_key(ledger.log_key_file(log_key)), None
        else:
            signer = _load_key(key)
        entries = verb(ledger, signer, ledger.log_signer_for(signer, _load_log_key, log_key))
        if report:
            _report(entries, ledger, as_json)


def records_appender(records, snapshots=(), *, progress=True):
    """The verb of ``append_signed`` that appends ``records`` as they are, with a progress bar for many."""
    def append_records(ledger, signer, log_signer):
        with _progress(len(records) if progress else 0, "Signing and appending") as update:
            return ledger.append(records, signer, log_signer, snapshots=snapshots, progress=update, on_wait=waiting)
    return append_records


def _report(entries, ledger, as_json):
    size = ledger.size
    if as_json:
        click.echo(json.dumps({
            "entries": [{"index": e.index, "id": e.record.id, "kind": e.record.kind, "version": e.record.version,
                         "entry_hash": e.hash_hex, "signer": e.signer} for e in entries],
            "tree_size": size,
        }, ensure_ascii=False, indent=2))
        return
    for e in entries[:20]:
        click.echo(f"Appended {e.record.id} v{e.record.version} as entry {e.index} ({e.hash_hex[:16]}…)")
    if len(entries) > 20:
        click.echo(f"... and {len(entries) - 20} more")
    click.echo(f"Signed checkpoint: tree size {size}")


def _write_output(output, write):
    """Write a new file through ``write(file)`` (a ``.partial`` file renamed when complete); returns what it returns."""
    if Path(output).exists():
        raise click.ClickException(f"{output} already exists")
    partial = Path(output).with_name(Path(output).name + ".partial")
    try:
        with open(partial, "wb") as f:
            result = write(f)
        partial.rename(output)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {output}: {e.strerror}") from e
    return result


db_argument = click.argument("db", type=click.Path(dir_okay=False))
key_option = click.option("--key", "key", envvar="LEDGER_KEY", type=click.Path(dir_okay=False),
                          help="Your private key file (or set LEDGER_KEY).")
log_key_option = click.option("--log-key", envvar="LEDGER_LOG_KEY", type=click.Path(dir_okay=False),
                              help="The log key that signs checkpoints (default: LEDGER_LOG_KEY, or the file named at init).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fact-ledger")
def cli():
    """fact-ledger: a signed, versioned, tamper-evident ledger of factual claims.

    \b
    Example, from nothing to a first claim:
      ledger key new log.key --name desk.example/ledger
      ledger init desk.db --log-key log.key
      ledger key new ana.key --name ana@desk.example
      ledger key add desk.db "$(ledger key vkey ana.key)" --display-name "Ana Popescu"
      ledger source add desk.db --key ana.key --id source:article --type article --title "..." --snapshot article.txt
      ledger claim add desk.db --key ana.key --source source:article --quote "..." --language ro
    """


# --- keys -------------------------------------------------------------------------------
@cli.group()
def key():
    """Make, show, register and revoke Ed25519 keys."""


@key.command("new")
@click.argument("keyfile", type=click.Path(dir_okay=False))
@click.option("--name", required=True, help="Key name, e.g. ana@desk.example (no spaces or '+').")
@click.option("--unencrypted", is_flag=True, help="Write the private key without a passphrase (not recommended).")
@json_option
def key_new(keyfile, name, unencrypted, as_json):
    """Make a new key file (mode 0600, encrypted with a passphrase) and print its verifier key.

    \b
    Example:
      LEDGER_PASSPHRASE=... ledger key new ana.key --name ana@desk.example
    """
    signer = _new_key_file(keyfile, name, unencrypted, ("LEDGER_PASSPHRASE",))
    if as_json:
        click.echo(json.dumps({"file": keyfile, "name": name, "vkey": signer.vkey, "encrypted": not unencrypted}))
    else:
        click.echo(signer.vkey)


def _new_key_file(path, name, unencrypted, env_names):
    """A new signer named ``name`` (a valid key-file name), written to ``path`` under a passphrase asked for."""
    from ledger.keys import check_key_name, write_key_file
    from ledger.note import Signer

    signer = Signer.generate(check_key_name(name))
    passphrase = None if unencrypted else _passphrase(env_names, f"New passphrase for {path}", confirm=True)
    write_key_file(path, signer, passphrase)
    return signer


@key.command("vkey")
@click.argument("source", type=click.Path(dir_okay=False))
def key_vkey(source):
    """Print the verifier key of a key file, or the log's verifier key of a ledger.

    \b
    Examples:
      ledger key vkey ana.key
      ledger key vkey desk.db
    """
    from ledger.keys import HEADER

    if _read_file(source).startswith(HEADER.encode()):
        click.echo(_load_key(source).vkey)
        return
    with open_ledger(source) as ledger:
        click.echo(ledger.log_vkey)


@key.command("add")
@db_argument
@click.argument("vkey")
@click.option("--display-name", required=True, help="The editor's name as readers should see it.")
@click.option("--id", "record_id", help="Record ID (default key:<name>).")
@log_key_option
@json_option
def key_add(db, vkey, display_name, record_id, log_key, as_json):
    """Register an editor's verifier key (signed by the log key).

    \b
    Example:
      ledger key add desk.db "$(ledger key vkey ana.key)" --display-name "Ana Popescu"
    """
    append_signed(db, None, log_key, as_json, lambda ledger, signer, log_signer: ledger.register_key(
        vkey, display_name, signer, log_signer, record_id=record_id, on_wait=waiting), log_key_signs=True)


@key.command("revoke")
@db_argument
@click.argument("signer")
@click.option("--reason", required=True, help="Public reason, e.g. 'laptop stolen 2024-05-01'.")
@log_key_option
@json_option
def key_revoke(db, signer, reason, log_key, as_json):
    """Revoke an editor key (SIGNER is name+keyid or the full verifier key).

    Records it signed before stay valid; anything signed by it after this
    entry is refused.

    \b
    Example:
      ledger key revoke desk.db ana@desk.example+1a2b3c4d --reason "key lost"
    """
    append_signed(db, None, log_key, as_json, lambda ledger, log_key_signer, log_signer: ledger.revoke_key(
        signer, reason, log_key_signer, log_signer, on_wait=waiting), log_key_signs=True)


# --- creating a ledger ----------------------------------------------------------------
@cli.command()
@db_argument
@click.option("--log-key", type=click.Path(dir_okay=False), required=True,
              help="The log key file; made here (named after --origin) if it does not exist.")
@click.option("--origin", help="The log's origin, e.g. desk.example/ledger (needed when the log key is made here).")
@click.option("--display-name", help="Publisher name shown for the log key.")
@click.option("--unencrypted", is_flag=True, help="Write a new log key without a passphrase (not recommended).")
@json_option
def init(db, log_key, origin, display_name, unencrypted, as_json):
    """Create a new ledger; its first entry registers the log key.

    The log key's name is the log's origin, the first line of every checkpoint.

    \b
    Example:
      ledger init desk.db --log-key log.key --origin desk.example/ledger
    """
    from ledger.api import Ledger

    if Path(db).exists():
        raise click.ClickException(f"{db} already exists; choose a new file name")
    if Path(log_key).exists():
        log_signer = _load_log_key(log_key)
        if origin and origin != log_signer.name:
            raise click.ClickException(f"--origin {origin} differs from the log key's name {log_signer.name}; the origin is the key's name")
    elif not origin:
        raise click.ClickException("making a new log key needs --origin, e.g. --origin desk.example/ledger")
    else:
        log_signer = _new_key_file(log_key, origin, unencrypted, LOG_PASSPHRASES)
    with Ledger.create(db, log_signer, display_name=display_name, log_key_file=log_key) as ledger:
        if as_json:
            click.echo(json.dumps({"db": db, "origin": ledger.origin, "log_vkey": ledger.log_vkey}, ensure_ascii=False))
            return
        click.echo(f"Created {db} (origin {ledger.origin})")
        click.echo(f"Log verifier key: {ledger.log_vkey}")


# --- reading ------------------------------------------------------------------------------------
def _entry_json(entry):
    return {"index": entry.index, "entry_hash": entry.hash_hex, "signer": entry.signer, "record": entry.record.to_dict()}


@cli.command()
@db_argument
@click.argument("record_id")
@json_option
def show(db, record_id, as_json):
    """Show the current version of a record.

    \b
    Example:
      ledger show desk.db claim:microelectronics-90
    """
    with open_ledger(db) as ledger:
        entry, status = ledger.current(record_id), ledger.status(record_id)
    if as_json:
        click.echo(json.dumps({**_entry_json(entry), "status": status}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{record_id}  version {entry.record.version}  status {status}")
    click.echo(f"entry {entry.index}  hash {entry.hash_hex}  signed by {entry.signer}")
    click.echo(json.dumps(entry.record.to_dict(), ensure_ascii=False, indent=2))


@cli.command()
@db_argument
@click.argument("record_id")
@json_option
def history(db, record_id, as_json):
    """Show every version of a record, what changed and why, and its corrections and retractions.

    \b
    Example:
      ledger history desk.db claim:microelectronics-90
    """
    from ledger.diff import diff_records

    with open_ledger(db) as ledger:
        versions, notices = ledger.history(record_id), ledger.notices_for(record_id)
    if as_json:
        click.echo(json.dumps({"versions": [_entry_json(e) for e in versions], "notices": [_entry_json(e) for e in notices]},
                              ensure_ascii=False, indent=2))
        return
    previous = None
    for entry in versions:
        r = entry.record
        click.echo(f"v{r.version}  entry {entry.index}  {r.created}  signed by {entry.signer}  hash {entry.hash_hex[:16]}…")
        if r.note:
            click.echo(f"    why: {r.note}")
        for change in diff_records(previous, r.to_dict()):
            click.echo(f"    {change.describe()}")
        previous = r.to_dict()
    for entry in notices:
        r = entry.record
        click.echo(f"{r.kind.upper()}  entry {entry.index}  {r.created}  signed by {entry.signer}: {r.reason}")


@cli.command("log")
@db_argument
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
def log_command(db, start, limit, as_json):
    """List log entries in order.

    \b
    Example:
      ledger log desk.db --start 0 --limit 20
    """
    with open_ledger(db) as ledger:
        entries, size = list(ledger.entries(start, start + limit)), ledger.size
    if as_json:
        click.echo(json.dumps([{"index": e.index, "entry_hash": e.hash_hex, "kind": e.record.kind, "id": e.record.id,
                                "version": e.record.version, "signer": e.signer} for e in entries], indent=2))
        return
    for e in entries:
        click.echo(f"{e.index:>7}  {e.hash_hex[:16]}…  {e.record.kind:<10}  {e.record.id} v{e.record.version}  {e.signer}")
    click.echo(f"({size} entries in all)")


@cli.command()
@db_argument
@json_option
def rebuild(db, as_json):
    """Recompute the browsing tables from the log entries.

    \b
    Example:
      ledger rebuild desk.db
    """
    with open_ledger(db) as ledger, _progress(ledger.size, "Rebuilding") as update:
        count = ledger.rebuild(progress=update, on_wait=waiting)
    if as_json:
        click.echo(json.dumps({"entries": count}))
    else:
        click.echo(f"Rebuilt the browsing tables from {count} entries")


@cli.command()
@db_argument
@click.option("--format", "fmt", type=click.Choice(["jsonl", "claimreview", "prov", "bundle"]), default="jsonl", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of standard output.")
@click.argument("outdir", required=False, type=click.Path(file_okay=False))
def export(db, fmt, output, outdir):
    """Export the log (jsonl: line i is exactly the leaf bytes of entry i), ClaimReview JSON-LD,
    PROV-JSON, or a verifiable offline bundle (docs/interop.md).

    \b
    Examples:
      ledger export desk.db --format jsonl -o entries.jsonl
      ledger export desk.db --format claimreview -o claimreviews.json
      ledger export desk.db --format prov -o provenance.json
      ledger export desk.db --format bundle desk-bundle && ledger verify desk-bundle
    """
    if fmt == "bundle":
        _export_bundle(db, outdir or output)
    elif outdir:
        raise click.ClickException(f"--format {fmt} writes one file: use -o FILE, not a folder")
    elif fmt == "jsonl":
        with open_ledger(db) as ledger:
            if not output:
                ledger.export_jsonl(sys.stdout.buffer)
                return
            count = _write_output(output, ledger.export_jsonl)
        click.echo(f"Wrote {count} entries to {output}", err=True)
    else:
        _export_document(db, fmt, output)


def _export_bundle(db, outdir):
    from ledger.interop.bundle import write_bundle

    if not outdir:
        raise click.ClickException("--format bundle needs the folder to write: ledger export DB --format bundle OUTDIR")
    with open_ledger(db) as ledger:
        counts = write_bundle(ledger, outdir)
    click.echo(f"Wrote {counts['entries']} entries, {counts['checkpoints']} checkpoints and {counts['snapshots']} snapshots to "
               f"{outdir}; check it with 'ledger verify {outdir}'", err=True)


def _export_document(db, fmt, output):
    from ledger.canonical import canonical_bytes
    from ledger.interop.claimreview import export_claimreviews
    from ledger.interop.provenance import export_prov

    with open_ledger(db) as ledger:
        document = export_claimreviews(ledger) if fmt == "claimreview" else export_prov(ledger)
    # Not signed, so plain JSON is fine; canonical bytes keep the output stable between runs.
    data = canonical_bytes(document) + b"\n"
    if not output:
        sys.stdout.buffer.write(data)
        return
    _write_output(output, lambda f: f.write(data))
    click.echo(f"Wrote {fmt} to {output}", err=True)


# --- the log: checkpoints, proofs, verification ----------------------------------------
@cli.command()
@db_argument
@click.option("--size", type=int, help="The checkpoint signed at this tree size (default: the latest).")
def checkpoint(db, size):
    """Print the latest signed checkpoint (a C2SP signed note).

    Save it: 'ledger verify DB --since saved.checkpoint' later proves the log
    only grew since.

    \b
    Example:
      ledger checkpoint desk.db > saved.checkpoint
    """
    with open_ledger(db) as ledger:
        click.echo(ledger.latest_checkpoint_note() if size is None else ledger.checkpoint_note(size), nl=False)


@cli.command()
@db_argument
@click.argument("index", type=int, required=False)
@click.option("--size", type=int, help="Tree size to prove against (default: the latest checkpoint).")
@click.option("--consistency", "old_size", type=int, help="Prove the tree of this older size is a prefix of the current one.")
@click.option("--format", "fmt", type=click.Choice(["json", "tlog-proof"]), default="json", show_default=True)
def prove(db, index, size, old_size, fmt):
    """Print an inclusion proof for entry INDEX, or a consistency proof with --consistency OLD.

    JSON hashes are base64, in RFC 6962 audit-path order. --format tlog-proof
    prints the C2SP tlog-proof@v1 bundle with the signed checkpoint; its
    'extra' line carries the entry and its signer's key registration, so
    'ledger verify CLAIM_ID --proof FILE' can check it offline.

    \b
    Examples:
      ledger prove desk.db 7
      ledger prove desk.db 7 --format tlog-proof > claim.tlog-proof
      ledger prove desk.db --consistency 5
    """
    if old_size is not None and index is not None:
        raise click.ClickException("give either INDEX or --consistency OLD, not both")
    if old_size is None and index is None:
        raise click.ClickException("give the entry INDEX to prove, or --consistency OLD")
    with open_ledger(db) as ledger:
        if old_size is not None:
            click.echo(json.dumps(ledger.prove_consistency(old_size, size), indent=2))
        elif fmt == "tlog-proof":
            click.echo(ledger.tlog_proof(index, size), nl=False)
        else:
            click.echo(json.dumps(ledger.prove_inclusion(index, size), indent=2))


@cli.command()
@click.argument("source")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False), help="With a JSONL export: its signed checkpoint file.")
@click.option("--snapshots", "snapshot_dir", type=click.Path(file_okay=False), help="With a JSONL export: a folder of snapshots named by SHA-256.")
@click.option("--since", "since_file", type=click.Path(dir_okay=False), help="A checkpoint saved earlier: prove the log only grew since.")
@click.option("--vkey", help="Pin the log's verifier key (recommended).")
@click.option("--proof", "proof_file", type=click.Path(dir_okay=False), help="Verify one claim (SOURCE is its ID) from a tlog-proof bundle.")
@click.option("--workers", type=int, help="Processes for signature checks (default: all cores).")
@json_option
def verify(source, checkpoint_file, snapshot_dir, since_file, vkey, proof_file, workers, as_json):
    """Verify a ledger file, a JSONL export with its checkpoint, or a published site, trusting nothing else.

    Exit code 0 only when every check holds. With --proof, SOURCE is a claim ID
    and the bundle is checked offline against --vkey.

    \b
    Examples:
      ledger verify desk.db --vkey "$(cat log.vkey)" --since saved.checkpoint
      ledger verify entries.jsonl --checkpoint checkpoint.txt
      ledger verify http://127.0.0.1:8001/
      ledger verify claim:microelectronics-90 --proof claim.tlog-proof --vkey "..."
    """
    from ledger import verify as verifying
    from ledger.errors import FormatError

    if proof_file:
        if not vkey:
            raise click.ClickException("verifying a proof bundle needs the log's key: --vkey 'name+keyid+key'")
        result = verifying.verify_claim_proof(source, _read_file(proof_file), vkey)
        if as_json:
            click.echo(json.dumps({"ok": True, **result.to_json()}, ensure_ascii=False, indent=2))
        else:
            click.echo(f"OK: {result.claim_id} is entry {result.leaf_index} of the log, included in the checkpoint of size {result.tree_size} "
                       f"signed by {vkey.split('+')[0]}; signed by {result.signer} (registered at entry {result.key_leaf_index}).")
        return
    since_note = None
    if since_file:
        try:
            since_note = verifying.saved_checkpoint_from_untrusted(_read_file(since_file))
        except FormatError as e:
            raise click.ClickException(f"{since_file} is not a saved checkpoint ({e}); save one with 'ledger checkpoint DB > FILE'") from e
    src = verifying.open_source(source, checkpoint_file, snapshot_dir)
    total = src.size() if sys.stderr.isatty() and not as_json else None
    if total:
        with click.progressbar(length=total, label="Verifying", file=sys.stderr) as bar:
            report = verifying.verify_ledger(src, vkey=vkey, since_note=since_note, progress=bar.update, workers=workers)
    else:
        report = verifying.verify_ledger(src, vkey=vkey, since_note=since_note, workers=workers)
    click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2) if as_json else report.summary())
    if not report.ok:
        sys.exit(1)


# --- the site ------------------------------------------------------------------------------
@cli.command()
@db_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
def serve(db, host, port):
    """Serve the ledger read-only with Datasette (opened immutable, nothing can write).

    \b
    Example:
      ledger serve desk.db --port 8001
    """
    from ledger import site
    from ledger.api import Ledger

    Ledger.open(db, immutable=True).close()  # a bad file is one 'Error:' line, before the banner
    click.echo(f"Serving {db} read-only at http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    site.serve(db, host=host, port=port)


@cli.command()
@db_argument
@click.argument("outdir", type=click.Path(file_okay=False))
def publish(db, outdir):
    """Write a self-contained bundle to deploy the site (datasette publish / package).

    \b
    Example:
      ledger publish desk.db site-bundle && cat site-bundle/README.md
    """
    from ledger import site

    out = site.publish_bundle(db, outdir)
    click.echo(f"Wrote the publishable bundle to {out}; see {out}/README.md to deploy it")


@cli.command()
@click.option("--db", "db_path", default="demo/demo.db", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the demo ledger (replaced if it exists).")
@click.option("-p", "--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-serve", is_flag=True, help="Only build the ledger.")
def demo(db_path, port, no_serve):
    """Build the demo ledger from the seed article (a Romanian translation of an AP report) and serve it.

    The demo keys are written unencrypted beside the database: they are
    derived from published seeds and protect nothing.

    \b
    Example:
      ledger demo --port 8001
    """
    from ledger.demo import write_demo

    built = write_demo(db_path)
    click.echo(f"Built {built.path}: {built.entries} entries, {built.claims} claims. Log verifier key: {built.log_vkey}", err=True)
    if not no_serve:
        from ledger import site

        click.echo(f"Serving the demo read-only at http://127.0.0.1:{port}/ (Ctrl-C to stop)", err=True)
        site.serve(built.path, host="127.0.0.1", port=port)


# The commands that add and change records live in ledger/cli_records.py,
# which uses the helpers above; importing it registers them.
from ledger import cli_records  # noqa: E402,F401  (after the helpers it imports)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main():
    """Run the CLI: every error is one line 'Error: ...' and exit code 1."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Error: aborted", err=True)
        sys.exit(1)
    except click.exceptions.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        click.echo(f"Error: {e.format_message()}{hint}", err=True)
        sys.exit(1)
    except click.ClickException as e:
        click.echo(f"Error: {_one_line(e.format_message())}", err=True)
        sys.exit(1)
    except LedgerError as e:
        click.echo(f"Error: {_one_line(str(e))}", err=True)
        sys.exit(1)
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            sys.exit(0)
        click.echo(f"Error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Error: interrupted; nothing was appended", err=True)
        sys.exit(130)
