"""/search and /search.json on the real Datasette app (docs/site.md, "Search"), and the claims table's own search."""

import re

import pytest

from ledger import search
from ledger.demo import build_demo
from ledger.site import make_datasette
from search_ledger import FIXTURE, build_arabic_ledger, expected
from test_site import build_xss_ledger

MICRO = {"claim:ro-sales-machine-tools-microelectronics", "claim:ro-microelectronics-90pct"}
MACHINE_TOOLS = "claim:ro-sales-machine-tools-microelectronics"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search-site")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    build_arabic_ledger(tmp / "ar.db").close()
    build_xss_ledger(tmp / "xss.db").close()
    return tmp


@pytest.fixture
def demo(files):
    return make_datasette(files / "demo.db")


@pytest.fixture
def arabic(files):
    return make_datasette(files / "ar.db")


async def found(ds, **params) -> dict:
    response = await ds.client.get("/search.json", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(data) -> list[str]:
    return [hit["id"] for hit in data["results"]]


# --- what is found -------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["microelectronica", "microelectronice", "microelectronicii"])
async def test_each_inflection_finds_both_microelectronics_claims(demo, query):
    data = await found(demo, q=query)
    assert MICRO <= set(ids(data))
    assert data["total"] == 3  # and the retracted duplicate, last
    assert ids(data)[-1] == "claim:ro-microelectronics-90pct-duplicate" and data["results"][-1]["status"] == "retracted"


@pytest.mark.parametrize("query", ["masini-unelte", "mașini-unelte", "MASINI UNELTE"])
async def test_machine_tools_finds_its_claim_not_every_claim_of_the_article(demo, query):
    # Every demo claim quotes the article titled "... mașini-unelte ...": the title is a facet, not searched.
    assert ids(await found(demo, q=query)) == [MACHINE_TOOLS]


@pytest.mark.parametrize("query", sorted(FIXTURE["queries"]))
async def test_arabic_queries_find_exactly_the_fixture_claims(arabic, query):
    assert sorted(ids(await found(arabic, q=query, size="100"))) == sorted(expected(query))


async def test_plain_alef_query_finds_hamza_tashkeel_and_prefixed_forms_and_marks_them(arabic):
    data = await found(arabic, q="اسرائيل", size="100")
    marked = {hit["id"]: [hit["text"][a:b] for a, b in hit["marks"]["text"]] for hit in data["results"]}
    assert marked["claim:ar-israel-ceasefire-hours"] == ["إسرائيل"]
    assert marked["claim:ar-lebanon-wall"] == ["إِسْرَائِيلُ"]
    assert marked["claim:ar-aid-blocked-week"] == ["وإسرائيل"]
    assert marked["claim:ar-old-strike-photo"] == ["بإسرائيل"]
    assert marked["claim:ar-team-support-video"] == ["لإسرائيل"]
    assert marked["claim:ar-evacuation-map"] == ["الإسرائيلي"]
    assert marked["claim:ar-tatweel-headline"] == ["إســرائيل"]
    # An Arabic word is stemmed in the published languages written in its script only: the
    # English translation's "Israel" is not marked.
    assert data["stemmed_in"] == ["ar", "en"]
    assert all(hit["marks"]["translation"] == [] for hit in data["results"])


async def test_gaza_with_and_without_shadda_find_each_other(arabic):
    with_shadda, without = await found(arabic, q="غزّة", size="100"), await found(arabic, q="غزة", size="100")
    assert ids(with_shadda) == ids(without) and "claim:ar-aid-blocked-week" in ids(without)  # it writes غزّة
    assert "claim:ar-israel-ceasefire-hours" in ids(with_shadda)  # it writes غزة


# --- the page ------------------------------------------------------------------------------------

async def test_search_page_shows_marked_text_verdict_source_and_no_sql(demo):
    response = await demo.client.get("/search", params={"q": "microelectronica"})
    assert response.status_code == 200
    html = response.text
    assert "<title>Search: microelectronica – Demo Fact-Check Desk</title>" in html
    assert '<mark>microelectronica</mark>' in html and '<mark>microelectronics</mark>' in html
    assert '<span class="verdict-badge verdict-unproven">Unproven</span> <bdi class="desk-label" dir="auto">Atribuit, neverificat independent</bdi>' in html
    assert '<span class="status status-retracted">Retracted</span>' in html
    assert 'href="/claim/ro-microelectronics-90pct"' in html and 'href="/source/article-ro-ap-2024-04-12"' in html
    assert "recorded <time" in html
    assert not re.search(r"\bsql\b|\bselect\b|<textarea", html, re.I), "SQL on the search page"


async def test_marks_are_placed_after_escaping(files):
    ds = make_datasette(files / "xss.db")
    html = (await ds.client.get("/search", params={"q": "window"})).text
    assert "<mark>window</mark>" in html
    assert "<script>window" not in html and "<img src=x" not in html
    assert "onerror=&#34;<mark>window</mark>.__xss=1" in html


async def test_facets_count_every_value_including_not_yet_rated_and_filter(demo):
    data = await found(demo, q="China")
    verdicts = {v["value"]: v["count"] for v in data["facets"]["verdict"]["values"]}
    assert verdicts == {"none": data["total"] - 4, "unproven": 4}
    assert data["facets"]["verdict"]["counted_over"] == "every match"
    assert {v["label"] for v in data["facets"]["verdict"]["values"]} == {"not yet rated", "unproven"}
    source = data["facets"]["source"]["values"][0]
    assert source["label"].startswith("China a crescut vânzările") and source["value"] == "source:article-ro-ap-2024-04-12"
    unrated = await found(demo, q="China", verdict="none")
    assert unrated["total"] == verdicts["none"] and all(hit["verdict"] is None for hit in unrated["results"])
    optics = await found(demo, tag="optics")
    assert optics["total"] == 2 and all("optics" in hit["tags"] for hit in optics["results"])
    selected = next(v for v in optics["facets"]["tag"]["values"] if v["selected"])
    assert selected["value"] == "optics" and selected["url"] == "/search.json"
    html = (await demo.client.get("/search", params={"q": "China", "verdict": "none"})).text
    assert 'title="Remove this filter">Verdict: <bdi>not yet rated</bdi>' in html


async def test_without_words_every_claim_is_listed_with_counts_over_all(demo):
    data = await found(demo)
    assert data["total"] == 16 and data["more"] is False and len(data["results"]) == 16
    assert data["results"][-1]["status"] == "retracted"
    assert {v["value"]: v["count"] for v in data["facets"]["status"]["values"]} == {"active": 14, "corrected": 1, "retracted": 1}


async def test_sort_switch_and_paging(demo):
    newest = await found(demo, q="China")
    best = await found(demo, q="China", sort="best")
    assert sorted(ids(newest)) == sorted(ids(best)) and ids(newest) != ids(best)
    pages, url = [], "/search.json?q=China&size=5"
    while url:
        page = (await demo.client.get(url)).json()
        pages.append(ids(page))
        url = page["next"]
    assert [len(p) for p in pages] == [5, 5, 4] and sum(pages, []) == ids(newest)
    assert page["previous"] == "/search.json?q=China&page=2&size=5"
    html = (await demo.client.get("/search", params={"q": "China", "size": "5", "page": "2"})).text
    assert 'rel="prev" href="/search?q=China&amp;size=5"' in html and 'rel="next" href="/search?q=China&amp;page=3&amp;size=5"' in html
    assert '<ol class="search-results" start="6">' in html


async def test_counts_are_capped_and_facets_counted_over_the_newest_matches(demo, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 10)
    monkeypatch.setattr(search, "FACET_WINDOW", 4)
    data = await found(demo, q="China", size="3")
    assert data["total"] == 10 and data["more"] is True and data["pages"] == 4 and data["next"]
    assert data["facets"]["verdict"]["counted_over"] == "the newest 4 matches"
    assert sum(v["count"] for v in data["facets"]["status"]["values"]) == 4
    html = (await demo.client.get("/search", params={"q": "China"})).text
    assert "More than 10 claims match" in html and "Counted among the newest 4 matches." in html
    assert (await demo.client.get("/search.json", params={"q": "China", "page": "5", "size": "3"})).status_code == 400


async def test_json_format(demo):
    data = await found(demo, q="semiconductori")
    assert set(data) == {"ok", "query", "words", "stemmed_in", "total", "more", "pages", "results", "facets", "previous", "next"}
    assert data["query"] == {"q": "semiconductori", "filters": {}, "sort": "newest", "page": 1, "size": 20}
    hit = data["results"][0]
    assert hit["id"] == "claim:ro-semiconductor-imports-2021-2022" and hit["url"] == "/claim/ro-semiconductor-imports-2021-2022"
    assert set(hit) == {"id", "url", "version", "text", "language", "translation", "translation_language", "quote", "marks",
                        "verdict", "verdict_label", "status", "status_reason", "source", "tags", "claim_date", "recorded",
                        "updated", "entry_index"}
    assert [hit["text"][a:b] for a, b in hit["marks"]["text"]] == ["semiconductori"]
    assert [hit["translation"][a:b] for a, b in hit["marks"]["translation"]] == ["semiconductor"]
    assert set(data["facets"]) == set(search.FACETS)


@pytest.mark.parametrize("params, message", [
    ({"sort": "oldest"}, "sort: expected one of newest, best, found 'oldest'"),
    ({"page": "0"}, "page: expected a whole number from 1 to 500, found '0'"),
    ({"size": "1000"}, "size: expected a whole number from 1 to 100, found '1000'"),
    ({"q": "x" * 501}, "q: at most 500 characters, found 501"),
])
async def test_bad_parameters_are_400_with_a_reason(demo, params, message):
    response = await demo.client.get("/search.json", params=params)
    assert response.status_code == 400 and response.json() == {"ok": False, "status": 400, "error": message}
    page = await demo.client.get("/search", params=params)
    assert page.status_code == 400 and message.replace("'", "&#39;") in page.text


@pytest.mark.parametrize("hostile", ['"', "NEAR(", "a OR", "*", "-x", "facets : x", "{text}: china", "verdict:none", "...", "ــ"])
async def test_fts_syntax_in_the_words_is_searched_for_not_interpreted(demo, hostile):
    data = await found(demo, q=hostile)
    assert data["total"] == 0 or all("china" in (hit["text"] + hit["translation"]).lower() for hit in data["results"])


# --- Datasette's own table search -----------------------------------------------------------

@pytest.mark.parametrize("query, wanted", [("microelectronicii", MICRO), ("masini-unelte", {MACHINE_TOOLS})])
async def test_claims_table_search_folds_like_the_search_page(demo, query, wanted):
    response = await demo.client.get("/demo/claims.json", params={"_search": query, "_shape": "objects", "_col": "id"})
    found_ids = {row["id"] for row in response.json()["rows"]}
    assert wanted <= found_ids and found_ids <= wanted | {"claim:ro-microelectronics-90pct-duplicate"}


async def test_claims_table_search_in_arabic(arabic):
    response = await arabic.client.get("/ar/claims.json", params={"_search": "اسرائيل", "_shape": "objects", "_size": "100"})
    assert sorted(row["id"] for row in response.json()["rows"]) == sorted(expected("اسرائيل"))


async def test_a_search_over_its_time_limit_is_503_and_says_so(demo, monkeypatch):
    monkeypatch.setattr(search, "TIME_LIMIT_SECONDS", -1.0)
    response = await demo.client.get("/search.json", params={"q": "China"})
    assert response.status_code == 503
    assert response.json()["error"] == "the search took longer than -1 s; try fewer or rarer words"
    page = await demo.client.get("/search", params={"q": "China"})
    assert page.status_code == 503 and "try fewer or rarer words" in page.text
