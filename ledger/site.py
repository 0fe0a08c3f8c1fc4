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

import contextlib
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

import ledger
from ledger.api import Ledger
from ledger.embed_cards import write_embed_cards
from ledger.errors import LedgerError
from ledger.verify.servable import check_servable

DATASETTE_VERSION = "0.65.5"
METADATA_DB_NAME = "ledger"  # the database name publish/metadata.json is written for
PLUGIN_NAME = "fact-ledger"  # the plugin's settings in metadata.json: plugins.fact-ledger
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
COUNTED_FACET = "counted"  # publish/plugin.py's FacetFromCounts.type


def publish_dir() -> Path:
    """``publish/`` in a source checkout, or ``ledger/_publish`` in an installed wheel."""
    package = Path(ledger.__file__).parent
    for candidate in (package / "_publish", package.parent / "publish"):
        if (candidate / "plugin.py").is_file():
            return candidate
    raise LedgerError(f"the site files (publish/plugin.py) are missing from {package}; reinstall fact-ledger")


def site_metadata(db_path, base_url: str | None = None, verifier: dict | None = None) -> dict:
    """publish/metadata.json for this file: its database section keyed by the
    file's database name, with the default facets of large tables cut to what
    the file's indexes count quickly (``_fit_facets``), and in the plugin's
    settings ``base_url`` (see ``check_base_url``) and ``verifier`` (the
    wheel, its SHA-256 and the source commit, shown in ``/-/ledger.json``)."""
    metadata = json.loads((publish_dir() / "metadata.json").read_text("utf-8"))
    databases = metadata.get("databases", {})
    if METADATA_DB_NAME in databases:
        section = databases[Path(db_path).stem] = databases.pop(METADATA_DB_NAME)
        _fit_facets(section.get("tables", {}), db_path)
    if base_url is not None:
        metadata.setdefault("plugins", {}).setdefault(PLUGIN_NAME, {})["base_url"] = check_base_url(base_url)
    if verifier is not None:
        metadata.setdefault("plugins", {}).setdefault(PLUGIN_NAME, {})["verifier"] = verifier
    return metadata


# --- the site's own address ---------------------------------------------------------------
# Links in the feed, Datasette's own absolute links (next_url...) and the
# commands printed on the pages name the site by its configured base URL,
# never by the request's Host header, which any client sets (a cache in front
# of the site would keep a page naming an attacker's host and show it to
# everyone). docs/site.md, "The site's address".
PLACEHOLDER_SITE = "https://THIS-SITE"  # what the pages call the site when no base URL is configured
_BASE_URL = re.compile(r"(https?)://([a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(:[0-9]{1,5})?/?")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def check_base_url(url: str) -> str:
    """``url`` as the site's base URL, ``scheme://host[:port]`` without a trailing '/'; a LedgerError says what is wrong."""
    if not isinstance(url, str) or not _BASE_URL.fullmatch(url.lower()):
        raise LedgerError(f"--base-url {url!r} is not a site address: expected http(s)://HOST[:PORT] with no path, "
                          "e.g. https://ledger.example.org (serve the site at the root of its host)")
    return url.lower().rstrip("/")


def default_base_url(host: str, port: int) -> str | None:
    """The address ``ledger serve --host HOST --port PORT`` is read at, or None for a wildcard host (every address)."""
    if host in WILDCARD_HOSTS:
        return None
    return check_base_url(f"http://{'[' + host + ']' if ':' in host else host}:{port}")


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
            table["facets"] = _affordable_facets(wanted, configured, indexed)
    finally:
        conn.close()


def _affordable_facets(wanted, configured: dict, indexed: set) -> list:
    # A "counted" facet (the plugin's FacetFromCounts) reads a count table, not the
    # rows, so it is always kept; of the others, those an index leads, at most LARGE_TABLE_MAX_FACETS.
    counted = {column for column, facet in configured.items() if isinstance(facet, dict) and COUNTED_FACET in facet}
    by_index = [column for column in wanted if column in indexed and column not in counted][:LARGE_TABLE_MAX_FACETS]
    return [configured.get(column, column) for column in wanted if column in counted or column in by_index]


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


def make_datasette(db_path, base_url: str | None = None, metadata: dict | None = None):
    """The configured ``datasette.app.Datasette`` for ``db_path`` (immutable), e.g. for tests;
    ``metadata`` (``serve``'s, for its worker processes) instead of ``site_metadata(db_path, base_url)``."""
    from datasette.app import Datasette

    path = _check_ledger(db_path)
    pub = publish_dir()
    return Datasette(
        immutables=[str(path)],
        metadata=metadata or site_metadata(path, base_url),
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


def serve(db_path, host: str = "127.0.0.1", port: int = 8001, base_url: str | None = None, workers: int = 1,
          on_ready: Optional[Callable[[], None]] = None) -> None:
    """Run ``datasette serve`` on the ledger in this process until Ctrl-C; ``on_ready()`` once the file passed its
    checks; with ``workers`` > 1, that many server processes on one listening socket (``serve_workers``).

    ``base_url`` is the address readers use (see ``check_base_url``); by
    default the address served, which a wildcard host does not give.
    """
    from datasette.cli import cli

    from ledger import distribution

    path = _check_ledger(db_path)
    check_servable(path)  # refuse a file readers must not be shown (docs/security.md)
    base_url = served_base_url(host, port, base_url)
    root = distribution.source_checkout()
    verifier = {"commit": distribution.source_commit(root)} if root else None  # no wheel: the source commit it runs
    if on_ready:
        on_ready()
    if workers > 1:
        serve_workers(path, host, port, workers, site_metadata(path, base_url, verifier))
        return
    with tempfile.TemporaryDirectory(prefix="fact-ledger-site-") as tmp:
        metadata_file = Path(tmp) / "metadata.json"
        metadata_file.write_text(json.dumps(site_metadata(path, base_url, verifier), ensure_ascii=False, indent=2), "utf-8")
        args = ["serve", *datasette_args(path, host=host, port=port, metadata_file=metadata_file)]
        try:
            cli.main(args, prog_name="datasette", standalone_mode=False)
        except KeyboardInterrupt:
            pass


def serve_workers(path: Path, host: str, port: int, workers: int, metadata: dict) -> None:
    """``workers`` processes, each the app ``make_datasette`` configures with ``serve``'s ``metadata``
    (the file immutable, the same settings) under uvicorn, accepting connections from one socket bound here.

    The file is immutable, so the processes share nothing but the socket and the
    operating system's page cache of the file. Ctrl-C or SIGTERM stops them all;
    if one stops, the others are stopped and the exit is an error.
    """
    import signal
    import socket

    listener = socket.create_server((host, port), reuse_port=False, backlog=2048)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: nothing of the parent's but the socket
            code = 1
            try:
                _run_worker(path, listener, metadata)
                code = 0
            finally:
                os._exit(code)  # never back into the parent's code
        children.append(pid)
    listener.close()

    stopping = []  # set once this process asked the workers to stop (they then end by SIGTERM)

    def stop(*_):
        stopping.append(True)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        ended, status = os.wait()
        children.remove(ended)
    except KeyboardInterrupt:  # the workers got the same Ctrl-C
        stopping.append(True)
    failed = not stopping
    stop()
    for child in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)
    if failed:
        raise LedgerError(f"a server process stopped (wait status {status}); the others were stopped too")


def _run_worker(path: Path, listener, metadata: dict) -> None:
    import signal

    import uvicorn

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # uvicorn installs its own handlers
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    server = uvicorn.Server(uvicorn.Config(make_datasette(path, metadata=metadata).app(), lifespan="on"))
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass


def served_base_url(host: str, port: int, base_url: str | None) -> str:
    """The base URL ``ledger serve`` gives the site: ``base_url``, or the address it listens on."""
    if base_url is not None:
        return check_base_url(base_url)
    default = default_base_url(host, port)
    if default is None:
        raise LedgerError(f"--host {host or repr(host)} serves every address of this machine; give --base-url, the address "
                          "readers use (e.g. https://ledger.example.org), so that links and verify commands name it")
    return default


BUNDLE_README = """# {title}: a published fact ledger

This directory is self-contained: the ledger database (`ledger.db`, served
read-only), the site configuration (`metadata.json`, `plugins/`,
`templates/`, `{static}/`), the latest signed checkpoint with its witnesses'
cosignatures (`checkpoint.txt`, tree size {size}), `inspect-data.json` (table
counts for Datasette), the log as static tiles (`tlog/`, below) and the
verifier (`{verifier_dir}/`: this version of fact-ledger as a wheel, which the
site also serves, and its SHA-256 in `{verifier_dir}/SHA256SUMS`).

Verifier key of the log (check it against what the publisher announced
elsewhere before trusting anything here):

    {vkey}

## The verifier

Never `pip install fact-ledger`: that name is not published on any package
index by fact-ledger's authors, and whoever registers it could ship a
verifier that always says OK. Install this wheel, after checking it:

    cd {verifier_dir} && sha256sum -c SHA256SUMS && cd ..
    pip install ./{verifier_dir}/{wheel}

Its SHA-256 is

    {wheel_sha256}

{provenance}

## Run it locally

    pip install -r requirements.txt
    datasette serve {serve_args}

## Deploy

Run these from this directory. `requirements.txt` pins `datasette=={datasette}`
and installs fact-ledger from `{verifier_dir}/{wheel}`; so do the
commands below (`--install`), and the site serves the wheel at
`/{verifier_dir}/{wheel}` with its SHA-256 in `/-/ledger.json` ("verifier").

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

Check that the site serves this checkpoint and this verifier:

    curl -s {site}/-/checkpoint | diff - checkpoint.txt
    curl -s {site}/{verifier_dir}/{wheel} | sha256sum

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

VERIFIER_MOUNT = "ledger-verifier"  # the bundle's directory holding the verifier's wheel, and its URL prefix on the site


def _publish_tiles(ledger: Ledger, directory: Path) -> int:
    """The log as static C2SP tlog-tiles under ``directory`` (docs/log.md "Tiles"): the same bytes
    the site serves under ``/-/tlog/``, for any static host or CDN."""
    from ledger.tiles import publish_tiles

    sizes = [size for size, _ in ledger.checkpoints()]
    return publish_tiles(directory, sizes, ledger.cosigned_checkpoint_note(), ledger, ledger)


def publish_bundle(db_path, outdir, base_url: str | None = None, wheel=None) -> Path:
    """Write a directory that deploys the ledger with ``datasette publish`` or ``datasette package``.

    ``base_url`` is the address the site will have (``check_base_url``);
    without it the pages name the site ``PLACEHOLDER_SITE`` until
    ``plugins.fact-ledger.base_url`` is set in the bundle's metadata.json.
    ``wheel`` is fact-ledger's wheel to ship as the verifier; by default it is
    built from the source checkout (``ledger.distribution``). Nothing is left
    behind if writing the bundle fails.
    """
    path = _check_ledger(db_path)
    base_url = None if base_url is None else check_base_url(base_url)
    check_servable(path)  # refuse a file readers must not be shown (docs/security.md)
    out = Path(outdir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LedgerError(f"{out} is not an empty directory; choose a new output directory")
    existed = out.exists()
    try:
        _write_bundle(path, out, base_url, wheel)
    except BaseException:
        if existed:
            for child in out.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return out


def _write_bundle(path: Path, out: Path, base_url, wheel) -> None:
    from ledger import distribution

    (out / VERIFIER_MOUNT).mkdir(parents=True)
    verifier = distribution.wheel_of(wheel) if wheel else distribution.build_wheel(out / VERIFIER_MOUNT)
    if wheel:
        shutil.copyfile(verifier.path, out / VERIFIER_MOUNT / verifier.name)
    (out / VERIFIER_MOUNT / "SHA256SUMS").write_text(f"{verifier.sha256}  {verifier.name}\n", "utf-8")
    pub = publish_dir()
    shutil.copyfile(path, out / "ledger.db")
    metadata = site_metadata(out / "ledger.db", base_url, verifier={"wheel": verifier.name, "sha256": verifier.sha256,
                                                                    "commit": verifier.commit})
    (out / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", "utf-8")
    (out / "plugins").mkdir()
    shutil.copyfile(pub / "plugin.py", out / "plugins" / "fact_ledger.py")
    shutil.copytree(pub / "templates", out / "templates", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(pub / "static", out / STATIC_MOUNT, ignore=shutil.ignore_patterns("__pycache__"))
    with Ledger.open(out / "ledger.db", immutable=True) as copy:
        (out / "checkpoint.txt").write_text(copy.cosigned_checkpoint_note(), "utf-8")
        size, vkey = copy.size, copy.log_vkey
        _publish_tiles(copy, out / "tlog")
    (out / "requirements.txt").write_text(f"datasette=={DATASETTE_VERSION}\n./{VERIFIER_MOUNT}/{verifier.name}\n", "utf-8")
    subprocess.run([sys.executable, "-m", "datasette", "inspect", "ledger.db", "--inspect-file", "inspect-data.json"],
                   cwd=out, check=True, capture_output=True)
    write_embed_cards(out, bundle_datasette)  # embed/<slug>.html, when metadata.json names the site's base URL
    (out / "README.md").write_text(_bundle_readme(metadata, size, vkey, verifier, base_url), "utf-8")


def _bundle_readme(metadata: dict, size: int, vkey: str, verifier, base_url) -> str:
    common = ["ledger.db", "--metadata", "metadata.json", "--plugins-dir", "plugins", "--template-dir", "templates",
              "--static", f"{STATIC_MOUNT}:{STATIC_MOUNT}", "--static", f"{VERIFIER_MOUNT}:{VERIFIER_MOUNT}"]
    publish_args = common + ["--install", f"{VERIFIER_MOUNT}/{verifier.name}", "--extra-options", " ".join(_setting_args())]
    serve_args = ["-i", "ledger.db", "--inspect-file", "inspect-data.json"] + common[1:] + _setting_args()
    source = metadata.get("plugins", {}).get(PLUGIN_NAME, {}).get("source_url") or "fact-ledger's source repository"
    if verifier.commit:
        provenance = (f"It was built from commit `{verifier.commit}` of {source}; building that commit again\n"
                      "(`pip wheel --no-deps .`, hatchling makes the wheel reproducible) gives the same SHA-256, so you can\n"
                      f"also install from the source itself: `pip install 'git+{source}@{verifier.commit}'`.")
    else:
        provenance = ("It was not built from a recorded commit (given with --wheel, or built from a source\n"
                      "tree with uncommitted changes): ask the publisher which source it comes from.")
    return BUNDLE_README.format(
        title=metadata.get("title", "Fact ledger"), static=STATIC_MOUNT, size=size, vkey=vkey, datasette=DATASETTE_VERSION,
        verifier_dir=VERIFIER_MOUNT, wheel=verifier.name, wheel_sha256=verifier.sha256, provenance=provenance,
        site=base_url or "https://YOUR-HOST",
        serve_args=" ".join(shlex.quote(a) for a in serve_args), publish_args=" ".join(shlex.quote(a) for a in publish_args),
    )
