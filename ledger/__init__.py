"""fact-ledger: a signed, versioned, tamper-evident ledger of factual claims.

Every record is canonical JSON (RFC 8785) signed with Ed25519, appended as a
leaf of one RFC 6962 Merkle tree whose checkpoints are C2SP signed notes.
"""

__version__ = "0.1.0"
