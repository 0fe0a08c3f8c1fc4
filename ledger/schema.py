"""JSON Schema (draft 2020-12) validation of records and envelopes.

The files in ``schema/`` are the single source of truth. This module reads
them and validates with a small built-in validator that needs only the
standard library, so that third-party verifiers do not need ``jsonschema``.
It implements exactly the keywords our schemas use and refuses to load a
schema that uses any other keyword (so a schema edit can never be silently
ignored). ``tests/test_schema.py`` checks it agrees with ``jsonschema``.
"""

import functools
import json
import re
from pathlib import Path

from ledger.errors import FormatError, RecordError

RECORD_KINDS = ("source", "claim", "review", "correction", "retraction", "key")

# Keywords with no effect on validity (annotations) and those we implement.
_ANNOTATIONS = {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default"}
_ASSERTIONS = {
    "$ref", "type", "properties", "required", "additionalProperties", "enum", "const",
    "pattern", "minLength", "maxLength", "minimum", "maximum", "items", "minItems",
    "maxItems", "uniqueItems",
}


def schema_dir() -> Path:
    """Where the schema files are: inside an installed wheel, or the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_schema", here.parent / "schema"):
        if (candidate / "envelope.schema.json").is_file():
            return candidate
    raise FormatError(f"schema files not found beside {here}")


@functools.lru_cache(maxsize=None)
def load_schemas() -> dict:
    """All schemas by file name, e.g. ``{"claim.schema.json": {...}}``."""
    schemas = {}
    for path in sorted(schema_dir().glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        _check_keywords(schema, path.name)
        schemas[path.name] = schema
    return schemas


def _check_keywords(node, where):
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in _ANNOTATIONS and key not in _ASSERTIONS:
                raise FormatError(f"{where}: schema keyword {key!r} is not supported by ledger.schema")
            if key == "properties" or key == "$defs":
                for name, sub in value.items():
                    _check_keywords(sub, f"{where}/{key}/{name}")
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                _check_keywords(value, f"{where}/{key}")


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


@functools.lru_cache(maxsize=None)
def _regex(pattern):
    # ECMA 262 patterns used in our schemas are also valid Python patterns;
    # JSON Schema patterns are not anchored implicitly, hence search().
    return re.compile(pattern)


def _resolve(ref, current_file):
    file_part, _, pointer = ref.partition("#")
    name = file_part.rsplit("/", 1)[-1] if file_part else current_file
    node = load_schemas()[name]
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node, name


def _same(a, b):
    # JSON equality: 1 and True differ, unlike Python's ==.
    return type(a) is type(b) and a == b if not isinstance(a, (list, dict)) else json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _validate(value, schema, path, file):
    if "$ref" in schema:
        target, target_file = _resolve(schema["$ref"], file)
        _validate(value, target, path, target_file)
    if "type" in schema and not _TYPES[schema["type"]](value):
        raise RecordError(f"{path}: expected {schema['type']}, found {_describe(value)}")
    if "const" in schema and not _same(value, schema["const"]):
        raise RecordError(f"{path}: expected {schema['const']!r}, found {value!r}")
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        options = ", ".join(map(str, schema["enum"]))
        raise RecordError(f"{path}: expected one of {options}; found {_describe(value)}")
    if isinstance(value, str):
        length = len(value)  # code points, as JSON Schema counts
        if length < schema.get("minLength", 0):
            raise RecordError(f"{path}: must not be empty" if length == 0 else f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and length > schema["maxLength"]:
            raise RecordError(f"{path}: {length} characters, more than the limit of {schema['maxLength']}")
        if "pattern" in schema and not _regex(schema["pattern"]).search(value):
            raise RecordError(f"{path}: {_short(value)} is not valid here ({schema.get('description') or 'pattern ' + schema['pattern']})")
    if isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise RecordError(f"{path}: {value} is less than the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise RecordError(f"{path}: {value} is more than the maximum {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise RecordError(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise RecordError(f"{path}: {len(value)} items, more than the limit of {schema['maxItems']}")
        if schema.get("uniqueItems"):
            seen = set()
            for item in value:
                key = json.dumps(item, sort_keys=True)
                if key in seen:
                    raise RecordError(f"{path}: duplicate item {_short(item)}")
                seen.add(key)
        if "items" in schema:
            for i, item in enumerate(value):
                _validate(item, schema["items"], f"{path}[{i}]", file)
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                raise RecordError(f"{path}: missing required field {name!r}")
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                _validate(item, properties[name], f"{path}.{name}", file)
            elif schema.get("additionalProperties") is False:
                raise RecordError(f"{path}: unknown field {name!r} (allowed: {', '.join(properties)})")


def _describe(value):
    for name, test in _TYPES.items():
        if name != "number" and test(value):
            return f"{name} {_short(value)}"
    return type(value).__name__


def _short(value):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_envelope(envelope) -> None:
    """Raise RecordError unless ``envelope`` matches envelope.schema.json."""
    _validate(envelope, load_schemas()["envelope.schema.json"], "$", "envelope.schema.json")


def validate_record(record, path="$") -> None:
    """Raise RecordError unless ``record`` matches the schema of its kind."""
    if not isinstance(record, dict):
        raise RecordError(f"{path}: a record must be a JSON object, found {_describe(record)}")
    kind = record.get("kind")
    if kind not in RECORD_KINDS:
        raise RecordError(f"{path}.kind: expected one of {', '.join(RECORD_KINDS)}; found {_short(kind)}")
    name = f"{kind}.schema.json"
    _validate(record, load_schemas()[name], path, name)
