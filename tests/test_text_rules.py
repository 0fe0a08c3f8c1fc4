"""Text and date rules of records (issue 13 item 11), mounted as the attacks they stop.

No record may hold a bidirectional embedding, override or isolate control
(U+202A-U+202E, U+2066-U+2069), a C1 control (U+0080-U+009F) or a private-use
character, and no date may name a day that does not exist. Each is refused
at append by the CLI (one ``Error:`` line, exit 1, the file byte-identical),
and verify's replay refuses a signed log that holds one, because both apply
the same JSON Schemas (schema/common.schema.json) through ledger.schema.
"""

from __future__ import annotations

import datetime
import json
import re
import sys

import pytest

from conftest import TEST_ORIGIN, one_error_line, test_signer
from ledger.api import Ledger
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.envelope import Entry
from ledger.errors import RecordError
from ledger.records import Record
from ledger.schema import load_schemas, validate_record
from ledger.tree import leaf_hash, root_from_leaf_hashes

EDITOR = "ana@test.fact-ledger.example"
RLO = "\u202e"
# "Trojan source" text: shown as "... rose by 0.5% ..." but read by every program as the reverse.
REORDERED = f"Exports rose by {RLO}%5.0{chr(0x202c)} in 2023"


TEXT_ATTACKS = [
    ("right-to-left-override", REORDERED, "U+202E (RIGHT-TO-LEFT OVERRIDE) at code point 16"),
    ("left-to-right-embedding", "a \u202aembedded\u202c b", "U+202A (LEFT-TO-RIGHT EMBEDDING) at code point 2"),
    ("right-to-left-isolate", "a \u2067isolated\u2069 b", "U+2067 (RIGHT-TO-LEFT ISOLATE) at code point 2"),
    ("first-strong-isolate", "\u2068x", "U+2068 (FIRST STRONG ISOLATE) at code point 0"),
    ("c1-next-line", "one\u0085two", "U+0085 (a control character) at code point 3"),
    ("c1-control-sequence-introducer", "x\u009b31m red", "U+009B (a control character) at code point 1"),
    # The site's search snippets mark matches with U+E000 and U+E001: a claim holding them
    # had words highlighted that nobody searched for.
    ("search-snippet-markers", "\ue000unmatched\ue001 words", "U+E000 (a private-use character) at code point 0"),
    ("supplementary-private-use", "x \U00100001", "U+100001 (a private-use character) at code point 2"),
]


@pytest.mark.parametrize("name,text,where", TEXT_ATTACKS, ids=[a[0] for a in TEXT_ATTACKS])
def test_append_refuses_unsafe_text(name, text, where, run, seed_source_db, editor_key_file, file_hash, tmp_path):
    before = file_hash(seed_source_db)
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps({"kind": "claim", "id": "claim:x", "text": text, "language": "en", "source": "source:article"},
                                  ensure_ascii=False) + "\n", "utf-8")
    line = one_error_line(run("append", seed_source_db, records, "--key", editor_key_file))
    assert line.startswith("Error: record 1: $.text: ") and line.endswith(where), line
    # The offending character is shown escaped: printed raw, it would reorder the error line itself.
    assert not re.search("[\u0080-\u009f\u202a-\u202e\u2066-\u2069\ue000-\uf8ff\U000f0000-\U0010ffff]", line)
    assert file_hash(seed_source_db) == before


@pytest.mark.parametrize("option", ["--title", "--publisher", "--description"])
def test_source_options_refuse_an_override(option, run, seed_source_db, editor_key_file, file_hash):
    before = file_hash(seed_source_db)
    args = ["--title", "Plain"] if option != "--title" else []
    line = one_error_line(run("source", "add", seed_source_db, "--key", editor_key_file, "--id", "source:x", *args,
                              option, f"Ministry {RLO}lanoitaN"))
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in line
    assert file_hash(seed_source_db) == before


def test_url_and_tag_and_key_name_refuse_an_override(run, seed_source_db, editor_key_file, file_hash, tmp_path):
    before = file_hash(seed_source_db)
    line = one_error_line(run("source", "add", seed_source_db, "--key", editor_key_file, "--id", "source:x", "--title", "T",
                              "--url", f"https://example.org/{RLO}fdp.exe"))
    assert line.startswith("Error: record 1: $.url: ") and "U+202E" in line
    line = one_error_line(run("claim", "add", seed_source_db, "--key", editor_key_file, "--id", "claim:x", "--source", "source:article",
                              "--language", "ro", "--quote", "China", "--start", "0", "--tag", f"a{RLO}b"))
    assert "U+202E" in line, line
    assert file_hash(seed_source_db) == before
    line = one_error_line(run("key", "new", tmp_path / "eve.key", "--name", f"eve{RLO}@example.org", "--unencrypted"))
    assert line == "Error: key name 'eve\\u202e@example.org' is not valid: it holds U+202E; a name may not hold control, " \
                   "bidirectional-control or private-use characters"
    assert not (tmp_path / "eve.key").exists()


DATE_ATTACKS = [
    ("source", ("--published", "2024-02-30"), "$.published"),
    ("source", ("--published", "2023-02-29"), "$.published"),
    ("source", ("--published", "1900-02-29"), "$.published"),
    ("source", ("--published", "2024-04-31"), "$.published"),
    ("claim", ("--claim-date", "2024-06-31"), "$.claim_date"),
]


@pytest.mark.parametrize("kind,option,field", DATE_ATTACKS, ids=[f"{a[0]}{a[1][1]}" for a in DATE_ATTACKS])
def test_append_refuses_impossible_dates(kind, option, field, run, seed_source_db, editor_key_file, file_hash):
    before = file_hash(seed_source_db)
    if kind == "source":
        args = ("source", "add", seed_source_db, "--key", editor_key_file, "--id", "source:x", "--title", "T", *option)
    else:
        args = ("claim", "add", seed_source_db, "--key", editor_key_file, "--id", "claim:x", "--source", "source:article",
                "--language", "ro", "--quote", "China", "--start", "0", *option)
    if kind == "claim" and not _has_option("claim", "--claim-date"):
        pytest.skip("ledger claim add has no --claim-date option")
    line = one_error_line(run(*args))
    assert line.startswith(f"Error: record 1: {field}: \"{option[1]}\" is not valid here"), line
    assert file_hash(seed_source_db) == before


def _has_option(command, option) -> bool:
    from ledger.cli import cli

    return any(option in p.opts for p in cli.commands[command].commands["add"].params)


@pytest.mark.parametrize("created", ["2024-02-30T10:00:00Z", "2023-02-29T00:00:00Z", "2100-02-29T12:00:00Z", "2024-11-31T23:59:59Z"])
def test_append_refuses_an_impossible_created_timestamp(created, run, seed_source_db, editor_key_file, file_hash, tmp_path):
    before = file_hash(seed_source_db)
    records = tmp_path / "r.json"
    records.write_text(json.dumps({"kind": "source", "id": "source:x", "type": "article", "title": "T", "created": created}))
    line = one_error_line(run("append", seed_source_db, records, "--key", editor_key_file))
    assert line.startswith(f'Error: record 1: $.created: "{created}" is not valid here (RFC 3339 UTC time'), line
    assert file_hash(seed_source_db) == before


def test_leap_days_that_exist_are_accepted(run, seed_source_db, editor_key_file):
    for i, day in enumerate(["2024-02-29", "2000-02-29", "1600-02-29"]):
        result = run("source", "add", seed_source_db, "--key", editor_key_file, "--id", f"source:leap{i}", "--title", "T", "--published", day)
        assert result.exit_code == 0, result.stderr


def test_the_date_patterns_are_the_gregorian_calendar():
    """Every YYYY-MM-DD the schema's 'date', 'timestamp' and 'dateOrTime' patterns accept is a real day, and every real day is accepted."""
    defs = load_schemas()["common.schema.json"]["$defs"]
    date, timestamp = re.compile(defs["date"]["pattern"]), re.compile(defs["timestamp"]["pattern"])
    date_or_time = re.compile(defs["dateOrTime"]["pattern"])
    years = list(range(1, 50)) + list(range(1580, 2420)) + [2800, 3000, 3200, 9996, 9999]
    for year in years:
        for month in range(1, 13):
            for day in range(1, 33):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                try:
                    datetime.date(year, month, day)
                    real = True
                except ValueError:
                    real = False
                assert bool(date.search(text)) == real, text
                assert bool(timestamp.search(text + "T00:00:00Z")) == real, text
                assert bool(date_or_time.search(text)) == real, text
                assert bool(date_or_time.search(text + "T23:59:59.5+05:30")) == real, text
    assert date.search("2024") and date.search("2024-02") and not date.search("2024-13")
    assert date_or_time.search("2024-02") and not date_or_time.search("2024-02T10:00:00Z")


@pytest.mark.parametrize("reviewed", ["2024-02-30T10:00:00Z", "2023-02-29", "2025-04-31T09:15:00+05:30"])
def test_a_review_date_time_on_an_impossible_day_is_refused(reviewed):
    review = {"kind": "review", "id": "review:r", "version": 1, "created": "2024-05-01T10:00:00Z", "claim": "claim:c",
              "rating": {"label": "Fals", "label_language": "ro", "normalized": "false"}, "explanation": "E",
              "evidence": [], "reviewed": "2024-04-14T10:00:00Z"}
    validate_record(review)  # the same review on a real day is valid
    with pytest.raises(RecordError, match=re.escape(f'$.reviewed: "{reviewed}" is not valid here')):
        validate_record(dict(review, reviewed=reviewed))


def test_display_unsafe_is_what_the_schemas_refuse():
    """ledger.schema.DISPLAY_UNSAFE (used to cut quote context and check key names) matches the schemas, code point by code point."""
    from ledger.schema import DISPLAY_UNSAFE

    schemas = load_schemas()
    line = schemas["common.schema.json"]["$defs"]["line"]["pattern"]
    text = schemas["common.schema.json"]["$defs"]["text"]["pattern"]
    prefix = schemas["claim.schema.json"]["properties"]["quote"]["properties"]["prefix"]["pattern"]
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    # Each pattern is '^[^CLASS]*$': what the class refuses is what is left when the allowed characters are removed.
    refused = {name: set(re.sub(pattern[1:-2], "", every)) for name, pattern in (("line", line), ("text", text), ("prefix", prefix))}
    unsafe = set(DISPLAY_UNSAFE.findall(every))
    c0 = {chr(c) for c in range(0x20)} | {"\x7f"}
    assert refused["prefix"] == unsafe
    assert refused["line"] == unsafe | c0
    assert refused["text"] == unsafe | c0 - {"\t", "\n"}
    assert {"\u202a", "\u202e", "\u2066", "\u2069", "\x80", "\x9f", "\ue000", "\uf8ff", "\U000f0000", "\U0010fffd"} <= unsafe
    assert not {"\u200e", "\u200f", "\u061c", "\xa0", "\u2028", "\U0001f600"} & unsafe  # marks and ordinary text stay allowed


def test_a_quote_next_to_an_override_is_anchored_without_it(run, ledger_db, editor_key_file, tmp_path):
    """A snapshot may hold anything; the stored prefix and suffix stop before a character no record may show."""
    snapshot = tmp_path / "page.txt"
    snapshot.write_text(f"Intro {RLO}reversed text; the ministry said exports rose\u0085 by a third.", "utf-8")
    assert run("source", "add", ledger_db, "--key", editor_key_file, "--id", "source:page", "--title", "Page",
               "--snapshot", snapshot).exit_code == 0
    result = run("claim", "add", ledger_db, "--key", editor_key_file, "--id", "claim:rose", "--source", "source:page",
                 "--language", "en", "--quote", "the ministry said exports rose")
    assert result.exit_code == 0, result.stderr
    with Ledger.open(ledger_db) as ledger:
        quote = ledger.current("claim:rose").record.quote
    assert (quote.prefix, quote.suffix) == ("reversed text; ", "")
    assert run("verify", ledger_db, "--vkey", test_signer(TEST_ORIGIN).vkey).exit_code == 0


def test_verify_refuses_a_signed_log_holding_an_override(run, ledger_db, tmp_path):
    """A key holder who signs a record with an override themselves (not through ``ledger append``) is caught by
    verify's replay, which checks every record against the same schemas."""
    log, editor = test_signer(TEST_ORIGIN), test_signer(EDITOR)
    export = tmp_path / "entries.jsonl"
    assert run("export", ledger_db, "-o", export).exit_code == 0
    leaves = export.read_bytes().splitlines()
    size = len(leaves)
    forged = {"kind": "source", "id": "source:forged", "version": 1, "created": "2024-05-01T10:00:00Z", "type": "article",
              "title": f"Official: {RLO}eslaf si siht"}
    with pytest.raises(RecordError):
        validate_record(forged)  # what append would have said
    entry = Entry.sign(size, Record.from_checked_dict(forged), editor, TEST_ORIGIN)  # signed without the checks
    leaves.append(entry.leaf)
    export.write_bytes(b"".join(leaf + b"\n" for leaf in leaves))
    root = root_from_leaf_hashes(leaf_hash(leaf) for leaf in leaves)
    checkpoint = tmp_path / "checkpoint.txt"
    checkpoint.write_text(sign_checkpoint(Checkpoint(TEST_ORIGIN, len(leaves), root), log), "utf-8")
    result = run("verify", export, "--checkpoint", checkpoint, "--vkey", log.vkey)
    assert result.exit_code == 1
    assert f"entry {size}" in result.stdout + result.stderr and "U+202E (RIGHT-TO-LEFT OVERRIDE)" in result.stdout + result.stderr
