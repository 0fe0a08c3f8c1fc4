"""The ``ledger`` commands that add and change records: ``source``, ``claim``,
``review``, ``revise``, ``correct``, ``retract``, ``append``, ``import`` and
``ratings``.

Part of the command line (``ledger.cli``, whose group they join and whose
helpers they use, from ``ledger.cli.group``): each command parses its options, calls one ``Ledger``
verb through ``append_signed`` (which loads the signers and prints what was
appended), and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ledger.cli.group import (append_signed, cli, db_argument, json_option, key_option, log_key_option, open_ledger,
                              progress_bar, records_appender, waiting)


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
def source_add(db, key, log_key, record_id, source_type, title, not_public, license_, snapshot, media_type, archive, link,
               as_json, **fields):
    """Add a source, optionally with an archived snapshot and typed links to other sources.

    \b
    Example:
      ledger source add desk.db --key ana.key --id source:ro-article --type article \\
        --title "China a crescut vânzările către Rusia..." --language ro \\
        --snapshot article-ro.txt --third-party --link translation-of=source:ap-report
    """
    from ledger.editing import snapshot_file

    content = snapshot_file(snapshot, media_type) if snapshot else None
    append_signed(db, key, log_key, as_json, lambda ledger, signer, log_signer: ledger.add_source(
        record_id, title, signer, log_signer, snapshot=content, links=link, archives=archive, type=source_type,
        public=False if not_public else None, license=license_, on_wait=waiting, **fields))


@cli.group()
def claim():
    """Add and revise claims anchored to quotes in their sources."""


def claim_options(f):
    """The options of a claim's fields (``ledger.editing.claim_fields``), passed on as its keyword arguments."""
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
        click.option("--tag", "tags", multiple=True, help="Tag (repeatable)."),
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
def claim_add(db, key, log_key, source_id, quote, language, as_json, **options):
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
    if not language:
        raise click.ClickException("--language is required, e.g. --language ro")
    append_signed(db, key, log_key, as_json, lambda ledger, signer, log_signer: ledger.add_claim(
        source_id, quote, language, signer, log_signer, on_wait=waiting, **options))


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
def claim_revise(db, record_id, key, log_key, note, sets, unsets, as_json, **options):
    """Append a new version of a claim; the old version stays in the history.

    \b
    Example:
      ledger claim revise desk.db claim:microelectronics-90 --key ana.key \\
        --translation "in 2023 about 90% of Russia's microelectronics came from China" \\
        --note "Translation made closer to the Romanian"
    """
    append_signed(db, key, log_key, as_json, lambda ledger, signer, log_signer: ledger.revise_claim(
        record_id, note, signer, log_signer, sets=sets, unsets=unsets, on_wait=waiting, **options))


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
    append_signed(db, key, log_key, as_json, lambda ledger, signer, log_signer: ledger.revise(
        record_id, note, signer, log_signer, sets=sets, unsets=unsets, on_wait=waiting))


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
@click.option("--reviewed", help="When the review was published: YYYY-MM-DD, or an RFC 3339 time (2025-04-28T19:23:46Z).")
@click.option("--url", help="Where the review is published.")
@json_option
def review_add(db, key, log_key, claim_id, label, rating, as_json, **fields):
    """Add a review (verdict) of a claim.

    \b
    Example:
      ledger review add desk.db --key mihai.key --claim claim:microelectronics-90 \\
        --label "Neverificabil" --label-language ro --rating unproven \\
        --explanation "The assessment is not public." --evidence source:assessment
    """
    append_signed(db, key, log_key, as_json, lambda ledger, signer, log_signer: ledger.add_review(
        claim_id, label, rating, signer, log_signer, on_wait=waiting, **fields))


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
    append_signed(db, key, log_key, as_json, lambda ledger, signer, log_signer: ledger.correct(
        record_id, reason, ledger.apply_changes(record_id, sets, unsets), signer, log_signer, on_wait=waiting))


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
    append_signed(db, key, log_key, as_json, lambda ledger, signer, log_signer: ledger.retract(
        record_id, reason, signer, log_signer, on_wait=waiting))


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
    from ledger.api import Ledger
    from ledger.editing import snapshot_file

    records = Ledger.records_from_file(file, sys.stdin.buffer.read() if file == "-" else None)
    snapshots = [snapshot_file(path) for path in snapshot_files]
    append_signed(db, key, log_key, as_json, records_appender(records, snapshots))


@cli.command("import")
@db_argument
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["claimreview", "factcheck-api", "jsonl"]),
              help="claimreview: schema.org ClaimReview JSON-LD (also in HTML pages); factcheck-api: the Fact Check Tools "
                   "API shape; jsonl: records or an export. Default: detected from the file.")
@click.option("--base-url", help="The URL of the page the file came from: relative URLs in it are resolved against it.")
@key_option
@log_key_option
@click.option("--dry-run", is_flag=True, help="Report what would be created, updated and refused; append nothing.")
@json_option
def import_command(db, file, fmt, base_url, key, log_key, dry_run, as_json):
    """Import a fact-check feed as one signed, atomic batch; importing it again creates nothing new.

    The format and shape are detected (a JSON array of API claims, API pages
    one after another, ClaimReview in JSON-LD, a DataFeed, an HTML page...)
    unless --format says. Every record the file holds is created, updated (a
    new version with a note), unchanged, or refused with where it is in the
    file and why. Labels are kept verbatim; the normalized rating comes from
    the rating map ('ledger ratings show'). See docs/interop.md.

    \b
    Examples:
      ledger import desk.db claimreviews.json --key ana.key --dry-run
      ledger import desk.db search-results.json --format factcheck-api --key ana.key
      ledger import desk.db fact-check.html --base-url https://desk.example/checks/x --key ana.key
    """
    from ledger.interop.importer import feed_stream, plan_import

    name = "standard input" if file == "-" else Path(file).name
    size = 0 if file == "-" or as_json or not Path(file).is_file() else Path(file).stat().st_size
    with open_ledger(db) as ledger, feed_stream(file, sys.stdin.buffer) as stream, \
            progress_bar(size if size >= 1 << 20 else 0, f"Reading {name}") as update:
        plan = plan_import(ledger, stream, name, fmt, base_url, progress=update)
    with plan:
        report = plan.report
        if not dry_run and len(plan.records):
            append_signed(db, key, log_key, as_json, import_appender(plan, progress=not as_json), report=not as_json)
        if as_json:
            click.echo(json.dumps({"dry_run": dry_run, **report.to_json()}, ensure_ascii=False, indent=2))
        else:
            click.echo(report.summary(dry_run))
        if not len(plan.records) and not report.unchanged:
            raise click.ClickException(f"nothing to import from {file}: every record was refused" if report.refused
                                       else f"nothing to import from {file}")


def import_appender(plan, *, progress=True):
    """The verb of ``append_signed`` that appends an import's planned records."""
    def append_plan(ledger, signer, log_signer):
        with progress_bar(len(plan.records) if progress else 0, "Signing and appending") as update:
            return plan.append(ledger, signer, log_signer, progress=update, on_wait=waiting)
    return append_plan


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
    with open_ledger(db) as ledger:
        maps = ledger.rating_maps()
    if as_json:
        click.echo(json.dumps(maps, ensure_ascii=False, indent=2))
        return
    for m in maps:
        click.echo(f"{m['id']} v{m.get('version', '-')}: {m['title']}" + (f" ({m['note']})" if m.get("note") else ""))
        for entry in m["labels"]:
            click.echo(f"  {entry['label']!r:<32} {entry.get('language', ''):<4} -> {entry['normalized']}")
        for position in m.get("positions", ()):
            click.echo(f"  scale position {position['at']:<6} -> {position['normalized']}")


@ratings.command("unmapped")
@db_argument
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Labels to list.")
@json_option
def ratings_unmapped(db, limit, as_json):
    """List the verdict labels of the ledger's reviews that no rating map knows, commonest first.

    Labels are counted once folded (case, diacritics, Arabic tashkeel and
    letter forms, punctuation). Map them with 'ledger ratings add', then
    import the feed again to rate its reviews.

    \b
    Example:
      ledger ratings unmapped desk.db
      ledger ratings add desk.db false "خبر كاذب" "Bulo" --key ana.key --note "Labels our feeds use"
    """
    from ledger.interop.ratings import unmapped_in

    with open_ledger(db) as ledger:
        found = unmapped_in(ledger)
    if as_json:
        click.echo(json.dumps(found[:limit], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("Every label of the ledger's reviews is in a rating map")
        return
    click.echo(f"{'reviews':>8} {'unrated':>8}  label (languages)")
    for entry in found[:limit]:
        click.echo(f"{entry['count']:>8} {entry['unrated']:>8}  {entry['label']!r} ({', '.join(entry['languages']) or '-'})")
    if len(found) > limit:
        click.echo(f"... and {len(found) - limit} more labels (--limit, --json)")
    click.echo(f"Map one: ledger ratings add {db} RATING {found[0]['label']!r} --key KEY --note WHY  "
               "(RATING: true, mostly-true, mixed, mostly-false, false, misleading, unproven)")


@ratings.command("add")
@db_argument
@click.argument("rating", type=click.Choice(["true", "mostly-true", "mixed", "mostly-false", "false", "misleading", "unproven", "unrated"]))
@click.argument("labels", nargs=-1, required=True)
@click.option("--language", help="BCP 47 tag of the labels, e.g. ar, pt.")
@key_option
@log_key_option
@click.option("--note", help="Why the mapping changes (required when the desk's map exists).")
@json_option
def ratings_add(db, rating, labels, language, key, log_key, note, as_json):
    """Map verdict labels to a normalized RATING in the desk's own map (a new version of ratingmap:desk).

    A label the desk's map already has (the same once folded) is mapped
    anew. Importing a feed again rates its reviews with the new map.

    \b
    Example:
      ledger ratings add desk.db false "خبر كاذب" "كاذب" --language ar --key ana.key --note "Arabic desks' labels"
    """
    from ledger.interop.ratings import DESK_MAP_ID, desk_map_with

    def add(ledger, signer, log_signer):
        desk = ledger.current(DESK_MAP_ID).record.to_dict() if ledger.head(DESK_MAP_ID) else None
        return ledger.set_rating_map(desk_map_with(desk, labels, rating, language), signer, log_signer, note=note,
                                     on_wait=waiting)
    append_signed(db, key, log_key, as_json, add)


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
    from ledger.editing import json_object_file

    fields = json_object_file(file, "a JSON object with 'title' and 'labels'")
    append_signed(db, key, log_key, as_json, lambda ledger, signer, log_signer: ledger.set_rating_map(
        fields, signer, log_signer, note=note, on_wait=waiting))
