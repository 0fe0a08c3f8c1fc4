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
    doc = _Doc(ledger.origin)
    _add_signers(doc, ledger)
    sources = _add_sources(doc, ledger)
    _add_source_links(doc, sources)
    notices = _notices_by_target_entry(ledger)
    for history in _claim_histories(ledger):
        _add_claim_versions(doc, history, notices)
    return doc.doc


def _add_signers(doc: _Doc, ledger) -> None:
    for key in ledger.registered_keys():
        display_name = ledger.current(key.record_id).record.display_name
        doc.add("agent", _signer(key.signer), {"prov:type": _qtype("prov:Person" if key.role == "editor" else "prov:Organization"),
                                               "prov:label": display_name, "ledger:signer": key.signer})


def _add_sources(doc: _Doc, ledger) -> list:
    """Each source's current version, in log order of that version; returns their records."""
    sources = []
    for head in ledger.heads("source"):
        entry = ledger.entry(head.entry_idx)
        source = entry.record
        entity = _qname(source.id)
        doc.add("entity", entity, {"prov:label": source.title, "prov:type": _qtype(f"ledger:{source.type}"),
                                   "prov:location": source.url, "ledger:entryHash": entry.hash_hex, "ledger:version": source.version})
        doc.relate("wasAttributedTo", {"prov:entity": entity, "prov:agent": _signer(entry.signer)})
        sources.append(source)
    return sources


def _add_source_links(doc: _Doc, sources: list) -> None:
    """Every link of every source, by source ID then position (LINK_RELATIONS)."""
    for source in sorted(sources, key=lambda s: s.id):
        for link in source.links or ():
            section, subtype = LINK_RELATIONS[link.rel]
            if section == "wasInfluencedBy":
                doc.relate(section, {"prov:influencee": _qname(source.id), "prov:influencer": _qname(link.source), "ledger:rel": link.rel})
            else:
                doc.relate(section, {"prov:generatedEntity": _qname(source.id), "prov:usedEntity": _qname(link.source),
                                     "prov:type": _qtype(subtype) if subtype else None, "ledger:rel": link.rel})


def _notices_by_target_entry(ledger) -> dict:
    """Entry hash of a version -> the corrections and retractions naming it, in log order."""
    notices = sorted(ledger.heads("correction") + ledger.heads("retraction"), key=lambda head: head.entry_idx)
    by_target = {}
    for head in notices:
        notice = ledger.entry(head.entry_idx).record
        by_target.setdefault(notice.target_entry, []).append(notice)
    return by_target


def _claim_histories(ledger) -> list[list]:
    """Every version of every claim, claims in order of their first version's creation time, then ID."""
    histories = [ledger.history(head.id) for head in ledger.heads("claim")]
    return sorted(histories, key=lambda versions: (versions[0].record.created, versions[0].record.id))


def _add_claim_versions(doc: _Doc, history: list, notices: dict) -> None:
    previous = None
    for entry in history:
        claim = entry.record
        entity = _qname(claim.id, claim.version)
        doc.add("entity", entity, {"prov:label": claim.text[:200], "prov:type": _qtype("ledger:claim"),
                                   "prov:value": claim.text, "ledger:language": claim.language,
                                   "ledger:entryHash": entry.hash_hex, "ledger:version": claim.version})
        doc.relate("wasAttributedTo", {"prov:entity": entity, "prov:agent": _signer(entry.signer)})
        quoted = claim.quote is not None
        doc.relate("wasDerivedFrom", {"prov:generatedEntity": entity, "prov:usedEntity": _qname(claim.source),
                                      "prov:type": _qtype("prov:Quotation") if quoted else None,
                                      "ledger:quote": claim.quote.exact if quoted else None})
        if claim.attribution:
            _add_attribution(doc, entity, claim.attribution)
        if previous is not None:
            doc.relate("wasDerivedFrom", {"prov:generatedEntity": entity, "prov:usedEntity": previous,
                                          "prov:type": _qtype("prov:Revision"), "ledger:note": claim.note})
        for notice in notices.get(entry.hash_hex, ()):
            _add_invalidation(doc, entity, notice)
        previous = entity


def _add_attribution(doc: _Doc, entity: str, attribution) -> None:
    agent = "ledger:attributed." + hashlib.sha256(attribution.text.encode()).hexdigest()[:16]
    doc.add("agent", agent, {"prov:label": attribution.text, "ledger:anonymous": attribution.anonymous,
                             "ledger:source": _qname(attribution.source) if attribution.source else None})
    doc.relate("wasAttributedTo", {"prov:entity": entity, "prov:agent": agent})


def _add_invalidation(doc: _Doc, entity: str, notice) -> None:
    """A retraction or correction of a claim version: an activity that invalidated it (and used it, if a correction)."""
    activity = _qname(notice.id)
    time = _time(notice.created)
    doc.add("activity", activity, {"prov:startTime": time, "prov:endTime": time,
                                   "prov:type": _qtype(f"ledger:{notice.kind}"), "prov:label": notice.reason})
    doc.relate("wasInvalidatedBy", {"prov:entity": entity, "prov:activity": activity, "prov:time": time})
    if notice.kind == "correction":
        doc.relate("used", {"prov:activity": activity, "prov:entity": entity})


def _signer(signer: str) -> str:
    return "ledger:key." + hashlib.sha256(signer.encode()).hexdigest()[:16]
