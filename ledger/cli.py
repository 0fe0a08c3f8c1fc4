"""The ``ledger`` command line: a thin layer over the library.

Each command parses its arguments, calls ``ledger.api`` (or ``verify``,
``site``), and formats the result. Every library error becomes one line,
``Error: ...``, with exit code 1; nothing is written when a command fails.
Datasette is imported only by ``serve``, ``publish`` and ``demo`` so the
editing commands start fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ledger.errors import LedgerError

MEDIA_TYPES = {".txt": "text/plain; charset=utf-8", ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
               ".md": "text/markdown; charset=utf-8", ".pdf": "application/pdf", ".json": "application/json"}


# --- shared helpers ---------------------------------------------------------------
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


def _open(db):
    from ledger.api import Ledger

    return Ledger.open(db)


def _log_key(ledger, path):
    if path is None:
        hint = ledger.store.meta().get("log_key_file")
        if hint:
            path = str((Path(ledger.store.path).parent / hint))
    if path is None:
        raise click.ClickException("signing a checkpoint needs the log key: pass --log-key FILE or set LEDGER_LOG_KEY")
    return _load_key(path, ("LEDGER_LOG_PASSPHRASE", "LEDGER_PASSPHRASE"))


def _waiting():
    click.echo("Another editor is appending to this ledger; waiting for them to finish...", err=True)


def _progress(total, label):
    """A progress bar on stderr for bulk work in a terminal; silent otherwise."""
    if total < 200 or not sys.stderr.isatty():
        return None, None
    bar = click.progressbar(length=total, label=label, file=sys.stderr)
    bar.__enter__()
    return bar, bar.update


def _append(db, records, key, log_key, *, snapshots=(), as_json=False, signer=None, ledger=None):
    """Sign and append ``records``; ``ledger`` is ``db`` already opened by the caller (closed here)."""
    if ledger is None:
        ledger = _open(db)
    try:
        signer = signer or _load_key(key)
        log_signer = signer if signer.vkey == ledger.log_vkey else _log_key(ledger, log_key)
        bar, update = _progress(len(records), "Signing and appending")
        try:
            entries = ledger.append(records, signer, log_signer, snapshots=snapshots, progress=update, on_wait=_waiting)
        finally:
            if bar:
                bar.__exit__(None, None, None)
        _report(entries, ledger, as_json)
        return entries
    finally:
        ledger.close()


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


def _read_file(path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise click.ClickException(f"cannot read {path}: {e.strerror}") from e


def _parse_value(text):
    from ledger.canonical import parse_json_untrusted
    from ledger.errors import FormatError

    try:
        return parse_json_untrusted(text)
    except FormatError:
        return text


def _set_path(data, dotted, value):
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise click.ClickException(f"--set {dotted}: {part} is not an object")
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def _changes(current_dict, sets, unsets):
    """Apply --set FIELD=VALUE / --unset FIELD to a copy of a record's top-level fields."""
    changes = {}
    for item in sets:
        field, eq, value = item.partition("=")
        if not eq or not field:
            raise click.ClickException(f"--set {item!r}: expected FIELD=VALUE, e.g. --set translation.text='...'")
        top = field.split(".", 1)[0]
        if top not in changes:
            changes[top] = json.loads(json.dumps(current_dict.get(top))) if isinstance(current_dict.get(top), dict) else None
        if "." in field:
            changes[top] = changes[top] or {}
            _set_path(changes[top], field.split(".", 1)[1], _parse_value(value))
        else:
            changes[top] = _parse_value(value)
    for field in unsets:
        changes[field] = None
    if not changes:
        raise click.ClickException("nothing to change: give --set FIELD=VALUE or --unset FIELD")
    return changes


def _drop_none(d):
    return {k: v for k, v in d.items() if v is not None and v != () and v != []}


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
    from ledger.keys import generate_signer, write_key_file

    signer = generate_signer(name)
    passphrase = None if unencrypted else _passphrase(("LEDGER_PASSPHRASE",), f"New passphrase for {keyfile}", confirm=True)
    write_key_file(keyfile, signer, passphrase)
    if as_json:
        click.echo(json.dumps({"file": keyfile, "name": name, "vkey": signer.vkey, "encrypted": not unencrypted}))
    else:
        click.echo(signer.vkey)


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

    head = _read_file(source)[:len(HEADER)]
    if head == HEADER.encode():
        click.echo(_load_key(source).vkey)
        return
    ledger = _open(source)
    click.echo(ledger.log_vkey)
    ledger.close()


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
    from ledger.note import parse_verifier_key_untrusted
    from ledger.records import KeyRecord, utc_now

    verifier = parse_verifier_key_untrusted(vkey)
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in verifier.name.lower()).strip("-._") or "editor"
    record = KeyRecord(id=record_id or f"key:{slug[:100]}-{verifier.key_id.hex()}", created=utc_now(), vkey=vkey,
                       display_name=display_name, role="editor", status="active")
    ledger = _open(db)
    log_signer = _log_key(ledger, log_key)
    ledger.close()
    _append(db, [record], None, None, as_json=as_json, signer=log_signer)


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
    ledger = _open(db)
    try:
        signer_id = "+".join(signer.split("+")[:2])
        state = ledger.projection.key(signer_id)
        if state is None:
            raise click.ClickException(f"{signer_id} is not a registered key in {db}")
        revision = ledger.revision(state.record_id, f"Revoked: {reason}", status="revoked", reason=reason)
        log_signer = _log_key(ledger, log_key)
    finally:
        ledger.close()
    _append(db, [revision], None, None, as_json=as_json, signer=log_signer)


# --- creating a ledger ----------------------------------------------------------------
@cli.command()
@db_argument
@click.option("--log-key", type=click.Path(dir_okay=False), required=True,
              help="The log key file; made here (named after --origin) if it does not exist.")
@click.option("--origin", help="The log's origin, e.g. desk.example/ledger (needed when the log key is made here).")
@click.option("--display-name", help="Publisher name shown for the log key.")
@click.option("--unencrypted", is_flag=True, help="Write a new log key without a passphrase (not recommended).")
def init(db, log_key, origin, display_name, unencrypted):
    """Create a new ledger; its first entry registers the log key.

    The log key's name is the log's origin, the first line of every checkpoint.

    \b
    Example:
      ledger init desk.db --log-key log.key --origin desk.example/ledger
    """
    from ledger.api import Ledger
    from ledger.keys import generate_signer, write_key_file

    if Path(db).exists():
        raise click.ClickException(f"{db} already exists; choose a new file name")
    if Path(log_key).exists():
        log_signer = _load_key(log_key, ("LEDGER_LOG_PASSPHRASE", "LEDGER_PASSPHRASE"))
        if origin and origin != log_signer.name:
            raise click.ClickException(f"--origin {origin} differs from the log key's name {log_signer.name}; the origin is the key's name")
    else:
        if not origin:
            raise click.ClickException("making a new log key needs --origin, e.g. --origin desk.example/ledger")
        log_signer = generate_signer(origin)
        passphrase = None if unencrypted else _passphrase(("LEDGER_LOG_PASSPHRASE", "LEDGER_PASSPHRASE"), f"New passphrase for {log_key}", confirm=True)
        write_key_file(log_key, log_signer, passphrase)
    try:
        hint = os.path.relpath(Path(log_key).resolve(), Path(db).resolve().parent)
    except ValueError:
        hint = str(Path(log_key).resolve())
    ledger = Ledger.create(db, log_signer, display_name=display_name, extra_meta={"log_key_file": hint})
    click.echo(f"Created {db} (origin {ledger.origin})")
    click.echo(f"Log verifier key: {ledger.log_vkey}")
    ledger.close()


# --- records ----------------------------------------------------------------------------------
@cli.group()
def source():
    """Add sources: documents, people, organizations, assessments."""


@source.command("add")
@db_argument
@key_option
@log_key_option
@click.option("--id", "record_id", required=True, help="Record ID, e.g. source:ap-2024-04-12.")
@click.option("--type", "source_type", default="article", show_default=True,
              type=click.Choice(["article", "report", "statement", "dataset", "document", "assessment", "person", "organization", "other"]))
@click.option("--title", required=True)
@click.option("--url")
@click.option("--publisher")
@click.option("--author")
@click.option("--language", help="BCP 47 tag, e.g. ro, en.")
@click.option("--published", help="Date: YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--retrieved", help="When the snapshot was taken (YYYY-MM-DDTHH:MM:SSZ).")
@click.option("--description")
@click.option("--anonymous", is_flag=True, default=None, help="A person or group speaking on condition of anonymity.")
@click.option("--not-public", is_flag=True, help="The document itself is not public (e.g. a classified assessment).")
@click.option("--third-party", is_flag=True, default=None, help="The snapshot is third-party content kept as evidence.")
@click.option("--license", "license_")
@click.option("--snapshot", type=click.Path(dir_okay=False), help="Archived copy of the document; its SHA-256 is recorded.")
@click.option("--media-type", help="Media type of the snapshot (default from its file name).")
@click.option("--archive", multiple=True, help="Public archive URL (repeatable).")
@click.option("--link", multiple=True, help="REL=SOURCE_ID, e.g. translation-of=source:ap (repeatable).")
@json_option
def source_add(db, key, log_key, record_id, source_type, title, url, publisher, author, language, published, retrieved,
               description, anonymous, not_public, third_party, license_, snapshot, media_type, archive, link, as_json):
    """Add a source, optionally with an archived snapshot and typed links to other sources.

    \b
    Example:
      ledger source add desk.db --key ana.key --id source:ro-article --type article \\
        --title "China a crescut vânzările către Rusia..." --language ro \\
        --snapshot article-ro.txt --third-party --link translation-of=source:ap-report
    """
    import hashlib

    from ledger.records import utc_now

    links = []
    for item in link:
        rel, eq, target = item.partition("=")
        if not eq:
            raise click.ClickException(f"--link {item!r}: expected REL=SOURCE_ID, e.g. translation-of=source:ap")
        links.append({"rel": rel, "source": target})
    snapshots, snap = [], None
    if snapshot:
        content = _read_file(snapshot)
        media_type = media_type or MEDIA_TYPES.get(Path(snapshot).suffix.lower(), "application/octet-stream")
        snapshots.append((content, media_type))
        snap = {"sha256": hashlib.sha256(content).hexdigest(), "media_type": media_type, "size": len(content)}
    record = _drop_none({
        "kind": "source", "id": record_id, "version": 1, "created": utc_now(), "type": source_type, "title": title,
        "url": url, "publisher": publisher, "author": author, "language": language, "published": published,
        "retrieved": retrieved, "description": description, "anonymous": anonymous, "public": False if not_public else None,
        "third_party": third_party, "license": license_, "snapshot": snap, "archives": list(archive), "links": links,
    })
    _append(db, [record], key, log_key, snapshots=snapshots, as_json=as_json)


@cli.group()
def claim():
    """Add and revise claims anchored to quotes in their sources."""


def _claim_fields(text, language, translation, translation_language, attributed_to, anonymous, attribution_source,
                  quantity, unit, subject, period, tag, claim_date):
    fields = {"text": text, "language": language, "claim_date": claim_date}
    if translation:
        fields["translation"] = {"language": translation_language, "text": translation}
    if attributed_to:
        fields["attribution"] = _drop_none({"text": attributed_to, "anonymous": anonymous, "source": attribution_source})
    if quantity:
        fields["quantity"] = _drop_none({"value": quantity, "unit": unit, "subject": subject, "period": period})
    if tag:
        fields["tags"] = list(tag)
    return fields


def claim_options(f):
    for option in reversed([
        click.option("--text", help="The claim as stated (default: the quote)."),
        click.option("--language", help="Language of the claim text (BCP 47), e.g. ro."),
        click.option("--translation", help="An English (or --translation-language) translation."),
        click.option("--translation-language", default="en", show_default=True),
        click.option("--attributed-to", help="Who the claim is attributed to, as the source says."),
        click.option("--anonymous", is_flag=True, default=None, help="The attribution is to anonymous people."),
        click.option("--attribution-source", help="Source ID of who it is attributed to (builds the chain)."),
        click.option("--quantity", help="Structured value as a decimal string, e.g. 90."),
        click.option("--unit"), click.option("--subject"), click.option("--period"),
        click.option("--tag", multiple=True, help="Tag (repeatable)."),
        click.option("--claim-date", help="When the claim was made (YYYY-MM-DD)."),
    ]):
        f = option(f)
    return f


@claim.command("add")
@db_argument
@key_option
@log_key_option
@click.option("--id", "record_id", help="Record ID (default: claim: and a random suffix).")
@click.option("--source", "source_id", required=True, help="ID of the source the quote is in.")
@click.option("--quote", required=True, help="The exact words in the source's snapshot.")
@click.option("--prefix", help="Text just before the quote, when it occurs more than once.")
@click.option("--suffix", help="Text just after the quote, when it occurs more than once.")
@click.option("--start", type=int, help="Code-point offset of the quote, when it occurs more than once.")
@claim_options
@json_option
def claim_add(db, key, log_key, record_id, source_id, quote, prefix, suffix, start, text, language, translation,
              translation_language, attributed_to, anonymous, attribution_source, quantity, unit, subject, period, tag,
              claim_date, as_json):
    """Add a claim anchored to an exact quote in a source's snapshot.

    \b
    Example:
      ledger claim add desk.db --key ana.key --id claim:microelectronics-90 \\
        --source source:ro-article --language ro \\
        --quote "în 2023 aproximativ 90% din microelectronica Rusiei a venit din China" \\
        --translation "in 2023 about 90% of Russia's microelectronics came from China" \\
        --attributed-to "two senior Biden administration officials" --anonymous \\
        --attribution-source source:officials --quantity 90 --unit % --period 2023
    """
    from ledger.records import utc_now

    if not language:
        raise click.ClickException("--language is required, e.g. --language ro")
    quote_obj = {"exact": quote, "prefix": prefix, "suffix": suffix, "start": start}
    # One connection for reading the source's snapshot and for the append.
    ledger = _open(db)
    try:
        sha = ledger.projection.source_snapshot(source_id)
        stored = ledger.store.snapshot(sha) if sha else None
        if stored:
            from ledger.quotes import anchor_quote, snapshot_text

            text_of_snapshot = snapshot_text(stored[1], stored[0])
            if text_of_snapshot is None:
                raise click.ClickException(f"the snapshot of {source_id} is not UTF-8 text; a quote cannot be anchored in it")
            quote_obj = anchor_quote(text_of_snapshot, quote, prefix, suffix, start).to_dict()
        if not record_id:
            import secrets

            record_id = f"claim:{secrets.token_hex(6)}"
        record = _drop_none({
            "kind": "claim", "id": record_id, "version": 1, "created": utc_now(),
            "source": source_id, "quote": _drop_none(quote_obj),
            **_drop_none(_claim_fields(text or quote, language, translation, translation_language, attributed_to, anonymous,
                                       attribution_source, quantity, unit, subject, period, tag, claim_date)),
        })
    except BaseException:
        ledger.close()
        raise
    _append(db, [record], key, log_key, as_json=as_json, ledger=ledger)


@claim.command("revise")
@db_argument
@click.argument("record_id")
@key_option
@log_key_option
@click.option("--note", required=True, help="Why this version is made (shown in the history).")
@claim_options
@click.option("--set", "sets", multiple=True, help="FIELD=VALUE for any other field (JSON or text; dotted for nested).")
@click.option("--unset", "unsets", multiple=True, help="Remove an optional field.")
@json_option
def claim_revise(db, record_id, key, log_key, note, text, language, translation, translation_language, attributed_to,
                 anonymous, attribution_source, quantity, unit, subject, period, tag, claim_date, sets, unsets, as_json):
    """Append a new version of a claim; the old version stays in the history.

    \b
    Example:
      ledger claim revise desk.db claim:microelectronics-90 --key ana.key \\
        --translation "in 2023 about 90% of Russia's microelectronics came from China" \\
        --note "Translation made closer to the Romanian"
    """
    fields = _drop_none(_claim_fields(text, language, translation, translation_language, attributed_to, anonymous,
                                      attribution_source, quantity, unit, subject, period, tag, claim_date))
    _revise(db, record_id, key, log_key, note, fields, sets, unsets, as_json, kind="claim")


def _revise(db, record_id, key, log_key, note, fields, sets, unsets, as_json, kind=None):
    ledger = _open(db)
    try:
        current = ledger.current(record_id)
        if kind and current.record.kind != kind:
            raise click.ClickException(f"{record_id} is a {current.record.kind}, not a {kind}")
        changes = dict(fields)
        if sets or unsets:
            changes.update(_changes(current.record.to_dict(), sets, unsets))
        if not changes:
            raise click.ClickException("nothing to change: give the fields to change or --set FIELD=VALUE")
        revised = ledger.revision(record_id, note, **changes)
    finally:
        ledger.close()
    _append(db, [revised], key, log_key, as_json=as_json)


@cli.command()
@db_argument
@click.argument("record_id")
@key_option
@log_key_option
@click.option("--note", required=True, help="Why this version is made.")
@click.option("--set", "sets", multiple=True, help="FIELD=VALUE (JSON or text; dotted for nested fields).")
@click.option("--unset", "unsets", multiple=True, help="Remove an optional field.")
@json_option
def revise(db, record_id, key, log_key, note, sets, unsets, as_json):
    """Append a new version of any record (source, claim, review).

    \b
    Example:
      ledger revise desk.db source:ap-report --key ana.key --set published=2024-04-12 --note "Date added"
    """
    _revise(db, record_id, key, log_key, note, {}, sets, unsets, as_json)


@cli.group()
def review():
    """Add verdicts on claims."""


@review.command("add")
@db_argument
@key_option
@log_key_option
@click.option("--id", "record_id", help="Record ID (default: review:<claim slug>-<random>).")
@click.option("--claim", "claim_id", required=True)
@click.option("--label", required=True, help="The desk's own verdict label, in its own language.")
@click.option("--label-language", help="Language of the label, e.g. ro.")
@click.option("--rating", required=True, type=click.Choice(["true", "mostly-true", "mixed", "mostly-false", "false", "misleading", "unproven", "unrated"]),
              help="The normalized rating.")
@click.option("--explanation")
@click.option("--evidence", multiple=True, help="Source ID used as evidence (repeatable).")
@click.option("--reviewed", help="Date of the review (YYYY-MM-DD).")
@click.option("--url", help="Where the review is published.")
@json_option
def review_add(db, key, log_key, record_id, claim_id, label, label_language, rating, explanation, evidence, reviewed, url, as_json):
    """Add a review (verdict) of a claim.

    \b
    Example:
      ledger review add desk.db --key mihai.key --claim claim:microelectronics-90 \\
        --label "Neverificabil" --label-language ro --rating unproven \\
        --explanation "The assessment is not public." --evidence source:assessment
    """
    import secrets

    from ledger.records import utc_now

    slug = claim_id.split(":", 1)[-1][:100]
    record = _drop_none({
        "kind": "review", "id": record_id or f"review:{slug}-{secrets.token_hex(3)}", "version": 1, "created": utc_now(),
        "claim": claim_id, "rating": _drop_none({"label": label, "label_language": label_language, "normalized": rating}),
        "explanation": explanation, "evidence": list(evidence), "reviewed": reviewed, "url": url,
    })
    _append(db, [record], key, log_key, as_json=as_json)


@cli.command()
@db_argument
@click.argument("record_id")
@key_option
@log_key_option
@click.option("--reason", required=True, help="The public reason for the correction.")
@click.option("--set", "sets", multiple=True, help="FIELD=VALUE of the corrected version (dotted for nested).")
@click.option("--unset", "unsets", multiple=True)
@json_option
def correct(db, record_id, key, log_key, reason, sets, unsets, as_json):
    """Correct a record: a corrected version plus a public correction notice, in one batch.

    \b
    Example:
      ledger correct desk.db claim:imports-q4 --key ana.key \\
        --set translation.text="almost 70% of Russia's roughly $900 million in imports" \\
        --reason "The translation said billion; the article says million."
    """
    ledger = _open(db)
    try:
        current = ledger.current(record_id)
        changes = _changes(current.record.to_dict(), sets, unsets)
        signer = _load_key(key)
        log_signer = signer if signer.vkey == ledger.log_vkey else _log_key(ledger, log_key)
        entries = ledger.correct(record_id, reason, changes, signer, log_signer, on_wait=_waiting)
        _report(entries, ledger, as_json)
    finally:
        ledger.close()


@cli.command()
@db_argument
@click.argument("record_id")
@key_option
@log_key_option
@click.option("--reason", required=True, help="The public reason for the retraction.")
@json_option
def retract(db, record_id, key, log_key, reason, as_json):
    """Retract a record. It stays in the ledger and on the site, marked retracted.

    \b
    Example:
      ledger retract desk.db claim:duplicate --key ana.key --reason "Duplicate of claim:imports-q4"
    """
    ledger = _open(db)
    try:
        signer = _load_key(key)
        log_signer = signer if signer.vkey == ledger.log_vkey else _log_key(ledger, log_key)
        entries = ledger.retract(record_id, reason, signer, log_signer, on_wait=_waiting)
        _report(entries, ledger, as_json)
    finally:
        ledger.close()


@cli.command()
@db_argument
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@key_option
@log_key_option
@click.option("--snapshot", "snapshot_files", multiple=True, type=click.Path(dir_okay=False),
              help="A snapshot file the records refer to by SHA-256 (repeatable).")
@json_option
def append(db, file, key, log_key, snapshot_files, as_json):
    """Validate, sign and append unsigned records from a JSON or JSONL file, as one atomic batch.

    FILE holds one record object, a JSON array of them, or one per line (JSONL);
    '-' reads standard input. 'created' and 'version' (1) may be left out; a
    claim's quote needs only 'exact' when its source has a snapshot.

    \b
    Example:
      ledger append desk.db records.jsonl --key ana.key --snapshot article-ro.txt
    """
    from ledger.canonical import parse_json_untrusted
    from ledger.errors import FormatError
    from ledger.signing import PARALLEL_MIN

    data = sys.stdin.buffer.read() if file == "-" else _read_file(file)
    try:
        parsed = parse_json_untrusted(data)
        records = parsed if isinstance(parsed, list) else [parsed]
    except FormatError as whole_error:
        lines = [(number, line) for number, line in enumerate(data.split(b"\n"), 1) if line.strip()]
        if len(lines) >= PARALLEL_MIN:
            # A large JSONL file is parsed by the signing workers, a window
            # ahead (ledger.signing); a malformed line fails the batch at its turn.
            from ledger.api import RecordText

            records = [RecordText(line, file, number) for number, line in lines]
        else:
            records = []
            for number, line in lines:
                try:
                    records.append(parse_json_untrusted(line))
                except FormatError as e:
                    raise FormatError(f"{file} line {number}: {e}" if data.count(b"\n") > 1 else f"{file}: {whole_error}") from e
    snapshots = []
    for path in snapshot_files:
        snapshots.append((_read_file(path), MEDIA_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")))
    _append(db, records, key, log_key, snapshots=snapshots, as_json=as_json)


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
    ledger = _open(db)
    try:
        entry = ledger.current(record_id)
        head = ledger.projection.head(record_id)
        if as_json:
            click.echo(json.dumps({**_entry_json(entry), "status": head.status}, ensure_ascii=False, indent=2))
            return
        click.echo(f"{record_id}  version {entry.record.version}  status {head.status}")
        click.echo(f"entry {entry.index}  hash {entry.hash_hex}  signed by {entry.signer}")
        click.echo(json.dumps(entry.record.to_dict(), ensure_ascii=False, indent=2))
    finally:
        ledger.close()


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

    ledger = _open(db)
    try:
        versions = ledger.history(record_id)
        notices = ledger.notices_for(record_id)
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
    finally:
        ledger.close()


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
    ledger = _open(db)
    try:
        rows = list(ledger.store.entry_rows(start, start + limit))
        if as_json:
            click.echo(json.dumps([{"index": r[0], "entry_hash": r[1], "kind": r[2], "id": r[3], "version": r[4], "signer": r[5]} for r in rows], indent=2))
            return
        for idx, leaf_hash, kind, record_id, version, signer, _ in rows:
            click.echo(f"{idx:>7}  {leaf_hash[:16]}…  {kind:<10}  {record_id} v{version}  {signer}")
        click.echo(f"({ledger.size} entries in all)")
    finally:
        ledger.close()


@cli.command()
@db_argument
def rebuild(db):
    """Recompute the browsing tables from the log entries.

    \b
    Example:
      ledger rebuild desk.db
    """
    ledger = _open(db)
    try:
        bar, update = _progress(ledger.size, "Rebuilding")
        count = ledger.rebuild(progress=update, on_wait=_waiting)
        if bar:
            bar.__exit__(None, None, None)
        click.echo(f"Rebuilt the browsing tables from {count} entries")
    finally:
        ledger.close()


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
    if fmt != "jsonl" or outdir:
        _export_interop(db, fmt, output, outdir)
        return
    ledger = _open(db)
    try:
        if output:
            if Path(output).exists():
                raise click.ClickException(f"{output} already exists")
            tmp = Path(output).with_name(Path(output).name + ".partial")
            try:
                with open(tmp, "wb") as f:
                    count = ledger.export_jsonl(f)
                tmp.rename(output)
            except OSError as e:
                tmp.unlink(missing_ok=True)
                raise click.ClickException(f"cannot write {output}: {e.strerror}") from e
            click.echo(f"Wrote {count} entries to {output}", err=True)
        else:
            ledger.export_jsonl(sys.stdout.buffer)
    finally:
        ledger.close()


def _export_interop(db, fmt, output, outdir):
    from ledger.canonical import canonical_bytes
    from ledger.interop.bundle import write_bundle
    from ledger.interop.claimreview import export_claimreviews
    from ledger.interop.provenance import export_prov

    if fmt == "bundle":
        if not (outdir or output):
            raise click.ClickException("--format bundle needs the folder to write: ledger export DB --format bundle OUTDIR")
        ledger = _open(db)
        try:
            counts = write_bundle(ledger, outdir or output)
        finally:
            ledger.close()
        click.echo(f"Wrote {counts['entries']} entries, {counts['checkpoints']} checkpoints and {counts['snapshots']} snapshots to "
                   f"{outdir or output}; check it with 'ledger verify {outdir or output}'", err=True)
        return
    if outdir:
        raise click.ClickException(f"--format {fmt} writes one file: use -o FILE, not a folder")
    ledger = _open(db)
    try:
        document = export_claimreviews(ledger) if fmt == "claimreview" else export_prov(ledger)
    finally:
        ledger.close()
    # Not signed, so plain JSON is fine; canonical bytes keep the output stable between runs.
    data = canonical_bytes(document) + b"\n"
    if not output:
        sys.stdout.buffer.write(data)
        return
    if Path(output).exists():
        raise click.ClickException(f"{output} already exists")
    tmp = Path(output).with_name(Path(output).name + ".partial")
    tmp.write_bytes(data)
    tmp.rename(output)
    click.echo(f"Wrote {fmt} to {output}", err=True)


@cli.command("import")
@db_argument
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["claimreview", "factcheck-api", "jsonl"]), required=True,
              help="claimreview: schema.org ClaimReview JSON-LD; factcheck-api: the Fact Check Tools API shape; jsonl: records or an export.")
@key_option
@log_key_option
@click.option("--dry-run", is_flag=True, help="Report what would be created, updated and refused; append nothing.")
@json_option
def import_command(db, file, fmt, key, log_key, dry_run, as_json):
    """Import a fact-check feed as one signed, atomic batch; importing it again creates nothing new.

    Every record the file holds is created, updated (a new version with a
    note), unchanged, or refused with where it is in the file and why.
    Labels are kept verbatim; the normalized rating comes from the rating
    map ('ledger ratings show'). See docs/interop.md.

    \b
    Examples:
      ledger import desk.db claimreviews.json --format claimreview --key ana.key --dry-run
      ledger import desk.db search-results.json --format factcheck-api --key ana.key
    """
    from ledger.interop.importer import plan_import

    data = sys.stdin.buffer.read() if file == "-" else _read_file(file)
    ledger = _open(db)
    try:
        plan = plan_import(ledger, data, fmt, Path(file).name)
    finally:
        ledger.close()
    report = plan.report
    if not dry_run and plan.records:
        if as_json:
            _append_quiet(db, plan.records, key, log_key)
        else:
            _append(db, plan.records, key, log_key)
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, **report.to_json()}, ensure_ascii=False, indent=2))
    else:
        click.echo(report.summary(dry_run))
    if not plan.records and not report.unchanged:
        raise click.ClickException(f"nothing to import from {file}: every record was refused" if report.refused
                                   else f"nothing to import from {file}")


def _append_quiet(db, records, key, log_key):
    ledger = _open(db)
    try:
        signer = _load_key(key)
        log_signer = signer if signer.vkey == ledger.log_vkey else _log_key(ledger, log_key)
        ledger.append(records, signer, log_signer, on_wait=_waiting)
    finally:
        ledger.close()


@cli.group()
def ratings():
    """Show or set the rating map that normalizes desks' verdict labels."""


@ratings.command("show")
@db_argument
@json_option
def ratings_show(db, as_json):
    """Show the rating maps in the ledger (or the packaged default, if none was appended yet).

    \b
    Example:
      ledger ratings show desk.db
    """
    from ledger.interop.ratings import DEFAULT_MAP_ID, DESK_MAP_ID, default_map

    ledger = _open(db)
    try:
        maps = [ledger.current(i).record.to_dict() for i in (DESK_MAP_ID, DEFAULT_MAP_ID) if ledger.projection.head(i)]
    finally:
        ledger.close()
    if not any(m["id"] == DEFAULT_MAP_ID for m in maps):
        maps.append({**default_map(), "note": "packaged default; not yet in this ledger (the first import appends it)"})
    if as_json:
        click.echo(json.dumps(maps, ensure_ascii=False, indent=2))
        return
    for m in maps:
        click.echo(f"{m['id']} v{m.get('version', '-')}: {m['title']}" + (f" ({m['note']})" if m.get("note") else ""))
        for entry in m["labels"]:
            click.echo(f"  {entry['label']!r:<32} {entry.get('language', ''):<4} -> {entry['normalized']}")
        for position in m.get("positions", ()):
            click.echo(f"  scale position {position['at']:<6} -> {position['normalized']}")


@ratings.command("set")
@db_argument
@click.argument("file", type=click.Path(dir_okay=False))
@key_option
@log_key_option
@click.option("--note", help="Why the mapping changes (required when it replaces an earlier one).")
@json_option
def ratings_set(db, file, key, log_key, note, as_json):
    """Set the desk's own rating map (consulted before the default) from a JSON file.

    FILE holds {"title": ..., "labels": [{"label", "normalized", "language"?}], "positions"?: [...]}
    as in schema/ratingmap.schema.json. A change is a new version of ratingmap:desk.

    \b
    Example:
      ledger ratings set desk.db our-labels.json --key ana.key --note "Added our Romanian labels"
    """
    from ledger.canonical import parse_json_untrusted
    from ledger.interop.ratings import DESK_MAP_ID
    from ledger.records import utc_now

    data = parse_json_untrusted(_read_file(file))
    if not isinstance(data, dict):
        raise click.ClickException(f"{file}: expected a JSON object with 'title' and 'labels'")
    fields = {k: v for k, v in data.items() if k not in ("kind", "id", "version", "replaces", "created", "note")}
    ledger = _open(db)
    try:
        if ledger.projection.head(DESK_MAP_ID):
            if not note:
                raise click.ClickException("ratingmap:desk exists: say why it changes with --note")
            record = ledger.revision(DESK_MAP_ID, note, **{"positions": None, **fields})
        else:
            record = {"kind": "ratingmap", "id": DESK_MAP_ID, "version": 1, "created": utc_now(), **fields,
                      **({"note": note} if note else {})}
    finally:
        ledger.close()
    _append(db, [record], key, log_key, as_json=as_json)


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
    ledger = _open(db)
    try:
        click.echo(ledger.latest_checkpoint_note() if size is None else ledger.checkpoint_note(size), nl=False)
    finally:
        ledger.close()


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
    ledger = _open(db)
    try:
        if old_size is not None:
            if index is not None:
                raise click.ClickException("give either INDEX or --consistency OLD, not both")
            click.echo(json.dumps(ledger.prove_consistency(old_size, size), indent=2))
        elif index is None:
            raise click.ClickException("give the entry INDEX to prove, or --consistency OLD")
        elif fmt == "tlog-proof":
            click.echo(ledger.tlog_proof(index, size), nl=False)
        else:
            click.echo(json.dumps(ledger.prove_inclusion(index, size), indent=2))
    finally:
        ledger.close()


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
    import tempfile

    from ledger.demo import build_demo

    target = Path(db_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        ledger = build_demo(Path(tmp) / "demo.db", target.parent / "keys")
        claims = ledger.store.conn.execute("SELECT count(*) FROM claims").fetchone()[0]
        size, vkey = ledger.size, ledger.log_vkey
        ledger.close()
        os.replace(Path(tmp) / "demo.db", target)
    click.echo(f"Built {target}: {size} entries, {claims} claims. Log verifier key: {vkey}", err=True)
    if not no_serve:
        from ledger import site

        click.echo(f"Serving the demo read-only at http://127.0.0.1:{port}/ (Ctrl-C to stop)", err=True)
        site.serve(target, host="127.0.0.1", port=port)


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
