"""The ``ledger`` group, ``main`` and what every command shares: options, key loading, printing.

Each command parses its options, calls one ``Ledger`` verb (or ``verify``,
``site``), and prints the result. Every library error becomes one line,
``Error: ...``, with exit code 1; nothing is written when a command fails.
Only passphrases are asked for here. Datasette is imported only by
``serve``, ``publish`` and ``demo`` so the editing commands start fast.

"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
from pathlib import Path

import click

from ledger.errors import LedgerError

LOG_PASSPHRASES = ("LEDGER_LOG_PASSPHRASE", "LEDGER_PASSPHRASE")


# --- helpers shared by the commands --------------------------------------------------------
def ask_passphrase(env_names, prompt, *, confirm=False):
    for name in env_names:
        if os.environ.get(name):
            return os.environ[name].encode()
    if not sys.stdin.isatty():
        raise click.ClickException(f"{prompt} needed: set {env_names[0]} or run in a terminal to be asked")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True).encode()


def load_key(path, env_names=("LEDGER_PASSPHRASE",)):
    return start_loading_key(path, env_names)()


def start_loading_key(path, env_names=("LEDGER_PASSPHRASE",)):
    """``load_key`` begun: the passphrase is asked now and the key derived in a thread; call the result for the Signer.

    Argon2id takes tens of milliseconds and releases the GIL, so an editor's
    key is derived while the ledger's modules are imported, and the log key
    beside it (``append_signed``).
    """
    import threading

    from ledger.keys import key_file_is_encrypted, read_key_file

    if path is None:
        raise click.ClickException("no key given: pass --key FILE or set LEDGER_KEY")
    encrypted = key_file_is_encrypted(path)  # first: a file that is not a key file is one error line, no warning
    warn_about_key_file(path)
    passphrase = ask_passphrase(env_names, f"Passphrase for {path}") if encrypted else None
    outcome = {}

    def derive():
        try:
            outcome["signer"] = read_key_file(path, passphrase)
        except Exception as e:  # handed to the thread that waits, and raised there
            outcome["error"] = e

    thread = threading.Thread(target=derive, daemon=True)
    thread.start()

    def signer():
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["signer"]
    return signer


def warn_about_key_file(path) -> None:
    """One line on stderr for a key file others may read, and one for a file encrypted the old, fast-to-guess way."""
    from ledger.keys import key_file_exposure, key_file_uses_old_encryption

    exposure = key_file_exposure(path)
    if exposure:
        click.echo(f"Warning: {exposure}", err=True)
    if key_file_uses_old_encryption(path):
        click.echo(f"Warning: {path} is encrypted the old way (PBKDF2, 2,048 iterations: fast to guess); "
                   f"re-encrypt it with 'ledger key passwd {path}'", err=True)


def load_log_key(path):
    return load_key(path, LOG_PASSPHRASES)


def open_ledger(db):
    """``Ledger.open(db)``, imported when a command first needs it."""
    from ledger.api import Ledger

    return Ledger.open(db)


def read_input(path) -> bytes:
    from ledger.editing import read_file

    return read_file(path)


def waiting():
    """Tell the editor why an append has not started yet (``on_wait`` of the appending verbs)."""
    click.echo("Another editor is appending to this ledger; waiting for them to finish...", err=True)


@contextlib.contextmanager
def progress_bar(total, label):
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
    editor = None if log_key_signs else start_loading_key(key)
    with open_ledger(db) as ledger:
        if log_key_signs:
            signer = load_log_key(ledger.log_key_file(log_key))
            log_signer = ledger.log_signer_for(signer, load_log_key, None)
        else:
            signer, log_signer = _editor_and_log_signers(ledger, key, editor, log_key)
        entries = verb(ledger, signer, log_signer)
        answers = cosign_appended(ledger, db)
        if report:
            _report(entries, ledger, as_json, answers)


def _editor_and_log_signers(ledger, key, editor, log_key):
    """The editor's signer (being derived by ``editor``) and the checkpoint's (``Ledger.log_signer_for``).

    When the editor's key file says, without its passphrase, that it is not
    the log key, and the log key file says which key it holds, the log key is
    derived beside the append: the checkpoint is the last thing a batch signs.
    """
    from ledger.keys import key_file_vkey

    vkey = key_file_vkey(key)
    log = None
    if vkey and vkey != ledger.log_vkey:
        log_path = ledger.log_key_file(log_key)
        log_vkey = key_file_vkey(log_path)
        log = start_loading_key(log_path, LOG_PASSPHRASES)
        log = PendingSigner(log_vkey, log) if log_vkey else log()
    signer = editor()
    return signer, ledger.log_signer_for(signer, (lambda path: log) if log else load_log_key, log_key)


class PendingSigner:
    """A key still being derived (``start_loading_key``): its name, key ID and verifier key, read from its
    key file's header, now; its signatures once derived, which raises the derivation's error if it failed.

    What ``Ledger.append`` reads of the signer of a batch's checkpoint.
    """

    def __init__(self, vkey: str, signer):
        from ledger.note import parse_verifier_key_untrusted

        self.verifier = parse_verifier_key_untrusted(vkey)
        self.name, self.key_id, self.vkey = self.verifier.name, self.verifier.key_id, vkey
        self._signer = signer

    @property
    def public_key(self) -> bytes:
        return self.verifier.public_key

    def sign(self, message: bytes) -> bytes:
        return self._signer().sign(message)


def records_appender(records, snapshots=(), *, progress=True):
    """The verb of ``append_signed`` that appends ``records`` as they are, with a progress bar for many."""
    def append_records(ledger, signer, log_signer):
        with progress_bar(len(records) if progress else 0, "Signing and appending") as update:
            return ledger.append(records, signer, log_signer, snapshots=snapshots, progress=update, on_wait=waiting)
    return append_records


def _report(entries, ledger, as_json, answers=()):
    size = ledger.size
    if as_json:
        click.echo(json.dumps({
            "entries": [{"index": e.index, "id": e.record.id, "kind": e.record.kind, "version": e.record.version,
                         "entry_hash": e.hash_hex, "signer": e.signer} for e in entries],
            "tree_size": size,
            "witnesses": [{"vkey": a.vkey, "cosigned": a.ok, "error": a.error} for a in answers],
        }, ensure_ascii=False, indent=2))
        return
    for e in entries[:20]:
        click.echo(f"Appended {e.record.id} v{e.record.version} as entry {e.index} ({e.hash_hex[:16]}…)")
    if len(entries) > 20:
        click.echo(f"... and {len(entries) - 20} more")
    click.echo(f"Signed checkpoint: tree size {size}")
    if answers:
        # The append is done either way; a witness that did not cosign is a warning, on stderr.
        click.echo(describe_cosigning(answers, ledger.path), err=not all(a.ok for a in answers))


# --- witnesses (docs/witness.md) ---------------------------------------------------------------
def cosign_appended(ledger, db):
    """Ask the ledger's active witnesses to cosign the checkpoint just signed (``Ledger.cosign``).

    Never fails the append, which is already done: a cosignature that
    cannot be stored is reported in the answers.
    """
    try:
        return ledger.cosign()
    except LedgerError as e:
        click.echo(f"The append is done, but its cosignatures could not be stored ({_one_line(str(e))}); "
                   f"run 'ledger witness sync {db}'", err=True)
        return []


def describe_cosigning(answers, db) -> str:
    """One line: how many witnesses cosigned, and why the others did not."""
    cosigned = sum(a.ok for a in answers)
    line = f"Cosigned by {cosigned} of {len(answers)} witness{'es' if len(answers) != 1 else ''}"
    failed = [a for a in answers if not a.ok]
    if not failed:
        return line + "."
    reasons = "; ".join(f"{'+'.join(a.vkey.split('+', 2)[:2])}: {_why(a)}" for a in failed)
    return f"{line} ({reasons}); run 'ledger witness sync {db}' later"


def _why(answer) -> str:
    """Why a witness did not cosign, in words (tlog-witness status codes)."""
    if answer.status == 409:
        return f"it has cosigned size {answer.size} of this log, which this checkpoint does not extend (409)"
    if answer.status == 422:
        return "it refused: this checkpoint is not consistent with the one it cosigned (422)"
    if answer.status is None and answer.error and "cannot reach" in answer.error:
        return "cannot reach it" + (": timed out" if "timed out" in answer.error else "")
    return _one_line(answer.error or "no answer").split(": ", 1)[-1]


def write_output(output, write):
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
    except sqlite3.Error as e:
        # The library turns the SQLite failures it expects into LedgerErrors;
        # any other is still one line, never a traceback.
        click.echo(f"Error: SQLite: {_one_line(str(e))} ({getattr(e, 'sqlite_errorname', type(e).__name__)})", err=True)
        sys.exit(1)
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            sys.exit(0)
        click.echo(f"Error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Error: interrupted; nothing was appended", err=True)
        sys.exit(130)
