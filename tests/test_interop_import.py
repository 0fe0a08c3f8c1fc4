"""``ledger import``: ClaimReview, Fact Check Tools API and JSONL feeds, messy cases, identity and reports."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.api import Ledger
from ledger.verify import open_source, verify_ledger

FIXTURES = Path(__file__).parent / "fixtures" / "interop"
CLAIMREVIEW = FIXTURES / "claimreview-graph.json"
FACTCHECK = FIXTURES / "factcheck-api.json"
JSONL = FIXTURES / "records.jsonl"


def _hex(key):
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _import(run, db, path, fmt, key, *extra):
    return run("import", db, path, "--format", fmt, "--key", key, *extra)


def _current(db, record_id):
    with Ledger.open(db) as ledger:
        return ledger.current(record_id).record.to_dict()


def _json_report(run, db, path, fmt, key, *extra):
    result = _import(run, db, path, fmt, key, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_claimreview_import_creates_records_and_reports(run, ledger_db, editor_key_file):
    report = _json_report(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    assert len(report["created"]) == 33
    assert report["created"][0] == "ratingmap:default"
    assert report["refused"] == [{"at": '$["@graph"][9]', "reason": "no claimReviewed: the text of the claim is required"}]
    assert [s["at"] for s in report["skipped"]] == ['$["@graph"][1]', '$["@graph"][2]']
    assert report["unrated"] == [{"at": '$["@graph"][7]', "label": "Ceva ciudat"}]
    assert {"at": '$["@graph"][5]', "message": "datePublished: '12 avril 2024' is not a date (YYYY-MM-DD); left out"} in report["warnings"]
    assert verify_ledger(open_source(str(ledger_db))).ok


def test_claimreview_fields_land_where_docs_say(run, ledger_db, editor_key_file):
    _json_report(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    url = "https://factcheck.example.org/2024/04/microchips"
    review = _current(ledger_db, f"review:cr-{_hex(url)}")
    assert review["rating"] == {"label": "Pants on Fire!", "label_language": "en", "normalized": "false", "value": 1, "best": 6, "worst": 1}
    assert review["reviewed"] == "2024-04-14T09:30:00+00:00" and review["url"] == url  # the time as the feed gave it
    assert review["explanation"] == "Customs data analysed by researchers show about 90%, not all."
    claim = _current(ledger_db, review["claim"])
    assert claim["text"] == "China supplies 100% of Russia's microchips." and claim["language"] == "en"
    assert claim["claim_date"] == "2024-04-12"
    assert claim["attribution"] == {"text": "Jane Blogger", "source": f"source:cr-claimant-{_hex('https://social.example.com/@jane')}"}
    appearance = _current(ledger_db, claim["source"])
    assert appearance["url"] == "https://social.example.com/@jane/112233"
    assert appearance["archives"] == ["https://web.archive.org/web/20240412000000/https://social.example.com/@jane/112233"]
    second = _current(ledger_db, f"source:cr-appearance-{_hex('https://video.example.net/watch?v=abc123')}")
    assert second["links"] == [{"rel": "republishes", "source": claim["source"]}]
    page = _current(ledger_db, f"source:cr-review-{_hex(url)}")
    assert page["title"] == "No, China does not supply all of Russia's microchips"
    assert page["publisher"] == "Example Fact Check Desk"  # through the @id reference


def test_messy_cases(run, ledger_db, editor_key_file):
    _json_report(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    # Romanian, a shortened URL kept verbatim (never followed), no claimant.
    ro = _current(ledger_db, f"review:cr-{_hex('https://verificat.example.ro/fals-microelectronica')}")
    assert ro["rating"] == {"label": "Fals", "label_language": "ro", "normalized": "false"}
    ro_claim = _current(ledger_db, ro["claim"])
    assert "attribution" not in ro_claim and ro_claim["language"] == "ro"
    assert _current(ledger_db, ro_claim["source"])["url"] == "https://bit.ly/3xYzAbC"
    # Arabic, no claimant, no appearance, no date: the honest unknown source.
    ar = _current(ledger_db, f"review:cr-{_hex('https://tahaqaq.example.com/ar/2024/chips')}")
    assert ar["rating"] == {"label": "مضلل", "label_language": "ar", "normalized": "misleading"}
    assert "reviewed" not in ar
    ar_claim = _current(ledger_db, ar["claim"])
    assert ar_claim["source"] == "source:cr-unknown-appearance" and "claim_date" not in ar_claim
    unknown = _current(ledger_db, "source:cr-unknown-appearance")
    assert unknown["type"] == "other" and unknown["title"] == "Unknown appearance (not given by the feed)"
    # French on a reversed scale: the label decides; an unknown label falls back to the scale.
    faux = _current(ledger_db, f"review:cr-{_hex('https://factuel.example.fr/2024/04/puces')}")
    assert faux["rating"] == {"label": "Faux", "label_language": "fr", "normalized": "false", "value": 5, "best": 1, "worst": 5}
    house = _current(ledger_db, f"review:cr-{_hex('https://factuel.example.fr/2024/04/optique')}")
    assert house["rating"]["normalized"] == "mostly-true" and house["rating"]["label"] == "Étiquette maison"
    assert "scale" in house["note"]
    # A French claim whose claimant is an organization is attributed to it.
    fr_claim = _current(ledger_db, faux["claim"])
    assert _current(ledger_db, fr_claim["source"])["type"] == "organization"
    # Two desks reviewing one claim share it.
    other = _current(ledger_db, f"review:cr-{_hex('https://other-desk.example.com/checks/microchips')}")
    first = _current(ledger_db, f"review:cr-{_hex('https://factcheck.example.org/2024/04/microchips')}")
    assert other["claim"] == first["claim"]
    # Unknown label: kept verbatim, unrated.
    odd = _current(ledger_db, f"review:cr-{_hex('https://verificat.example.ro/ceva')}")
    assert odd["rating"] == {"label": "Ceva ciudat", "label_language": "ro", "normalized": "unrated"}


def test_reimport_creates_nothing(run, ledger_db, editor_key_file, file_hash):
    _json_report(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    with Ledger.open(ledger_db) as ledger:
        size = ledger.size
    result = _import(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    assert result.exit_code == 0, result.stderr
    assert "Created 0 records, updated 0, 32 unchanged, 1 refused, 2 skipped" in result.stdout
    with Ledger.open(ledger_db) as ledger:
        assert ledger.size == size


def test_changed_record_becomes_a_new_version(run, ledger_db, editor_key_file, tmp_path):
    _json_report(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    data = json.loads(CLAIMREVIEW.read_text())
    data["@graph"][3]["reviewRating"]["alternateName"] = "Parțial adevărat"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data, ensure_ascii=False))
    report = _json_report(run, ledger_db, changed, "claimreview", editor_key_file)
    review_id = f"review:cr-{_hex('https://verificat.example.ro/fals-microelectronica')}"
    assert report["created"] == []
    assert report["updated"] == [{"id": review_id, "version": 2, "changed": ["rating"]}]
    review = _current(ledger_db, review_id)
    assert review["version"] == 2 and review["rating"]["normalized"] == "mixed" and review["rating"]["label"] == "Parțial adevărat"
    assert review["note"] == 'Re-imported from claimreview file changed.json at $["@graph"][3]: rating changed'


def test_dry_run_appends_nothing(run, ledger_db, editor_key_file, file_hash):
    before = file_hash(ledger_db)
    result = _import(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Dry run: claimreview-graph.json (claimreview, JSON-LD with an @graph)\n  Would create 33 records")
    assert 'REFUSED $["@graph"][9]: no claimReviewed: the text of the claim is required' in result.stdout
    assert "unrated $[\"@graph\"][7]: label 'Ceva ciudat' is not in the rating map" in result.stdout
    assert file_hash(ledger_db) == before


def test_factcheck_api_import(run, ledger_db, editor_key_file):
    report = _json_report(run, ledger_db, FACTCHECK, "factcheck-api", editor_key_file)
    assert report["refused"] == [
        {"at": "$.claims[2]", "reason": "no claimReview: a claim without a review has no verdict to import"},
        {"at": "$.claims[3].claimReview[0]", "reason": "no textualRating: the desk's own label is required"},
    ]
    es = _current(ledger_db, f"review:cr-{_hex('https://verificador.example.es/2024/microelectronica')}")
    de = _current(ledger_db, f"review:cr-{_hex('https://faktencheck.example.de/mikroelektronik')}")
    assert es["rating"] == {"label": "Engañoso", "label_language": "es", "normalized": "misleading"}
    assert de["rating"] == {"label": "Irreführend", "label_language": "de", "normalized": "misleading"}
    assert es["claim"] == de["claim"]  # several reviews of one claim
    claim = _current(ledger_db, es["claim"])
    assert claim["claim_date"] == "2024-04-12" and claim["attribution"]["text"] == "Cuenta anónima en redes"
    assert _current(ledger_db, claim["source"])["type"] == "other"  # the API does not say person or organization
    no_claimant = _current(ledger_db, _current(ledger_db, f"review:cr-{_hex('https://verificador.example.es/2024/nada')}")["claim"])
    assert no_claimant["source"] == "source:cr-unknown-appearance"
    publisher = _current(ledger_db, f"source:cr-publisher-{_hex('verificador ejemplo')}")
    assert publisher["description"] == "Site as given by the feed: verificador.example.es"
    assert _json_report(run, ledger_db, FACTCHECK, "factcheck-api", editor_key_file)["created"] == []


def test_jsonl_import(run, ledger_db, editor_key_file):
    report = _json_report(run, ledger_db, JSONL, "jsonl", editor_key_file)
    assert report["created"] == ["source:jsonl-report", "claim:jsonl-one", "review:jsonl-one"]
    refused = {r["at"]: r["reason"] for r in report["refused"]}
    assert refused["line 4"] == "claim:jsonl-orphan: refers to source:does-not-exist, which is neither in this ledger nor imported before it"
    assert refused["line 6"].startswith("claim:jsonl-bad: .language: \"Romanian\" is not valid here")
    assert refused["line 7"] == "the line is not valid JSON: Expecting value at line 1 column 1"
    assert report["skipped"] == [{"at": "line 5", "reason": "key records belong to the ledger they were signed in; not imported"}]
    assert _json_report(run, ledger_db, JSONL, "jsonl", editor_key_file)["unchanged"] == report["created"]


def test_jsonl_import_of_another_ledgers_export(run, ledger_db, editor_key_file, demo_db, tmp_path):
    export = tmp_path / "demo.jsonl"
    assert run("export", demo_db, "-o", export).exit_code == 0
    report = _json_report(run, ledger_db, export, "jsonl", editor_key_file)
    # The demo's sources need their snapshot: refused, and so is everything that depends on them.
    assert any("snapshot" in r["reason"] for r in report["refused"])
    assert {s["reason"].split()[0] for s in report["skipped"]} == {"key", "correction", "retraction"}


def test_default_map_change_makes_a_new_version(run, ledger_db, editor_key_file, tmp_path, monkeypatch):
    from ledger.interop import ratings

    _json_report(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    changed = ratings.default_map()
    changed["labels"].append({"label": "Ceva ciudat", "normalized": "unproven", "language": "ro"})
    path = tmp_path / "default.json"
    path.write_text(json.dumps(changed, ensure_ascii=False))
    monkeypatch.setattr(ratings, "DEFAULT_MAP_PATH", path)
    report = _json_report(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    review_id = f"review:cr-{_hex('https://verificat.example.ro/ceva')}"
    assert {u["id"] for u in report["updated"]} == {"ratingmap:default", review_id}
    assert _current(ledger_db, review_id)["rating"]["normalized"] == "unproven"
    history = run("history", ledger_db, "ratingmap:default")
    assert "v2" in history.stdout and "The default rating map shipped with fact-ledger changed" in history.stdout


def test_desk_map_is_consulted_first(run, ledger_db, editor_key_file, tmp_path):
    desk = tmp_path / "desk.json"
    desk.write_text(json.dumps({"title": "Our labels", "labels": [{"label": "Ceva ciudat", "normalized": "mixed", "language": "ro"}]}))
    result = run("ratings", "set", ledger_db, desk, "--key", editor_key_file)
    assert result.exit_code == 0, result.stderr
    _json_report(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    review = _current(ledger_db, f"review:cr-{_hex('https://verificat.example.ro/ceva')}")
    assert review["rating"]["normalized"] == "mixed" and "ratingmap:desk v1" in review["note"]
    shown = run("ratings", "show", ledger_db)
    assert shown.exit_code == 0 and "ratingmap:desk v1: Our labels" in shown.stdout
    again = run("ratings", "set", ledger_db, desk, "--key", editor_key_file)
    assert again.exit_code == 1 and again.stderr == "Error: ratingmap:desk exists: say why it changes with --note\n"


def test_large_file_is_one_atomic_batch(run, ledger_db, editor_key_file, tmp_path):
    graph = [{"@type": "ClaimReview", "url": f"https://desk.example.org/check/{i}", "claimReviewed": f"Claim number {i}",
              "inLanguage": "en", "author": {"@type": "Organization", "name": "Desk"},
              "reviewRating": {"@type": "Rating", "alternateName": ["True", "False", "Mostly False"][i % 3]}} for i in range(600)]
    big = tmp_path / "big.json"
    big.write_text(json.dumps(graph))
    report = _json_report(run, ledger_db, big, "claimreview", editor_key_file)
    assert len(report["created"]) == 1 + 1 + 1 + 600 * 3  # map, publisher, unknown appearance; page, claim, review each
    with Ledger.open(ledger_db) as ledger:
        assert len(ledger.checkpoints()) == 3  # the log key, the editor key, this one batch


BAD_INPUTS = [
    ("not-json.json", b"{not json", "claimreview", "Error: not-json.json is not valid JSON: expected a member name in double quotes at line 1 column 2"),
    ("latin1.json", "{\"claimReviewed\": \"Faux\xe9\"}".encode("latin-1"), "claimreview", "Error: latin1.json is not UTF-8 text: invalid continuation byte at byte 23"),
    ("empty.json", b"[]", "claimreview", "Error: empty.json: no ClaimReview found; is --format right?"),
    ("wrong-shape.json", b'{"items": []}', "factcheck-api",
     "Error: wrong-shape.json: no Fact Check Tools API claims found ($: not a Fact Check Tools API claim (an object with 'text' "
     "and 'claimReview') or response (an object with a 'claims' array)); is --format right?"),
    ("all-refused.json", b'[{"@type": "ClaimReview", "url": "https://x.example/1"}]', "claimreview",
     "Error: nothing to import from {path}: every record was refused"),
]


@pytest.mark.parametrize("name,content,fmt,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_line_and_changes_nothing(run, ledger_db, editor_key_file, file_hash, tmp_path, name, content, fmt, message):
    path = tmp_path / name
    path.write_bytes(content)
    before = file_hash(ledger_db)
    result = _import(run, ledger_db, path, fmt, editor_key_file)
    assert result.exit_code == 1
    assert result.stderr_lines[-1] == message.format(path=path)
    assert file_hash(ledger_db) == before


def test_wrong_passphrase_changes_nothing(run, ledger_db, editor_key_file, file_hash):
    before = file_hash(ledger_db)
    result = run("import", ledger_db, CLAIMREVIEW, "--format", "claimreview", "--key", editor_key_file,
                 env={"LEDGER_PASSPHRASE": "wrong"})
    assert result.exit_code == 1 and result.stderr.startswith("Error: ") and len(result.stderr_lines) == 1
    assert file_hash(ledger_db) == before


def test_format_is_detected_when_not_given(run, ledger_db, editor_key_file):
    result = run("import", ledger_db, CLAIMREVIEW, "--key", editor_key_file, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["format"], report["shape"], report["detected"]) == ("claimreview", "JSON-LD with an @graph", True)
    assert len(report["created"]) == 33


def test_retracted_claim_is_not_reviewed_again(run, ledger_db, editor_key_file, tmp_path):
    _json_report(run, ledger_db, CLAIMREVIEW, "claimreview", editor_key_file)
    ro = _current(ledger_db, f"review:cr-{_hex('https://verificat.example.ro/fals-microelectronica')}")
    assert run("retract", ledger_db, ro["claim"], "--key", editor_key_file, "--reason", "duplicate").exit_code == 0
    data = json.loads(CLAIMREVIEW.read_text())
    data["@graph"][3]["url"] = "https://verificat.example.ro/alta"
    path = tmp_path / "again.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    report = _json_report(run, ledger_db, path, "claimreview", editor_key_file)
    assert {"at": '$["@graph"][3]', "reason": f"review:cr-{_hex('https://verificat.example.ro/alta')}: claim {ro['claim']} was retracted in this ledger"} in report["refused"]


def _big_feed(path, reviews: int):
    body = "Customs data analysed by researchers show about 90%, not all. " * 60
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"@context": "https://schema.org", "@graph": [\n')
        for i in range(reviews):
            node = {"@type": "ClaimReview", "url": f"https://desk.example/check/{i}", "claimReviewed": f"Claim number {i}",
                    "inLanguage": "en", "author": {"@type": "Organization", "name": "Desk"}, "reviewBody": body,
                    "reviewRating": {"@type": "Rating", "alternateName": "False"}}
            f.write(("," if i else "") + json.dumps(node) + "\n")
        f.write("]}\n")


def _peak_rss(*args) -> int:
    """The peak resident memory, in bytes, of ``python -m ledger ARGS`` (Linux: ru_maxrss is in KiB)."""
    proc = subprocess.Popen([sys.executable, "-m", "ledger", *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read()
    return usage.ru_maxrss * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_import_memory_follows_the_batch_not_the_file(ledger_db, tmp_path):
    # Red on main: the whole file is parsed into memory (its peak grows by several times the file).
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    _big_feed(small, 1500)
    _big_feed(big, 6000)
    peaks = [_peak_rss("import", ledger_db, path, "--format", "claimreview", "--dry-run", "--json") for path in (small, big)]
    growth, more_file = peaks[1] - peaks[0], big.stat().st_size - small.stat().st_size
    # What grows is a few hundred bytes a record (its ID, where it is in the file and in the batch): the records
    # themselves wait in a temporary file, and the file is read a piece at a time.
    assert more_file > 15_000_000 and growth < more_file / 4, (more_file, growth)


def test_an_import_that_fails_at_its_append_changes_nothing_and_names_the_item(ledger_db, file_hash):
    # Between planning and appending, another editor takes an ID the plan creates: the whole batch is refused.
    from conftest import TEST_EDITOR, TEST_ORIGIN, test_signer
    from ledger.errors import RecordError
    from ledger.interop.importer import plan_import

    editor, log = test_signer(TEST_EDITOR), test_signer(TEST_ORIGIN)
    with Ledger.open(ledger_db) as ledger, plan_import(ledger, CLAIMREVIEW.read_bytes(), "graph.json") as plan:
        records = [json.loads(text.text) for text in plan.records]
        n, taken = next((i, r) for i, r in enumerate(records) if r["id"].startswith("source:cr-review-"))
        ledger.append([{"kind": "source", "id": taken["id"], "type": "other", "title": "Someone else's"}], editor, log)
        before = file_hash(ledger_db)
        with pytest.raises(RecordError) as e:
            plan.append(ledger, editor, log)
        assert file_hash(ledger_db) == before
        assert str(e.value).startswith(f"record {n + 1} (graph.json {plan.records.origin(n)}): ")
        assert plan.records.origin(n) == '$["@graph"][0]' and "already exists" in str(e.value)
