"""``ledger witness init|vkey|serve`` (running a witness) and ``ledger witness add|remove|list|sync``
(the witnesses of a ledger): docs/witness.md.

A witness (c2sp.org/tlog-witness) is a directory holding its key and its
state; ``serve`` runs it on uvicorn. A ledger's witnesses are records in the
ledger, signed by the log key; after each append the log asks them to cosign
the new checkpoint (``ledger.cli.group.append_signed``), and ``sync`` asks
again.
"""

from __future__ import annotations

import json
import sys

import click

from ledger.cli.group import (append_signed, ask_passphrase, cli, db_argument, describe_cosigning, json_option, open_ledger,
                              waiting)

WITNESS_PASSPHRASES = ("LEDGER_WITNESS_PASSPHRASE", "LEDGER_PASSPHRASE")
directory_argument = click.argument("directory", type=click.Path(file_okay=False))
# --key as the issue and docs/witness.md spell it; --log-key as the key commands do.
log_key_option = click.option("--key", "--log-key", "log_key", envvar="LEDGER_LOG_KEY", type=click.Path(dir_okay=False),
                              help="The log key, which alone may add or remove witnesses (default: LEDGER_LOG_KEY, or "
                                   "the file named at init).")


@cli.group()
def witness():
    """Run a witness for someone's ledger, or manage the witnesses that cosign yours."""


# --- running a witness -----------------------------------------------------------------------------
@witness.command("init")
@directory_argument
@click.option("--name", required=True, help="The witness's name, e.g. witness.example.org/w1 (no spaces or '+').")
@click.option("--unencrypted", is_flag=True, help="Write the key without a passphrase (for a witness that starts unattended).")
@json_option
def witness_init(directory, name, unencrypted, as_json):
    """Make a witness in DIRECTORY (its cosignature/v1 key and its state) and print its verifier key.

    The key is encrypted with LEDGER_WITNESS_PASSPHRASE (or LEDGER_PASSPHRASE,
    or one you type) unless --unencrypted. Give the verifier key to the desks
    whose ledgers you witness: they add it with 'ledger witness add'.

    \b
    Example:
      ledger witness init w1 --name witness.example.org/w1
    """
    from ledger import witness as witnessing
    from ledger.keys import check_key_name

    check_key_name(name)
    passphrase = None if unencrypted else ask_passphrase(WITNESS_PASSPHRASES, f"New passphrase for {directory}/witness.key",
                                                         confirm=True)
    vkey = witnessing.init(directory, name, passphrase)
    click.echo(json.dumps({"directory": directory, "name": name, "vkey": vkey, "encrypted": not unencrypted})
               if as_json else vkey)


@witness.command("vkey")
@directory_argument
def witness_vkey(directory):
    """Print the verifier key of the witness in DIRECTORY.

    \b
    Example:
      ledger witness vkey w1
    """
    from ledger import witness as witnessing

    click.echo(witnessing.read_vkey(directory))


@witness.command("serve")
@directory_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (put TLS in front of it).")
@click.option("-p", "--port", required=True, type=click.IntRange(0, 65535))
@click.option("--log", "logs", multiple=True, required=True,
              help="Verifier key of a log to witness (repeatable); its name is the log's origin.")
def witness_serve(directory, host, port, logs):
    """Serve the witness in DIRECTORY (c2sp.org/tlog-witness: POST /add-checkpoint) until Ctrl-C.

    It cosigns a checkpoint of a log it witnesses only with a consistency
    proof from the last one it cosigned, and keeps every checkpoint it
    cosigned or refused in DIRECTORY/witness.db.

    \b
    Example:
      ledger witness serve w1 --port 8080 --log "$(ledger key vkey desk.db)"
    """
    from ledger import witness as witnessing
    from ledger.keys import key_file_is_encrypted
    from ledger.note import parse_verifier_key_untrusted

    for vkey in logs:
        parse_verifier_key_untrusted(vkey)
    witnessing.read_vkey(directory)  # a folder that holds no witness is one 'Error:' line saying how to make one
    key_file = f"{directory}/{witnessing.KEY_FILE}"
    passphrase = ask_passphrase(WITNESS_PASSPHRASES, f"Passphrase for {key_file}") if key_file_is_encrypted(key_file) else None
    server = witnessing.Witness(directory, logs, passphrase=passphrase)
    click.echo(f"Witness {server.vkey} serving at http://{host}:{port}/ for "
               f"{', '.join(sorted(server.logs))} (Ctrl-C to stop)", err=True)
    witnessing.serve(directory, host, port, logs, passphrase=passphrase)


# --- the witnesses of a ledger -------------------------------------------------------------------
@witness.command("add")
@db_argument
@click.option("--vkey", required=True, help="The witness's verifier key (cosignature/v1), from 'ledger witness vkey'.")
@click.option("--url", required=True, help="Where the witness answers, e.g. https://witness.example.org/w1.")
@click.option("--display-name", help="Who runs the witness, as readers should see it.")
@click.option("--id", "record_id", help="Record ID (default witness:<name>-<key ID>).")
@log_key_option
@json_option
def witness_add(db, vkey, url, display_name, record_id, log_key, as_json):
    """Add a witness to the ledger (a record signed by the log key); from then on it is asked to cosign each checkpoint.

    Adding a witness the ledger names already (removed, or at another URL)
    makes it active at URL again.

    \b
    Example:
      ledger witness add desk.db --vkey "$(ledger witness vkey w1)" --url https://witness.example.org/w1 --key log.key
    """
    append_signed(db, None, log_key, as_json, lambda ledger, signer, log_signer: ledger.add_witness(
        vkey, url, signer, log_signer, display_name=display_name, record_id=record_id, on_wait=waiting), log_key_signs=True)


@witness.command("remove")
@db_argument
@click.argument("witness_key", metavar="WITNESS")
@click.option("--reason", required=True, help="Public reason, e.g. 'the operator retired it'.")
@log_key_option
@json_option
def witness_remove(db, witness_key, reason, log_key, as_json):
    """Remove a witness (WITNESS is its name+keyid, verifier key or record ID); the log stops asking it.

    The cosignatures it made stay valid.

    \b
    Example:
      ledger witness remove desk.db witness.example.org/w1+480e2ca5 --reason "the operator retired it" --key log.key
    """
    append_signed(db, None, log_key, as_json, lambda ledger, signer, log_signer: ledger.remove_witness(
        witness_key, reason, signer, log_signer, on_wait=waiting), log_key_signs=True)


@witness.command("list")
@db_argument
@json_option
def witness_list(db, as_json):
    """List the ledger's witnesses and the latest checkpoint each cosigned.

    \b
    Example:
      ledger witness list desk.db
    """
    with open_ledger(db) as ledger:
        latest = {}
        for size, cosignature in ledger.cosignatures():
            latest[f"{cosignature.name}+{bytes(cosignature.key_id).hex()}"] = (size, cosignature.timestamp)
        witnesses = ledger.witnesses()
    rows = [{"id": w.record_id, "witness": w.witness, "vkey": w.vkey, "url": w.url, "display_name": w.display_name,
             "status": w.status, "cosigned_size": latest.get(w.witness, (None, None))[0],
             "cosigned_at": latest.get(w.witness, (None, None))[1]} for w in witnesses]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("No witnesses; add one with 'ledger witness add'.")
    for row in rows:
        cosigned = f"last cosigned size {row['cosigned_size']} at {_utc(row['cosigned_at'])}" if row["cosigned_size"] \
            else "has cosigned nothing yet"
        name = f" ({row['display_name']})" if row["display_name"] else ""
        click.echo(f"{row['status']:<8} {row['witness']}{name} {row['url']}: {cosigned}")


def _utc(timestamp: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@witness.command("sync")
@db_argument
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 300), help="Seconds to wait for each witness.")
@json_option
def witness_sync(db, timeout, as_json):
    """Ask every active witness to cosign the latest checkpoint again, and store what they answer.

    Run it after an append that could not reach a witness, and from cron so
    that the checkpoint's cosignatures stay fresh (readers can refuse a
    checkpoint whose freshest cosignature is too old: 'ledger monitor --max-age').
    Exit code 1 unless every active witness cosigned.

    \b
    Example:
      ledger witness sync desk.db
    """
    with open_ledger(db) as ledger:
        answers = ledger.cosign(timeout, on_wait=waiting)
        size = ledger.latest_checkpoint()[0]
    if as_json:
        click.echo(json.dumps({"tree_size": size, "witnesses": [_answer_json(a) for a in answers]}, indent=2))
    else:
        for answer in answers:
            click.echo(f"{'cosigned' if answer.ok else 'failed':<9}{_answer_line(answer)}")
        if not answers:
            click.echo("No active witnesses; add one with 'ledger witness add'.")
    failed = [a for a in answers if not a.ok]
    if failed:
        click.echo(f"Error: {describe_cosigning(answers, db)}", err=True)
        sys.exit(1)


def _answer_line(answer) -> str:
    name = "+".join(answer.vkey.split("+", 2)[:2])
    if answer.ok:
        return f"{name}: size {answer.size} at {_utc(answer.cosignature.timestamp)}"
    return f"{name}: {answer.error}"


def _answer_json(answer) -> dict:
    return {"vkey": answer.vkey, "url": answer.url, "ok": answer.ok, "status": answer.status, "size": answer.size,
            "timestamp": answer.cosignature.timestamp if answer.ok else None, "error": answer.error}
