"""Unsigned records from an editor's input: the options of ``ledger source|claim|review|key add``,
``--set FIELD=VALUE`` edits, and the files an editor names.

Pure functions, no ledger: ``Ledger``'s verbs append what they build, and
``ledger.demo`` batches them. Options that are not given are left out of a
record, never written as null (docs/format.md); ``created`` defaults to now
and ``version`` to 1.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
from pathlib import Path
from typing import Iterable, Optional

from ledger.canonical import parse_json_untrusted
from ledger.errors import FormatError, LedgerError, RecordError
from ledger.note import parse_verifier_key_untrusted
from ledger.records import KeyRecord, WitnessRecord, utc_now

# A snapshot's media type, from its file name, when the editor does not give one.
MEDIA_TYPES = {".txt": "text/plain; charset=utf-8", ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
               ".md": "text/markdown; charset=utf-8", ".pdf": "application/pdf", ".json": "application/json"}


# --- files ----------------------------------------------------------------------------------
def read_file(path) -> bytes:
    """The bytes of a file the editor named; an unreadable one is a LedgerError that says why."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise LedgerError(f"cannot read {path}: {e.strerror}") from e


def snapshot_file(path, media_type: Optional[str] = None) -> tuple[bytes, str]:
    """A snapshot as ``Ledger.append`` stores it: (content, media type, from the file name unless given)."""
    return read_file(path), media_type or MEDIA_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def json_object_file(path, expected: str) -> dict:
    """The JSON object in a file, parsed strictly; ``expected`` says what it should hold."""
    data = parse_json_untrusted(read_file(path))
    if not isinstance(data, dict):
        raise FormatError(f"{path}: expected {expected}")
    return data


# --- building records -------------------------------------------------------------------------
def drop_empty(fields: dict) -> dict:
    """``fields`` without the ones not given: None, and empty lists and tuples."""
    return {k: v for k, v in fields.items() if v is not None and v != () and v != []}


def parse_link(text: str) -> dict:
    """A typed link between sources from ``REL=SOURCE_ID``, e.g. ``translation-of=source:ap``."""
    rel, eq, target = text.partition("=")
    if not eq:
        raise RecordError(f"--link {text!r}: expected REL=SOURCE_ID, e.g. translation-of=source:ap")
    return {"rel": rel, "source": target}


def source_record(record_id: str, title: str, *, snapshot: Optional[tuple[bytes, str]] = None, links: Iterable[str] = (),
                  archives: Iterable[str] = (), created: Optional[str] = None, **fields) -> dict:
    """A source (``type`` defaults to article); ``snapshot`` is (content, media type), recorded by its SHA-256.

    ``fields`` are the source's other fields by name (url, publisher, language, published, public, ...).
    """
    recorded = None
    if snapshot:
        content, media_type = snapshot
        recorded = {"sha256": hashlib.sha256(content).hexdigest(), "media_type": media_type, "size": len(content)}
    return drop_empty({
        "kind": "source", "id": record_id, "version": 1, "created": created or utc_now(), "type": "article", "title": title,
        **fields, "snapshot": recorded, "archives": list(archives), "links": [parse_link(link) for link in links],
    })


def claim_fields(*, text: Optional[str] = None, language: Optional[str] = None, translation: Optional[str] = None,
                 translation_language: str = "en", attributed_to: Optional[str] = None, anonymous: Optional[bool] = None,
                 attribution_source: Optional[str] = None, quantity: Optional[str] = None, unit: Optional[str] = None,
                 subject: Optional[str] = None, period: Optional[str] = None, tags: Iterable[str] = (),
                 claim_date: Optional[str] = None) -> dict:
    """A claim's fields from an editor's flat options (``--translation``, ``--attributed-to``, ``--quantity``, ...).

    The translation, attribution and quantity are written only when their
    main option (``translation``, ``attributed_to``, ``quantity``) is given.
    """
    fields = {"text": text, "language": language, "claim_date": claim_date, "tags": list(tags)}
    if translation:
        fields["translation"] = {"language": translation_language, "text": translation}
    if attributed_to:
        fields["attribution"] = drop_empty({"text": attributed_to, "anonymous": anonymous, "source": attribution_source})
    if quantity:
        fields["quantity"] = drop_empty({"value": quantity, "unit": unit, "subject": subject, "period": period})
    return drop_empty(fields)


def claim_record(source_id: str, quote: dict, language: str, *, record_id: Optional[str] = None,
                 created: Optional[str] = None, text: Optional[str] = None, **options) -> dict:
    """A claim about ``quote`` (a quote object: ``exact`` at least) in a source; ``text`` defaults to the quote.

    ``options`` are ``claim_fields``'s. A quote without a position is
    anchored in the source's snapshot when the claim is appended.
    """
    return drop_empty({
        "kind": "claim", "id": record_id or f"claim:{secrets.token_hex(6)}", "version": 1, "created": created or utc_now(),
        "source": source_id, "quote": quote, **claim_fields(text=text or quote["exact"], language=language, **options),
    })


def review_record(claim_id: str, label: str, rating: str, *, record_id: Optional[str] = None, created: Optional[str] = None,
                  label_language: Optional[str] = None, evidence: Iterable[str] = (), **fields) -> dict:
    """A verdict on a claim: the desk's own ``label`` and the normalized ``rating``.

    ``fields`` are explanation, reviewed and url; the ID defaults to
    ``review:<claim slug>-<random>``.
    """
    slug = claim_id.split(":", 1)[-1][:100]
    return drop_empty({
        "kind": "review", "id": record_id or f"review:{slug}-{secrets.token_hex(3)}", "version": 1,
        "created": created or utc_now(), "claim": claim_id,
        "rating": drop_empty({"label": label, "label_language": label_language, "normalized": rating}),
        "evidence": list(evidence), **fields,
    })


def key_record(vkey: str, display_name: str, *, record_id: Optional[str] = None, created: Optional[str] = None) -> KeyRecord:
    """The registration of an editor's verifier key; the ID defaults to ``key:<name slug>-<key ID>``."""
    verifier = parse_verifier_key_untrusted(vkey)
    return KeyRecord(id=record_id or f"key:{_key_slug(verifier.name, verifier.key_id, 'editor')}", created=created or utc_now(),
                     vkey=vkey, display_name=display_name, role="editor", status="active")


def _key_slug(name: str, key_id: bytes, fallback: str) -> str:
    """A record ID's slug for a key: its name in ID characters, then its key ID."""
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower()).strip("-._") or fallback
    return f"{slug[:100]}-{key_id.hex()}"


def witness_record(vkey: str, url: str, *, display_name: Optional[str] = None, record_id: Optional[str] = None,
                   created: Optional[str] = None) -> WitnessRecord:
    """The addition of a witness: its cosignature/v1 verifier key and the URL it answers at;
    the ID defaults to ``witness:<name slug>-<key ID>``."""
    from ledger.cosignature import parse_cosigner_vkey_untrusted

    verifier = parse_cosigner_vkey_untrusted(vkey)
    return WitnessRecord(id=record_id or f"witness:{_key_slug(verifier.name, verifier.key_id, 'witness')}",
                         created=created or utc_now(), vkey=vkey, url=url, status="active", display_name=display_name)


def signer_id(key: str) -> str:
    """``name+keyid`` of a key given as ``name+keyid`` or as its full verifier key."""
    return "+".join(key.split("+")[:2])


# --- editing records --------------------------------------------------------------------------
def changes_from_edits(current: dict, sets: Iterable[str], unsets: Iterable[str]) -> dict:
    """The changes to a record (``current``, as a dict) that ``--set FIELD=VALUE`` and ``--unset FIELD`` ask for.

    Top-level fields map to their new value (None removes the field); a
    dotted FIELD (``translation.text``) changes one member of a copy of the
    object. A VALUE is JSON when it parses as JSON, else text.
    """
    changes = {}
    for item in sets:
        field, eq, value = item.partition("=")
        if not eq or not field:
            raise RecordError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set translation.text='...'")
        top, _, member = field.partition(".")
        if top not in changes:
            changes[top] = copy.deepcopy(current.get(top)) if isinstance(current.get(top), dict) else None
        if member:
            changes[top] = changes[top] or {}
            _set_member(changes[top], member, _value(value))
        else:
            changes[top] = _value(value)
    for field in unsets:
        changes[field] = None
    if not changes:
        raise RecordError("nothing to change: give --set FIELD=VALUE or --unset FIELD")
    return changes


def _value(text: str):
    try:
        return parse_json_untrusted(text)
    except FormatError:
        return text


def _set_member(data: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecordError(f"--set {dotted}: {part} is not an object")
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
