"""The one exception hierarchy of the ledger.

The library raises these; only the CLI turns them into ``Error: ...`` lines.
Every message says what was expected and what was found, and, where it can,
how to fix it.
"""


class LedgerError(Exception):
    """Base class of every error the ledger raises on purpose."""


class FormatError(LedgerError):
    """Bytes from outside (JSON, a note, a key, a proof) are not in the expected form."""


class SignatureError(LedgerError):
    """A signature does not verify under the key it names."""


class ProofError(LedgerError):
    """An inclusion or consistency proof does not verify."""


class RecordError(LedgerError):
    """A record is invalid: schema, references, versions or quote anchors."""


class KeyFileError(LedgerError):
    """A private key file cannot be read, decrypted or written."""


class NotFoundError(LedgerError):
    """A record, entry, checkpoint or snapshot that was asked for does not exist."""


class LockedError(LedgerError):
    """Another process held the ledger's write lock for longer than the wait allowed."""

