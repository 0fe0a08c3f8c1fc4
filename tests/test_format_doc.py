"""docs/format.md cannot drift: its worked example is recomputed and its JSON examples validated."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from ledger.canonical import canonical_bytes
from ledger.envelope import Entry, signed_message
from ledger.note import Signer
from ledger.quotes import check_quote
from ledger.records import Record

DOC = Path(__file__).resolve().parent.parent / "docs" / "format.md"
SEED = Path(__file__).resolve().parent.parent / "data" / "seed" / "article-ro.txt"


def blocks():
    text = DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- example: (\S+) -->\n```(?:json)?\n(.*?)```\n", text, re.DOTALL))


def json_examples():
    text = DOC.read_text(encoding="utf-8")
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```\n", text, re.DOTALL)]


def test_worked_example_recomputes():
    b = blocks()
    ana = Signer.from_seed("ana@example.org", bytes(range(0x20, 0x40)))
    assert ana.public_key.hex() == b["public-key"].strip()
    assert ana.vkey == b["vkey"].strip()
    record = json.loads(b["record"])
    assert canonical_bytes(record).decode("utf-8") == b["canonical"].strip()
    entry = Entry.sign(0, Record.from_dict(record), ana, "example.org/ledger")
    assert entry.leaf.decode("utf-8") == b["leaf"].strip()
    assert entry.hash_hex == b["entry-hash"].strip()
    assert hashlib.sha256(b"\x00" + entry.leaf).hexdigest() == entry.hash_hex
    message = signed_message("example.org/ledger", canonical_bytes(record))
    assert message == b"fact-ledger/record/v1\nexample.org/ledger\n" + b["canonical"].strip().encode("utf-8")
    ana.verifier.verify(message, entry.signature)


@pytest.mark.parametrize("example", json_examples(), ids=lambda e: e["id"])
def test_every_json_example_is_a_valid_record(example):
    assert Record.from_dict(example).to_dict() == example


def test_the_quote_example_is_anchored_in_the_seed_article():
    claim = next(e for e in json_examples() if e.get("quote", {}).get("start") is not None)
    source = next(e for e in json_examples() if e["id"] == claim["source"])
    content = SEED.read_bytes()
    assert hashlib.sha256(content).hexdigest() == source["snapshot"]["sha256"]
    assert len(content) == source["snapshot"]["size"]
    check_quote(content.decode("utf-8"), Record.from_dict(claim).quote, "docs/format.md")
