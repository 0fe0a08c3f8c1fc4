"""ledger.projection: the browsing tables are a deterministic projection of the entries.

Includes an append-only model of the log driven by Hypothesis: random
operations in random batches, checking after each batch that rebuilding
equals the incremental tables, sizes and head versions match the model, and
verify_ledger passes.
"""

import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ledger.api import Ledger
from ledger.demo import build_demo
from ledger.note import Signer
from ledger.projection import TABLES
from ledger.verify import open_source, verify_ledger

T = "2024-05-01T00:00:00Z"
LOG = Signer.from_seed("model.example/log", b"L" * 32)
ANA = Signer.from_seed("ana@model.example", b"A" * 32)


def dump_all(ledger):
    tables = {t: ledger._projection.dump(t) for t in TABLES}
    conn = ledger._store.conn
    tables["claims_fts"] = conn.execute("SELECT rowid, facets, text, translation, quote FROM claims_fts ORDER BY rowid").fetchall()
    tables["fts_match"] = conn.execute(
        "SELECT rowid FROM claims_fts WHERE claims_fts MATCH 'text OR fixed OR masini OR \"verdict:none\"' ORDER BY rowid").fetchall()
    # What the index itself holds (the SELECT above reads its content table, claim_terms).
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_instances USING fts5vocab(main, claims_fts, 'instance')")
    tables["fts_instances"] = conn.execute("SELECT * FROM temp.fts_instances ORDER BY 1, 2, 3, 4").fetchall()
    conn.execute("DROP TABLE temp.fts_instances")
    return tables


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proj-demo")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    return tmp / "demo.db"


def test_rebuild_equals_incremental_on_demo(demo_template, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    ledger = Ledger.open(path)
    before = dump_all(ledger)
    assert all(before[t] for t in ("editors", "sources", "source_links", "claims", "claim_versions", "claim_chain",
                                   "reviews", "notices", "record_heads"))
    assert ledger.rebuild() == ledger.size
    assert dump_all(ledger) == before
    ledger.close()
    assert verify_ledger(open_source(str(path))).ok


def test_rebuild_repairs_a_tampered_table(demo_template, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    ledger = Ledger.open(path)
    before = dump_all(ledger)
    ledger._store.conn.execute("UPDATE claims SET text = 'tampered'")
    assert dump_all(ledger) != before
    ledger.rebuild()
    assert dump_all(ledger) == before
    ledger.close()


# --- the append-only model ---------------------------------------------------------------------------
OPS = ["source", "claim", "revise_claim", "review", "revise_review", "correct", "retract", "relink_source"]


class Model:
    """What the log should hold: record ID -> (kind, version, retracted)."""

    def __init__(self):
        self.records = {"key:log": ["key", 1, False]}
        self.count = 1
        self.n = 0

    def live(self, kind):
        return sorted(i for i, (k, _, r) in self.records.items() if k == kind and not r)


def plan(model, ledger, op, choice):
    """Records for one operation (dicts), or None if it does not apply now. Updates the model."""
    model.n += 1
    n = model.n
    sources, claims, reviews = model.live("source"), model.live("claim"), model.live("review")
    if op == "source":
        links = [{"rel": ["translation-of", "cites", "based-on", "quotes"][choice % 4], "source": sources[choice % len(sources)]}] if sources else []
        rid = f"source:s{n}"
        model.records[rid] = ["source", 1, False]
        return [{"kind": "source", "id": rid, "type": "article", "title": f"Source {n}", "created": T,
                 **({"links": links} if links else {})}]
    if op == "claim" and sources:
        rid = f"claim:c{n}"
        model.records[rid] = ["claim", 1, False]
        src = sources[choice % len(sources)]
        attribution = {"text": "someone", "source": sources[(choice // 3) % len(sources)]}
        return [{"kind": "claim", "id": rid, "text": f"claim text {n}", "language": "ro", "source": src, "created": T,
                 "attribution": attribution}]
    if op == "review" and claims:
        rid = f"review:r{n}"
        model.records[rid] = ["review", 1, False]
        return [{"kind": "review", "id": rid, "claim": claims[choice % len(claims)], "created": T,
                 "rating": {"label": "x", "normalized": ["false", "true", "mixed"][choice % 3]}}]
    return None


def revision_ops(model, ledger, op, choice):
    """Operations that need the ledger's current state (revisions, notices): applied immediately."""
    pools = {"revise_claim": "claim", "revise_review": "review", "correct": "claim", "retract": None,
             "relink_source": "source"}
    if op == "retract":
        pool = model.live("claim") + model.live("review") + model.live("source")
    else:
        pool = model.live(pools[op])
    if op in ("revise_claim", "correct"):
        # A claim whose source was retracted cannot be revised (rules._check_claim).
        pool = [c for c in pool if ledger._projection.head(ledger.current(c).record.source).status != "retracted"]
    if not pool:
        return False
    rid = pool[choice % len(pool)]
    if op == "revise_claim":
        ledger.append([ledger.revision(rid, "edit", text=f"fixed text {choice}")], ANA, LOG)
        model.records[rid][1] += 1
        model.count += 1
    elif op == "revise_review":
        ledger.append([ledger.revision(rid, "edit", explanation=f"because {choice}")], ANA, LOG)
        model.records[rid][1] += 1
        model.count += 1
    elif op == "relink_source":
        others = [s for s in model.live("source") if s != rid]
        links = [{"rel": "based-on", "source": others[choice % len(others)]}] if others and choice % 2 else None
        ledger.append([ledger.revision(rid, "relink", links=links)], ANA, LOG)
        model.records[rid][1] += 1
        model.count += 1
    elif op == "correct":
        ledger.correct(rid, f"reason {choice}", {"text": f"corrected {choice}"}, ANA, LOG)
        model.records[rid][1] += 1
        model.records[f"correction:{rid.replace(':', '.', 1)}.v{model.records[rid][1] - 1}"] = ["correction", 1, False]
        model.count += 2
    elif op == "retract":
        ledger.retract(rid, "reason", ANA, LOG)
        model.records[rid][2] = True
        model.records[f"retraction:{rid.replace(':', '.', 1)}.v{model.records[rid][1]}"] = ["retraction", 1, False]
        model.count += 1
    return True


def check(ledger, model, path):
    assert ledger.size == model.count
    heads = dict(ledger._store.conn.execute("SELECT id, version FROM record_heads"))
    assert heads == {rid: v for rid, (_, v, _) in model.records.items()}
    statuses = dict(ledger._store.conn.execute("SELECT id, status FROM record_heads"))
    assert {rid for rid, s in statuses.items() if s == "retracted"} == {rid for rid, (_, _, r) in model.records.items() if r}
    incremental = dump_all(ledger)
    ledger.rebuild()
    assert dump_all(ledger) == incremental
    report = verify_ledger(open_source(str(path)), vkey=LOG.vkey)
    assert report.ok, report.failures


operation = st.tuples(st.sampled_from(OPS), st.integers(0, 1000))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(operation, min_size=1, max_size=5), min_size=1, max_size=5))
def test_append_only_model(tmp_path_factory, batches):
    path = tmp_path_factory.mktemp("model") / "l.db"
    ledger = Ledger.create(path, LOG, created=T)
    ledger.append([{"kind": "key", "id": "key:ana", "vkey": ANA.vkey, "display_name": "Ana", "role": "editor",
                    "status": "active", "created": T}], LOG, LOG)
    model = Model()
    model.records["key:ana"] = ["key", 1, False]
    model.count = 2
    try:
        for batch in batches:
            records = []
            for op, choice in batch:
                if op in ("source", "claim", "review"):
                    # New records of one batch go in together, one transaction.
                    planned = plan(model, ledger, op, choice)
                    if planned:
                        records.extend(planned)
                        model.count += len(planned)
                else:
                    if records:
                        ledger.append(records, ANA, LOG)
                        records = []
                    revision_ops(model, ledger, op, choice)
            if records:
                ledger.append(records, ANA, LOG)
            check(ledger, model, path)
    finally:
        ledger.close()
