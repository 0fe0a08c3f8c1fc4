"""``ledger import`` of what desks actually publish (issue 15): every accepted shape, detected, and each
defect real feeds showed -- refusal reasons, misattributed reviews, lost times, URLs and languages, one
review URL with two claims -- with the fixtures in tests/fixtures/interop/ (README.md there)."""

import hashlib
import json
from pathlib import Path

import pytest

from ledger.api import Ledger
from ledger.verify import open_source, verify_ledger

FIXTURES = Path(__file__).parent / "fixtures" / "interop"
AR_ARRAY = FIXTURES / "factcheck-api-array-ar.json"
EN_PAGES = FIXTURES / "factcheck-api-pages-en.jsonl"
ES_CLAIMS = FIXTURES / "factcheck-api-claims-es.jsonl"
FR_FEED = FIXTURES / "claimreview-datafeed-fr.json"
RO_LIST = FIXTURES / "claimreview-itemlist-ro.json"
PT_SINGLE = FIXTURES / "claimreview-single-pt.json"
EN_ARRAY = FIXTURES / "claimreview-array-en.json"
PT_PAGE = FIXTURES / "claimreview-page-pt.html"
ROUNDUP = "https://checks.example.org/2025/05/five-claims-about-chips"


def _hex(key):
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _import(run, db, path, key, *extra):
    result = run("import", db, path, "--key", key, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _current(db, record_id):
    with Ledger.open(db) as ledger:
        return ledger.current(record_id).record.to_dict()


def _one_response(path, tmp_path):
    """The claims of an API file as one ``{"claims": [...]}`` response (a shape every version reads), so that a
    test of a defect runs on main too, and fails there for that defect."""
    text = path.read_text(encoding="utf-8")
    values = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else [json.loads(text)]
    claims = [c for v in values for c in (v if isinstance(v, list) else v["claims"] if "claims" in v else [v])]
    out = tmp_path / f"{path.stem}-response.json"
    out.write_text(json.dumps({"claims": claims}, ensure_ascii=False), encoding="utf-8")
    return out


def _warnings(report, at=None):
    return [w["message"] for w in report["warnings"] if at is None or w["at"] == at]


SHAPES = [
    # file, extra options, format, shape, review items read
    (AR_ARRAY, (), "factcheck-api", "a JSON array of claims", 7),
    (EN_PAGES, (), "factcheck-api", "several API responses, one after another", 4),
    (ES_CLAIMS, (), "factcheck-api", "claims, one a line", 3),
    (FIXTURES / "factcheck-api.json", (), "factcheck-api", 'an API response ({"claims": [...]})', 3),
    (FR_FEED, (), "claimreview", "a schema.org DataFeed", 3),
    (RO_LIST, (), "claimreview", "a schema.org ItemList", 4),
    (PT_SINGLE, ("--base-url", "https://www.estadao.example/politica/"), "claimreview", "one JSON-LD object", 1),
    (EN_ARRAY, (), "claimreview", "a JSON array of ClaimReview nodes", 3),
    (FIXTURES / "claimreview-graph.json", (), "claimreview", "JSON-LD with an @graph", 7),
    (PT_PAGE, (), "claimreview", "an HTML page with 3 JSON-LD blocks", 1),
    (FIXTURES / "records.jsonl", (), "jsonl", "records, one a line", 5),
]


@pytest.mark.parametrize("path,extra,fmt,shape,items", SHAPES, ids=[s[0].name for s in SHAPES])
def test_every_shape_is_detected_and_imported(run, ledger_db, editor_key_file, path, extra, fmt, shape, items):
    report = _import(run, ledger_db, path, editor_key_file, *extra)
    assert (report["format"], report["shape"], report["detected"], report["items"]) == (fmt, shape, True, items)
    assert report["created"]
    again = _import(run, ledger_db, path, editor_key_file, *extra)
    assert again["created"] == again["updated"] == []
    assert verify_ledger(open_source(str(ledger_db))).ok


def test_a_bare_array_of_api_claims(run, ledger_db, editor_key_file):
    # Red on main: "Error: $[0]: not the Fact Check Tools API shape".
    report = _import(run, ledger_db, AR_ARRAY, editor_key_file, "--format", "factcheck-api")
    assert report["refused"] == [] and report["items"] == 7
    review = _current(ledger_db, f"review:cr-{_hex('https://misbar.example/factcheck/2025/04/28/chips-port')}")
    assert review["rating"] == {"label": "خبر كاذب", "label_language": "ar", "normalized": "false"}
    assert _current(ledger_db, review["claim"])["text"] == "صورة تظهر شحنة رقائق إلكترونية صينية في ميناء روسي"


def test_an_html_page_with_three_jsonld_blocks(run, ledger_db, editor_key_file):
    report = _import(run, ledger_db, PT_PAGE, editor_key_file)
    assert [s["at"] for s in report["skipped"]] == ["script[1] $", 'script[2] $["@graph"][0]', 'script[2] $["@graph"][1]',
                                                     'script[2] $["@graph"][2]']
    assert report["base_url"] == "https://www.estadao.example/estadao-verifica/chips-russia/"  # its canonical link
    url = "https://www.estadao.example/estadao-verifica/chips-russia/"
    review = _current(ledger_db, f"review:cr-{_hex(url)}")
    assert review["url"] == url and review["rating"]["normalized"] == "misleading"
    assert review["rating"]["value"] == 2 and review["reviewed"] == "2025-04-28T19:23:46Z"
    claim = _current(ledger_db, review["claim"])
    assert _current(ledger_db, claim["source"])["url"] == "https://www.estadao.example/estadao-verifica/arquivo/post-original/"
    page = _current(ledger_db, f"source:cr-review-{_hex(url)}")
    assert page["publisher"] == "Estadão Verifica Exemplo"  # through {"@id": "#estadao"} in another block
    publisher = _current(ledger_db, f"source:cr-publisher-{_hex('estadão verifica exemplo')}")
    assert publisher["url"] == "https://www.estadao.example/estadao-verifica/"


def test_a_datafeed_and_an_itemlist(run, ledger_db, editor_key_file):
    fr = _import(run, ledger_db, FR_FEED, editor_key_file)
    assert fr["unrated"] == [] and fr["items"] == 3
    photo = _current(ledger_db, f"review:cr-{_hex('https://factuel.example.fr/2025/04/photo-port')}")
    assert photo["rating"]["normalized"] == "misleading" and photo["reviewed"] == "2025-04-02T11:12:13+02:00"
    ro = _import(run, ledger_db, RO_LIST, editor_key_file)
    assert ro["unrated"] == []
    cedilla = _current(ledger_db, f"review:cr-{_hex('https://factual.example.ro/declaratii/importuri')}")
    assert cedilla["rating"] == {"label": "Parţial adevărat", "label_language": "ro", "normalized": "mixed"}


# --- 2. refusal reasons and over-long labels ----------------------------------------------------
def test_a_prose_label_keeps_its_first_sentence_and_says_so(run, ledger_db, editor_key_file, tmp_path):
    # Red on main: refused with "reviewRating has no alternateName (textualRating)", the warning dropped.
    report = _import(run, ledger_db, _one_response(AR_ARRAY, tmp_path), editor_key_file, "--format", "factcheck-api")
    at = "$.claims[2].claimReview[0]"
    assert at not in [r["at"] for r in report["refused"]]
    (warning,) = [w for w in _warnings(report, at) if w.startswith("textualRating")]
    assert warning == "textualRating: 2,240 characters over 1 line: its first sentence is the label and the whole text the explanation"
    review = _current(ledger_db, f"review:cr-{_hex('https://misbar.example/factcheck/2025/05/01/exports-stopped')}")
    assert review["rating"]["label"] == "هذا الادعاء كاذب."
    assert review["explanation"].startswith("هذا الادعاء كاذب. تداولت حسابات") and len(review["explanation"]) == 2240


def test_a_refusal_gives_the_real_reason(run, ledger_db, editor_key_file, tmp_path):
    claims = [{"text": "Claim with a numeric label", "claimReview": [{"url": "https://d.example/1", "textualRating": 3}]},
              {"text": "Claim with an empty label", "claimReview": [{"url": "https://d.example/2", "textualRating": "  "}]},
              {"text": "x" * 20_001, "claimReview": [{"url": "https://d.example/3", "textualRating": "False"}]},
              {"text": "Fine", "claimReview": [{"url": "https://d.example/4", "textualRating": "False"}]}]
    path = tmp_path / "claims.json"
    path.write_text(json.dumps({"claims": claims}))
    report = _import(run, ledger_db, path, editor_key_file, "--format", "factcheck-api")
    assert report["refused"] == [
        {"at": "$.claims[0].claimReview[0]", "reason": "no textualRating: the desk's own label is required "
                                                        "(textualRating: expected text, found int; left out)"},
        {"at": "$.claims[1].claimReview[0]", "reason": "no textualRating: the desk's own label is required"},
        {"at": "$.claims[2]", "reason": "text: 20,001 characters; a claim's text holds at most 20,000"},
    ]
    assert "textualRating: expected text, found int; left out" in _warnings(report, "$.claims[0].claimReview[0]")


# --- 3. who published a review --------------------------------------------------------------------
def test_a_review_is_credited_to_the_publisher_the_feed_names(run, ledger_db, editor_key_file, tmp_path):
    # Red on main: both exported with author "Test desk" (the log key's name).
    _import(run, ledger_db, _one_response(AR_ARRAY, tmp_path), editor_key_file, "--format", "factcheck-api")
    _import(run, ledger_db, EN_ARRAY, editor_key_file, "--format", "claimreview")
    out = tmp_path / "export.json"
    result = run("export", ledger_db, "--format", "claimreview", "-o", out)
    assert result.exit_code == 0, result.stderr
    graph = json.loads(out.read_text(encoding="utf-8"))["@graph"]
    by_url = {node["url"]: node for node in graph}
    assert by_url["https://tahaqaq.example/ar/chips-all"]["author"] == {"@type": "Organization", "name": "tahaqaq.example"}
    assert "author" not in by_url["https://anon.example.net/review/optics"]
    assert "Note: 1 review has no author: the feed it was imported from named no publisher" in result.stderr
    assert not any(node.get("author", {}).get("name") == "Test desk" for node in graph)
    again = _import(run, ledger_db, out, editor_key_file, "--format", "claimreview")
    assert again["created"] == again["updated"] == []
    with Ledger.open(ledger_db) as ledger:
        titles = {ledger.current(h.id).record.title for h in ledger.heads("source") if h.id.startswith("source:cr-publisher-")}
    assert "Test desk" not in titles and "tahaqaq.example" in titles


# --- 4. times, relative URLs, languages, one URL with two claims --------------------------------
def test_review_times_are_kept(run, ledger_db, editor_key_file, tmp_path):
    # Red on main: "2025-04-28T19:23:46Z" became "2025-04-28".
    _import(run, ledger_db, _one_response(AR_ARRAY, tmp_path), editor_key_file, "--format", "factcheck-api")
    _import(run, ledger_db, _one_response(EN_PAGES, tmp_path), editor_key_file, "--format", "factcheck-api")
    assert _current(ledger_db, f"review:cr-{_hex('https://misbar.example/factcheck/2025/04/28/chips-port')}")["reviewed"] == \
        "2025-04-28T19:23:46Z"
    assert _current(ledger_db, f"review:cr-{_hex('https://boom.example/fact-check/tanks-optics-kharkiv')}")["reviewed"] == \
        "2025-03-02T06:41:10.482Z"
    assert _current(ledger_db, f"review:cr-{_hex('https://newschecker.example/in/90-percent')}")["reviewed"] == \
        "2025-03-04T09:15:00+05:30"
    out = tmp_path / "export.json"
    assert run("export", ledger_db, "--format", "claimreview", "-o", out).exit_code == 0
    dates = {n["url"]: n.get("datePublished") for n in json.loads(out.read_text(encoding="utf-8"))["@graph"]}
    assert dates["https://misbar.example/factcheck/2025/04/28/chips-port"] == "2025-04-28T19:23:46Z"
    assert dates["https://tahaqaq.example/ar/chips-all"] == "2025-04-30"


def test_a_relative_review_url_is_resolved_or_refused(run, ledger_db, editor_key_file, file_hash):
    # Red on main: the URL was dropped and the review imported without it.
    before = file_hash(ledger_db)
    result = run("import", ledger_db, PT_SINGLE, "--key", editor_key_file, "--format", "claimreview")
    assert result.exit_code == 1
    assert "REFUSED $: url '/estadao-verifica/china-fornece-chips-russia/' is relative and the URL of the page it came " \
           "from is not known; give it with --base-url" in result.stdout
    assert file_hash(ledger_db) == before
    report = _import(run, ledger_db, PT_SINGLE, editor_key_file, "--format", "claimreview",
                     "--base-url", "https://www.estadao.example/politica/x")
    url = "https://www.estadao.example/estadao-verifica/china-fornece-chips-russia/"
    assert _current(ledger_db, f"review:cr-{_hex(url)}")["url"] == url
    assert f"url: relative URL '/estadao-verifica/china-fornece-chips-russia/' resolved against " \
           f"https://www.estadao.example/politica/x (--base-url)" in _warnings(report, "$")


def test_a_language_code_the_script_contradicts(run, ledger_db, editor_key_file, tmp_path):
    # Red on main: the Arabic claim was stored as "en".
    report = _import(run, ledger_db, _one_response(AR_ARRAY, tmp_path), editor_key_file, "--format", "factcheck-api")
    review = _current(ledger_db, f"review:cr-{_hex('https://arabfacts.example/en/minister-quote')}")
    assert review["rating"]["label_language"] == "en"  # the feed's value, kept
    assert _current(ledger_db, review["claim"])["language"] == "ar"  # the script's
    assert "language: the claim's text is in the script of 'ar', not of 'en' as the feed says; the claim's language is " \
           "recorded as 'ar' (the review keeps 'en')" in _warnings(report, "$.claims[3].claimReview[0]")


def _lists(report):
    return {name: [u["id"] if isinstance(u, dict) else u for u in report[name]] for name in ("created", "updated", "unchanged")}


def test_one_review_url_with_two_claims(run, ledger_db, editor_key_file):
    # Red on main: the second claim was created without a review, and on re-import was in no list at all.
    first = _import(run, ledger_db, EN_ARRAY, editor_key_file, "--format", "claimreview")
    base, other = f"review:cr-{_hex(ROUNDUP)}", None
    with Ledger.open(ledger_db) as ledger:
        roundup = [ledger.current(h.id).record for h in ledger.heads("review") if ledger.current(h.id).record.url == ROUNDUP]
        texts = {r.id: ledger.current(r.claim).record.text for r in roundup}
        claims_without_review = {h.id for h in ledger.heads("claim")} - {ledger.current(h.id).record.claim for h in ledger.heads("review")}
    assert texts[base] == "China supplies 90% of Russia's microelectronics"
    (other,) = set(texts) - {base}
    assert texts[other] == "China stopped selling machine tools to Russia"
    assert claims_without_review == set()
    again = _import(run, ledger_db, EN_ARRAY, editor_key_file, "--format", "claimreview")
    lists = _lists(again)
    assert lists["created"] == lists["updated"] == []
    assert sorted(lists["unchanged"]) == sorted(set(_lists(first)["created"]) - {"ratingmap:default"})


def test_every_record_lands_in_exactly_one_list(run, ledger_db, editor_key_file, tmp_path):
    # Red on main: the second claim of the round-up page was created, and on re-import was in no list.
    files = [(_one_response(AR_ARRAY, tmp_path), "factcheck-api"), (_one_response(EN_PAGES, tmp_path), "factcheck-api"),
             (EN_ARRAY, "claimreview"), (FIXTURES / "claimreview-graph.json", "claimreview")]
    for path, fmt in files:
        seen = None
        for _ in range(2):
            lists = _lists(_import(run, ledger_db, path, editor_key_file, "--format", fmt))
            every = [i for i in lists["created"] + lists["updated"] + lists["unchanged"] if not i.startswith("ratingmap:")]
            assert len(every) == len(set(every)), path.name
            assert seen is None or set(every) == seen, path.name  # the same records, found again
            seen = set(every)
            with Ledger.open(ledger_db) as ledger:
                claims = {ledger.current(r).record.claim for r in every if r.startswith("review:")}
            assert claims <= seen  # the claim of every review the file gives is in a list too


def test_a_review_claim_text_edited_by_the_desk_revises_the_claim(run, ledger_db, editor_key_file, tmp_path):
    original = _one_response(EN_PAGES, tmp_path)
    _import(run, ledger_db, original, editor_key_file, "--format", "factcheck-api")
    edited = tmp_path / "edited.json"
    edited.write_text(original.read_text().replace("India stopped all exports", "India has stopped all exports"))
    report = _import(run, ledger_db, edited, editor_key_file, "--format", "factcheck-api")
    review = _current(ledger_db, f"review:cr-{_hex('https://factly.example/india-chips')}")
    assert [u["changed"] for u in report["updated"]] == [["text"]]
    assert _current(ledger_db, review["claim"])["text"] == "India has stopped all exports of microchips to Russia"


# --- 5. rating labels ------------------------------------------------------------------------------
def test_labels_desks_publish_are_rated(run, ledger_db, editor_key_file, tmp_path):
    # Red on main: خبر كاذب, غير صحيح, خاطئ, كاذب, صحيح جزئياً, مضلّل, False Context, Bulo, Errado ... were unrated.
    files = [(_one_response(path, tmp_path), "factcheck-api") for path in (AR_ARRAY, EN_PAGES, ES_CLAIMS)]
    for path, fmt in files + [(FR_FEED, "claimreview"), (RO_LIST, "claimreview"), (EN_ARRAY, "claimreview")]:
        report = _import(run, ledger_db, path, editor_key_file, "--format", fmt)
        assert [u["label"] for u in report["unrated"]] == (["هذا الادعاء كاذب."] if "-ar-" in path.name else []), path.name


def test_ratings_unmapped_and_add(run, ledger_db, editor_key_file, tmp_path):
    feed = [{"text": f"Claim {i}", "claimReview": [{"url": f"https://house.example/{i}", "textualRating": label,
                                                     "languageCode": "en", "publisher": {"name": "House"}}]}
            for i, label in enumerate(["Four Pinocchios", "four pinocchios!", "Three Pinocchios", "False"])]
    path = tmp_path / "house.json"
    path.write_text(json.dumps({"claims": feed}))
    _import(run, ledger_db, path, editor_key_file, "--format", "factcheck-api")
    listed = run("ratings", "unmapped", ledger_db, "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [(e["label"], e["count"], e["unrated"], e["languages"]) for e in json.loads(listed.stdout)] == [
        ("Four Pinocchios", 2, 2, ["en"]), ("Three Pinocchios", 1, 1, ["en"])]
    text = run("ratings", "unmapped", ledger_db)
    assert "       2        2  'Four Pinocchios' (en)" in text.stdout
    added = run("ratings", "add", ledger_db, "false", "Four Pinocchios", "--language", "en", "--key", editor_key_file)
    assert added.exit_code == 0, added.stderr
    report = _import(run, ledger_db, path, editor_key_file, "--format", "factcheck-api")
    assert sorted(u["id"] for u in report["updated"]) == sorted(f"review:cr-{_hex(f'https://house.example/{i}')}" for i in (0, 1))
    assert [e["label"] for e in json.loads(run("ratings", "unmapped", ledger_db, "--json").stdout)] == ["Three Pinocchios"]
    again = run("ratings", "add", ledger_db, "mostly-false", "Three Pinocchios", "--key", editor_key_file)
    assert again.exit_code == 1 and again.stderr == "Error: ratingmap:desk exists: say why it changes with --note\n"


def test_planning_tells_how_much_of_the_file_it_read(ledger_db):
    from ledger.interop.importer import plan_import

    for path in (AR_ARRAY, EN_PAGES, PT_PAGE, FIXTURES / "records.jsonl"):
        read = []
        with Ledger.open(ledger_db) as ledger, open(path, "rb") as f, plan_import(ledger, f, path.name, progress=read.append):
            pass
        assert sum(read) == path.stat().st_size, path.name  # what the CLI's "Reading FILE" bar shows


def test_a_json_array_of_records(run, ledger_db, editor_key_file, tmp_path):
    records = [json.loads(line) for line in (FIXTURES / "records.jsonl").read_text().splitlines()[:3]]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records, indent=2))
    for extra in ((), ("--format", "jsonl")):
        report = _import(run, ledger_db, path, editor_key_file, "--dry-run", *extra)
        assert (report["format"], report["shape"], report["refused"]) == ("jsonl", "a JSON array of records", [])
        assert report["created"] == ["source:jsonl-report", "claim:jsonl-one", "review:jsonl-one"]
