"""``ledger monitor``: follow a published ledger and say what changed (docs/witness.md "Monitoring a ledger")."""

from __future__ import annotations

import json
import sys
import time

import click

from ledger.cli.group import cli, json_option


@cli.command()
@click.argument("url")
@click.option("--state", "state_file", required=True, type=click.Path(dir_okay=False),
              help="The monitor's state: the checkpoints it verified and what the entries up to them say (made on the first run).")
@click.option("--vkey", help="The log's verifier key (needed on the first run; later runs follow the key the state holds).")
@click.option("--witness", "witness_vkeys", multiple=True, help="A witness's verifier key to trust (repeatable; default: the log's own witnesses).")
@click.option("--quorum", type=click.IntRange(min=0), help="How many of the --witness keys must have cosigned (default: all).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="A policy file: log key, witnesses and quorum (docs/witness.md).")
@click.option("--max-age", type=click.FloatRange(min=1), help="Fail when the freshest trusted cosignature is older than this many seconds.")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 300), help="Seconds to wait for each witness.")
@click.option("--verbose", "-v", is_flag=True, help="Say what each new entry is, and each witness's view.")
@json_option
def monitor(url, state_file, vkey, witness_vkeys, quorum, policy_file, max_age, timeout, verbose, as_json):
    """Follow a published ledger from its tiles: check the new checkpoint against the one seen before,
    verify every new entry, and say what changed.

    URL is the site (its tiles are under /-/tlog/), a tiles URL ending in
    /tlog/, or a folder of tiles. The first run saves the checkpoint it
    verified in --state; each later run checks the new one extends it (from
    tiles), replays every new entry as 'ledger verify' does, checks the
    trusted witnesses' cosignatures and their own checkpoints, and only then
    saves. Exit code 0 when everything is consistent; 1, with one 'Error:'
    line, on a rewrite, a rollback, a split view, a bad signature or entry,
    or a checkpoint older than --max-age. Prints one summary line (for cron)
    unless --verbose; --json for scripts.

    \b
    Examples:
      ledger monitor https://desk.example/ --state desk.monitor --vkey "$VKEY"
      ledger monitor https://desk.example/ --state desk.monitor --max-age 3600 --witness "$W1" --witness "$W2"
    """
    from ledger import monitor as monitoring
    from ledger.policy import policy_from_options

    policy = policy_from_options(policy_file, witness_vkeys, quorum)
    if policy is not None:
        vkey = policy.log_vkey(vkey)
    try:
        report = monitoring.follow(url, state_file, vkey=vkey, policy=policy, max_age=max_age, witness_timeout=timeout)
    except monitoring.MonitorError as e:
        if as_json:
            click.echo(json.dumps({"ok": False, "finding": e.finding, "error": str(e)}, ensure_ascii=False))
        click.echo(f"Error: {e.finding}: {' '.join(str(e).split())}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(_report_json(report), ensure_ascii=False, indent=2))
        return
    click.echo(report.summary)
    if verbose:
        for change in report.changes:
            click.echo(f"  {change.text}")
        if report.new_entries > len(report.changes):
            click.echo(f"  ... and {report.new_entries - len(report.changes):,} more new entries")
        for witness, timestamp in sorted(report.checkpoint.cosigners().items()):
            held = report.witness_sizes.get(witness)
            click.echo(f"  cosigned by {witness} at {_utc(timestamp)}" + (f"; it holds size {held}" if held is not None else ""))
        for warning in report.warnings:
            click.echo(f"  warning: {warning}")


def _report_json(report) -> dict:
    return {
        "ok": True, "origin": report.origin, "previous_size": report.previous_size, "size": report.size,
        "new_entries": report.new_entries, "counts": report.counts,
        "changes": [{"index": c.index, "what": c.what, "id": c.record_id, "version": c.version, "text": c.text} for c in report.changes],
        "cosigned": {w: _utc(t) for w, t in sorted(report.checkpoint.cosigners().items())},
        "trusted_witnesses": list(report.trusted), "quorum": report.quorum, "witness_sizes": report.witness_sizes,
        "warnings": list(report.warnings),
    }


def _utc(timestamp: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
