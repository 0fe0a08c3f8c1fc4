"""``ledger key new|vkey|add|revoke`` and ``ledger init``: keys and a new ledger."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ledger.cli.group import (LOG_PASSPHRASES, append_signed, ask_passphrase, cli, db_argument, json_option, load_key, load_log_key,
                              log_key_option, open_ledger, read_input, waiting)


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
    passphrase = None if unencrypted else ask_passphrase(env_names, f"New passphrase for {path}", confirm=True)
    write_key_file(path, signer, passphrase)
    return signer


@key.command("passwd")
@click.argument("keyfile", type=click.Path(dir_okay=False))
def key_passwd(keyfile):
    """Change a key file's passphrase, re-encrypting it with Argon2id (docs/format.md, "Key files").

    Files written before Argon2id (PKCS#8 with PBKDF2) are upgraded; so is an
    unencrypted file. The current passphrase is LEDGER_PASSPHRASE (or
    LEDGER_LOG_PASSPHRASE, or asked); the new one LEDGER_NEW_PASSPHRASE (or
    asked twice). The verifier key stays the same.

    \b
    Example:
      ledger key passwd ana.key
    """
    from ledger.keys import change_passphrase, key_file_is_encrypted

    old = ask_passphrase(("LEDGER_PASSPHRASE", "LEDGER_LOG_PASSPHRASE"), f"Current passphrase for {keyfile}") if key_file_is_encrypted(keyfile) else None
    new = ask_passphrase(("LEDGER_NEW_PASSPHRASE",), f"New passphrase for {keyfile}", confirm=True)
    if not new:
        raise click.ClickException("the new passphrase is empty; a key file is kept encrypted (give a passphrase)")
    signer = change_passphrase(keyfile, old, new)
    click.echo(f"Re-encrypted {keyfile} with Argon2id; its verifier key is unchanged: {signer.vkey}")


@key.command("vkey")
@click.argument("source", type=click.Path(dir_okay=False))
def key_vkey(source):
    """Print the verifier key of a key file, or the log's verifier key of a ledger.

    \b
    Examples:
      ledger key vkey ana.key
      ledger key vkey desk.db
    """
    from ledger.keys import HEADER, key_file_vkey

    if read_input(source).startswith(HEADER.encode()):
        click.echo(key_file_vkey(source) or load_key(source).vkey)  # an encrypted file records it: no passphrase needed
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

    if Path(db).is_symlink():  # dangling or not: SQLite would create the ledger where it points
        raise click.ClickException(f"{db} is a symbolic link; choose a new file name (a ledger is never created through a link)")
    if Path(db).exists():
        raise click.ClickException(f"{db} already exists; choose a new file name")
    if Path(log_key).exists():
        log_signer = load_log_key(log_key)
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
