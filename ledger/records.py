"""Record types: sources, claims, reviews, corrections, retractions, keys, rating maps and witnesses.

Each kind is an ``attrs`` frozen class built by ``Record.from_dict`` (which
validates against ``schema/`` first) and turned back into the exact JSON
object by ``to_dict``. Absent optional fields are ``None`` and never written,
so ``from_dict(d).to_dict() == d`` for every valid ``d``.
"""

from __future__ import annotations

import datetime
import functools
import typing
from typing import Callable, ClassVar, Optional

import attrs

from ledger.errors import RecordError
from ledger.schema import validate_record

# The typed links between sources that make up provenance chains.
LINK_RELS = ("translation-of", "republishes", "reports-on", "quotes", "cites", "based-on", "primary-source")
RATINGS = ("true", "mostly-true", "mixed", "mostly-false", "false", "misleading", "unproven", "unrated")


def utc_now() -> str:
    """The current time as the records' timestamp format (RFC 3339, UTC, seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def complete_defaults(data: dict, now: Callable[[], str] = utc_now) -> None:
    """Fill what an editor may leave out of a record: 'created' (the time of
    appending, ``now()``) and 'version' (1)."""
    if "created" not in data:
        data["created"] = now()
    data.setdefault("version", 1)


def quote_to_anchor(data: dict) -> bool:
    """Whether ``data`` is a claim whose quote gives no position: the appender
    finds it in its source's snapshot (``ledger.quotes.anchor_quote``)."""
    quote = data.get("quote")
    return data.get("kind") == "claim" and isinstance(quote, dict) and quote.get("start") is None


class _Value:
    """Mixin for nested value objects: dict in, dict out."""

    @classmethod
    def _build(cls, data: dict, skip: Optional[str] = None):
        # Nested objects become their value class and lists tuples, as the
        # field annotations say (_converters); ``skip`` names a member that is
        # not a field (a record's "kind").
        converters = _converters(cls)
        return cls(**{name: converters[name](value) if name in converters else value
                      for name, value in data.items() if name != skip})

    def to_dict(self) -> dict:
        # What attrs.asdict gives with None fields left out and tuples as lists,
        # written out because it runs several times per appended entry.
        out = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, _Value):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = [item.to_dict() if isinstance(item, _Value) else item for item in value]
            out[name] = value
        return out


@functools.lru_cache(maxsize=None)
def _field_names(cls) -> tuple:
    return tuple(a.name for a in attrs.fields(cls))


@functools.lru_cache(maxsize=None)
def _converters(cls) -> dict[str, Callable]:
    """Field name -> what turns its JSON value into the field's, read once from the annotations:
    ``Optional[Quote]`` builds a Quote, ``tuple[Link, ...]`` a tuple of Links, ``tuple[str, ...]`` a tuple."""
    out = {}
    for field in attrs.fields(attrs.resolve_types(cls)):
        kind = _without_none(field.type)
        if isinstance(kind, type) and issubclass(kind, _Value):
            out[field.name] = kind._build
        elif typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            out[field.name] = functools.partial(_build_each, item._build) if issubclass(item, _Value) else tuple
    return out


def _without_none(annotation):
    # Optional[X] is Union[X, None]: X.
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if typing.get_origin(annotation) is typing.Union and len(args) == 1 else annotation


def _build_each(build: Callable, values: list) -> tuple:
    return tuple(build(v) for v in values)


@attrs.frozen(kw_only=True)
class Translation(_Value):
    language: str
    text: str


@attrs.frozen(kw_only=True)
class Quote(_Value):
    """W3C Web Annotation TextQuoteSelector + TextPositionSelector (code points)."""

    exact: str
    prefix: Optional[str] = None
    suffix: Optional[str] = None
    start: Optional[int] = None
    end: Optional[int] = None


@attrs.frozen(kw_only=True)
class Attribution(_Value):
    text: str
    anonymous: Optional[bool] = None
    source: Optional[str] = None


@attrs.frozen(kw_only=True)
class Quantity(_Value):
    value: str
    unit: Optional[str] = None
    subject: Optional[str] = None
    period: Optional[str] = None


@attrs.frozen(kw_only=True)
class Snapshot(_Value):
    sha256: str
    media_type: str
    size: int


@attrs.frozen(kw_only=True)
class Link(_Value):
    rel: str
    source: str
    note: Optional[str] = None


@attrs.frozen(kw_only=True)
class Rating(_Value):
    label: str
    normalized: str
    label_language: Optional[str] = None
    value: Optional[int] = None
    best: Optional[int] = None
    worst: Optional[int] = None


@attrs.frozen(kw_only=True)
class Record(_Value):
    """Fields every record kind has."""

    kind: ClassVar[str] = ""
    id: str
    version: int = 1
    created: str
    replaces: Optional[str] = None
    note: Optional[str] = None

    @classmethod
    def from_dict(cls, data: dict, path: str = "$") -> "Record":
        """Validate ``data`` against its kind's schema and build the typed record."""
        cls.check_dict(data, path)
        return Record.from_checked_dict(data)

    @classmethod
    def check_dict(cls, data: dict, path: str = "$") -> None:
        """What ``from_dict`` checks, without building the record.

        For data it accepts, ``from_dict(data).to_dict() == data``: the
        schemas allow no null and no unknown member, and building only
        copies values (nested objects to value classes, lists to tuples).
        So canonical(data) is the record's canonical form (ledger.signing).
        """
        validate_record(data, path)
        kind_class = KIND_CLASSES[data["kind"]]
        if cls is not Record and kind_class is not cls:
            raise RecordError(f"{path}.kind: expected {cls.kind!r}, found {data['kind']!r}")
        prefix = data["id"].split(":", 1)[0]
        if prefix != data["kind"]:
            raise RecordError(f"{path}.id: a {data['kind']} ID must start with '{data['kind']}:', found {data['id']!r}")
        if (data["version"] > 1) != ("replaces" in data):
            raise RecordError(
                f"{path}.replaces: version {data['version']} "
                + ("must name the entry hash of the version it replaces" if data["version"] > 1 else "is a first version and must not have 'replaces'")
            )

    @staticmethod
    def from_checked_dict(data: dict) -> "Record":
        """The record ``from_dict(data)`` gives, for data it has already accepted (in a worker process)."""
        return KIND_CLASSES[data["kind"]]._build(data, skip="kind")

    def to_dict(self) -> dict:
        return {"kind": self.kind, **super().to_dict()}

    def evolve(self, **changes) -> "Record":
        return attrs.evolve(self, **changes)


@attrs.frozen(kw_only=True)
class Source(Record):
    kind: ClassVar[str] = "source"
    type: str
    title: str
    url: Optional[str] = None
    publisher: Optional[str] = None
    author: Optional[str] = None
    language: Optional[str] = None
    published: Optional[str] = None
    retrieved: Optional[str] = None
    description: Optional[str] = None
    anonymous: Optional[bool] = None
    public: Optional[bool] = None
    third_party: Optional[bool] = None
    license: Optional[str] = None
    snapshot: Optional[Snapshot] = None
    archives: Optional[tuple[str, ...]] = None
    links: Optional[tuple[Link, ...]] = None


@attrs.frozen(kw_only=True)
class Claim(Record):
    kind: ClassVar[str] = "claim"
    text: str
    language: str
    source: str
    translation: Optional[Translation] = None
    quote: Optional[Quote] = None
    attribution: Optional[Attribution] = None
    quantity: Optional[Quantity] = None
    claim_date: Optional[str] = None
    tags: Optional[tuple[str, ...]] = None


@attrs.frozen(kw_only=True)
class Review(Record):
    kind: ClassVar[str] = "review"
    claim: str
    rating: Rating
    explanation: Optional[str] = None
    evidence: Optional[tuple[str, ...]] = None
    reviewed: Optional[str] = None
    url: Optional[str] = None


@attrs.frozen(kw_only=True)
class Correction(Record):
    kind: ClassVar[str] = "correction"
    target: str
    target_entry: str
    corrected_entry: str
    reason: str


@attrs.frozen(kw_only=True)
class Retraction(Record):
    kind: ClassVar[str] = "retraction"
    target: str
    target_entry: str
    reason: str


@attrs.frozen(kw_only=True)
class KeyRecord(Record):
    """Registers (status active) or revokes (status revoked, a new version) a key."""

    kind: ClassVar[str] = "key"
    vkey: str
    display_name: str
    role: str
    status: str
    reason: Optional[str] = None


@attrs.frozen(kw_only=True)
class RatingLabel(_Value):
    label: str
    normalized: str
    language: Optional[str] = None
    desks: Optional[tuple[str, ...]] = None


@attrs.frozen(kw_only=True)
class RatingPosition(_Value):
    at: str
    normalized: str


@attrs.frozen(kw_only=True)
class RatingMap(Record):
    """How desks' verdict labels and numeric ratings map to normalized ratings (used by ``ledger import``)."""

    kind: ClassVar[str] = "ratingmap"
    title: str
    labels: tuple[RatingLabel, ...]
    positions: Optional[tuple[RatingPosition, ...]] = None


@attrs.frozen(kw_only=True)
class WitnessRecord(Record):
    """Adds (status active) or removes (a new version, status removed) a witness that cosigns
    the log's checkpoints (c2sp.org/tlog-witness); signed by the log key."""

    kind: ClassVar[str] = "witness"
    vkey: str
    url: str
    status: str
    display_name: Optional[str] = None
    reason: Optional[str] = None


KIND_CLASSES = {c.kind: c for c in (Source, Claim, Review, Correction, Retraction, KeyRecord, RatingMap, WitnessRecord)}
