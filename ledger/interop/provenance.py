"""W3C PROV-JSON (https://www.w3.org/submissions/prov-json/) of the ledger's provenance chains.

Entities are the sources (their current version) and every version of every
claim; agents are the keys that signed them and the people or bodies claims
are attributed to; activities are retractions and corrections. Relations, in
PROV-DM's terms (PROV-JSON writes the three subtypes of derivation as
``wasDerivedFrom`` with a ``prov:type``):

- a claim version ``wasQuotedFrom`` its source (``prov:Quotation``) when it
  carries a quote, else ``wasDerivedFrom`` it;
- source links: ``translation-of``, ``republishes`` and ``based-on`` are
  ``wasDerivedFrom`` (with ``ledger:rel``; a translation also has
  ``prov:type`` ``ledger:Translation``), ``primary-source`` is
  ``hadPrimarySource``, ``quotes`` is ``wasQuotedFrom``, ``cites`` and
  ``reports-on`` are ``wasInfluencedBy``;
- every entity ``wasAttributedTo`` the key that signed it; a claim version
  also to the agent it is attributed to;
- version n+1 of a claim ``wasRevisionOf`` version n;
- a retracted version ``wasInvalidatedBy`` its retraction; a corrected
  version ``wasInvalidatedBy`` the correction, which ``used`` it.
"""

from __future__ import annotations

import hashlib

LINK_RELATIONS = {
    "translation-of": ("wasDerivedFrom", "ledger:Translation"),
    "republishes": ("wasDerivedFrom", None),
    "based-on": ("wasDerivedFrom", None),
    "primary-source": ("wasDerivedFrom", "prov:PrimarySource"),
    "quotes": ("wasDerivedFrom", "prov:Quotation"),
    "cites": ("wasInfluencedBy", None),
    "reports-on": ("wasInfluencedBy", None),
}


def _qname(record_id: str, version: int | None = None) -> str:
    kind, slug = record_id.split(":", 1)
    return f"ledger:{kind}.{slug}" + (f".v{version}" if version is not None else "")


def _qtype(value: str) -> dict:
    return {"$": value, "type": "xsd:QName"}


def _time(created: str) -> str:
    return created.replace("Z", "+00:00")


class _Doc:
    def __init__(self, origin: str):
        self.doc = {"prefix": {"ledger": f"urn:fact-ledger:{origin}:", "schema": "https://schema.org/"}}
        self.count = 0

    def add(self, section: str, identifier: str, attributes: dict) -> None:
        self.doc.setdefault(section, {})[identifier] = {k: v for k, v in attributes.items() if v is not None}

    def relate(self, section: str, attributes: dict) -> None:
        self.count += 1
        self.add(section, f"_:r{self.count}", attributes)


def export_prov(ledger) -> dict:
    """The PROV-JSON document of the ledger's sources, claims, signers and notices."""
    conn = ledger.store.conn
    doc = _Doc(ledger.origin)
    for signer, display_name, role in conn.execute("SELECT signer, display_name, role FROM editors ORDER BY registered_idx"):
        doc.add("agent", _signer(signer), {"prov:type": _qtype("prov:Person" if role == "editor" else "prov:Organization"),
                                           "prov:label": display_name, "ledger:signer": signer})
    for (source_id,) in conn.execute("SELECT id FROM sources ORDER BY entry_idx").fetchall():
        entry = ledger.current(source_id)
        source = entry.record
        entity = _qname(source_id)
        doc.add("entity", entity, {"prov:label": source.title, "prov:type": _qtype(f"ledger:{source.type}"),
                                   "prov:location": source.url, "ledger:entryHash": entry.hash_hex, "ledger:version": source.version})
        doc.relate("wasAttributedTo", {"prov:entity": entity, "prov:agent": _signer(entry.signer)})
    for source_id, rel, target_id in conn.execute("SELECT source_id, rel, target_id FROM source_links ORDER BY source_id, position").fetchall():
        section, subtype = LINK_RELATIONS[rel]
        if section == "wasInfluencedBy":
            doc.relate(section, {"prov:influencee": _qname(source_id), "prov:influencer": _qname(target_id), "ledger:rel": rel})
        else:
            doc.relate(section, {"prov:generatedEntity": _qname(source_id), "prov:usedEntity": _qname(target_id),
                                 "prov:type": _qtype(subtype) if subtype else None, "ledger:rel": rel})
    claim_ids = [r[0] for r in conn.execute("SELECT id FROM claims ORDER BY first_created, id")]
    notices = {}
    for kind, target, target_entry, corrected_entry, reason, created, notice_id in conn.execute(
            "SELECT kind, target_id, target_entry, corrected_entry, reason, created, id FROM notices ORDER BY entry_idx"):
        notices.setdefault(target_entry, []).append((kind, notice_id, reason, created))
    for claim_id in claim_ids:
        previous = None
        for entry in ledger.history(claim_id):
            claim = entry.record
            entity = _qname(claim_id, claim.version)
            doc.add("entity", entity, {"prov:label": claim.text[:200], "prov:type": _qtype("ledger:claim"),
                                       "prov:value": claim.text, "ledger:language": claim.language,
                                       "ledger:entryHash": entry.hash_hex, "ledger:version": claim.version})
            doc.relate("wasAttributedTo", {"prov:entity": entity, "prov:agent": _signer(entry.signer)})
            quoted = claim.quote is not None
            doc.relate("wasDerivedFrom", {"prov:generatedEntity": entity, "prov:usedEntity": _qname(claim.source),
                                          "prov:type": _qtype("prov:Quotation") if quoted else None,
                                          "ledger:quote": claim.quote.exact if quoted else None})
            if claim.attribution:
                agent = "ledger:attributed." + hashlib.sha256(claim.attribution.text.encode()).hexdigest()[:16]
                doc.add("agent", agent, {"prov:label": claim.attribution.text, "ledger:anonymous": claim.attribution.anonymous,
                                         "ledger:source": _qname(claim.attribution.source) if claim.attribution.source else None})
                doc.relate("wasAttributedTo", {"prov:entity": entity, "prov:agent": agent})
            if previous is not None:
                doc.relate("wasDerivedFrom", {"prov:generatedEntity": entity, "prov:usedEntity": previous,
                                              "prov:type": _qtype("prov:Revision"), "ledger:note": claim.note})
            for kind, notice_id, reason, created in notices.get(entry.hash_hex, ()):
                activity = _qname(notice_id)
                doc.add("activity", activity, {"prov:startTime": _time(created), "prov:endTime": _time(created),
                                               "prov:type": _qtype(f"ledger:{kind}"), "prov:label": reason})
                doc.relate("wasInvalidatedBy", {"prov:entity": entity, "prov:activity": activity, "prov:time": _time(created)})
                if kind == "correction":
                    doc.relate("used", {"prov:activity": activity, "prov:entity": entity})
            previous = entity
    return doc.doc


def _signer(signer: str) -> str:
    return "ledger:key." + hashlib.sha256(signer.encode()).hexdigest()[:16]
