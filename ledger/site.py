"""Serving and publishing the ledger as a read-only Datasette site (docs/site.md).

The configuration lives in ``publish/``: ``metadata.json`` (written for a
database named ``ledger``; re-keyed here to the served file's name, with the
default facets of large tables fitted to the file's indexes),
``plugin.py``, ``templates/`` and ``static/``. ``make_datasette`` builds the
app in-process (tests drive it through ``.client``); ``serve`` and the
command lines from ``datasette_args`` run the same configuration with the
database always opened immutable (``-i``).

This is the only module of ``ledger`` that imports Datasette, and only
inside functions, so the editing commands stay fast.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import ledger
from ledger.api import Ledger
from ledger.embed_cards import write_embed_cards
from ledger.errors import LedgerError

DATASETTE_VERSION = "0.65.5"
METADATA_DB_NAME = "ledger"  # the database name publish/metadata.json is written for
STATIC_MOUNT = "ledger-assets"  # URL prefix of publish/static (also a directory name in bundles)
SETTINGS = {
    "suggest_facets": False,
    "sql_time_limit_ms": 1000,
    "default_page_size": 50,
    "max_returned_rows": 1000,
    "allow_download": True,
    "default_facet_size": 20,
    "facet_time_limit_ms": 500,
}
# On a table of more than LARGE_TABLE_ROWS rows the default facets are at most
# LARGE_TABLE_MAX_FACETS that an index counts (see _fit_facets).
LARGE_TABLE_ROWS = 50_000
LARGE_TABLE_MAX_FACETS = 2


def publish_dir() -> Path:
    """``publish/`` in a source checkout, or ``ledger/_publish`` in an installed wheel."""
    package = Path(ledger.__file__).parent
    for candidate in (package / "_publish", package.parent / "publish"):
        if (candidate / "plugin.py").is_file():
            return candidate
    raise LedgerError(f"the site files (publish/plugin.py) are missing from {package}; reinstall fact-ledger")


def site_metadata(db_path) -> dict:
    """publish/metadata.json for this file: its database section keyed by the
    file's database name, with the default facets of large tables cut to what
    the file's indexes count quickly (``_fit_facets``)."""
    metadata = json.loads((publish_dir() / "metadata.json").read_text("utf-8"))
    databases = metadata.get("databases", {})
    if METADATA_DB_NAME in databases:
        section = databases[Path(db_path).stem] = databases.pop(METADATA_DB_NAME)
        _fit_facets(section.get("tables", {}), db_path)
    return metadata


def _fit_facets(tables: dict, db_path) -> None:
    """Cut the default facets of each table of more than LARGE_TABLE_ROWS rows to what it can afford.

    Datasette 0.65 counts every default facet over all the rows a page
    covers, one facet after another, on every page of the table. A facet on a
    column that no index leads reads the whole table (about 0.5 s per million
    claims, so it times out); one that an index leads reads only the index
    (about 0.1 s per million). So a large table keeps, in the order given by
    its ``large_table_facets`` (in its ``fact-ledger`` plugin settings), the
    facets whose column leads a full index of this file, at most
    LARGE_TABLE_MAX_FACETS; a table without that setting keeps none. Every
    other facet stays a click away (``?_facet=``, the column menu). Small
    tables keep all their facets.
    """
    conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for name, table in tables.items():
            if not table.get("facets") or name not in names:
                continue
            quoted = '"' + name.replace('"', '""') + '"'
            rows = conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {quoted} LIMIT {LARGE_TABLE_ROWS + 1})").fetchone()[0]
            if rows <= LARGE_TABLE_ROWS:
                continue
            indexed = {row[0] for row in conn.execute(
                "SELECT ii.name FROM pragma_index_list(?) il, pragma_index_info(il.name) ii"
                " WHERE il.partial = 0 AND ii.seqno = 0", (name,))}
            wanted = table.get("plugins", {}).get("fact-ledger", {}).get("large_table_facets", [])
            configured = {facet_column(facet): facet for facet in table["facets"]}
            table["facets"] = [configured.get(column, column) for column in wanted if column in indexed][:LARGE_TABLE_MAX_FACETS]
    finally:
        conn.close()


def facet_column(facet) -> str:
    """The column a metadata.json facet counts: ``"verdict"``, or ``{"with_null": {"column": "verdict", ...}}``."""
    if isinstance(facet, str):
        return facet
    (config,) = facet.values()
    return config if isinstance(config, str) else config.get("column") or config.get("simple")


def _check_ledger(db_path) -> Path:
    path = Path(db_path)
    Ledger.open(path, immutable=True).close()  # raises NotFoundError / FormatError with a fix
    return path


def _setting_args() -> list[str]:
    args = []
    for name, value in SETTINGS.items():
        args += ["--setting", name, ("on" if value else "off") if isinstance(value, bool) else str(value)]
    return args


def datasette_args(db_path, *, host: str = "127.0.0.1", port: int = 8001, metadata_file=None) -> list[str]:
    """Arguments for ``datasette serve`` that publish ``db_path`` read-only.

    ``metadata_file`` defaults to publish/metadata.json, which applies to a
    database file named ``ledger.db``; ``serve`` passes a re-keyed copy for
    other names.
    """
    pub = publish_dir()
    return [
        "-i", str(db_path),
        "--metadata", str(metadata_file or pub / "metadata.json"),
        "--plugins-dir", str(pub),
        "--template-dir", str(pub / "templates"),
        "--static", f"{STATIC_MOUNT}:{pub / 'static'}",
        *_setting_args(),
        "--host", host,
        "--port", str(port),
    ]


def make_datasette(db_path):
    """The configured ``datasette.app.Datasette`` for ``db_path`` (immutable), e.g. for tests."""
    from datasette.app import Datasette

    path = _check_ledger(db_path)
    pub = publish_dir()
    return Datasette(
        immutables=[str(path)],
        metadata=site_metadata(path),
        plugins_dir=str(pub),
        template_dir=str(pub / "templates"),
        static_mounts=[(STATIC_MOUNT, str(pub / "static"))],
        settings=dict(SETTINGS),
    )


def bundle_datasette(bundle: Path, metadata: dict):
    """The Datasette app of a ``publish_bundle`` directory, as ``datasette serve`` runs it there."""
    from datasette.app import Datasette

    return Datasette(immutables=[str(bundle / "ledger.db")], metadata=metadata, plugins_dir=str(bundle / "plugins"),
                     template_dir=str(bundle / "templates"), static_mounts=[(STATIC_MOUNT, str(bundle / STATIC_MOUNT))],
                     settings=dict(SETTINGS))


def serve(db_path, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Run ``datasette serve`` on the ledger in this process until Ctrl-C."""
    from datasette.cli import cli

    path = _check_ledger(db_path)
    with tempfile.TemporaryDirectory(prefix="fact-ledger-site-") as tmp:
        metadata_file = Path(tmp) / "metadata.json"
        metadata_file.write_text(json.dumps(site_metadata(path), ensure_ascii=False, indent=2), "utf-8")
        args = ["serve", *datasette_args(path, host=host, port=port, metadata_file=metadata_file)]
        try:
            cli.main(args, prog_name="datasette", standalone_mode=False)
        except KeyboardInterrupt:
            pass


BUNDLE_README = """# {title}: a published fact ledger

This directory is self-contained: the ledger database (`ledger.db`, served
read-only), the site configuration (`metadata.json`, `plugins/`,
`templates/`, `{static}/`), the latest signed checkpoint with its witnesses'
cosignatures (`checkpoint.txt`, tree size {size}), `inspect-data.json` (table
counts for Datasette) and the log as static tiles (`tlog/`, below).

Verifier key of the log (check it against what the publisher announced
elsewhere before trusting anything here):

    {vkey}

## Run it locally

    pip install -r requirements.txt
    datasette serve {serve_args}

## Deploy

Run these from this directory. `requirements.txt` pins `datasette=={datasette}`
and `fact-ledger=={version}`; if fact-ledger is not on your package index,
replace `--install fact-ledger=={version}` with the URL of its wheel.

Google Cloud Run:

    datasette publish cloudrun {publish_args} --service=fact-ledger

Heroku:

    datasette publish heroku {publish_args} --name=fact-ledger

A Docker image, to run anywhere:

    datasette package {publish_args} --tag fact-ledger
    docker run -p 8001:8001 fact-ledger

`datasette publish` and `datasette package` always serve the database
immutable (`-i`), with `--inspect-file inspect-data.json`.

## After deploying

Check that the site serves this checkpoint:

    curl -s https://YOUR-HOST/-/checkpoint | diff - checkpoint.txt

## Mirror the log as static tiles

`tlog/` is the log as C2SP tlog-tiles (the bytes the site serves under
`/-/tlog/`): any static host, object store or CDN can serve it, and
`ledger verify https://MIRROR/tlog/ --vkey VKEY` or `ledger monitor` read it
without this software on the server. Full tiles never change; partial tiles
and `checkpoint` do:

    aws s3 sync tlog/ s3://BUCKET/tlog/ --exclude checkpoint --exclude "*.p/*" --cache-control "public, max-age=31536000, immutable"
    aws s3 sync tlog/ s3://BUCKET/tlog/ --exclude "*" --include checkpoint --include "*.p/*" --cache-control "public, max-age=10"
    rsync -a tlog/ MIRROR:/var/www/ledger/tlog/
"""


def _publish_tiles(ledger: Ledger, directory: Path) -> int:
    """The log as static C2SP tlog-tiles under ``directory`` (docs/log.md "Tiles"): the same bytes
    the site serves under ``/-/tlog/``, for any static host or CDN."""
    from ledger.tiles import publish_tiles

    sizes = [size for size, _ in ledger.checkpoints()]
    return publish_tiles(directory, sizes, ledger.cosigned_checkpoint_note(), ledger, ledger)


def publish_bundle(db_path, outdir) -> Path:
    """Write a directory that deploys the ledger with ``datasette publish`` or ``datasette package``."""
    path = _check_ledger(db_path)
    out = Path(outdir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LedgerError(f"{out} is not an empty directory; choose a new output directory")
    out.mkdir(parents=True, exist_ok=True)
    pub = publish_dir()
    shutil.copyfile(path, out / "ledger.db")
    metadata = site_metadata(out / "ledger.db")
    (out / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", "utf-8")
    (out / "plugins").mkdir()
    shutil.copyfile(pub / "plugin.py", out / "plugins" / "fact_ledger.py")
    shutil.copytree(pub / "templates", out / "templates", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(pub / "static", out / STATIC_MOUNT, ignore=shutil.ignore_patterns("__pycache__"))
    with Ledger.open(out / "ledger.db", immutable=True) as copy:
        (out / "checkpoint.txt").write_text(copy.cosigned_checkpoint_note(), "utf-8")
        size, vkey = copy.size, copy.log_vkey
        _publish_tiles(copy, out / "tlog")
    (out / "requirements.txt").write_text(f"datasette=={DATASETTE_VERSION}\nfact-ledger=={ledger.__version__}\n", "utf-8")
    subprocess.run([sys.executable, "-m", "datasette", "inspect", "ledger.db", "--inspect-file", "inspect-data.json"],
                   cwd=out, check=True, capture_output=True)
    write_embed_cards(out, bundle_datasette)  # embed/<slug>.html, when metadata.json names the site's base URL
    common = ["ledger.db", "--metadata", "metadata.json", "--plugins-dir", "plugins", "--template-dir", "templates",
              "--static", f"{STATIC_MOUNT}:{STATIC_MOUNT}"]
    publish_args = common + ["--install", f"fact-ledger=={ledger.__version__}",
                             "--extra-options", " ".join(_setting_args())]
    serve_args = ["-i", "ledger.db", "--inspect-file", "inspect-data.json"] + common[1:] + _setting_args()
    (out / "README.md").write_text(BUNDLE_README.format(
        title=metadata.get("title", "Fact ledger"), static=STATIC_MOUNT, size=size, vkey=vkey,
        datasette=DATASETTE_VERSION, version=ledger.__version__,
        serve_args=" ".join(shlex.quote(a) for a in serve_args), publish_args=" ".join(shlex.quote(a) for a in publish_args),
    ), "utf-8")
    return out
