"""``ledger export --format claimreview|prov|bundle``: round trips, PROV read back by the prov package,
and a bundle that verifies with only this package."""

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEST_CREATED, TEST_EDITOR, TEST_ORIGIN, test_signer
from ledger.demo import DEMO_PUBLISHER
from ledger.api import Ledger
from ledger.records import KeyRecord

FIXTURES = Path(__file__).parent / "fixtures" / "interop"


def _fresh_ledger(path: Path) -> Path:
    log, editor = test_signer(TEST_ORIGIN), test_signer(TEST_EDITOR)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Ledger.create(path, log, created=TEST_CREATED, extra_meta={"log_key_file": "../log.key"}) as ledger:
        ledger.append([KeyRecord(id="key:ana", created=TEST_CREATED, vkey=editor.vkey, display_name="Ana Test",
                                 role="editor", status="active")], log, log)
    return path


def _export(run, db, fmt, out, *extra):
    result = run("export", db, "--format", fmt, "-o", out, *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(Path(out).read_text(encoding="utf-8"))


def _tables(db):
    """The file's tables, read with plain SQL as any auditor can."""
    return contextlib.closing(sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True))


def _records(db):
    with _tables(db) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM record_heads WHERE kind != 'key' ORDER BY id")]
    with Ledger.open(db) as ledger:
        return {i: ledger.current(i).record.to_dict() for i in ids}


def _without(record, *fields):
    return {k: v for k, v in record.items() if k not in ("version", "replaces", "created", "note", *fields)}


@pytest.fixture
def imported(run, ledger_db, editor_key_file):
    for name, fmt in (("claimreview-graph.json", "claimreview"), ("factcheck-api.json", "factcheck-api")):
        assert run("import", ledger_db, FIXTURES / name, "--format", fmt, "--key", editor_key_file).exit_code == 0
    return ledger_db


def test_claimreview_round_trip_preserves_every_field(run, imported, editor_key_file, tmp_path):
    first = _export(run, imported, "claimreview", tmp_path / "a.json")
    assert first["@context"] == "https://schema.org" and len(first["@graph"]) == 10
    fresh = _fresh_ledger(tmp_path / "fresh" / "b.db")
    result = run("import", fresh, tmp_path / "a.json", "--format", "claimreview", "--key", editor_key_file, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["refused"] == []
    # Field by field: every review, claim and source the feed produced has the same content.
    before, after = _records(imported), _records(fresh)
    for record_id, record in before.items():
        if record["kind"] == "review":
            assert _without(after[record_id]) == _without(record), record_id
            claim_id = record["claim"]
            assert _without(after[claim_id]) == _without(before[claim_id]), claim_id
            assert _without(after[before[claim_id]["source"]]) == _without(before[before[claim_id]["source"]])
    for record_id, record in before.items():
        if record["kind"] == "source" and not record_id.startswith("source:cr-publisher-"):
            assert _without(after[record_id]) == _without(record), record_id
        elif record["kind"] == "source":
            # The Fact Check API's publisher 'site' is not a URL and ClaimReview has no field for it.
            assert _without(after[record_id], "description") == _without(record, "description"), record_id
    # And exporting again gives the same document.
    assert _export(run, fresh, "claimreview", tmp_path / "b.json") == first


def test_claimreview_nodes(run, imported, tmp_path):
    graph = _export(run, imported, "claimreview", tmp_path / "a.json")["@graph"]
    node = next(n for n in graph if n.get("url") == "https://factcheck.example.org/2024/04/microchips")
    assert node["author"] == {"@type": "Organization", "name": "Example Fact Check Desk", "url": "https://factcheck.example.org/"}
    assert node["reviewRating"] == {"@type": "Rating", "alternateName": "Pants on Fire!", "name": "Pants on Fire!",
                                    "ratingValue": 1, "bestRating": 6, "worstRating": 1}
    item = node["itemReviewed"]
    assert item["author"] == {"@type": "Person", "name": "Jane Blogger", "url": "https://social.example.com/@jane"}
    assert item["firstAppearance"]["archivedAt"].startswith("https://web.archive.org/")
    assert [a["url"] for a in item["appearance"]] == ["https://social.example.com/@jane/112233", "https://video.example.net/watch?v=abc123"]
    arabic = next(n for n in graph if n.get("inLanguage") == "ar")
    assert "appearance" not in arabic["itemReviewed"] and arabic["reviewRating"]["alternateName"] == "مضلل"


def test_claimreview_shows_corrections_and_leaves_out_retractions(run, demo_db, tmp_path):
    graph = _export(run, demo_db, "claimreview", tmp_path / "demo.json")["@graph"]
    with _tables(demo_db) as conn:
        retracted = {r[0] for r in conn.execute("SELECT id FROM claims WHERE status = 'retracted'")}
        corrected = conn.execute("SELECT target_id, reason FROM notices WHERE kind = 'correction'").fetchall()
        reviews = conn.execute("SELECT count(*) FROM reviews r JOIN claims c ON c.id = r.claim_id WHERE c.status != 'retracted'").fetchone()[0]
    assert len(graph) == reviews and retracted
    assert not any(n["claimReviewed"] in retracted for n in graph)
    with_corrections = [n for n in graph if "correction" in n]
    assert [c["text"] for n in with_corrections for c in n["correction"]] == [reason for _, reason in corrected]
    assert with_corrections[0]["correction"][0]["@type"] == "CorrectionComment"


def test_prov_json_is_read_by_the_prov_package(run, demo_db, tmp_path):
    prov_model = pytest.importorskip("prov.model")
    document = _export(run, demo_db, "prov", tmp_path / "prov.json")
    prov = prov_model.ProvDocument.deserialize(content=json.dumps(document), format="json")
    with _tables(demo_db) as conn:
        sources = conn.execute("SELECT count(*) FROM sources").fetchone()[0]
        versions = conn.execute("SELECT count(*) FROM claim_versions").fetchone()[0]
        revisions = conn.execute("SELECT count(*) FROM claim_versions WHERE version > 1").fetchone()[0]
        links = dict(conn.execute("SELECT rel, count(*) FROM source_links GROUP BY rel").fetchall())
        notices = conn.execute("SELECT count(*) FROM notices WHERE target_kind = 'claim'").fetchone()[0]
        editors = conn.execute("SELECT count(*) FROM editors").fetchone()[0]

    def records(cls):
        return list(prov.get_records(cls))

    def typed(cls, name):
        return [r for r in records(cls) if any(str(v) == name for k, v in r.attributes if str(k) == "prov:type")]

    assert len(records(prov_model.ProvEntity)) == sources + versions
    assert len(typed(prov_model.ProvDerivation, "prov:Revision")) == revisions
    assert len(typed(prov_model.ProvDerivation, "prov:Quotation")) == versions + links.get("quotes", 0)
    assert len(typed(prov_model.ProvDerivation, "ledger:Translation")) == links.get("translation-of", 0)
    assert len(records(prov_model.ProvInvalidation)) == notices and notices
    assert len(records(prov_model.ProvActivity)) == notices
    assert len([a for a in records(prov_model.ProvAgent) if str(a.identifier).startswith("ledger:key.")]) == editors
    attributed = [a for a in records(prov_model.ProvAgent) if str(a.identifier).startswith("ledger:attributed.")]
    assert attributed and len(records(prov_model.ProvAttribution)) > versions


BLOCKER = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("datasette", "sqlite_utils", "jsonschema"):
            raise ImportError(f"{name} is blocked: verification must need only the package")
        return None

sys.meta_path.insert(0, Block())
sys.argv = ["ledger", *sys.argv[1:]]
from ledger.cli import main
main()
"""


def test_bundle_verifies_with_only_the_package(run, demo_db, tmp_path):
    out = tmp_path / "bundle"
    result = run("export", demo_db, "--format", "bundle", out)
    assert result.exit_code == 0, result.stderr
    with Ledger.open(demo_db) as ledger:
        vkey, sizes, snapshots = ledger.log_vkey, [s for s, _ in ledger.checkpoints()], list(ledger.snapshots())
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "checkpoint", "checkpoints", "entries.jsonl", "snapshots", "vkey"]
    assert sorted(int(p.name) for p in (out / "checkpoints").iterdir()) == sizes
    assert (out / "vkey").read_text().strip() == vkey
    assert (out / "snapshots" / f"{snapshots[0][0]}.type").read_text().strip() == snapshots[0][1]
    assert f"ledger verify bundle --vkey '{vkey}'" in (out / "README.md").read_text()
    proc = subprocess.run([sys.executable, "-c", BLOCKER, "verify", str(out), "--vkey", vkey, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] and report["checkpoints"] == len(sizes) + 1 and report["quotes_checked"] > 0
    assert report["snapshots"] == len(snapshots)


def test_bundle_with_a_tampered_older_checkpoint_fails(run, demo_db, tmp_path):
    out = tmp_path / "bundle"
    assert run("export", demo_db, "--format", "bundle", out).exit_code == 0
    older = sorted((out / "checkpoints").iterdir(), key=lambda p: int(p.name))[2]
    lines = older.read_text().split("\n")
    lines[1] = str(int(lines[1]) + 1)
    older.write_text("\n".join(lines))
    result = run("verify", out)
    assert result.exit_code == 1
    assert f"checkpoint {older.name}: not a valid checkpoint signed by the log key" in result.stdout


def test_bundle_refuses_an_existing_folder(run, demo_db, tmp_path, file_hash):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "something").write_text("x")
    result = run("export", demo_db, "--format", "bundle", out)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {out} already exists and is not an empty folder; choose a new one\n"
    assert [p.name for p in out.iterdir()] == ["something"]


def test_export_errors(run, demo_db, tmp_path):
    result = run("export", demo_db, "--format", "bundle")
    assert result.exit_code == 1
    assert result.stderr == "Error: --format bundle needs the folder to write: ledger export DB --format bundle OUTDIR\n"
    result = run("export", demo_db, "--format", "prov", tmp_path / "x")
    assert result.exit_code == 1
    assert result.stderr == "Error: --format prov writes one file: use -o FILE, not a folder\n"
    (tmp_path / "exists.json").write_text("{}")
    result = run("export", demo_db, "--format", "claimreview", "-o", tmp_path / "exists.json")
    assert result.exit_code == 1 and result.stderr == f"Error: {tmp_path / 'exists.json'} already exists\n"


def test_bundle_of_an_imported_ledger_verifies_with_only_the_package(run, imported, tmp_path):
    out = tmp_path / "imported-bundle"
    assert run("export", imported, "--format", "bundle", out).exit_code == 0
    vkey = (out / "vkey").read_text().strip()
    proc = subprocess.run([sys.executable, "-c", BLOCKER, "verify", str(out), "--vkey", vkey],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert proc.stdout.endswith("OK: every check holds.\n")


# --- issue 15: the export as Google and aggregators read it, and read back by this ledger -----------
BASE = "https://facts.desk.example"
# Google's ClaimReview structured-data documentation (developers.google.com/search/docs/appearance/
# structured-data/factcheck, "Structured data type definitions"): what each node must and should have.
GOOGLE_REQUIRED = {"ClaimReview": ("claimReviewed", "reviewRating", "url"), "Rating": ("alternateName",)}
GOOGLE_RECOMMENDED = {"ClaimReview": ("author", "datePublished", "itemReviewed"),
                      "Claim": ("author", "datePublished", "appearance", "firstAppearance"),
                      "Rating": ("bestRating", "name", "ratingValue", "worstRating")}


def _missing(node: dict, fields) -> list[str]:
    return [field for field in fields if node.get(field) in (None, "", [], {})]


def test_claimreview_has_what_google_requires(run, demo_db, imported, tmp_path):
    # Red on main: no url on the desk's own reviews, and the author of imported ones was the desk.
    for db in (demo_db, imported):
        graph = _export(run, db, "claimreview", tmp_path / f"{db.stem}.json", "--base-url", BASE)["@graph"]
        assert graph
        for node in graph:
            assert node["@type"] == "ClaimReview" and _missing(node, GOOGLE_REQUIRED["ClaimReview"]) == [], node.get("url")
            assert _missing(node["reviewRating"], GOOGLE_REQUIRED["Rating"]) == []
            assert node["url"].startswith("https://") and node["itemReviewed"]["@type"] == "Claim"
            assert "name" in node.get("author", {"name": "(the feed named no publisher)"})
    demo = _export(run, demo_db, "claimreview", tmp_path / "demo-again.json", "--base-url", BASE)["@graph"]
    for node in demo:  # the desk's own reviews have every recommended field but the numbers they do not give
        assert _missing(node, GOOGLE_RECOMMENDED["ClaimReview"]) == []
        assert _missing(node["itemReviewed"], GOOGLE_RECOMMENDED["Claim"]) == []
        assert node["url"] == f"{BASE}/claim/{node['identifier'].split(':', 1)[1]}"
        assert node["author"] == {"@type": "Organization", "name": DEMO_PUBLISHER, "url": BASE + "/"}


def test_claimreview_carries_an_appearance_for_every_source_link(run, demo_db, tmp_path):
    graph = _export(run, demo_db, "claimreview", tmp_path / "demo.json", "--base-url", BASE)["@graph"]
    with Ledger.open(demo_db) as ledger:
        claim = ledger.current("claim:ro-microelectronics-90pct").record
        source = ledger.current(claim.source).record
        translated = [link.source for link in source.links if link.rel == "translation-of"]
        original = ledger.current(translated[0]).record
    node = next(n for n in graph if n["identifier"] == "review:ro-microelectronics-90pct")
    appearances = node["itemReviewed"]["appearance"]
    assert appearances[0] == node["itemReviewed"]["firstAppearance"]
    assert appearances[0]["archivedAt"] == f"{BASE}/-/snapshots/{source.snapshot.sha256}"
    assert [a.get("headline") for a in appearances] == [source.title, original.title]


def test_own_export_imports_to_nothing(run, demo_db, tmp_path, file_hash):
    # Red on main: a duplicate claim and review, its own labels unrated.
    keys = tmp_path / "demo-keys"
    for name, extra in (("without.json", ()), ("with-base.json", ("--base-url", BASE))):
        _export(run, demo_db, "claimreview", tmp_path / name, *extra)
        before = file_hash(demo_db)
        result = run("import", demo_db, tmp_path / name, "--format", "claimreview", "--key", keys / "ana.key",
                     "--log-key", keys / "log.key", "--json")
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert (report["created"], report["updated"], report["refused"], report["unrated"]) == ([], [], [], []), name
        assert len(report["unchanged"]) == 2 * report["items"]  # each review and its claim
        assert file_hash(demo_db) == before


def test_own_review_changed_in_the_file_is_refused(run, demo_db, tmp_path):
    path = tmp_path / "changed.json"
    document = _export(run, demo_db, "claimreview", path)
    document["@graph"][0]["reviewRating"]["alternateName"] = "Fals"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    keys = tmp_path / "demo-keys"
    result = run("import", demo_db, path, "--key", keys / "ana.key", "--log-key", keys / "log.key", "--json")
    report = json.loads(result.stdout)
    review_id = document["@graph"][0]["identifier"]
    assert report["refused"] == [{"at": '$["@graph"][0]', "reason": f"{review_id} is this ledger's own review, and the file "
                                  "changes its rating.label: an import never changes the desk's own records (use 'ledger revise')"}]


def test_claimreview_node_of_one_review_is_the_exports(run, demo_db, tmp_path):
    from ledger.interop.claimreview_export import claimreview_node

    graph = _export(run, demo_db, "claimreview", tmp_path / "demo.json", "--base-url", BASE)["@graph"]
    with Ledger.open(demo_db) as ledger:
        for node in graph:
            assert claimreview_node(ledger, node["identifier"], BASE) == {"@context": "https://schema.org", **node}
    keys = tmp_path / "demo-keys"
    retracted = graph[0]["identifier"]
    assert run("retract", demo_db, retracted, "--key", keys / "ana.key", "--log-key", keys / "log.key",
               "--reason", "withdrawn").exit_code == 0
    with Ledger.open(demo_db) as ledger:
        assert claimreview_node(ledger, retracted, BASE) is None


def test_a_datafeed_of_the_ledgers_own_nodes_reads_back_to_nothing(run, demo_db, tmp_path):
    # Issue 18's /-/claimreview.json: a schema.org DataFeed of claimreview_node, one DataFeedItem each.
    from ledger.interop.claimreview_export import claimreview_node

    with Ledger.open(demo_db) as ledger:
        nodes = [claimreview_node(ledger, h.id, BASE) for h in ledger.heads("review")]
    feed = {"@context": "https://schema.org", "@type": "DataFeed",
            "dataFeedElement": [{"@type": "DataFeedItem", "item": node} for node in nodes if node]}
    path = tmp_path / "claimreview.json"
    path.write_text(json.dumps(feed, ensure_ascii=False), encoding="utf-8")
    keys = tmp_path / "demo-keys"
    result = run("import", demo_db, path, "--key", keys / "ana.key", "--log-key", keys / "log.key", "--json")
    report = json.loads(result.stdout)
    assert (report["shape"], report["created"], report["updated"], report["refused"]) == ("a schema.org DataFeed", [], [], [])
