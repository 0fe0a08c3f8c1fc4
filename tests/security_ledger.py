"""A ledger of every record kind, built through the API, for the tamper and rewrite tests.

``build_full_ledger(path)`` appends, in many batches (so there are many
checkpoints): the log key, three editor keys (one revoked later), sources
with text snapshots and typed links, claims anchored to quotes in those
snapshots, reviews, revisions, corrections, retractions, a rating map and
its revision, and two witnesses (one removed later) whose cosignatures of
the checkpoints after they were added are stored (made in process, by
witnesses in folders beside the ledger, with a fixed clock). Everything is
deterministic (fixed seeds and timestamps), so two builds are byte-identical.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import shutil
from pathlib import Path

from ledger.api import Ledger
from ledger.cosignature import Cosignature, CosignatureSigner, parse_signature_lines_untrusted
from ledger.note import Signer
from ledger.schema import RECORD_KINDS
from ledger.witness import Witness, format_add_checkpoint, init

T = "2024-05-01T10:00:00Z"
ORIGIN = "security.fact-ledger.example/log"
LOG = Signer.from_seed(ORIGIN, b"\x51" * 32)
ANA = Signer.from_seed("ana@security.example", b"\x52" * 32)
BOB = Signer.from_seed("bob@security.example", b"\x53" * 32)
MIHAI = Signer.from_seed("mihai@security.example", b"\x54" * 32)
WITNESSES = (CosignatureSigner(Signer.from_seed("w1.security.example", b"\x55" * 32)),
             CosignatureSigner(Signer.from_seed("w2.security.example", b"\x56" * 32)))
SNAPSHOT_SOURCES = 12
SOURCES = 30
CLAIMS = 80


def snapshot_text(s: int) -> str:
    return "".join(f"Paragraful {k}: în raportul {s}, valoarea elementului {k} a fost de {k * 7} unități (sursa țării {s}).\n"
                   for k in range(1, 21))


def quote_of(s: int, k: int) -> str:
    return f"valoarea elementului {k} a fost de {k * 7} unități"


def _add_witnesses(ledger: Ledger, path: Path) -> None:
    """Two witnesses, each cosigning every checkpoint from the one that adds it; the second is removed later."""
    clock = itertools.count(1714557600)  # T, then one second per cosignature
    witnesses = []
    for signer in WITNESSES:
        directory = path.parent / f"{path.stem}-{signer.name}"
        shutil.rmtree(directory, ignore_errors=True)
        init(directory, signer.name, None, signer=signer)
        witnesses.append(Witness(directory, [LOG.vkey], clock=lambda: next(clock)))
        ledger.add_witness(signer.vkey, f"https://{signer.name}/", LOG, display_name=f"Witness {signer.name}")
        _cosign(ledger, witnesses)
    ledger.append([{"kind": "source", "id": "source:witnessed", "created": T, "type": "other", "title": "Witnessed"}], ANA, LOG)
    _cosign(ledger, witnesses)
    ledger.remove_witness(WITNESSES[1].vkey, "operator retired it", LOG)
    _cosign(ledger, witnesses[:1])


def _cosign(ledger: Ledger, witnesses: list) -> None:
    size, note = ledger.latest_checkpoint()
    for witness in witnesses:
        old = max((row[0] for row in witness.cosigned(LOG.name)), default=0)
        proof = [base64.b64decode(h) for h in ledger.prove_consistency(old)["hashes"]] if 0 < old < size else []
        answer = witness.add_checkpoint(format_add_checkpoint(old, proof, note))
        assert answer.status == 200, answer
        ledger.add_cosignatures(size, [Cosignature.from_note_signature_untrusted(s)
                                       for s in parse_signature_lines_untrusted(answer.body)])


def _key(signer, key_id, name):
    return {"kind": "key", "id": key_id, "created": T, "vkey": signer.vkey, "display_name": name, "role": "editor", "status": "active"}


def build_full_ledger(path, *, with_change=None) -> Ledger:
    """Build the ledger at ``path``; ``with_change(record_dict)`` may alter any record before it is signed
    (the rewrite test uses it to change one old record)."""
    change = with_change or (lambda r: r)
    ledger = Ledger.create(path, LOG, display_name="Security test desk", created=T)

    def add(records, signer):
        return ledger.append([change(r.to_dict() if hasattr(r, "to_dict") else dict(r)) for r in records], signer, LOG, snapshots=snapshots)

    snapshots = ()
    add([_key(ANA, "key:ana", "Ana Popescu"), _key(BOB, "key:bob", "Bob Ionescu"), _key(MIHAI, "key:mihai", "Mihai Rusu")], LOG)
    # Sources: the first SNAPSHOT_SOURCES carry a snapshot; each links to earlier ones.
    rels = ("translation-of", "cites", "quotes", "based-on", "reports-on", "republishes", "primary-source")
    for start in range(0, SOURCES, 6):
        batch, snapshots = [], []
        for s in range(start, min(start + 6, SOURCES)):
            record = {"kind": "source", "id": f"source:s{s}", "created": T, "type": "article" if s % 3 else "report",
                      "title": f"Raportul {s} despre exporturi", "publisher": f"Publisher {s % 4}", "language": "ro",
                      "url": f"https://news.example/{s}", "archives": [f"https://archive.example/{s}"]}
            if s < SNAPSHOT_SOURCES:
                content = snapshot_text(s).encode()
                snapshots.append((content, "text/plain; charset=utf-8"))
                record["snapshot"] = {"sha256": hashlib.sha256(content).hexdigest(), "media_type": "text/plain; charset=utf-8",
                                      "size": len(content)}
                record["third_party"] = True
            if s:
                record["links"] = [{"rel": rels[s % len(rels)], "source": f"source:s{s - 1}"}]
                if s > 2:
                    record["links"].append({"rel": "cites", "source": f"source:s{s // 2}"})
            if s % 5 == 4:
                record["anonymous"] = True
            batch.append(record)
        add(batch, ANA if start % 12 == 0 else BOB)
    snapshots = ()
    # Claims with quotes (anchored from `exact` alone), attributions, quantities and tags.
    for start in range(0, CLAIMS, 10):
        batch = []
        for c in range(start, min(start + 10, CLAIMS)):
            s, k = c % SNAPSHOT_SOURCES, c // SNAPSHOT_SOURCES + 1
            batch.append({"kind": "claim", "id": f"claim:c{c}", "created": T, "text": quote_of(s, k), "language": "ro",
                          "translation": {"language": "en", "text": f"the value of item {k} was {k * 7} units"},
                          "source": f"source:s{s}", "quote": {"exact": quote_of(s, k)},
                          "attribution": {"text": f"officials {c % 3}", "anonymous": bool(c % 2), "source": f"source:s{(s + 1) % SOURCES}"},
                          "quantity": {"value": str(k * 7), "unit": "units", "period": "2023"},
                          "tags": [f"t{c % 4}", "exports"], "claim_date": "2024-04-12"})
        add(batch, (ANA, BOB, MIHAI)[(start // 10) % 3])
    ratings = ("true", "mostly-true", "mixed", "mostly-false", "false", "misleading", "unproven", "unrated")
    add([{"kind": "review", "id": f"review:r{c}", "created": T, "claim": f"claim:c{c}",
          "rating": {"label": f"Eticheta {c % 8}", "label_language": "ro", "normalized": ratings[c % 8]},
          "explanation": f"Explanation {c}", "evidence": [f"source:s{c % SOURCES}"], "reviewed": "2024-04-14"}
         for c in range(0, 40)], BOB)
    # Revisions of claims, sources and reviews.
    for c in range(0, 20):
        add([ledger.revision(f"claim:c{c}", f"Better translation {c}", translation={"language": "en", "text": f"revised {c}"})],
            ANA if c % 2 else BOB)
    add([ledger.revision(f"source:s{s}", "Publisher named", publisher=f"Named publisher {s}") for s in range(12, 18)], ANA)
    add([ledger.revision(f"review:r{c}", "Rating revised", rating={"label": "Revizuit", "label_language": "ro", "normalized": "mixed"})
         for c in range(0, 6)], BOB)
    # Corrections (each a corrected version plus its notice), retractions.
    for c in range(20, 28):
        ledger.correct(f"claim:c{c}", f"Typo {c}", {"tags": ["corrected", f"t{c}"]}, ANA, LOG)
    for c in (30, 31, 32):
        ledger.retract(f"claim:c{c}", f"Duplicate {c}", BOB, LOG)
    ledger.retract("review:r35", "Wrong claim", BOB, LOG)
    ledger.retract("source:s29", "Not a real outlet", ANA, LOG)
    if "ratingmap" in RECORD_KINDS:
        add([{"kind": "ratingmap", "id": "ratingmap:desk", "created": T, "title": "Desk labels",
              "labels": [{"label": "Fals", "normalized": "false", "language": "ro"},
                         {"label": "Adevărat", "normalized": "true", "language": "ro"}]}], ANA)
        add([ledger.revision("ratingmap:desk", "Added a label", labels=[{"label": "Fals", "normalized": "false", "language": "ro"},
                                                                         {"label": "Înșelător", "normalized": "misleading", "language": "ro"}])], ANA)
    if "witness" in RECORD_KINDS:
        _add_witnesses(ledger, Path(path))
    # Mihai's key is revoked; what he signed before stays valid.
    add([ledger.revision("key:mihai", "Revoked: laptop lost", status="revoked", reason="laptop lost")], LOG)
    add([{"kind": "claim", "id": f"claim:late{c}", "created": T, "text": f"late claim {c}", "language": "en", "source": "source:s20"}
         for c in range(10)], ANA)
    return ledger
