"""Reading and checking a ledger: ``show``, ``history``, ``log``, ``rebuild``, ``export``, ``checkpoint``, ``prove``, ``verify``."""

from __future__ import annotations

import json
import sys

import click

from ledger.cli.group import (cli, db_argument, json_option, open_ledger, progress_bar, read_input, waiting, write_output)


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
    with open_ledger(db) as ledger, progress_bar(ledger.size, "Rebuilding") as update:
        count = ledger.rebuild(progress=update, on_wait=waiting)
    if as_json:
        click.echo(json.dumps({"entries": count}))
    else:
        click.echo(f"Rebuilt the browsing tables from {count} entries")


@cli.command()
@db_argument
@click.option("--format", "fmt", type=click.Choice(["jsonl", "claimreview", "prov", "bundle"]), default="jsonl", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of standard output.")
@click.option("--base-url", help="The published site's URL (claimreview): a review without a URL of its own points to "
                                 "its claim page there, and archived snapshots are linked.")
@click.argument("outdir", required=False, type=click.Path(file_okay=False))
def export(db, fmt, output, base_url, outdir):
    """Export the log (jsonl: line i is exactly the leaf bytes of entry i), ClaimReview JSON-LD,
    PROV-JSON, or a verifiable offline bundle (docs/interop.md).

    \b
    Examples:
      ledger export desk.db --format jsonl -o entries.jsonl
      ledger export desk.db --format claimreview --base-url https://facts.desk.example -o claimreviews.json
      ledger export desk.db --format prov -o provenance.json
      ledger export desk.db --format bundle desk-bundle && ledger verify desk-bundle
    """
    if base_url and fmt != "claimreview":
        raise click.ClickException("--base-url is for --format claimreview")
    if fmt == "bundle":
        _export_bundle(db, outdir or output)
    elif outdir:
        raise click.ClickException(f"--format {fmt} writes one file: use -o FILE, not a folder")
    elif fmt == "jsonl":
        with open_ledger(db) as ledger:
            if not output:
                ledger.export_jsonl(sys.stdout.buffer)
                return
            count = write_output(output, ledger.export_jsonl)
        click.echo(f"Wrote {count} entries to {output}", err=True)
    else:
        _export_document(db, fmt, output, base_url)


def _export_bundle(db, outdir):
    from ledger.interop.bundle import write_bundle

    if not outdir:
        raise click.ClickException("--format bundle needs the folder to write: ledger export DB --format bundle OUTDIR")
    with open_ledger(db) as ledger:
        counts = write_bundle(ledger, outdir)
    click.echo(f"Wrote {counts['entries']} entries, {counts['checkpoints']} checkpoints and {counts['snapshots']} snapshots to "
               f"{outdir}; check it with 'ledger verify {outdir}'", err=True)


def _export_document(db, fmt, output, base_url):
    from ledger.canonical import canonical_bytes
    from ledger.interop.claimreview_export import export_claimreviews
    from ledger.interop.provenance import export_prov

    notes: list[str] = []
    with open_ledger(db) as ledger:
        document = export_claimreviews(ledger, base_url, notes) if fmt == "claimreview" else export_prov(ledger)
    # Not signed, so plain JSON is fine; canonical bytes keep the output stable between runs.
    data = canonical_bytes(document) + b"\n"
    if output:
        write_output(output, lambda f: f.write(data))
    else:
        sys.stdout.buffer.write(data)
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    if output:
        click.echo(f"Wrote {fmt} to {output}", err=True)


# --- the log: checkpoints, proofs, verification ----------------------------------------
@cli.command()
@db_argument
@click.option("--size", type=int, help="The checkpoint signed at this tree size (default: the latest).")
def checkpoint(db, size):
    """Print the latest signed checkpoint (a C2SP signed note), with every witness's cosignature of it.

    Save it: 'ledger verify DB --since saved.checkpoint' later proves the log
    only grew since.

    \b
    Example:
      ledger checkpoint desk.db > saved.checkpoint
    """
    with open_ledger(db) as ledger:
        click.echo(ledger.cosigned_checkpoint_note(size), nl=False)


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
@click.option("--witness", "witness_vkeys", multiple=True,
              help="A witness's verifier key that must have cosigned the latest checkpoint (repeatable).")
@click.option("--quorum", type=click.IntRange(min=0), help="How many of the --witness keys must have cosigned (default: all).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
              help="A policy file naming the log keys, the witnesses and the quorum (docs/witness.md).")
@json_option
def verify(source, checkpoint_file, snapshot_dir, since_file, vkey, proof_file, workers, witness_vkeys, quorum, policy_file,
           as_json):
    """Verify a ledger file, a JSONL export with its checkpoint, a published site, or its tiles, trusting nothing else.

    Exit code 0 only when every check holds. With --proof, SOURCE is a claim ID
    and the bundle is checked offline against --vkey. A URL ending in /tlog/
    (or a folder of tiles) is read as C2SP tlog-tiles, from any static mirror.
    With --witness (or --policy), the latest checkpoint must be cosigned by
    that quorum of witnesses.

    \b
    Examples:
      ledger verify desk.db --vkey "$(cat log.vkey)" --since saved.checkpoint
      ledger verify entries.jsonl --checkpoint checkpoint.txt
      ledger verify http://127.0.0.1:8001/
      ledger verify https://mirror.example/ledger/tlog/ --vkey "..." --witness "$W1" --witness "$W2" --quorum 2
      ledger verify claim:microelectronics-90 --proof claim.tlog-proof --vkey "..."
    """
    from ledger import verify as verifying
    from ledger.errors import FormatError
    from ledger.policy import policy_from_options

    policy = policy_from_options(policy_file, witness_vkeys, quorum)
    if policy is not None:
        if proof_file:
            raise click.ClickException("--witness and --policy check a whole ledger's latest checkpoint, not a --proof bundle")
        vkey = policy.log_vkey(vkey)
    if proof_file:
        if not vkey:
            raise click.ClickException("verifying a proof bundle needs the log's key: --vkey 'name+keyid+key'")
        result = verifying.verify_claim_proof(source, read_input(proof_file), vkey)
        if as_json:
            click.echo(json.dumps({"ok": True, **result.to_json()}, ensure_ascii=False, indent=2))
        else:
            click.echo(f"OK: {result.claim_id} is entry {result.leaf_index} of the log, included in the checkpoint of size {result.tree_size} "
                       f"signed by {vkey.split('+')[0]}; signed by {result.signer} (registered at entry {result.key_leaf_index}).")
        return
    since_note = None
    if since_file:
        try:
            since_note = verifying.saved_checkpoint_from_untrusted(read_input(since_file))
        except FormatError as e:
            raise click.ClickException(f"{since_file} is not a saved checkpoint ({e}); save one with 'ledger checkpoint DB > FILE'") from e
    src = verifying.open_source(source, checkpoint_file, snapshot_dir)
    total = src.size() if sys.stderr.isatty() and not as_json else None
    if total:
        with click.progressbar(length=total, label="Verifying", file=sys.stderr) as bar:
            report = verifying.verify_ledger(src, vkey=vkey, since_note=since_note, progress=bar.update, workers=workers,
                                             policy=policy)
    else:
        report = verifying.verify_ledger(src, vkey=vkey, since_note=since_note, workers=workers, policy=policy)
    click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2) if as_json else report.summary())
    if not report.ok:
        sys.exit(1)


# --- the site ------------------------------------------------------------------------------
