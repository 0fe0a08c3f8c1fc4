"""Import fact-check feeds as signed records: stable IDs, no duplicates, a full report.

``plan_import`` reads a file (``claimreview``, ``factcheck-api`` or
``jsonl``; detected when not given, ``shapes``), item by item, and compares
what each item says with the ledger. It returns the records to append as one
batch (``PlannedBatch``, kept in a temporary file) and an ``ImportReport``:
what is created, updated (a new version, with a note naming the changed
fields), unchanged, refused (with where in the file and why), skipped, which
labels stayed unrated, and every value that was left out or changed. Each
record ID is in exactly one of created, updated and unchanged; each item the
file holds is read into records, or is in refused or skipped. An item is
all or nothing: when one of its records cannot be imported, none is.

Nothing is appended here; the caller appends the batch with
``Ledger.append`` (all or nothing). Identity is ``identity`` and
``feed_records``; docs/interop.md says it all in one place.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import BinaryIO, Callable, Iterator, Optional, Union

import attrs

from ledger.canonical import canonical_bytes
from ledger.errors import FormatError, LedgerError, RecordError
from ledger.interop import claimreview, factcheck_api
from ledger.interop.batch import PlannedBatch
from ledger.interop.feed import FeedItem, Refusal, Skip
from ledger.interop.feed_records import records_of, review_key
from ledger.interop.identity import Identities, Identity
from ledger.interop.ratings import DEFAULT_MAP_ID, DESK_MAP_ID, RatingTable, default_map
from ledger.interop.shapes import FORMATS, FeedFile, open_feed_untrusted
from ledger.records import Record

_SKIP = ("version", "replaces", "created", "note")
_RECORD_NUMBER = re.compile(r"\brecord (\d+)")
_CHECK_TIME = "2000-01-01T00:00:00Z"
_SAME = object()  # a record's digest when it is the same as its last occurrence
_ASK = object()  # _Planner.head: ask the ledger  # a record is checked with a time; the append gives the real one

__all__ = ["FORMATS", "ImportPlan", "ImportReport", "plan_import"]


@attrs.define
class ImportReport:
    file: str
    format: str
    shape: str = ""
    detected: bool = False
    base_url: Optional[str] = None
    items: int = 0
    created: list = attrs.Factory(list)
    updated: list = attrs.Factory(list)
    unchanged: list = attrs.Factory(list)
    refused: list = attrs.Factory(list)
    skipped: list = attrs.Factory(list)
    unrated: list = attrs.Factory(list)
    warnings: list = attrs.Factory(list)

    def to_json(self) -> dict:
        return attrs.asdict(self)

    def summary(self, dry_run: bool) -> str:
        verb = "Would create" if dry_run else "Created"
        how = "detected: " if self.detected else ""
        lines = [f"{'Dry run: ' if dry_run else ''}{self.file} ({self.format}, {how}{self.shape})",
                 f"  {verb} {len(self.created)} records, {'would update' if dry_run else 'updated'} {len(self.updated)}, "
                 f"{len(self.unchanged)} unchanged, {len(self.refused)} refused, {len(self.skipped)} skipped"]
        if self.base_url:
            lines.append(f"  relative URLs resolved against {self.base_url}")
        lines += [f"  + {record_id}" for record_id in self.created[:50]]
        if len(self.created) > 50:
            lines.append(f"  ... and {len(self.created) - 50} more (use --json for all)")
        lines += [f"  ~ {u['id']} v{u['version']}: {', '.join(u['changed'])} changed" for u in self.updated]
        lines += [f"  REFUSED {r['at']}: {r['reason']}" for r in self.refused]
        lines += [f"  skipped {s['at']}: {s['reason']}" for s in self.skipped]
        lines += [f"  unrated {u['at']}: label {u['label']!r} is not in the rating map" for u in self.unrated]
        lines += [f"  note {w['at']}: {w['message']}" for w in self.warnings]
        return "\n".join(lines)


@attrs.define
class ImportPlan:
    records: PlannedBatch
    report: ImportReport

    def append(self, ledger, signer, log_signer, **kw) -> list:
        """``ledger.append`` of the planned records (one atomic batch); an error names the item it comes from."""
        try:
            return ledger.append(self.records, signer, log_signer, **kw)
        except LedgerError as e:
            found = _RECORD_NUMBER.search(str(e))
            if found is None or not 0 < int(found.group(1)) <= len(self.records):
                raise
            where = f" ({self.report.file} {self.records.origin(int(found.group(1)) - 1)})"
            raise type(e)(str(e)[:found.end(1)] + where + str(e)[found.end(1):]) from e

    def close(self) -> None:
        self.records.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _content(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in _SKIP}


def _digest(record: dict) -> int:
    return hash(canonical_bytes(_content(record)))


@attrs.define
class _Planned:
    """One record ID in this import: its place in the batch (None: nothing to append), the digest of
    its first occurrence's content, and where in the file that was."""

    place: Optional[int]
    digest: Optional[int]  # None until the record is met again
    at: str


@attrs.frozen
class _Decision:
    """What one occurrence of a record does: create (``content`` is version 1), revise (``content`` is the
    next version), unchanged, or same (it adds nothing to an earlier occurrence); ``warnings`` for the report."""

    action: str
    content: Optional[dict] = None
    changed: tuple = ()
    warnings: tuple = ()


class _Planner:
    """Plans an import record by record against the ledger as it is (see the module docstring)."""

    def __init__(self, ledger, feed: FeedFile, file_name: str):
        self.ledger = ledger
        self.feed = feed
        self.file_name = file_name
        self.report = ImportReport(file=file_name, format=feed.format, shape=feed.shape, detected=feed.detected,
                                   base_url=feed.context.base_url)
        self.batch = PlannedBatch(file_name)
        self.planned: dict[str, _Planned] = {}
        self.status: dict[str, str] = {}  # record ID -> created, updated or unchanged, in first-seen order
        self.updated: dict[str, dict] = {}
        self.table: Optional[RatingTable] = None
        self.default_map_record: Optional[dict] = None  # the packaged map, when the ledger does not have it yet
        self.map_note = ""
        self._heads: dict[str, object] = {}
        self._recent: dict[str, dict] = {}  # the content of the records met last, by ID
        self._cache: dict[str, Optional[dict]] = {}

    # --- the ledger, as it is before the import -------------------------------------------
    def head(self, record_id):
        """Where a record is in the ledger (None: not there); the records of the last items are remembered."""
        if record_id not in self._heads:
            self._forget_old()
            self._heads[record_id] = self.ledger.head(record_id)
        return self._heads[record_id]

    def _forget_old(self) -> None:
        if len(self._heads) > 4096:
            self._heads.clear()
            self._cache.clear()

    def current(self, record_id) -> Optional[dict]:
        """The current version of a record in the ledger, as a dict (None if there is none)."""
        if record_id not in self._cache:
            head = self.head(record_id)
            self._cache[record_id] = self.ledger.entry(head.entry_idx).record.to_dict() if head else None
        return self._cache[record_id]

    def note(self, at: str) -> str:
        return f"Imported from {self.feed.format} file {self.file_name} at {at}"[:1000]

    # --- rating maps -------------------------------------------------------------------------
    def rating_table(self) -> RatingTable:
        """The desk's map then the packaged default (whose record is planned with the first review that uses it,
        when the ledger does not have this version of it: ``plan``)."""
        if self.table is not None:
            return self.table
        default = default_map()
        current = self.current(DEFAULT_MAP_ID)
        version = current["version"] if current else 1
        if current is None or _content(current) != _content(default):
            why = "The default rating map shipped with fact-ledger" + (" changed" if current else "")
            self.default_map_record = {**default, "note": why}
            version = current["version"] + 1 if current else 1
        desk = self.current(DESK_MAP_ID)
        self.map_note = (f"{DESK_MAP_ID} v{desk['version']}, then " if desk else "") + f"{DEFAULT_MAP_ID} v{version}"
        self.table = RatingTable(([desk] if desk else []) + [default])
        self.report.warnings.extend({"at": "rating map", "message": m} for m in self.table.ambiguous)
        return self.table

    # --- feed items ----------------------------------------------------------------------------
    def add_feed(self) -> None:
        """Each item of a ClaimReview or Fact Check API file, as its sources, claim and review."""
        reader = claimreview if self.feed.format == "claimreview" else factcheck_api
        identities = Identities(self, self.ledger.origin)
        self.report.refused.extend({"at": r.path, "reason": r.reason} for r in self.feed.refused)
        foreign = []  # refusals of values that are not of the format at all
        for result in reader.items_from_units(self.feed.units, self.feed.context):
            if isinstance(result, Skip):
                self.report.skipped.append({"at": result.path, "reason": result.reason})
            elif isinstance(result, Refusal):
                self.refuse(result.path, result.reason, result.warnings)
                foreign += [result] if result.foreign else []
            else:
                self.report.items += 1
                if not result.review_key:
                    result.warnings.append("no review URL: identified by publisher, claim text and review date")
                identity = identities.resolve(result)
                if identity is not None:
                    self.add_item(result, identity)
        for item, identity in identities.settle():
            self.add_item(item, identity)
        if not self.report.items and len(foreign) == len(self.report.refused):
            self.not_this_format(foreign)

    def not_this_format(self, foreign: list) -> None:
        what = "ClaimReview" if self.feed.format == "claimreview" else "Fact Check Tools API claims"
        why = f" ({foreign[0].path}: {foreign[0].reason})" if foreign else ""
        raise FormatError(f"{self.file_name}: no {what} found{why}; is --format right?")

    def refuse(self, at: str, reason: str, warnings=()) -> None:
        self.report.refused.append({"at": at, "reason": reason})
        self.report.warnings.extend({"at": at, "message": w} for w in warnings)

    def add_item(self, item: FeedItem, identity: Identity) -> None:
        """Plan the records of one item, all or none; a refused item is reported with its warnings."""
        try:
            if identity.own:
                self.compare_own(item, identity)
            else:
                normalized, how = self.rating_table().normalize(item.label, item.value, item.best, item.worst)
                rating = (normalized, f"normalized by {how} with {self.map_note}" if how else f"unrated: not in {self.map_note}")
                self.plan(item.path, records_of(item, identity, review_key(item), rating, self.note(item.path)),
                          first_wins=True)
                if how is None:
                    self.report.unrated.append({"at": item.path, "label": item.label})
        except RecordError as e:
            self.refuse(item.path, str(e), item.warnings)
            return
        self.report.warnings.extend({"at": item.path, "message": w} for w in item.warnings)

    def compare_own(self, item: FeedItem, identity: Identity) -> None:
        """A review this desk wrote, exported and read back: unchanged when the file says what the ledger says."""
        review, claim = self.current(identity.review_id), self.current(identity.claim_id)
        given = {"rating.label": (item.label, review["rating"]["label"]), "claim text": (item.claim_text, claim["text"]),
                 "explanation": (item.review_body, review.get("explanation")),
                 "reviewed": (item.review_date, review.get("reviewed")),
                 "rating.label_language": (item.review_language, review["rating"].get("label_language"))}
        differ = [name for name, (in_file, in_ledger) in given.items() if in_file is not None and in_file != in_ledger]
        if differ:
            raise RecordError(f"{identity.review_id} is this ledger's own review, and the file changes its "
                              f"{', '.join(differ)}: an import never changes the desk's own records (use 'ledger revise')")
        for record_id in (identity.claim_id, identity.review_id):
            self.status.setdefault(record_id, "unchanged")

    # --- records ---------------------------------------------------------------------------------
    def plan(self, at: str, records: list[dict], first_wins: bool = False) -> None:
        """Plan each of ``records`` (one item's): all of them, or none when one cannot be imported.

        A record met again: with ``first_wins`` (feeds) the first occurrence's
        values are kept and only fields it did not give are added; otherwise
        (records files, where a later line is a later version) the later one replaces it.
        """
        digests = [self.digest(record) for record in records]
        decisions = [self.decide(at, record, digest, first_wins) for record, digest in zip(records, digests)]
        if self.default_map_record and any(r["kind"] == "review" and d.action in ("create", "revise")
                                           for r, d in zip(records, decisions)):
            # The map that rates these reviews goes in the log before them.
            record, self.default_map_record = self.default_map_record, None
            self.plan("rating map", [record])
        for record, digest, decision in zip(records, digests, decisions):
            self.commit(at, record["id"], digest, decision, first_wins)

    def digest(self, record: dict) -> Optional[int]:
        """The digest of a record's content when it is met again, or is in the ledger; None for a first
        occurrence of a new record (computed from the batch if it is met again: ``decide``).

        A record met again soon (the publisher of every review) is compared with its last occurrence
        instead: ``SAME`` when nothing but the note differs.
        """
        planned, content = self.planned.get(record["id"]), _content(record)
        if planned is None and self.head(record["id"]) is None:
            self._remember(record["id"], content)
            return None
        if planned is not None and self._recent.get(record["id"]) == content:
            return _SAME
        if planned is not None and planned.digest is None:
            planned.digest = _digest(self.batch.record(planned.place))
        self._remember(record["id"], content)
        return _digest(record)

    def _remember(self, record_id: str, content: dict) -> None:
        if len(self._recent) >= 4096:
            self._recent.clear()
        self._recent[record_id] = content

    def decide(self, at: str, record: dict, digest: Optional[int], first_wins: bool) -> _Decision:
        record_id, planned = record["id"], self.planned.get(record["id"])
        warnings = ()
        if planned is not None and (digest is _SAME or planned.digest == digest):
            return _Decision("same")
        if planned is None or not first_wins:
            if not first_wins:  # a records file: what it says is checked here (a feed's records are built valid)
                self.validate(record)
            target = record
        else:
            first = self.batch.record(planned.place) if planned.place is not None else self.current(record_id)
            warnings = tuple(f"{record_id}: {field} differs from {planned.at}; the value from {planned.at} is kept"
                             for field in sorted(set(_content(first)) & set(_content(record))) if first[field] != record[field])
            added = {k: v for k, v in _content(record).items() if k not in first}
            if not added:
                return _Decision("same", warnings=warnings)
            target = {**first, **added}
        return self.against_ledger(target, planned.at if planned is not None and first_wins else at, warnings)

    def against_ledger(self, target: dict, at: str, warnings: tuple) -> _Decision:
        """What ``target`` (the record as the file gives it, merged) does to the ledger's record."""
        record_id = target["id"]
        head = self.head(record_id)
        if head is None:
            if target["kind"] == "review" and (claim := self.head(target["claim"])) is not None and claim.status == "retracted":
                raise RecordError(f"{record_id}: claim {target['claim']} was retracted in this ledger")
            return _Decision("create", {k: v for k, v in target.items() if k not in ("version", "replaces")},
                             warnings=warnings)
        current = self.current(record_id)
        if current["kind"] != target["kind"]:
            raise RecordError(f"{record_id} is a {current['kind']} in the ledger, not a {target['kind']}")
        merged = {**_content(current), **_content(target)}
        changed = tuple(sorted(k for k in set(merged) | set(_content(current)) if merged.get(k) != current.get(k)))
        if not changed:
            return _Decision("unchanged", warnings=warnings)
        if head.status == "retracted":
            raise RecordError(f"{record_id} was retracted in this ledger; it is not revised")
        if target["kind"] == "review" and merged["claim"] != current["claim"]:
            raise RecordError(f"{record_id} reviews {current['claim']} in this ledger; a review cannot move to another claim")
        note = target["note"] if target["kind"] == "ratingmap" else \
            f"Re-imported from {self.feed.format} file {self.file_name} at {at}: {', '.join(changed)} changed"
        return _Decision("revise", {"kind": target["kind"], **merged, "id": record_id, "version": head.version + 1,
                                    "replaces": head.entry_hash, "note": note[:1000]}, changed, warnings)

    def validate(self, record: dict) -> None:
        try:
            Record.check_dict({**record, "version": record.get("version", 1), "created": record.get("created", _CHECK_TIME)})
        except RecordError as e:
            raise RecordError(f"{record.get('id')}: {str(e).removeprefix('$')}") from e

    def commit(self, at: str, record_id: str, digest: Optional[int], decision: _Decision, first_wins: bool) -> None:
        planned = self.planned.get(record_id)
        if planned is None:
            planned = self.planned[record_id] = _Planned(None, digest, at)
        elif not first_wins and digest is not _SAME:
            planned.digest, planned.at = digest, at
        self.report.warnings.extend({"at": at, "message": w} for w in decision.warnings)
        if decision.action == "same":
            return
        if decision.action == "unchanged":
            if planned.place is not None:  # a later line of a records file undid an earlier change
                self.batch.drop(planned.place)
                planned.place = None
            self.status[record_id] = "unchanged"
            return
        content = decision.content
        if decision.action == "revise":
            self.updated[record_id] = {"id": record_id, "version": content["version"], "changed": list(decision.changed)}
        if planned.place is None:
            planned.place = self.batch.add(content, at)
        else:
            self.batch.replace(planned.place, content)
        self.status[record_id] = "created" if decision.action == "create" else "updated"

    # --- records files -------------------------------------------------------------------------
    def add_records(self) -> None:
        """Each record of a JSONL (or JSON) file of records, when what it refers to is in the ledger or before it."""
        for unit in self.feed.units:
            try:
                record = self.record_of(unit)
                if record is not None:
                    self.report.items += 1
                    self.check_references(record)
                    self.plan(unit.path, [record])
            except LedgerError as e:
                self.refuse(unit.path, str(e))

    def record_of(self, unit) -> Optional[dict]:
        """The record a unit of a records file holds (None: skipped); raises a LedgerError when it holds none."""
        value = unit.value
        if isinstance(value, FormatError):
            raise value
        if isinstance(value, dict) and isinstance(value.get("record"), dict) and "sig" in value:
            value = value["record"]  # an entry of another ledger's export: its signature is for that ledger
        if not isinstance(value, dict):
            raise RecordError("expected a record (a JSON object)")
        if value.get("kind") in ("key", "correction", "retraction"):
            self.report.skipped.append({"at": unit.path, "reason": f"{value.get('kind')} records belong to the ledger "
                                                                   "they were signed in; not imported"})
            return None
        record = {k: v for k, v in value.items() if k not in ("version", "replaces")}
        record.setdefault("note", self.note(unit.path))
        return record

    def check_references(self, record: dict) -> None:
        missing = [r for r in references(record) if r not in self.planned and self.head(r) is None]
        if missing:
            raise RecordError(f"{record.get('id')}: refers to {', '.join(missing)}, which is neither in this ledger "
                              "nor imported before it")
        snapshot = record.get("snapshot") if record.get("kind") == "source" else None
        if isinstance(snapshot, dict) and self.ledger.snapshot(snapshot.get("sha256")) is None:
            raise RecordError(f"{record.get('id')}: its snapshot {snapshot.get('sha256')} is not stored; "
                              "append it with 'ledger append --snapshot FILE'")

    # --- the report ----------------------------------------------------------------------------
    def finish(self) -> ImportPlan:
        for record_id, status in self.status.items():
            if status == "created":
                self.report.created.append(record_id)
            elif status == "updated":
                self.report.updated.append(self.updated[record_id])
            else:
                self.report.unchanged.append(record_id)
        self.batch.seal()
        return ImportPlan(records=self.batch, report=self.report)


def references(record: dict) -> list[str]:
    """The IDs a record refers to."""
    kind, refs = record.get("kind"), []
    if kind == "source":
        refs = [link.get("source") for link in record.get("links") or () if isinstance(link, dict)]
    elif kind == "claim":
        refs = [record.get("source"), (record.get("attribution") or {}).get("source")]
    elif kind == "review":
        refs = [record.get("claim"), *(record.get("evidence") or ())]
    return [r for r in refs if isinstance(r, str)]


@contextlib.contextmanager
def feed_stream(path, stdin: Optional[BinaryIO] = None) -> Iterator[BinaryIO]:
    """The feed file ``path`` opened for reading (``-``: ``stdin``); one that cannot be opened is a LedgerError."""
    if path == "-":
        yield stdin
        return
    try:
        stream = open(path, "rb")
    except OSError as e:
        raise LedgerError(f"cannot read {path}: {e.strerror}") from e
    with stream:
        yield stream


def plan_import(ledger, source: Union[bytes, BinaryIO], file_name: str, fmt: Optional[str] = None,
                base_url: Optional[str] = None, progress: Optional[Callable[[int], None]] = None) -> ImportPlan:
    """Read ``source`` (bytes or a binary file) in ``fmt`` (None: detected) and work out the batch that brings it
    into ``ledger``; ``base_url`` is the URL of the page the file came from, for relative URLs; ``progress(n)``
    hears of every ``n`` bytes read.

    Close the plan (or use it with ``with``) when done: its records are in a temporary file.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    feed = open_feed_untrusted(stream, file_name, fmt, base_url, progress)
    planner = _Planner(ledger, feed, file_name)
    try:
        if feed.format == "jsonl":
            planner.add_records()
        else:
            planner.add_feed()
        return planner.finish()
    except BaseException:
        planner.batch.close()
        raise
