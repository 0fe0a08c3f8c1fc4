"""Import fact-check feeds as signed records: stable IDs, no duplicates, a full report.

``plan_import`` reads a file (``claimreview``, ``factcheck-api`` or ``jsonl``)
and compares what it says with the ledger. It returns the records to append
as one batch and an ``ImportReport``: what is created, updated (a new
version, with a note naming the changed fields), unchanged, refused (with
where in the file and why), skipped, which labels stayed unrated, and every
value that was left out. Nothing is appended here; the caller appends the
batch with ``Ledger.append`` (all or nothing).

Identity (docs/interop.md): a review is identified by its URL (or, without
one, by its ``@id``, or by publisher, claim text and date); the review's
published page by the same key; the publisher by its name; the claimant and
each appearance by URL, else name; a claim by its text and claimant, or by the
claim an existing review of the same key already reviews. IDs are
``<kind>:cr-<role>-<first 16 hex digits of SHA-256(key)>``, so importing the
same file again finds the same records and creates nothing.
"""

from __future__ import annotations

import hashlib
from typing import Optional

import attrs

from ledger.errors import FormatError, RecordError
from ledger.interop import claimreview, factcheck_api
from ledger.interop.feed import (
    PUBLISHER_ID_PREFIX, REVIEW_PAGE_ID_PREFIX, TITLE_NOT_GIVEN, UNKNOWN_SOURCE_ID, Appearance, FeedItem, Party, Refused,
    parse_feed_untrusted,
)
from ledger.interop.ratings import DEFAULT_MAP_ID, DESK_MAP_ID, RatingTable, default_map, fold_label
from ledger.records import Record, utc_now

FORMATS = ("claimreview", "factcheck-api", "jsonl")
_SKIP = ("version", "replaces", "created", "note")
_KIND_ORDER = {"ratingmap": 0, "source": 1, "claim": 2, "review": 3}


@attrs.define
class ImportReport:
    file: str
    format: str
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
        lines = [f"{'Dry run: ' if dry_run else ''}{self.file} ({self.format})",
                 f"  {verb} {len(self.created)} records, {'would update' if dry_run else 'updated'} {len(self.updated)}, "
                 f"{len(self.unchanged)} unchanged, {len(self.refused)} refused, {len(self.skipped)} skipped"]
        for record_id in self.created[:50]:
            lines.append(f"  + {record_id}")
        if len(self.created) > 50:
            lines.append(f"  ... and {len(self.created) - 50} more (use --json for all)")
        for u in self.updated:
            lines.append(f"  ~ {u['id']} v{u['version']}: {', '.join(u['changed'])} changed")
        for r in self.refused:
            lines.append(f"  REFUSED {r['at']}: {r['reason']}")
        for s in self.skipped:
            lines.append(f"  skipped {s['at']}: {s['reason']}")
        for u in self.unrated:
            lines.append(f"  unrated {u['at']}: label {u['label']!r} is not in the rating map")
        for w in self.warnings:
            lines.append(f"  note {w['at']}: {w['message']}")
        return "\n".join(lines)


@attrs.define
class ImportPlan:
    records: list
    report: ImportReport


def _hex(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != ()}


def _content(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in _SKIP}


# --- the sources one feed item names -----------------------------------------------------------
def _review_key(item: FeedItem) -> str:
    """What identifies the review: its URL (or @id), else its publisher, claim text and date."""
    if item.review_key:
        return item.review_key
    who = item.publisher.name or item.publisher.site or "" if item.publisher else ""
    item.warnings.append("no review URL: identified by publisher, claim text and review date")
    return "content\n" + fold_label(who) + "\n" + " ".join(item.claim_text.split()) + "\n" + (item.review_date or "")


def _publisher_source(publisher: Party, note: str) -> dict:
    # By name: the one thing every format gives (ClaimReview has no 'site', the API no URL).
    key = fold_label(publisher.name) if publisher.name else publisher.url or (publisher.site or "").lower()
    return _drop_none({
        "kind": "source", "id": f"{PUBLISHER_ID_PREFIX}{_hex(key)}", "type": "organization",
        "title": publisher.name or publisher.site or publisher.url, "url": publisher.url,
        "description": f"Site as given by the feed: {publisher.site}" if publisher.site else None, "note": note,
    })


def _review_page_source(item: FeedItem, review_key: str, note: str) -> dict:
    return _drop_none({
        "kind": "source", "id": f"{REVIEW_PAGE_ID_PREFIX}{_hex(review_key)}", "type": "article",
        "title": item.review_title or item.review_url, "url": item.review_url,
        "publisher": item.publisher.name if item.publisher else None, "language": item.review_language,
        "published": item.review_date, "note": note,
    })


def _claimant_source(claimant: Party, note: str) -> dict:
    return _drop_none({"kind": "source", "id": f"source:cr-claimant-{_hex(claimant.url or fold_label(claimant.name or ''))}",
                       "type": claimant.type, "title": claimant.name or claimant.url, "url": claimant.url, "note": note})


def _appearance_sources(appearances: list[Appearance], note: str) -> list[dict]:
    """One source per appearance; each after the first republishes the first."""
    sources = []
    for a in appearances:
        links = [{"rel": "republishes", "source": sources[0]["id"]}] if sources else None
        sources.append(_drop_none({
            "kind": "source", "id": f"source:cr-appearance-{_hex(a.url or (a.archives[0] if a.archives else '') or a.title)}",
            "type": "document", "title": a.title or a.url or a.archives[0],
            "url": a.url, "published": a.published, "archives": list(a.archives), "links": links,
            "description": None if a.title else TITLE_NOT_GIVEN, "note": note,
        }))
    return sources


def _unknown_source(note: str) -> dict:
    return {"kind": "source", "id": UNKNOWN_SOURCE_ID, "type": "other",
            "title": "Unknown appearance (not given by the feed)",
            "description": "The source of claims whose feed said neither where the claim appeared nor who made it.",
            "note": note}


class _Planner:
    def __init__(self, ledger, fmt: str, file_name: str):
        self.ledger = ledger
        self.fmt = fmt
        self.file_name = file_name
        self.report = ImportReport(file=file_name, format=fmt)
        self.pending: dict[str, tuple[dict, str]] = {}
        self.map_note = None

    def head(self, record_id):
        return self.ledger.head(record_id)

    def current(self, record_id) -> Optional[dict]:
        return self.ledger.current(record_id).record.to_dict() if self.head(record_id) else None

    def note(self, at: str) -> str:
        return f"Imported from {self.fmt} file {self.file_name} at {at}"[:1000]

    # --- rating maps ---------------------------------------------------------------
    def rating_table(self) -> RatingTable:
        default = default_map()
        current = self.current(DEFAULT_MAP_ID)
        if current is None:
            self.pending[DEFAULT_MAP_ID] = ({**default, "note": "The default rating map shipped with fact-ledger"}, "rating map")
            version = 1
        elif _content(current) != _content(default):
            self.pending[DEFAULT_MAP_ID] = ({**default, "note": "The default rating map shipped with fact-ledger changed"}, "rating map")
            version = current["version"] + 1
        else:
            version = current["version"]
        desk = self.current(DESK_MAP_ID)
        self.map_note = (f"{DESK_MAP_ID} v{desk['version']}, then " if desk else "") + f"{DEFAULT_MAP_ID} v{version}"
        return RatingTable(([desk] if desk else []) + [default])

    # --- feed items to records ---------------------------------------------------------
    def records_for_item(self, item: FeedItem, table: RatingTable) -> list[dict]:
        """The sources, the claim and the review that one feed item becomes (IDs as in the module docstring)."""
        note = self.note(item.path)
        review_key = _review_key(item)
        review_id = f"review:cr-{_hex(review_key)}"
        if not item.label:
            raise Refused("reviewRating has no alternateName (textualRating): the desk's own label is required")
        publisher = _publisher_source(item.publisher, note) if item.publisher else None
        page = _review_page_source(item, review_key, note) if item.review_url or item.review_title else None
        claimant = _claimant_source(item.claimant, note) if item.claimant else None
        appearances = _appearance_sources(item.appearances, note)
        sources = [source for source in (publisher, page, claimant) if source] + appearances
        # Where the claim appeared, else who made it, else the shared unknown source.
        if appearances:
            source_id = appearances[0]["id"]
        elif claimant:
            source_id = claimant["id"]
        else:
            sources.append(_unknown_source(note))
            source_id = UNKNOWN_SOURCE_ID
        claim = self.claim_record(item, review_id, source_id, claimant["id"] if claimant else None, note)
        return sources + [claim, self.review_record(item, review_id, claim["id"], table, note)]

    def claim_record(self, item: FeedItem, review_id: str, source_id: str, claimant_id: Optional[str], note: str) -> dict:
        existing_review = self.current(review_id)
        claimant_name = item.claimant.name or item.claimant.url if item.claimant else None
        # The claim an earlier import of this review reviews, else the claim of this text by this claimant.
        claim_id = existing_review["claim"] if existing_review else \
            f"claim:cr-{_hex(fold_label(item.claim_text) + chr(10) + fold_label(claimant_name or ''))}"
        return _drop_none({
            "kind": "claim", "id": claim_id, "text": item.claim_text, "language": item.claim_language or "und",
            "source": source_id,
            "attribution": _drop_none({"text": claimant_name, "source": claimant_id}) if claimant_name else None,
            "claim_date": item.claim_date, "note": note,
        })

    def review_record(self, item: FeedItem, review_id: str, claim_id: str, table: RatingTable, note: str) -> dict:
        normalized, how = table.normalize(item.label, item.value, item.best, item.worst)
        if how is None:
            self.report.unrated.append({"at": item.path, "label": item.label})
        return _drop_none({
            "kind": "review", "id": review_id, "claim": claim_id,
            "rating": _drop_none({"label": item.label, "label_language": item.review_language, "normalized": normalized,
                                  "value": item.value, "best": item.best, "worst": item.worst}),
            "explanation": item.review_body, "reviewed": item.review_date, "url": item.review_url,
            "note": f"{note}; rating " + (f"normalized by {how} with {self.map_note}" if how else f"unrated: not in {self.map_note}"),
        })

    # --- jsonl lines to records ----------------------------------------------------------
    def records_from_jsonl(self, data: bytes) -> list[tuple[str, dict]]:
        out = []
        for number, line in enumerate(data.split(b"\n"), 1):
            if not line.strip():
                continue
            at = f"line {number}"
            try:
                value = parse_feed_untrusted(line, "the line")
            except FormatError as e:
                self.report.refused.append({"at": at, "reason": str(e)})
                continue
            if isinstance(value, dict) and isinstance(value.get("record"), dict) and "sig" in value:
                value = value["record"]  # an entry of another ledger's export: its signature is for that ledger
            if not isinstance(value, dict):
                self.report.refused.append({"at": at, "reason": "expected a record (a JSON object)"})
                continue
            if value.get("kind") in ("key", "correction", "retraction"):
                self.report.skipped.append({"at": at, "reason": f"{value.get('kind')} records belong to the ledger they were signed in; not imported"})
                continue
            record = {k: v for k, v in value.items() if k not in ("version", "replaces")}
            record.setdefault("note", self.note(at))
            out.append((at, record))
        return out

    def _references(self, record: dict) -> list[str]:
        refs = []
        if record["kind"] == "source":
            refs = [link.get("source") for link in record.get("links") or () if isinstance(link, dict)]
        elif record["kind"] == "claim":
            refs = [record.get("source"), (record.get("attribution") or {}).get("source")]
        elif record["kind"] == "review":
            refs = [record.get("claim"), *(record.get("evidence") or ())]
        return [r for r in refs if r]

    # --- checking and merging --------------------------------------------------------------
    def validate(self, record: dict) -> None:
        Record.from_dict({**record, "version": 1, "created": record.get("created") or utc_now()})

    def add_item(self, at: str, records: list[dict], first_wins: bool) -> None:
        """Validate every record of one item, then merge them into the batch (all or none)."""
        for record in records:
            try:
                self.validate(record)
            except RecordError as e:
                raise Refused(f"{record.get('id')}: {str(e).removeprefix('$')}") from e
        for record in records:
            record_id = record["id"]
            if record_id not in self.pending:
                self.pending[record_id] = (record, at)
                continue
            old, old_at = self.pending[record_id]
            if first_wins:
                merged = {**record, **old}
                for field in sorted(set(_content(old)) & set(_content(record))):
                    if old[field] != record[field]:
                        self.report.warnings.append({"at": at, "message": f"{record_id}: {field} differs from {old_at}; the value from {old_at} is kept"})
                self.pending[record_id] = (merged, old_at)
            else:
                self.pending[record_id] = (record, at)

    def compare(self) -> list[dict]:
        """Records to append: new ones (version 1) and changed ones (the next version)."""
        out = []
        ordered = sorted(self.pending.items(), key=lambda kv: _KIND_ORDER.get(kv[1][0]["kind"], 9))
        refused_ids = set()
        for record_id, (record, at) in ordered:
            try:
                if any(ref in refused_ids for ref in self._references(record)):
                    raise Refused(f"{record_id}: refers to a record refused above")
                head = self.head(record_id)
                planned = self.first_version(record_id, record) if head is None else self.next_version(record_id, record, at, head)
            except Refused as e:
                refused_ids.add(record_id)
                self.report.refused.append({"at": at, "reason": str(e)})
                continue
            if planned is not None:
                out.append(planned)
        return out

    def first_version(self, record_id: str, record: dict) -> dict:
        claim_head = self.head(record["claim"]) if record["kind"] == "review" else None
        if claim_head is not None and claim_head.status == "retracted":
            raise Refused(f"{record_id}: claim {record['claim']} was retracted in this ledger")
        self.report.created.append(record_id)
        return {**record, "version": 1, "created": record.get("created") or utc_now()}

    def next_version(self, record_id: str, record: dict, at: str, head) -> Optional[dict]:
        """The next version of a record already in the ledger, or None when the import changes nothing in it."""
        current = self.current(record_id)
        if current["kind"] != record["kind"]:
            raise Refused(f"{record_id} is a {current['kind']} in the ledger, not a {record['kind']}")
        merged = {**_content(current), **_content(record)}
        changed = sorted(k for k in set(merged) | set(_content(current)) if merged.get(k) != current.get(k))
        if not changed:
            self.report.unchanged.append(record_id)
            return None
        if head.status == "retracted":
            raise Refused(f"{record_id} was retracted in this ledger; it is not revised")
        if record["kind"] == "review" and merged["claim"] != current["claim"]:
            raise Refused(f"{record_id} reviews {current['claim']} in this ledger; a review cannot move to another claim")
        note = record["note"] if record["kind"] == "ratingmap" else \
            f"Re-imported from {self.fmt} file {self.file_name} at {at}: {', '.join(changed)} changed"
        self.report.updated.append({"id": record_id, "version": head.version + 1, "changed": changed})
        return {"kind": record["kind"], **merged, "id": record_id, "version": head.version + 1,
                "replaces": head.entry_hash, "created": utc_now(), "note": note[:1000]}

    # --- reading the input ---------------------------------------------------------------
    def add_jsonl(self, data: bytes) -> None:
        """Each record of a JSONL file, when what it refers to is in the ledger or before it in the file."""
        for at, record in self.records_from_jsonl(data):
            try:
                self.check_references(record)
                self.add_item(at, [record], first_wins=False)
            except Refused as e:
                self.report.refused.append({"at": at, "reason": str(e)})

    def check_references(self, record: dict) -> None:
        missing = [r for r in self._references(record) if r not in self.pending and self.head(r) is None]
        if missing:
            raise Refused(f"{record.get('id')}: refers to {', '.join(missing)}, which is neither in this ledger nor imported before it")
        snapshot = record.get("snapshot") if record.get("kind") == "source" else None
        if isinstance(snapshot, dict) and self.ledger.snapshot(snapshot.get("sha256")) is None:
            raise Refused(f"{record.get('id')}: its snapshot {snapshot.get('sha256')} is not stored; append it with 'ledger append --snapshot FILE'")

    def add_feed(self, data: bytes) -> None:
        """Each item of a ClaimReview or Fact Check API file, as its sources, claim and review."""
        reader = claimreview if self.fmt == "claimreview" else factcheck_api
        items, refused, skipped = reader.items_from_untrusted(parse_feed_untrusted(data, self.file_name))
        self.report.refused.extend({"at": at, "reason": reason} for at, reason in refused)
        self.report.skipped.extend({"at": at, "reason": reason} for at, reason in skipped)
        if not items and not refused:
            raise FormatError(f"{self.file_name}: no {'ClaimReview' if self.fmt == 'claimreview' else 'claims'} found; is --format right?")
        table = self.rating_table() if items else None
        for item in items:
            try:
                self.add_item(item.path, self.records_for_item(item, table), first_wins=True)
            except Refused as e:
                self.report.refused.append({"at": item.path, "reason": str(e)})
                continue
            self.report.warnings.extend({"at": item.path, "message": w} for w in item.warnings)


def plan_import(ledger, data: bytes, fmt: str, file_name: str) -> ImportPlan:
    """Read ``data`` in ``fmt`` and work out the batch that brings it into ``ledger``."""
    if fmt not in FORMATS:
        raise FormatError(f"unknown import format {fmt!r}; expected one of {', '.join(FORMATS)}")
    planner = _Planner(ledger, fmt, file_name)
    if fmt == "jsonl":
        planner.add_jsonl(data)
    else:
        planner.add_feed(data)
    return ImportPlan(records=planner.compare(), report=planner.report)
