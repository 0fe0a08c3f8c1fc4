"""Verify a ledger offline, trusting nothing but the log's verifier key (docs/verify.md).

``verify_ledger(open_source(...))`` checks a whole ledger: a ledger file, a
JSONL export or bundle folder, or a published site. ``verify_claim_proof``
checks one claim from a tlog-proof bundle. ``check_servable`` is what
``ledger serve`` and ``ledger publish`` check before serving a file. The package needs only the
standard library, ``cryptography``, ``attrs`` and ``rfc8785`` (through the
ledger's core modules): no Datasette, sqlite-utils or jsonschema.

Modules: ``sources`` (the ``Source`` protocol and ``open_source``) with one
module per kind of source (``file_source``, ``export_source``,
``site_source``, ``tile_source``); ``procedure`` (the steps in order);
``replay`` (steps 1–3); ``workers`` (the process pool); ``checkpoints``
(steps 4 and 6); ``witnesses`` (cosignatures and the reader's quorum);
``tables``, ``sqlite_checks`` and ``file_schema`` (step 5 on a file),
``site_checks`` and ``site_search`` (step 5 on a site); ``report``;
``claim_proof``; ``servable`` (the start-up check of the site).
"""

from ledger.verify.checkpoints import saved_checkpoint_from_untrusted
from ledger.verify.claim_proof import ClaimProofReport, verify_claim_proof
from ledger.verify.export_source import ExportSource
from ledger.verify.file_source import LedgerFileSource
from ledger.verify.procedure import verify_ledger
from ledger.verify.report import Failure, Report
from ledger.verify.servable import check_servable, open_as_served
from ledger.verify.site_source import SiteSource
from ledger.verify.sources import Source, open_source
from ledger.verify.tile_source import TileSource

__all__ = [
    "ClaimProofReport", "ExportSource", "Failure", "LedgerFileSource", "Report", "SiteSource", "Source", "TileSource",
    "check_servable", "open_as_served", "open_source", "saved_checkpoint_from_untrusted", "verify_claim_proof",
    "verify_ledger",
]
