"""Interoperability: import fact-check feeds, export ClaimReview, PROV-JSON and offline bundles.

- ``ratings``: the rating map (a signed ``ratingmap`` record) that turns desks' labels into normalized ratings;
- ``claimreview``: schema.org ClaimReview JSON-LD, in and out;
- ``factcheck_api``: the Google Fact Check Tools API ``claims:search`` shape, in;
- ``importer``: feed items to signed records, with stable IDs and a report;
- ``provenance``: W3C PROV-JSON of the provenance chains;
- ``bundle``: a verifiable offline bundle of the log.

The import and export rules are written down in docs/interop.md.
"""
