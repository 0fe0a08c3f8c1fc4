"""The published site: ``serve``, ``publish`` and ``demo``. Datasette is imported inside these commands only."""

from __future__ import annotations

import click

from ledger.cli.group import cli, db_argument


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

    # The banner once the file passed its checks: a bad file is one 'Error:' line.
    site.serve(db, host=host, port=port, on_ready=lambda: click.echo(f"Serving {db} read-only at http://{host}:{port}/ (Ctrl-C to stop)", err=True))


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
