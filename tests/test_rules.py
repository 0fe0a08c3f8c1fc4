"""ledger.rules: every refusal, with its exact message, on a small fresh ledger."""

import hashlib

import pytest

from ledger.api import Ledger
from ledger.errors import RecordError, SignatureError
from ledger.note import Signer
from ledger.records import KeyRecord

T = "2024-05-01T00:00:00Z"
LOG = Signer.from_seed("test.example/log", b"L" * 32)
ANA = Signer.from_seed("ana@test.example", b"A" * 32)
BOB = Signer.from_seed("bob@test.example", b"B" * 32)
EVE = Signer.from_seed("eve@test.example", b"E" * 32)
TEXT = "Un text în care apare citatul exact o dată, și altceva."
SNAP = TEXT.encode()
SHA = hashlib.sha256(SNAP).hexdigest()


def sid(s):
    return f"{s.name}+{s.key_id.hex()}"


def key(name, s, **kw):
    return {"kind": "key", "id": f"key:{name}", "vkey": s.vkey, "display_name": name, "role": "editor",
            "status": "active", "created": T, **kw}


def source(i="source:s", **kw):
    return {"kind": "source", "id": i, "type": "article", "title": "T", "created": T, **kw}


def claim(i="claim:c", **kw):
    return {"kind": "claim", "id": i, "text": "t", "language": "ro", "source": "source:s", "created": T, **kw}


def review(i="review:r", **kw):
    return {"kind": "review", "id": i, "claim": "claim:c", "created": T,
            "rating": {"label": "Fals", "normalized": "false"}, **kw}


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger.create(tmp_path / "l.db", LOG, created=T)
    ledger.append([key("ana", ANA), key("bob", BOB)], LOG, LOG)
    ledger.append([source(), source("source:snap", snapshot={"sha256": SHA, "media_type": "text/plain", "size": len(SNAP)}),
                   claim(), review()], ANA, LOG, snapshots=[(SNAP, "text/plain")])
    yield ledger
    ledger.close()


def refused(ledger, records, signer=ANA, error=RecordError, **kw):
    size = ledger.size
    with pytest.raises(error) as e:
        ledger.append(records, signer, LOG, **kw)
    assert ledger.size == size
    return str(e.value)


def revise(ledger, record_id, **changes):
    return ledger.revision(record_id, "why", **changes)


def test_fixture_is_valid(ledger):
    assert ledger.size == 7


def test_unregistered_key(ledger):
    msg = refused(ledger, [source("source:x")], EVE, SignatureError)
    assert msg == (f"record 1: entry 7 (source:x v1): signed by {sid(EVE)}, which is not a registered key; "
                   "register it with 'ledger key add'")


def test_revoked_key(ledger):
    revoke = revise(ledger, "key:bob", status="revoked", reason="left the desk")
    ledger.append([revoke], LOG, LOG)
    msg = refused(ledger, [source("source:x")], BOB, SignatureError)
    assert msg == f"record 1: entry 8 (source:x v1): signed by {sid(BOB)}, which was revoked at entry 7"


def test_revoked_key_stays_revoked(ledger):
    ledger.append([revise(ledger, "key:bob", status="revoked")], LOG, LOG)
    msg = refused(ledger, [revise(ledger, "key:bob", status="active")], LOG)
    assert msg == "record 1: entry 8 (key:bob v3): a revoked key stays revoked; register a new key instead"


def test_editor_key_cannot_register_keys(ledger):
    msg = refused(ledger, [key("eve", EVE)], ANA, SignatureError)
    assert msg == (f"record 1: entry 7 (key:eve v1): only the log key may register or revoke keys; "
                   f"signed by editor key {sid(ANA)}")


def test_second_log_key(ledger):
    msg = refused(ledger, [key("eve", EVE, role="log")], LOG)
    assert msg == "record 1: entry 7 (key:eve v1): a ledger has one log key, registered by its first entry"


def test_key_registered_twice(ledger):
    msg = refused(ledger, [key("ana2", ANA)], LOG)
    assert msg == f"record 1: entry 7 (key:ana2 v1): key {sid(ANA)} is already registered"


def test_key_role_cannot_change(ledger):
    msg = refused(ledger, [revise(ledger, "key:ana", role="log")], LOG)
    assert msg == "record 1: entry 7 (key:ana v2): a key's role cannot change"


def test_version_gap(ledger):
    record = revise(ledger, "claim:c").evolve(version=3)
    msg = refused(ledger, [record])
    assert msg == "record 1: entry 7 (claim:c v3): expected version 2 of claim:c, found 3"


def test_wrong_replaces(ledger):
    record = revise(ledger, "claim:c").evolve(replaces="00" * 32)
    msg = refused(ledger, [record])
    head = ledger.current("claim:c").hash_hex
    assert msg == f"record 1: entry 7 (claim:c v2): replaces must be the current version's entry hash {head}; found {'00' * 32}"


def test_revision_of_missing_record(ledger):
    record = revise(ledger, "claim:c").evolve(id="claim:ghost")
    msg = refused(ledger, [record])
    assert msg == "record 1: entry 7 (claim:ghost v2): version 2 revises claim:ghost, which does not exist"


def test_revision_needs_note(ledger):
    record = revise(ledger, "claim:c").evolve(note=None)
    msg = refused(ledger, [record])
    assert msg == "record 1: entry 7 (claim:c v2): a revision must say why in 'note'"


def test_duplicate_id(ledger):
    msg = refused(ledger, [claim(text="again")])
    assert msg == "record 1: entry 7 (claim:c v1): ID claim:c already exists (version 1); revise it instead of adding it again"


def test_duplicate_id_within_batch(ledger):
    msg = refused(ledger, [source("source:d"), source("source:d")])
    assert msg == "record 2: entry 8 (source:d v1): ID source:d already exists (version 1); revise it instead of adding it again"


def test_retracted_record_revised(ledger):
    ledger.retract("claim:c", "wrong", ANA, LOG)
    msg = refused(ledger, [revise(ledger, "claim:c", text="new")])
    assert msg == "record 1: entry 8 (claim:c v2): claim:c was retracted and cannot be revised"


def test_review_cannot_move_claims(ledger):
    ledger.append([claim("claim:other")], ANA, LOG)
    msg = refused(ledger, [revise(ledger, "review:r", claim="claim:other")])
    assert msg == "record 1: entry 8 (review:r v2): a review cannot move to another claim"


def test_review_of_missing_claim(ledger):
    msg = refused(ledger, [review("review:x", claim="claim:none")])
    assert msg == "record 1: entry 7 (review:x v1): claim claim:none is not a claim in this ledger"


def test_correction_target_entry_equals_corrected_entry(ledger):
    ledger.append([revise(ledger, "claim:c", text="fixed")], ANA, LOG)
    head = ledger.current("claim:c").hash_hex
    notice = {"kind": "correction", "id": "correction:c", "created": T, "target": "claim:c",
              "target_entry": head, "corrected_entry": head, "reason": "r"}
    msg = refused(ledger, [notice])
    assert msg == "record 1: entry 8 (correction:c v1): target_entry and corrected_entry are the same version"


def test_correction_of_first_version(ledger):
    head = ledger.current("claim:c").hash_hex
    notice = {"kind": "correction", "id": "correction:c", "created": T, "target": "claim:c",
              "target_entry": "11" * 32, "corrected_entry": head, "reason": "r"}
    msg = refused(ledger, [notice])
    assert msg == "record 1: entry 7 (correction:c v1): claim:c has only one version; nothing was corrected"


def test_correction_must_name_current_version(ledger):
    first = ledger.current("claim:c").hash_hex
    ledger.append([revise(ledger, "claim:c", text="fixed")], ANA, LOG)
    head = ledger.current("claim:c").hash_hex
    notice = {"kind": "correction", "id": "correction:c", "created": T, "target": "claim:c",
              "target_entry": head, "corrected_entry": first, "reason": "r"}
    msg = refused(ledger, [notice])
    assert msg == (f"record 1: entry 8 (correction:c v1): corrected_entry must be the current version of claim:c ({head}); "
                   "append the corrected version first")


def test_correction_target_entry_must_be_an_earlier_version(ledger):
    ledger.append([revise(ledger, "claim:c", text="fixed")], ANA, LOG)
    head = ledger.current("claim:c").hash_hex
    notice = {"kind": "correction", "id": "correction:c", "created": T, "target": "claim:c",
              "target_entry": "22" * 32, "corrected_entry": head, "reason": "r"}
    msg = refused(ledger, [notice])
    assert msg == f"record 1: entry 8 (correction:c v1): target_entry {'22' * 32} is not a version of claim:c"
    # An entry that is in the log, but a version of another record.
    other = ledger.current("source:s").hash_hex
    msg = refused(ledger, [{**notice, "target_entry": other}])
    assert msg == f"record 1: entry 8 (correction:c v1): target_entry {other} is not a version of claim:c"


def test_retraction_must_name_current_version(ledger):
    notice = {"kind": "retraction", "id": "retraction:c", "created": T, "target": "claim:c",
              "target_entry": "33" * 32, "reason": "r"}
    head = ledger.current("claim:c").hash_hex
    msg = refused(ledger, [notice])
    assert msg == f"record 1: entry 7 (retraction:c v1): target_entry must be the current version's hash {head}; found {'33' * 32}"


def test_retracted_twice(ledger):
    ledger.retract("claim:c", "wrong", ANA, LOG)
    head = ledger.current("claim:c").hash_hex
    notice = {"kind": "retraction", "id": "retraction:c2", "created": T, "target": "claim:c", "target_entry": head, "reason": "r"}
    msg = refused(ledger, [notice])
    assert msg == "record 1: entry 8 (retraction:c2 v1): claim:c is already retracted"


def test_claim_on_retracted_source(ledger):
    ledger.retract("source:s", "wrong", ANA, LOG)
    msg = refused(ledger, [claim("claim:new")])
    assert msg == "record 1: entry 8 (claim:new v1): source source:s was retracted"


def test_source_links_to_itself(ledger):
    msg = refused(ledger, [source("source:x", links=[{"rel": "cites", "source": "source:x"}])])
    assert msg == "record 1: entry 7 (source:x v1): a source cannot link to itself"


def test_source_links_to_missing(ledger):
    msg = refused(ledger, [source("source:x", links=[{"rel": "cites", "source": "source:none"}])])
    assert msg == "record 1: entry 7 (source:x v1): linked source source:none is not a source in this ledger"


def test_snapshot_not_stored(ledger):
    msg = refused(ledger, [source("source:x", snapshot={"sha256": "44" * 32, "media_type": "text/plain", "size": 1})])
    assert msg == f"record 1: entry 7 (source:x v1): snapshot {'44' * 32} is not stored; add the file with --snapshot"


def test_snapshot_size_mismatch(ledger):
    msg = refused(ledger, [source("source:x", snapshot={"sha256": SHA, "media_type": "text/plain", "size": 3})])
    assert msg == (f"record 1: entry 7 (source:x v1): stored snapshot is {SHA} ({len(SNAP)} bytes, text/plain); "
                   f"the record says {SHA} (3 bytes, text/plain)")


def test_quote_offsets_wrong(ledger):
    start = TEXT.index("citatul")
    msg = refused(ledger, [claim("claim:q", source="source:snap", quote={"exact": "citatul", "start": start + 1, "end": start + 8})])
    assert msg == f"record 1: entry 7 (claim:q v1): the quote is not at code points {start + 1}-{start + 8} of the snapshot"


def test_quote_prefix_mismatch(ledger):
    start = TEXT.index("citatul")
    msg = refused(ledger, [claim("claim:q", source="source:snap",
                                 quote={"exact": "citatul", "prefix": "XYZ ", "start": start, "end": start + 7})])
    assert msg == "record 1: entry 7 (claim:q v1): the quote's prefix does not match the snapshot"


def test_quote_suffix_mismatch(ledger):
    start = TEXT.index("citatul")
    msg = refused(ledger, [claim("claim:q", source="source:snap",
                                 quote={"exact": "citatul", "suffix": " XYZ", "start": start, "end": start + 7})])
    assert msg == "record 1: entry 7 (claim:q v1): the quote's suffix does not match the snapshot"


def test_quote_anchored_on_append(ledger):
    entries = ledger.append([claim("claim:q", source="source:snap", quote={"exact": "citatul"})], ANA, LOG)
    q = entries[0].record.quote
    assert (q.start, q.end) == (TEXT.index("citatul"), TEXT.index("citatul") + 7)
    assert q.prefix == TEXT[:q.start] and q.suffix == TEXT[q.end:q.end + 32]


def test_quote_in_non_text_snapshot(ledger):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
    sha = hashlib.sha256(png).hexdigest()
    ledger.append([source("source:png", snapshot={"sha256": sha, "media_type": "image/png", "size": len(png)})], ANA, LOG,
                  snapshots=[(png, "image/png")])
    msg = refused(ledger, [claim("claim:q", source="source:png", quote={"exact": "PNG", "start": 1, "end": 4})])
    assert msg == "record 1: entry 8 (claim:q v1): the source's snapshot is not UTF-8 text, so a quote cannot be anchored in it"
    msg = refused(ledger, [claim("claim:q", source="source:png", quote={"exact": "PNG"})])
    assert msg == "record 1: the snapshot of source:png is not UTF-8 text"


def test_log_key_must_sign_first_entry(tmp_path):
    from ledger.envelope import Entry
    from ledger.projection import Projection
    from ledger.rules import check_entry
    import sqlite3

    conn = sqlite3.connect(":memory:")
    projection = Projection(conn, None)
    projection.create_tables()
    record = KeyRecord(id="key:log", created=T, vkey=LOG.vkey, display_name="log", role="log", status="active")
    with pytest.raises(SignatureError) as e:
        check_entry(Entry.sign(0, record, ANA, LOG.name), projection, LOG.name, None)
    assert str(e.value) == f"entry 0 (key:log v1): the log key must sign its own registration; signed by {sid(ANA)}"
    with pytest.raises(RecordError) as e:
        check_entry(Entry.sign(0, record, LOG, "other.example/log"), projection, "other.example/log", None)
    assert str(e.value) == "entry 0 (key:log v1): the log key's name must be the log origin 'other.example/log'; found 'test.example/log'"
    editor = KeyRecord(id="key:ana", created=T, vkey=ANA.vkey, display_name="a", role="editor", status="active")
    with pytest.raises(RecordError) as e:
        check_entry(Entry.sign(0, editor, ANA, LOG.name), projection, LOG.name, None)
    assert str(e.value) == "entry 0 (key:ana v1): the first entry must register the log key (kind key, role log)"


def test_bad_signature_refused(ledger):
    from ledger.envelope import Entry
    from ledger.records import Record
    from ledger.rules import check_entry

    record = Record.from_dict(source("source:x", version=1))
    good = Entry.sign(7, record, ANA, ledger.origin)
    forged = Entry(index=7, leaf=good.leaf, leaf_hash=good.leaf_hash, record=record.evolve(title="Other"),
                   signer=good.signer, signature=good.signature)
    with pytest.raises(SignatureError) as e:
        check_entry(forged, ledger._projection, ledger.origin, ledger.read_snapshot)
    assert str(e.value) == f"entry 7 (source:x v1): signature by {sid(ANA)} does not verify"
    check_entry(good, ledger._projection, ledger.origin, ledger.read_snapshot)


def test_the_rules_check_a_rating_map_without_interop():
    # The rating vocabulary the rules check is the core's (ledger.ratings);
    # ledger.interop builds on the core, never the other way round.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys
        from ledger.errors import RecordError
        from ledger.records import Record
        from ledger.rules import _KIND_CHECKS
        labels = [{"label": "False!", "normalized": "false"}, {"label": "false", "normalized": "false"}]
        record = Record.from_dict({"kind": "ratingmap", "id": "ratingmap:desk", "version": 1, "created": "2024-04-15T10:00:00Z",
                                   "title": "Desk labels", "labels": labels})
        try:
            _KIND_CHECKS["ratingmap"](None, record, None, "entry 9", None)
        except RecordError as e:
            print(e)
        print(" ".join(m for m in sys.modules if m.startswith("ledger.interop")) or "no interop")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["entry 9: labels[1] 'false' is the same label as labels[0] (compared case-insensitively)", "no interop"]
