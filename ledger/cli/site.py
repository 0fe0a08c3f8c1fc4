"""The published site: ``serve``, ``publish`` and ``demo``. Datasette is imported inside these commands only."""

from __future__ import annotations

import click

from ledger.cli.group import cli, db_argument


base_url_option = click.option(
    "--base-url", help="The site's address as readers reach it, e.g. https://ledger.example.org: links in the feed and the "
                       "verify commands on its pages name it (never the request's Host header).")


@cli.command()
@db_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@base_url_option
def serve(db, host, port, base_url):
    """Serve the ledger read-only with Datasette (opened immutable, nothing can write).

    --base-url defaults to http://HOST:PORT; give it when readers reach the
    site at another address (behind a proxy, or with --host 0.0.0.0).

    \b
    Example:
      ledger serve desk.db --port 8001
      ledger serve desk.db --host 0.0.0.0 --base-url https://ledger.example.org
    """
    from ledger import site

    base_url = site.served_base_url(host, port, base_url)
    # The banner once the file passed its checks: a bad file is one 'Error:' line.
    site.serve(db, host=host, port=port, base_url=base_url,
               on_ready=lambda: click.echo(f"Serving {db} read-only at http://{host}:{port}/ as {base_url}/ (Ctrl-C to stop)",
                                           err=True))


@cli.command()
@db_argument
@click.argument("outdir", type=click.Path(file_okay=False))
@base_url_option
@click.option("--wheel", type=click.Path(dir_okay=False, exists=True),
              help="fact-ledger's wheel to ship as the verifier (default: built, offline, from this source checkout).")
def publish(db, outdir, base_url, wheel):
    """Write a self-contained bundle to deploy the site (datasette publish / package).

    The bundle holds the verifier too: this package's wheel (served by the
    site under /ledger-verifier/) and its SHA-256, with the source commit it
    was built from; readers install that, never 'pip install fact-ledger'.

    \b
    Example:
      ledger publish desk.db site-bundle --base-url https://ledger.example.org && cat site-bundle/README.md
    """
    from ledger import site

    out = site.publish_bundle(db, outdir, base_url=base_url, wheel=wheel)
    click.echo(f"Wrote the publishable bundle to {out}; see {out}/README.md to deploy it")
    if base_url is None:
        click.echo(f"Note: no --base-url, so the pages name the site {site.PLACEHOLDER_SITE} until you set "
                   f"plugins.{site.PLUGIN_NAME}.base_url in {out}/metadata.json", err=True)


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
