"""The search index (claim_terms, claims_fts, search_facets in ledger/projection.py) and its read side (ledger/search.py)."""

import collections
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from ledger import search
from ledger.api import Ledger
from ledger.demo import build_demo
from ledger.errors import FormatError
from ledger.folding import fts_match, word_terms
from ledger.note import Signer
from ledger.verify import open_source, verify_ledger

T = "2024-05-01T00:00:00Z"
LOG = Signer.from_seed("search.example/log", b"S" * 32)
ANA = Signer.from_seed("ana@search.example", b"N" * 32)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search-demo")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    return tmp / "demo.db"


def index_ids(conn, expression):
    """The claim IDs the index finds for an FTS5 expression, newest first."""
    return [row[0] for row in conn.execute(
        "SELECT c.id FROM claims_fts f JOIN claims c ON c.rowid = f.rowid WHERE claims_fts MATCH ? ORDER BY f.rowid DESC",
        (expression,))]


def counted(conn) -> dict:
    return {(facet, value): n for facet, value, n in conn.execute("SELECT facet, value, claims FROM search_facets")}


def recounted(conn) -> dict:
    """search_facets as it should be: every claims row's facets, counted here."""
    counts = collections.Counter()
    for language, translation_language, verdict, source_id, tags, status in conn.execute(
            "SELECT language, translation_language, verdict, source_id, tags, status FROM claims"):
        counts.update(search.claim_facets(language, translation_language, verdict, source_id, json.loads(tags or "[]"), status))
    return dict(counts)


def test_the_index_holds_claim_words_not_the_source_title(demo_template):
    conn = sqlite3.connect(demo_template)
    published = ("ro", "en")
    # Every demo claim quotes the article whose title says "mașini-unelte, microelectronice":
    # only the claim that says so itself is found.
    assert index_ids(conn, fts_match("masini-unelte", published)) == ["claim:ro-sales-machine-tools-microelectronics"]
    for query in ("microelectronica", "microelectronice", "microelectronicii"):
        found = index_ids(conn, fts_match(query, published))
        assert {"claim:ro-sales-machine-tools-microelectronics", "claim:ro-microelectronics-90pct"} <= set(found), query
    terms = dict(conn.execute("SELECT c.id, t.facets FROM claim_terms t JOIN claims c ON c.rowid = t.claim_rowid"))
    assert terms["claim:ro-microelectronics-90pct"].split() == [
        "language:ro", "source:source%3aarticle-ro-ap-2024-04-12", "status:active", "tag:microelectronics", "tag:weapons",
        "translation_language:en", "verdict:unproven"]
    assert counted(conn) == recounted(conn)
    conn.close()


def new_ledger(path) -> Ledger:
    ledger = Ledger.create(path, LOG, created=T)
    ledger.append([{"kind": "key", "id": "key:ana", "created": T, "vkey": ANA.vkey, "display_name": "Ana",
                    "role": "editor", "status": "active"}], LOG, LOG)
    ledger.append([{"kind": "source", "id": "source:s", "created": T, "type": "article", "title": "Vaccines and elections"}],
                  ANA, LOG)
    return ledger


def test_reviews_revisions_and_retractions_keep_the_index_and_counts_in_step(tmp_path):
    ledger = new_ledger(tmp_path / "s.db")
    ledger.append([
        {"kind": "claim", "id": "claim:a", "created": T, "source": "source:s", "language": "pt",
         "text": "A vacinação causa autismo", "tags": ["saúde", "vacinas"]},
        {"kind": "claim", "id": "claim:b", "created": T, "source": "source:s", "language": "ar",
         "text": "إسرائيل تعلن وقف إطلاق النار", "translation": {"language": "en", "text": "Israel announces a ceasefire"}},
    ], ANA, LOG)
    conn = ledger._store.conn

    def check():
        assert counted(conn) == recounted(conn)
        # One claim_terms row for each claims row, under its rowid.
        assert conn.execute("SELECT rowid FROM claims ORDER BY rowid").fetchall() == conn.execute(
            "SELECT claim_rowid FROM claim_terms ORDER BY claim_rowid").fetchall()
        conn.execute("INSERT INTO claims_fts(claims_fts, rank) VALUES ('integrity-check', 1)")

    check()
    assert counted(conn)[("verdict", "none")] == 2 and counted(conn)[("tag", "saúde")] == 1
    assert index_ids(conn, 'facets : "verdict:none"') == ["claim:b", "claim:a"]
    ledger.append([{"kind": "review", "id": "review:a", "created": T, "claim": "claim:a",
                    "rating": {"label": "Falso", "normalized": "false"}}], ANA, LOG)
    check()
    assert index_ids(conn, 'facets : "verdict:false"') == ["claim:a"]
    assert index_ids(conn, 'facets : "verdict:none"') == ["claim:b"]
    ledger.append([{"kind": "retraction", "id": "retraction:r", "created": T, "target": "review:a",
                    "target_entry": ledger.current("review:a").hash_hex, "reason": "wrong claim"}], ANA, LOG)
    check()
    assert ("verdict", "false") not in counted(conn)  # no claim has it any more: no row
    # A revision in another language with other tags: its old words and facets leave the index.
    ledger.append([ledger.revision("claim:a", note="English", language="en", text="Vaccination causes autism",
                                   tags=["health"])], ANA, LOG)
    check()
    assert index_ids(conn, fts_match("vacinação", ("pt", "en"))) == []
    assert index_ids(conn, fts_match("vaccinations", ("pt", "en"))) == ["claim:a"]
    assert ("tag", "saúde") not in counted(conn) and counted(conn)[("language", "en")] == 1
    ledger.close()
    assert verify_ledger(open_source(str(tmp_path / "s.db"))).ok


def test_verify_reports_forged_search_terms_and_counts(demo_template, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    conn = sqlite3.connect(path, isolation_level=None)
    # Through the triggers, so the full-text index agrees with the forged row: only the
    # comparison with the terms the claims' words give can tell.
    conn.execute("UPDATE claim_terms SET text = text || ' fabricated'"
                 " WHERE claim_rowid = (SELECT rowid FROM claims WHERE id = 'claim:ro-nitrocellulose')")
    conn.execute("UPDATE search_facets SET claims = claims + 1 WHERE facet = 'language'")
    conn.close()
    report = verify_ledger(open_source(str(path)))
    assert {f.where for f in report.failures} == {"table claim_terms", "table search_facets"}, report.failures
    assert any("column text" in f.message for f in report.failures if f.where == "table claim_terms")


def test_a_file_from_before_the_folded_index_asks_for_a_rebuild(tmp_path):
    path = tmp_path / "old.db"
    new_ledger(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE claims_fts")
    conn.execute("DROP TABLE claim_terms")
    conn.close()
    before = path.read_bytes()
    ledger = Ledger.open(path)
    claim = {"kind": "claim", "id": "claim:c", "created": T, "source": "source:s", "language": "en", "text": "A claim"}
    with pytest.raises(FormatError, match=r"no claim_terms table\): run `ledger rebuild` on it once"):
        ledger.append([claim], ANA, LOG)
    ledger.close()
    assert path.read_bytes() == before
    ledger = Ledger.open(path)
    ledger.rebuild()
    ledger.append([claim], ANA, LOG)
    assert index_ids(ledger._store.conn, '"claim"') == ["claim:c"]
    ledger.close()


def test_the_test_vectors_in_docs_are_the_codes():
    site_md = (Path(__file__).parent.parent / "docs" / "site.md").read_text("utf-8")
    table = site_md[site_md.index("Test vectors"):].split("\n\n")[1]
    rows = re.findall(r"^\| (\S+) \| ([a-z]{2}) \| ([^|]+) \| ([^|]+) \|$", table, re.M)
    assert len(rows) >= 12
    for word, language, index, query in rows:
        assert " ".join(sorted(word_terms(word, (language,)))) == index.strip(), word
        assert " ".join(sorted(word_terms(word, (language,), clitics=False))) == query.strip(), word
