"""The demo ledger: its claims, provenance chains, history, determinism and key files."""

import stat

import pytest

from ledger.api import Ledger
from ledger.demo import DEMO_CLAIM_IDS, DEMO_KEY_FILES, DEMO_ORIGIN, build_demo, write_demo
from ledger.keys import read_key_file

ARTICLE = "source:article-ro-ap-2024-04-12"
AP = "source:ap-report-2024-04-12"
OFFICIALS = "source:biden-officials-2024-04-12"
ASSESSMENT = "source:us-intelligence-assessment-china-russia"
CUSTOMS = "source:russian-customs-data"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    ledger = build_demo(tmp / "demo.db", tmp / "keys")
    yield ledger, tmp
    ledger.close()


def rows(ledger, sql, *params):
    return ledger._store.conn.execute(sql, params).fetchall()


def chain(ledger, claim_id):
    return [r[0] for r in rows(ledger, "SELECT source_id FROM claim_chain WHERE claim_id = ? ORDER BY position", claim_id)]


def test_origin_is_the_log_key_name(demo):
    ledger, _ = demo
    assert ledger.origin == DEMO_ORIGIN


def test_at_least_ten_claims_all_listed(demo):
    ledger, _ = demo
    ids = [r[0] for r in rows(ledger, "SELECT id FROM claims")]
    assert len(ids) >= 10
    assert sorted(ids) == sorted(DEMO_CLAIM_IDS)


def test_every_quote_is_anchored(demo):
    ledger, _ = demo
    text = (ledger.read_snapshot(rows(ledger, "SELECT snapshot_sha256 FROM sources WHERE id = ?", ARTICLE)[0][0])[1]
            .decode("utf-8"))
    for claim_id, quote, start, end in rows(ledger, "SELECT id, quote, quote_start, quote_end FROM claims"):
        assert start is not None and end is not None, claim_id
        assert text[start:end] == quote, claim_id


def test_chain_of_the_90pct_claim(demo):
    ledger, _ = demo
    assert chain(ledger, "claim:ro-microelectronics-90pct") == [ARTICLE, AP, OFFICIALS, ASSESSMENT]


def test_chain_of_the_semiconductor_claim_ends_at_customs_data(demo):
    ledger, _ = demo
    assert chain(ledger, "claim:ro-semiconductor-imports-2021-2022")[-1] == CUSTOMS


def test_history_has_reviews_revisions_correction_and_retraction(demo):
    ledger, _ = demo
    assert rows(ledger, "SELECT count(*) FROM reviews")[0][0] >= 3
    assert rows(ledger, "SELECT count(*) FROM reviews WHERE version > 1")[0][0] >= 1
    assert rows(ledger, "SELECT count(*) FROM claim_versions WHERE version > 1 AND correction_id IS NULL")[0][0] >= 1
    corrected = rows(ledger, "SELECT claim_id, correction_id FROM claim_versions WHERE correction_id IS NOT NULL")
    assert corrected == [("claim:ro-imports-q4-2023-70pct", "correction:ro-imports-q4-2023-900-million")]
    kinds = {r[0] for r in rows(ledger, "SELECT kind FROM notices")}
    assert kinds == {"correction", "retraction"}
    assert rows(ledger, "SELECT status FROM claims WHERE id = ?", "claim:ro-microelectronics-90pct-duplicate") == [("retracted",)]


def test_correction_names_the_wrong_and_the_corrected_version(demo):
    ledger, _ = demo
    first, second = ledger.history("claim:ro-imports-q4-2023-70pct")
    assert "billion" in first.record.translation.text
    assert "million" in second.record.translation.text
    (notice,) = ledger.notices_for("claim:ro-imports-q4-2023-70pct")
    assert (notice.record.target_entry, notice.record.corrected_entry) == (first.hash_hex, second.hash_hex)


def test_building_twice_gives_identical_entries(demo, tmp_path):
    ledger, tmp = demo
    again = build_demo(tmp_path / "again.db", tmp / "keys")  # existing key files are kept
    try:
        assert [leaf for _, leaf in again._store.leaves()] == [leaf for _, leaf in ledger._store.leaves()]
        assert again._store.checkpoints() == ledger._store.checkpoints()
    finally:
        again.close()


def test_key_files_are_private_and_unencrypted(demo):
    ledger, tmp = demo
    for file_name, name in DEMO_KEY_FILES.items():
        path = tmp / "keys" / file_name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert read_key_file(path, None).name == name
    assert read_key_file(tmp / "keys" / "log.key", None).vkey == ledger.log_vkey


def test_write_demo_replaces_the_file_and_says_what_it_built(tmp_path):
    target = tmp_path / "site" / "demo.db"
    target.parent.mkdir()
    target.write_bytes(b"an older demo")
    built = write_demo(target)
    assert built.path == target and built.claims == len(DEMO_CLAIM_IDS)
    with Ledger.open(target) as ledger:
        assert (ledger.size, ledger.log_vkey) == (built.entries, built.log_vkey)
    assert sorted(p.name for p in target.parent.iterdir()) == ["demo.db", "keys"]  # nothing left half-built
    assert sorted(p.name for p in (target.parent / "keys").iterdir()) == sorted(DEMO_KEY_FILES)
