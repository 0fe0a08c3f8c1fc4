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
import unicodedata
from pathlib import Path

from ledger.errors import FormatError, RecordError

RECORD_KINDS = ("source", "claim", "review", "correction", "retraction", "key", "ratingmap", "witness")

# The characters no text of a record may hold besides C0 controls and DEL, as
# the patterns of schema/common.schema.json ("line", "text", "tag", "url", key
# names) and of a quote's prefix and suffix refuse them: C1 controls
# (U+0080-U+009F), the bidirectional embedding, override and isolate controls
# (U+202A-U+202E, U+2066-U+2069; Unicode UAX #9), which reorder what a reader
# sees, and private-use characters (U+E000-U+F8FF, planes 15 and 16), which
# mean whatever a font or program makes of them (the site's search snippets
# mark matches with two of them). tests/test_schema.py checks this agrees
# with the schemas.
DISPLAY_UNSAFE = re.compile("[\u0080-\u009f\u202a-\u202e\u2066-\u2069\ue000-\uf8ff\U000f0000-\U0010ffff]")
_SHOWN_ESCAPED = re.compile("[\u0000-\u001f\u007f]|" + DISPLAY_UNSAFE.pattern)

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
    # ECMA 262 patterns used in our schemas are also valid Python patterns,
    # except that Python's '$' also matches before a final newline, which
    # ECMA 262's does not: a trailing '$' becomes '\Z'. JSON Schema patterns
    # are not anchored implicitly, hence search().
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + "\\Z"
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
    _compiled(schema, file)(value, path)


# Each (sub)schema is compiled once into a closure that runs exactly the
# checks above would, in the same order and with the same messages, without
# looking keywords up or resolving $ref on every value.
_COMPILED: dict = {}


_COMPILING: set = set()  # the schemas being compiled: a $ref to one of them is resolved at its first use


def _compiled(schema, file):
    key = (id(schema), file)
    found = _COMPILED.get(key)
    if found is None or found[0] is not schema:  # the schema itself is kept, so its id stays its own
        _COMPILING.add(key)
        try:
            found = _COMPILED[key] = (schema, _compile(schema, file))
        finally:
            _COMPILING.discard(key)
    return found[1]


def _compile(schema, file):
    if schema.get("type") == "string" and _ASSERTIONS.intersection(schema) <= {"type", "minLength", "maxLength", "pattern"}:
        return _string_check(schema)
    checks = []  # run on every value
    by_type = []  # (type test, checks) run on values of that JSON type
    if "$ref" in schema:
        target, target_file = _resolve(schema["$ref"], file)
        if (id(target), target_file) not in _COMPILING:
            checks.append(_compiled(target, target_file))
        else:
            resolved = []  # compiled at the first use: a schema that refers to itself

            def check_ref(value, path):
                if not resolved:
                    resolved.append(_compiled(target, target_file))
                resolved[0](value, path)
            checks.append(check_ref)
    if "type" in schema:
        expected, test = schema["type"], _TYPES[schema["type"]]

        def check_type(value, path):
            if not test(value):
                raise RecordError(f"{path}: expected {expected}, found {_describe(value)}")
        checks.append(check_type)
    if "const" in schema:
        const = schema["const"]

        def check_const(value, path):
            if not _same(value, const):
                raise RecordError(f"{path}: expected {const!r}, found {value!r}")
        checks.append(check_const)
    if "enum" in schema:
        enum = schema["enum"]

        def check_enum(value, path):
            if not any(_same(value, option) for option in enum):
                options = ", ".join(map(str, enum))
                raise RecordError(f"{path}: expected one of {options}; found {_describe(value)}")
        checks.append(check_enum)
    string_checks = _string_checks(schema)
    if string_checks:
        by_type.append((lambda v: isinstance(v, str), string_checks))
    integer_checks = _integer_checks(schema)
    if integer_checks:
        by_type.append((lambda v: isinstance(v, int) and not isinstance(v, bool), integer_checks))
    array_checks = _array_checks(schema, file)
    if array_checks:
        by_type.append((lambda v: isinstance(v, list), array_checks))
    if "required" in schema or "properties" in schema or schema.get("additionalProperties") is False:
        by_type.append((lambda v: isinstance(v, dict), [_object_check(schema, file)]))

    return _joined(checks, by_type)


def _joined(checks, by_type):
    # One function running ``checks``, then each of ``by_type``'s checks on a
    # value of its type, in that order. The common shapes (a lone $ref, a
    # type with its string or integer checks, an object) get one call less
    # per level: records are checked on every append and every verify.
    if not by_type and len(checks) == 1:
        return checks[0]
    if len(by_type) == 1 and len(checks) <= 1:
        (test, typed), = by_type
        first = checks[0] if checks else None
        if len(typed) == 1:
            only = typed[0]

            def validate_one(value, path):
                if first is not None:
                    first(value, path)
                if test(value):
                    only(value, path)
            return validate_one

        def validate_typed(value, path):
            if first is not None:
                first(value, path)
            if test(value):
                for check in typed:
                    check(value, path)
        return validate_typed

    def validate(value, path):
        for check in checks:
            check(value, path)
        for test, typed in by_type:
            if test(value):
                for check in typed:
                    check(value, path)
    return validate


def _string_check(schema):
    # A schema that is a string type and its string checks (most of a
    # record's fields): the checks _compile would run, in the same order with
    # the same messages, in one function.
    typed = _string_checks(schema)

    def check_string(value, path):
        if not isinstance(value, str):
            raise RecordError(f"{path}: expected string, found {_describe(value)}")
        for check in typed:
            check(value, path)
    return check_string


def _string_checks(schema):
    out = []
    if schema.get("minLength", 0) > 0:
        minimum = schema["minLength"]

        def check_min(value, path):
            length = len(value)  # code points, as JSON Schema counts
            if length < minimum:
                raise RecordError(f"{path}: must not be empty" if length == 0 else f"{path}: shorter than {minimum} characters")
        out.append(check_min)
    if "maxLength" in schema:
        maximum = schema["maxLength"]

        def check_max(value, path):
            if len(value) > maximum:
                raise RecordError(f"{path}: {len(value)} characters, more than the limit of {maximum}")
        out.append(check_max)
    if "pattern" in schema:
        search = _regex(schema["pattern"]).search
        hint = schema.get("description") or "pattern " + schema["pattern"]

        def check_pattern(value, path):
            if not search(value):
                raise RecordError(f"{path}: {_short(value)} is not valid here ({hint}){_first_control(value)}")
        out.append(check_pattern)
    return out


def _integer_checks(schema):
    out = []
    if "minimum" in schema:
        minimum = schema["minimum"]

        def check_min(value, path):
            if value < minimum:
                raise RecordError(f"{path}: {value} is less than the minimum {minimum}")
        out.append(check_min)
    if "maximum" in schema:
        maximum = schema["maximum"]

        def check_max(value, path):
            if value > maximum:
                raise RecordError(f"{path}: {value} is more than the maximum {maximum}")
        out.append(check_max)
    return out


def _array_checks(schema, file):
    out = []
    if schema.get("minItems", 0) > 0:
        minimum = schema["minItems"]

        def check_min(value, path):
            if len(value) < minimum:
                raise RecordError(f"{path}: fewer than {minimum} items")
        out.append(check_min)
    if "maxItems" in schema:
        maximum = schema["maxItems"]

        def check_max(value, path):
            if len(value) > maximum:
                raise RecordError(f"{path}: {len(value)} items, more than the limit of {maximum}")
        out.append(check_max)
    if schema.get("uniqueItems"):
        def check_unique(value, path):
            seen = set()
            for item in value:
                key = json.dumps(item, sort_keys=True)
                if key in seen:
                    raise RecordError(f"{path}: duplicate item {_short(item)}")
                seen.add(key)
        out.append(check_unique)
    if "items" in schema:
        item_fn = _compiled(schema["items"], file)

        def check_items(value, path):
            for i, item in enumerate(value):
                item_fn(item, f"{path}[{i}]")
        out.append(check_items)
    return out


def _object_check(schema, file):
    required = tuple(schema.get("required", ()))
    properties = schema.get("properties", {})
    property_fns = {name: _compiled(sub, file) for name, sub in properties.items()}
    closed = schema.get("additionalProperties") is False

    def check_object(value, path):
        for name in required:
            if name not in value:
                raise RecordError(f"{path}: missing required field {name!r}")
        for name, item in value.items():
            fn = property_fns.get(name)
            if fn is not None:
                fn(item, f"{path}.{name}")
            elif closed:
                raise RecordError(f"{path}: unknown field {name!r} (allowed: {', '.join(properties)})")
    return check_object


def _describe(value):
    for name, test in _TYPES.items():
        if name != "number" and test(value):
            return f"{name} {_short(value)}"
    return type(value).__name__


def _short(value):
    # Controls, bidirectional controls and private-use characters are shown
    # as \uXXXX escapes: printed raw, an override would reorder the error
    # line itself on the editor's terminal.
    text = _SHOWN_ESCAPED.sub(_escape, json.dumps(value, ensure_ascii=False))
    return text if len(text) <= 60 else text[:57] + "..."


def _escape(match) -> str:
    code = ord(match[0])
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _first_control(value: str) -> str:
    """Where the first control, bidirectional-control or private-use character of ``value`` is, if any."""
    found = next((m for m in _SHOWN_ESCAPED.finditer(value) if m[0] not in "\t\n"), None)
    if found is None:
        return ""
    code = ord(found[0])
    name = unicodedata.name(found[0], "a control character" if code < 0xA0 else "a private-use character")
    return f"; it holds U+{code:04X} ({name}) at code point {found.start()}"


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
