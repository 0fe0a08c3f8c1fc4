"""The site names itself by its configured base URL and shows nothing of the server's paths (issue 13 item 8).

The attacks, against a real ``ledger serve`` on 127.0.0.1: a request with a
forged ``Host: evil.example`` got a claim page whose verify command fetched
the proof from evil.example, and a feed whose links pointed there (a cache in
front of the site would keep them for every reader); ``/-/databases.json``
and ``select file from pragma_database_list`` showed the database's absolute
path, ``/-/threads.json`` the server's Python paths.
"""

from __future__ import annotations

import html
import http.client
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from conftest import ledger_server

EVIL = "evil.example"
CLAIM = "/claim/ro-microelectronics-90pct"
BASE = "https://ledger.example.org"


@pytest.fixture(scope="module")
def demo(_demo_build):
    """The session's demo ledger (conftest), read only: the servers and bundles here never write to it."""
    return _demo_build / "demo.db"


@pytest.fixture(scope="module")
def default(demo):
    """``ledger serve`` with no --base-url: the site is named by the address it serves."""
    with ledger_server(demo) as base:
        yield base


@pytest.fixture(scope="module")
def configured(demo):
    with ledger_server(demo, "--base-url", BASE + "/") as base:
        yield base


def get(base: str, path: str, host: str | None = None):
    """GET with the Host header a client chooses (http.client sends exactly what it is given)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read().decode("utf-8", "replace")
    conn.close()
    return response.status, body


def verify_command(page: str) -> str:
    found = re.findall(r'<pre class="command">(.*?)</pre>', page, re.S)
    assert len(found) == 1
    return html.unescape(found[0])


@pytest.mark.parametrize("path", [CLAIM, "/how-to-verify", "/-/feed.atom", "/-/ledger.json", "/demo/claims.json?_size=2",
                                  "/demo/claims?_size=2", "/demo", "/"])
def test_a_forged_host_header_appears_nowhere(path, default):
    status, body = get(default, path, host=EVIL)
    assert status == 200, body
    assert EVIL not in body


@pytest.mark.parametrize("path", [CLAIM, "/how-to-verify", "/-/feed.atom", "/-/ledger.json", "/demo/claims.json?_size=2",
                                  "/demo/claims?_size=2"])
def test_a_forged_host_header_appears_nowhere_with_a_base_url(path, configured):
    status, body = get(configured, path, host=EVIL)
    assert status == 200, body
    assert EVIL not in body


def test_the_verify_command_names_the_served_address_by_default(default):
    _, page = get(default, CLAIM, host=EVIL)
    assert verify_command(page).startswith(f"curl -s {default}-/proof/tlog/")


def test_the_configured_base_url_names_the_site(configured):
    _, page = get(configured, CLAIM, host=EVIL)
    assert verify_command(page).startswith(f"curl -s {BASE}/-/proof/tlog/")
    _, feed = get(configured, "/-/feed.atom", host=EVIL)
    links = [link.get("href") for link in ET.fromstring(feed).iter("{http://www.w3.org/2005/Atom}link")]
    assert links and all(link.startswith(BASE + "/") for link in links), links
    _, listing = get(configured, "/demo/claims.json?_size=2", host=EVIL)
    assert json.loads(listing)["next_url"].startswith(BASE + "/demo/claims.json?")
    _, how_to = get(configured, "/how-to-verify", host=EVIL)
    commands = [html.unescape(c) for c in re.findall(r'<pre class="command">(.*?)</pre>', how_to, re.S)]
    assert len(commands) == 5 and all(f"{BASE}/" in c for c in commands), commands


def test_the_servers_paths_are_not_shown(default, demo):
    _, databases = get(default, "/-/databases.json")
    assert [db["name"] for db in json.loads(databases)] == ["demo"] and "path" not in json.loads(databases)[0]
    _, listed = get(default, "/demo.json?sql=" + urllib.parse.quote("select name, file from pragma_database_list") + "&_shape=array")
    assert json.loads(listed) == [{"name": "main", "file": None}]
    status, _ = get(default, "/-/threads.json")
    assert status == 404
    paths = {str(demo.parent), str(demo.parent.parent), "/usr/lib", "/root", "site-packages", ".pyenv", "/tmp/"}
    for path in ("/-/databases.json", "/-/databases", "/-/metadata.json", "/-/settings.json", "/-/plugins.json",
                 "/-/versions.json", "/-/threads.json", "/-/threads", "/-/actor.json", "/-/ledger.json", "/demo.json",
                 "/demo/nope", "/nope", "/demo.json?sql=select+nonsense", "/demo.json?sql=select+*+from+pragma_database_list",
                 "/-/snapshots/" + "0" * 64, "/-/proof/tlog/99999", "/demo/claims/nope"):
        _, body = get(default, path)
        leaked = [p for p in paths if p in body]
        assert not leaked, (path, leaked, body[:500])


def test_serve_refuses_a_wildcard_host_without_a_base_url(demo, run_process):
    result = run_process("serve", demo, "--host", "0.0.0.0", "--port", "1")
    assert result.exit_code == 1 and result.stderr_lines == [
        "Error: --host 0.0.0.0 serves every address of this machine; give --base-url, the address readers use "
        "(e.g. https://ledger.example.org), so that links and verify commands name it"]


@pytest.mark.parametrize("base_url", ["ledger.example.org", "ftp://ledger.example.org", "https://ledger.example.org/ledger/",
                                      "https://ledger.example.org?x=1", "https://user@ledger.example.org", "https://evil.example\r\nX: y"])
def test_a_base_url_that_is_not_a_site_address_is_refused(base_url, demo, run, tmp_path):
    result = run("serve", demo, "--base-url", base_url, "--port", "1")
    assert result.exit_code == 1 and len(result.stderr_lines) == 1
    assert result.stderr_lines[0].startswith("Error: --base-url ") and "is not a site address" in result.stderr
    result = run("publish", demo, tmp_path / "bundle", "--base-url", base_url)
    assert result.exit_code == 1 and not (tmp_path / "bundle").exists()


def test_publish_records_the_base_url(demo, run, tmp_path):
    result = run("publish", demo, tmp_path / "bundle", "--base-url", BASE)
    assert result.exit_code == 0, result.stderr
    metadata = json.loads((tmp_path / "bundle" / "metadata.json").read_text())
    assert metadata["plugins"]["fact-ledger"]["base_url"] == BASE
    result = run("publish", demo, tmp_path / "unnamed")
    assert result.exit_code == 0 and "Note: no --base-url, so the pages name the site https://THIS-SITE" in result.stderr
    assert "base_url" not in json.loads((tmp_path / "unnamed" / "metadata.json").read_text())["plugins"]["fact-ledger"]
