"""A ledger of the Arabic fixture claims (tests/fixtures/search/arabic_claims.json), for the search tests.

``build_arabic_ledger(path)``: the log key, one editor, the fixture's source, every
fixture claim (Arabic text, English translation, tags) and a review of each with the
desk's Arabic label and its normalized rating. Deterministic: two builds are identical.
"""

from __future__ import annotations

import json
from pathlib import Path

from ledger.api import Ledger
from ledger.note import Signer

T = "2024-06-01T09:00:00Z"
LOG = Signer.from_seed("ar.search.example/log", b"\x61" * 32)
LAYLA = Signer.from_seed("layla@ar.search.example", b"\x62" * 32)
FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "search" / "arabic_claims.json").read_text("utf-8"))


def expected(query: str) -> list[str]:
    """The claim IDs the fixture says ``query`` finds."""
    return ["claim:ar-" + slug for slug in FIXTURE["queries"][query]]


def build_arabic_ledger(path) -> Ledger:
    ledger = Ledger.create(path, LOG, display_name="مكتب تدقيق المعلومات", created=T)
    ledger.append([{"kind": "key", "id": "key:layla", "created": T, "vkey": LAYLA.vkey, "display_name": "ليلى",
                    "role": "editor", "status": "active"}], LOG, LOG)
    source = FIXTURE["source"]
    ledger.append([{"kind": "source", "created": T, "type": "dataset", **source}], LAYLA, LOG)
    ledger.append([{"kind": "claim", "id": c["id"], "created": T, "source": source["id"], "language": "ar", "text": c["text"],
                    "translation": {"language": "en", "text": c["translation"]}, "tags": c["tags"]}
                   for c in FIXTURE["claims"]], LAYLA, LOG)
    ledger.append([{"kind": "review", "id": "review:" + c["id"].split(":", 1)[1], "created": T, "claim": c["id"],
                    "rating": {"label": c["label"], "label_language": "ar", "normalized": c["rating"]}}
                   for c in FIXTURE["claims"]], LAYLA, LOG)
    return ledger
