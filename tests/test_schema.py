"""ledger.schema: the stdlib validator agrees with jsonschema's Draft 2020-12 validator."""

import copy
import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import referencing
from hypothesis import HealthCheck, given, settings, strategies as st

from ledger import schema as schema_module
from ledger.demo import build_demo
from ledger.errors import FormatError, RecordError
from ledger.schema import RECORD_KINDS, load_schemas, schema_dir, validate_envelope, validate_record

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILES = sorted(schema_dir().glob("*.schema.json"))


def _registry():
    resources = []
    for path in SCHEMA_FILES:
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], referencing.Resource.from_contents(contents)))
    return referencing.Registry().with_resources(resources)


REGISTRY = _registry()


def _ecma_pattern(validator, pattern, instance, schema):
    # jsonschema matches 'pattern' with Python's re, whose '$' also matches
    # before a final newline; ECMA 262 (which JSON Schema specifies) does not.
    # The reference is made ECMA-exact here so the comparison is meaningful.
    if validator.is_type(instance, "string"):
        ecma = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
        if not re.search(ecma, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})
SCHEMAS = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in SCHEMA_FILES}


def reference_valid(record) -> bool:
    """jsonschema's verdict, with the kind's schema chosen the way ledger.schema does."""
    if not isinstance(record, dict) or record.get("kind") not in RECORD_KINDS:
        return False
    validator = EcmaValidator(SCHEMAS[f"{record['kind']}.schema.json"], registry=REGISTRY)
    return validator.is_valid(record)


def builtin_valid(record) -> bool:
    try:
        validate_record(record)
    except RecordError:
        return False
    return True


def assert_agree(record):
    assert builtin_valid(record) == reference_valid(record), json.dumps(record, ensure_ascii=False)[:300]


@pytest.fixture(scope="module")
def demo_leaves(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schema-demo")
    ledger = build_demo(tmp / "demo.db", tmp / "keys")
    leaves = [leaf for _, leaf in ledger._store.leaves()]
    ledger.close()
    return leaves


@pytest.fixture(scope="module")
def demo_records(demo_leaves):
    return [json.loads(leaf)["record"] for leaf in demo_leaves]


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_files_are_valid_draft_2020_12(path):
    contents = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(contents)
    assert contents["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_kind_has_a_schema():
    assert set(load_schemas()) >= {f"{k}.schema.json" for k in RECORD_KINDS} | {"common.schema.json", "envelope.schema.json"}


def test_demo_records_valid_under_both(demo_records, demo_leaves):
    assert len(demo_records) > 20
    for record in demo_records:
        assert reference_valid(record), record["id"]
        validate_record(record)
    envelope_validator = EcmaValidator(SCHEMAS["envelope.schema.json"], registry=REGISTRY)
    for leaf in demo_leaves:
        envelope = json.loads(leaf)
        assert envelope_validator.is_valid(envelope)
        validate_envelope(envelope)


def _doc_examples():
    found = []
    for path in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for i, block in enumerate(re.findall(r"^```json[ \t]*\n(.*?)^```", text, flags=re.M | re.S)):
            try:
                value = json.loads(block)
            except ValueError:
                continue
            if isinstance(value, dict) and "record" in value and isinstance(value["record"], dict):
                value = value["record"]
            if isinstance(value, dict) and value.get("kind") in RECORD_KINDS:
                found.append((f"{path.name}#{i}", value))
    return found


def test_doc_examples_agree():
    examples = _doc_examples()
    if not examples:
        pytest.skip("no ```json record examples in docs/*.md or README.md yet (docs/format.md is being written)")
    for where, record in examples:
        assert builtin_valid(record) == reference_valid(record), where


def test_doc_examples_are_valid_records():
    examples = _doc_examples()
    if not examples:
        pytest.skip("no ```json record examples in docs/*.md or README.md yet (docs/format.md is being written)")
    invalid = []
    for where, record in examples:
        try:
            validate_record(record)
        except RecordError as e:
            invalid.append(f"{where}: {e}")
    assert not invalid


# --- mutations -------------------------------------------------------------------------------------
def _paths(value, path=()):
    """Every (path, value) inside a record, objects and lists included."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def _set(record, path, value):
    node = record
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _get(record, path):
    for p in path:
        record = record[p]
    return record


OTHER_TYPES = [None, True, 0, 7, -1, "x", "", [], {}, ["a"], {"a": 1}, 10**9 + 1]


@st.composite
def mutated(draw, records):
    record = copy.deepcopy(draw(st.sampled_from(records)))
    paths = [p for p, _ in _paths(record) if p]
    path = draw(st.sampled_from(paths))
    value = _get(record, path)
    op = draw(st.sampled_from(["drop", "add", "type", "control", "long", "empty", "edit"]))
    if op == "drop":
        if isinstance(path[-1], int):
            _get(record, path[:-1]).pop(path[-1])
        else:
            _get(record, path[:-1]).pop(path[-1])
    elif op == "add":
        target = _get(record, path) if isinstance(value, dict) else record
        target[draw(st.sampled_from(["extra", "Kind", "ID", "signature", "_x"]))] = draw(st.sampled_from(OTHER_TYPES))
    elif op == "type":
        _set(record, path, draw(st.sampled_from(OTHER_TYPES)))
    elif op == "control" and isinstance(value, str):
        char = draw(st.sampled_from(["\x00", "\x01", "\t", "\n", "\r", "\x1f", "\x7f", "\u2028", "\x85"]))
        at = draw(st.integers(0, len(value)))
        _set(record, path, value[:at] + char + value[at:])
    elif op == "long" and isinstance(value, str):
        _set(record, path, value + draw(st.sampled_from(["a", "\u0219", "\U0001f600"])) * draw(st.sampled_from([40, 64, 128, 200, 1000, 2048, 20000])))
    elif op == "empty" and isinstance(value, str):
        _set(record, path, "")
    elif op == "edit" and isinstance(value, str):
        _set(record, path, draw(st.text(max_size=20)))
    elif op == "edit" and isinstance(value, int) and not isinstance(value, bool):
        _set(record, path, draw(st.integers(-5, 2 * 10**9)))
    return record


def _all_demo_records():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ledger = build_demo(Path(tmp) / "d.db", Path(tmp) / "k")
        records = [json.loads(leaf)["record"] for _, leaf in ledger._store.leaves()]
        ledger.close()
    return records


_RECORDS = _all_demo_records()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_RECORDS))
def test_mutations_agree_with_jsonschema(record):
    assert_agree(record)


@pytest.mark.parametrize("kind, field", [("claim", "text"), ("source", "title"), ("claim", "id")])
def test_control_characters_refused(kind, field):
    record = copy.deepcopy(next(r for r in _RECORDS if r["kind"] == kind))
    record[field] = record[field][:3] + "\x01" + record[field][3:]
    assert not reference_valid(record)
    with pytest.raises(RecordError, match=rf"^\$\.{field}: "):
        validate_record(record)


@pytest.mark.parametrize("field, value", [("id", "source:x\n"), ("title", "A title\n"), ("created", "2024-04-15T08:00:00Z\n")])
def test_trailing_newline_refused(field, value):
    record = copy.deepcopy(next(r for r in _RECORDS if r["kind"] == "source"))
    record[field] = value
    with pytest.raises(RecordError):
        validate_record(record)


def test_exact_messages():
    claim = copy.deepcopy(next(r for r in _RECORDS if r["kind"] == "claim"))
    cases = [
        (lambda r: r.pop("text"), "$: missing required field 'text'"),
        (lambda r: r.__setitem__("extra", 1), "$: unknown field 'extra' (allowed: "),
        (lambda r: r.__setitem__("version", "1"), "$.version: expected integer, found string \"1\""),
        (lambda r: r.__setitem__("version", 0), "$.version: 0 is less than the minimum 1"),
        (lambda r: r.__setitem__("text", ""), "$.text: must not be empty"),
        (lambda r: r.__setitem__("text", "a" * 20001), "$.text: 20001 characters, more than the limit of 20000"),
        (lambda r: r.__setitem__("tags", ["a", "a"]), "$.tags: duplicate item \"a\""),
        (lambda r: r.__setitem__("kind", "opinion"), f"$.kind: expected one of {', '.join(RECORD_KINDS)}; found \"opinion\""),
    ]
    for mutate, message in cases:
        record = copy.deepcopy(claim)
        mutate(record)
        with pytest.raises(RecordError) as e:
            validate_record(record)
        assert str(e.value).startswith(message), str(e.value)
    with pytest.raises(RecordError, match=r"^\$: a record must be a JSON object, found array"):
        validate_record([])


def test_max_length_counts_code_points():
    source = copy.deepcopy(next(r for r in _RECORDS if r["kind"] == "source"))
    source["title"] = "\U0001f600" * 1000  # 1000 code points, 2000 UTF-16 units
    assert reference_valid(source)
    validate_record(source)
    source["title"] += "\u0219"
    assert not reference_valid(source)
    with pytest.raises(RecordError, match=r"^\$\.title: 1001 characters, more than the limit of 1000$"):
        validate_record(source)


# --- unsupported keywords --------------------------------------------------------------------------
@pytest.fixture
def schema_copy(tmp_path, monkeypatch):
    target = tmp_path / "schema"
    shutil.copytree(schema_dir(), target)
    monkeypatch.setattr(schema_module, "schema_dir", lambda: target)
    load_schemas.cache_clear()
    yield target
    load_schemas.cache_clear()


@pytest.mark.parametrize("where, keyword, value", [
    ((), "oneOf", [{"type": "object"}]),
    (("properties", "created"), "format", "date-time"),
    (("properties", "quote", "properties", "start"), "exclusiveMinimum", 0),
    (("properties", "tags", "items"), "multipleOf", 2),
])
def test_unsupported_keyword_refused_at_load(schema_copy, where, keyword, value):
    path = schema_copy / "claim.schema.json"
    contents = json.loads(path.read_text())
    _get(contents, where)[keyword] = value
    path.write_text(json.dumps(contents))
    with pytest.raises(FormatError) as e:
        load_schemas()
    assert str(e.value) == f"claim.schema.json{''.join('/' + w for w in where)}: schema keyword {keyword!r} is not supported by ledger.schema"


def test_unsupported_keyword_in_defs_refused(schema_copy):
    path = schema_copy / "common.schema.json"
    contents = json.loads(path.read_text())
    contents["$defs"]["line"]["dependentRequired"] = {}
    path.write_text(json.dumps(contents))
    with pytest.raises(FormatError, match=r"^common.schema.json/\$defs/line: schema keyword 'dependentRequired' is not supported"):
        load_schemas()


def test_unmodified_copy_loads(schema_copy):
    assert set(load_schemas()) == {p.name for p in SCHEMA_FILES}
