"""Interoperability: import fact-check feeds, export ClaimReview, PROV-JSON and offline bundles.

Reading a feed, outside in:

- ``jsonstream``: a JSON, concatenated-JSON or JSONL file read a unit at a time;
- ``htmlpage``: the JSON-LD blocks and the URL of an HTML page;
- ``shapes``: which format and shape a file is (detection) and its units;
- ``feed``: what one review says, whatever the format (``FeedItem``), and the
  readers of loosely typed values (``*_from_untrusted``);
- ``claimreview``, ``factcheck_api``: schema.org ClaimReview JSON-LD and the
  Google Fact Check Tools API shape, read as feed items;
- ``language``: a language tag that the script of a text contradicts;
- ``identity``: which review and claim an item is (several claims under one
  review URL, this ledger's own reviews);
- ``feed_records``: the sources, claim and review an item becomes;
- ``ratings``: the rating map (a signed ``ratingmap`` record) that turns desks'
  labels into normalized ratings;
- ``importer``: items to planned records, with stable IDs and a report;
  ``batch``: the planned records, kept in a temporary file.

Writing: ``claimreview_export`` (ClaimReview JSON-LD, a node per review),
``provenance`` (W3C PROV-JSON of the provenance chains), ``bundle`` (a
verifiable offline bundle of the log).

The import and export rules are written down in docs/interop.md.
"""
