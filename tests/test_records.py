"""ledger.records: typed frozen records, from_dict/to_dict round trips and boundary checks."""

import copy
import json
import tempfile
import typing
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from ledger.demo import build_demo
from ledger.errors import RecordError
from ledger.records import KIND_CLASSES, LINK_RELS, RATINGS, Claim, KeyRecord, Record, Review, Source


def _demo_records():
    with tempfile.TemporaryDirectory() as tmp:
        ledger = build_demo(Path(tmp) / "d.db", Path(tmp) / "k")
        records = [json.loads(leaf)["record"] for _, leaf in ledger._store.leaves()]
        ledger.close()
    return records


DEMO = _demo_records()
HASH = "ab" * 32


def test_demo_records_round_trip():
    kinds = set()
    for data in DEMO:
        record = Record.from_dict(copy.deepcopy(data))
        assert type(record) is KIND_CLASSES[data["kind"]]
        assert record.to_dict() == data
        kinds.add(data["kind"])
    assert kinds >= {"source", "claim", "review", "correction", "retraction", "key"}


slug = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z")
# What no text may hold besides C0 controls and DEL (ledger.schema.DISPLAY_UNSAFE): C1 controls (category Cc),
# private use (Co), and the bidirectional embedding, override and isolate controls.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
line = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Co"), blacklist_characters=BIDI_CONTROLS), min_size=1, max_size=40)
text = st.text(st.characters(blacklist_categories=("Cs", "Co"), blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"
                                + "".join(map(chr, range(0x80, 0xA0))) + BIDI_CONTROLS), min_size=1, max_size=60)
context = st.text(st.characters(blacklist_categories=("Cs", "Co"), blacklist_characters="".join(map(chr, range(0x80, 0xA0))) + BIDI_CONTROLS),
                  max_size=10)
timestamp = st.sampled_from(["2024-04-15T08:00:00Z", "1999-12-31T23:59:59Z", "2030-02-28T00:00:00Z"])
date = st.sampled_from(["2024", "2024-04", "2024-04-12"])
language = st.sampled_from(["ro", "en", "en-GB", "zh-Hant-TW"])
decimal = st.from_regex(r"\A-?(0|[1-9][0-9]{0,10})(\.[0-9]{1,5})?\Z")
url = st.sampled_from(["https://example.org/a?b=1", "http://x.example/%C8%99"])


def optional(d, **strategies):
    """Add each optional field with some probability."""
    return st.fixed_dictionaries(d, optional=strategies)


@st.composite
def versioned(draw, base):
    record = draw(base)
    if draw(st.booleans()):
        record["version"] = draw(st.integers(2, 1000))
        record["replaces"] = HASH
        record["note"] = draw(text)
    return record


common = {"version": st.just(1), "created": timestamp}
sources = optional(
    {"kind": st.just("source"), "id": slug.map("source:".__add__), **common,
     "type": st.sampled_from(["article", "report", "person", "dataset", "other"]), "title": line},
    url=url, publisher=line, author=line, language=language, published=date, retrieved=timestamp, description=text,
    anonymous=st.booleans(), public=st.booleans(), third_party=st.booleans(), license=line,
    snapshot=st.fixed_dictionaries({"sha256": st.just(HASH), "media_type": st.just("text/plain; charset=utf-8"),
                                    "size": st.integers(0, 10**9)}),
    archives=st.lists(url, max_size=2, unique=True),
    links=st.lists(optional({"rel": st.sampled_from(LINK_RELS), "source": slug.map("source:".__add__)}, note=line), max_size=3),
)
claims = optional(
    {"kind": st.just("claim"), "id": slug.map("claim:".__add__), **common, "text": text, "language": language,
     "source": slug.map("source:".__add__)},
    translation=st.fixed_dictionaries({"language": language, "text": text}),
    quote=optional({"exact": text}, prefix=context, suffix=context,
                   start=st.integers(0, 1000), end=st.integers(0, 1000)),
    attribution=optional({"text": line}, anonymous=st.booleans(), source=slug.map("source:".__add__)),
    quantity=optional({"value": decimal}, unit=st.sampled_from(["%", "USD"]), subject=line, period=line),
    claim_date=date, tags=st.lists(st.sampled_from(["a", "b-c", "ș"]), max_size=3, unique=True),
)
reviews = optional(
    {"kind": st.just("review"), "id": slug.map("review:".__add__), **common, "claim": slug.map("claim:".__add__),
     "rating": optional({"label": line, "normalized": st.sampled_from(RATINGS)}, label_language=language,
                        value=st.integers(1, 5), best=st.just(5), worst=st.just(1))},
    explanation=text, evidence=st.lists(slug.map("source:".__add__), max_size=3, unique=True), reviewed=date, url=url,
)
corrections = st.fixed_dictionaries(
    {"kind": st.just("correction"), "id": slug.map("correction:".__add__), **common, "target": slug.map("claim:".__add__),
     "target_entry": st.just(HASH), "corrected_entry": st.just("cd" * 32), "reason": text})
retractions = st.fixed_dictionaries(
    {"kind": st.just("retraction"), "id": slug.map("retraction:".__add__), **common, "target": slug.map("claim:".__add__),
     "target_entry": st.just(HASH), "reason": text})
keys = optional(
    {"kind": st.just("key"), "id": slug.map("key:".__add__), **common,
     "vkey": st.just("ana@example.org+3351d3c4+ASmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X"),
     "display_name": line, "role": st.sampled_from(["log", "editor"]), "status": st.sampled_from(["active", "revoked"])},
    reason=text,
)
any_record = st.one_of(*(versioned(s) for s in (sources, claims, reviews, corrections, retractions, keys)))


@settings(max_examples=300, deadline=None)
@given(any_record)
def test_round_trip_generated(data):
    record = Record.from_dict(copy.deepcopy(data))
    assert record.to_dict() == data
    assert KIND_CLASSES[data["kind"]].from_dict(copy.deepcopy(data)) == record



def _typed_as_annotated(value, annotation) -> bool:
    # What a field's annotation says its value is: None, a value class, or a tuple of items.
    if value is None:
        return True
    if typing.get_origin(annotation) is typing.Union:
        return any(_typed_as_annotated(value, a) for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is tuple:
        item = typing.get_args(annotation)[0]
        return isinstance(value, tuple) and all(_typed_as_annotated(v, item) for v in value)
    if attrs.has(annotation):
        return isinstance(value, annotation) and all(
            _typed_as_annotated(getattr(value, f.name), f.type) for f in attrs.fields(attrs.resolve_types(annotation)))
    return isinstance(value, annotation)


@settings(max_examples=100, deadline=None)
@given(any_record)
def test_every_field_is_built_as_its_annotation_says(data):
    # Nested objects become their value class and JSON lists tuples (of value
    # classes where the annotation names one), read from the annotations alone.
    record = Record.from_dict(copy.deepcopy(data))
    assert _typed_as_annotated(record, type(record))


def test_demo_records_are_built_as_annotated():
    for data in DEMO:
        assert _typed_as_annotated(Record.from_dict(copy.deepcopy(data)), KIND_CLASSES[data["kind"]])
    source = Record.from_dict(copy.deepcopy(next(r for r in DEMO if r["kind"] == "source" and r.get("links"))))
    assert type(source.links) is tuple and type(source.links[0]).__name__ == "Link"

def _claim(**changes):
    data = copy.deepcopy(next(r for r in DEMO if r["kind"] == "claim" and r["version"] == 1))
    data.update(changes)
    return data


def test_replaces_required_on_revisions():
    with pytest.raises(RecordError) as e:
        Record.from_dict(_claim(version=2))
    assert str(e.value) == "$.replaces: version 2 must name the entry hash of the version it replaces"


def test_replaces_forbidden_on_first_version():
    with pytest.raises(RecordError) as e:
        Record.from_dict(_claim(replaces=HASH))
    assert str(e.value) == "$.replaces: version 1 is a first version and must not have 'replaces'"


def test_revision_with_replaces_accepted():
    record = Record.from_dict(_claim(version=2, replaces=HASH, note="why"))
    assert (record.version, record.replaces) == (2, HASH)


@pytest.mark.parametrize("kind, other", [("claim", "source"), ("claim", "review"), ("source", "claim")])
def test_id_prefix_must_match_kind(kind, other):
    data = next(copy.deepcopy(r) for r in DEMO if r["kind"] == kind)
    data["id"] = f"{other}:mismatch"
    with pytest.raises(RecordError) as e:
        Record.from_dict(data)
    assert str(e.value) == f"$.id: a {kind} ID must start with '{kind}:', found '{other}:mismatch'"


def test_subclass_from_dict_checks_kind():
    with pytest.raises(RecordError) as e:
        Review.from_dict(_claim())
    assert str(e.value) == "$.kind: expected 'review', found 'claim'"


def test_path_prefixes_messages():
    with pytest.raises(RecordError, match=r"^\$\.record: missing required field 'text'$"):
        Record.from_dict({k: v for k, v in _claim().items() if k != "text"}, path="$.record")


def test_frozen():
    record = Record.from_dict(_claim())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.text = "changed"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.quote.exact = "changed"
    assert isinstance(record.tags, tuple)
    evolved = record.evolve(text="changed")
    assert evolved.text == "changed" and record.text != "changed"


def test_absent_optional_fields_are_not_written():
    record = Claim(id="claim:x", created="2024-01-01T00:00:00Z", text="t", language="ro", source="source:y")
    assert record.to_dict() == {"kind": "claim", "id": "claim:x", "version": 1, "created": "2024-01-01T00:00:00Z",
                                "text": "t", "language": "ro", "source": "source:y"}


def test_false_and_zero_are_written():
    data = {"kind": "source", "id": "source:x", "version": 1, "created": "2024-01-01T00:00:00Z", "type": "other",
            "title": "t", "anonymous": False, "snapshot": {"sha256": HASH, "media_type": "text/plain", "size": 0}}
    assert Source.from_dict(copy.deepcopy(data)).to_dict() == data


def test_key_record_kind():
    data = next(r for r in DEMO if r["kind"] == "key")
    assert isinstance(KeyRecord.from_dict(copy.deepcopy(data)), KeyRecord)
