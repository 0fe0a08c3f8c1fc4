"""The ledger's Merkle tree: RFC 6962 hashing, storage layout and proofs.

A Python port of the design of Go's golang.org/x/mod/sumdb/tlog: the tree is
a list of *stored hashes* in a fixed linear order (see ``stored_hash_index``),
storage sits behind the one-method ``HashReader`` protocol, and every function
here is pure. Nothing in this module knows about SQL or files.

Hashes follow RFC 6962 §2.1 (RFC 9162 §2.1.1); proofs are the audit paths of
RFC 6962 §2.1.1-2.1.2 (RFC 9162 §2.1.3-2.1.4), in the same hash order as Go
tlog and transparency-dev/merkle. Verifiers raise ``ProofError``; provers
raise ``ValueError`` for impossible arguments (a caller bug, not bad input).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ledger.errors import ProofError

HASH_SIZE = 32

# RFC 6962 §2.1: MTH({}) = SHA-256(), the hash of the empty string.
# (Go's tlog.TreeHash returns an all-zero hash for size 0; we follow the RFC.)
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 §2.1: MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1: SHA-256(0x01 || MTH(left) || MTH(right))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The k of RFC 6962 §2.1: the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


# ---------------------------------------------------------------------------
# Stored hash layout.
#
# Exactly Go tlog's layout (Crosby and Wallach, "Efficient Data Structures for
# Tamper-Evident Logging", §3.3): when leaf n is appended, its leaf hash is
# stored, followed by the hash of every complete subtree that leaf finishes,
# smallest first. The hash of the 2^level leaves starting at leaf n*2^level is
# at stored_hash_index(level, n).
# ---------------------------------------------------------------------------


def stored_hash_index(level: int, n: int) -> int:
    """Position of the hash of tree node (level, n) in the stored hash list."""
    if level < 0 or n < 0:
        raise ValueError(f"stored_hash_index: want level >= 0 and n >= 0, got ({level}, {n})")
    # Level L's n'th hash is written right after level L+1's 2n+1'th hash,
    # so map (level, n) to the last leaf of its subtree...
    n = ((n + 1) << level) - 1
    # ...whose leaf hash sits at n + n/2 + n/4 + ... = 2n - popcount(n);
    # the subtree's hash comes `level` slots later.
    return 2 * n - n.bit_count() + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Inverse of ``stored_hash_index``: the (level, n) stored at ``index``."""
    if index < 0:
        raise ValueError(f"split_stored_hash_index: want index >= 0, got {index}")
    # stored_hash_index(0, n) < 2n, so the leaf that wrote this hash is in
    # [index/2, index/2 + log2(index)]; walk forward to it.
    n = index // 2
    index_n = stored_hash_index(0, n)
    while True:
        # Leaf n adds 1 + trailing_zeros(n+1) hashes.
        x = index_n + 1 + _trailing_zeros(n + 1)
        if x > index:
            break
        n += 1
        index_n = x
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """Number of stored hashes of a tree with n leaves."""
    if n < 0:
        raise ValueError(f"stored_hash_count: want n >= 0, got {n}")
    if n == 0:
        return 0
    # Hashes up to leaf n-1's, plus one per subtree completed by that leaf.
    return stored_hash_index(0, n - 1) + 1 + _trailing_zeros(n)


class HashReader(Protocol):
    """Reads stored hashes; the only thing the tree needs from storage."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the hashes at these stored hash indexes, in the same order.

        Must return exactly one hash per index or raise. Callers pass the
        indexes sorted where they can, so a database can read them in one pass.
        """
        ...


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    # Every public function reads with one call, as Go tlog does, so an SQL
    # reader answers each with one query.
    if not indexes:
        return []
    hashes = list(reader.read_hashes(indexes))
    if len(hashes) != len(indexes):
        raise ValueError(f"read_hashes returned {len(hashes)} hashes for {len(indexes)} indexes")
    return hashes


def stored_hashes(n: int, data: bytes, reader: HashReader) -> list[bytes]:
    """The hashes to store when appending leaf n with this data (see below)."""
    return stored_hashes_for_record_hash(n, leaf_hash(data), reader)


def stored_hashes_for_record_hash(n: int, leaf: bytes, reader: HashReader) -> list[bytes]:
    """The hashes to store when appending leaf n, given its leaf hash.

    They go at indexes stored_hash_count(n) .. stored_hash_count(n+1)-1.
    Reads at most log2(n) earlier hashes (the left siblings of the subtrees
    this leaf completes) in one ``read_hashes`` call.
    """
    if n < 0:
        raise ValueError(f"stored_hashes: want n >= 0, got {n}")
    # Each trailing 1 bit of n completes a subtree whose left half is stored.
    m = _trailing_zeros(n + 1)
    indexes = [stored_hash_index(i, (n >> i) - 1) for i in reversed(range(m))]
    old = _read(reader, indexes)
    hashes = [leaf]
    h = leaf
    for i in range(m):
        h = node_hash(old[m - 1 - i], h)
        hashes.append(h)
    return hashes


# ---------------------------------------------------------------------------
# Bulk building: the right edge of the tree kept in memory.
# ---------------------------------------------------------------------------


class TreeBuilder:
    """Appends leaves keeping only the tree's right edge in memory.

    The edge is the root of each complete subtree of the current tree, left
    to right (one per 1 bit of the size). Appending a leaf merges equal-sized
    subtrees like a binary counter, producing exactly the hashes that
    ``stored_hashes_for_record_hash`` would, with no reads: O(1) amortised per
    leaf and O(log n) memory.
    """

    def __init__(self, size: int = 0, edge: Sequence[bytes] = ()) -> None:
        if size < 0 or len(edge) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} edge hashes, got {len(edge)}")
        self.size = size
        self._edge = list(edge)

    @classmethod
    def from_reader(cls, size: int, reader: HashReader) -> TreeBuilder:
        """Resume after ``size`` stored leaves, reading the edge in one call."""
        return cls(size, _read(reader, _subtree_indexes(0, size)))

    def append(self, leaf: bytes) -> list[bytes]:
        """Append one leaf hash; return the hashes to store, in order."""
        out = [leaf]
        h = leaf
        n = self.size
        while n & 1:  # each trailing 1 bit completes a subtree
            h = node_hash(self._edge.pop(), h)
            out.append(h)
            n >>= 1
        self._edge.append(h)
        self.size += 1
        return out

    def extend(self, leaves: Iterable[bytes]) -> Iterator[bytes]:
        """Append leaf hashes, yielding each new stored hash as it is made."""
        for leaf in leaves:
            yield from self.append(leaf)

    def root(self) -> bytes:
        """The tree hash of the leaves appended so far (RFC 6962 §2.1)."""
        if not self._edge:
            return EMPTY_ROOT
        h = self._edge[-1]
        for left in reversed(self._edge[:-1]):
            h = node_hash(left, h)
        return h


def root_from_leaf_hashes(hashes: Iterable[bytes]) -> bytes:
    """Tree hash of a stream of leaf hashes in O(log n) memory."""
    builder = TreeBuilder()
    for h in hashes:
        builder.append(h)
    return builder.root()


class MemoryHashStore:
    """A list-backed ``HashReader`` for verifiers that rebuild a tree, and tests."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self._builder = TreeBuilder()

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._builder.size

    def append_leaf(self, data: bytes) -> bytes:
        """Append a leaf by its data; return its leaf hash."""
        h = leaf_hash(data)
        self.append_leaf_hash(h)
        return h

    def append_leaf_hash(self, h: bytes) -> None:
        """Append a leaf by its leaf hash."""
        if len(h) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(h)}")
        self.hashes.extend(self._builder.append(h))

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        stored = self.hashes
        for i in indexes:
            if not 0 <= i < len(stored):
                raise IndexError(f"stored hash index {i} out of range: {len(stored)} hashes stored")
        return [stored[i] for i in indexes]


# ---------------------------------------------------------------------------
# Tree hash and proofs. Each has an *_indexes function listing the stored
# hashes it needs and a builder that consumes them in the same order, so one
# read_hashes call serves the whole computation (Go tlog's pattern).
# ---------------------------------------------------------------------------


def _subtree_indexes(lo: int, hi: int, need: list[int] | None = None) -> list[int]:
    """Indexes of the complete subtrees that make up leaves [lo, hi)."""
    need = [] if need is None else need
    while lo < hi:
        # Largest power of two <= hi - lo; [lo, lo+k) is a stored subtree.
        level = (hi - lo).bit_length() - 1
        need.append(stored_hash_index(level, lo >> level))
        lo += 1 << level
    return need


def _subtree_hash(lo: int, hi: int, hashes: list[bytes]) -> bytes:
    """MTH(D[lo:hi]) from the hashes listed by ``_subtree_indexes``; consumes them."""
    count = (hi - lo).bit_count() if lo < hi else 0
    if count == 0 or len(hashes) < count:
        raise AssertionError("tree: bad index math in _subtree_hash")
    parts = [hashes.pop(0) for _ in range(count)]
    # The right-most subtree is the deepest; fold right to left (RFC 6962 §2.1).
    h = parts[-1]
    for left in reversed(parts[:-1]):
        h = node_hash(left, h)
    return h


def tree_hash(n: int, reader: HashReader) -> bytes:
    """MTH of the first n leaves (RFC 6962 §2.1); reads O(log n) hashes."""
    if n < 0:
        raise ValueError(f"tree_hash: want n >= 0, got {n}")
    if n == 0:
        return EMPTY_ROOT
    hashes = _read(reader, _subtree_indexes(0, n))
    return _subtree_hash(0, n, hashes)


def _inclusion_indexes(lo: int, hi: int, m: int, need: list[int]) -> list[int]:
    if hi - lo == 1:
        return need
    k = _split(hi - lo)
    if m < lo + k:
        _inclusion_indexes(lo, lo + k, m, need)
        _subtree_indexes(lo + k, hi, need)
    else:
        _subtree_indexes(lo, lo + k, need)
        _inclusion_indexes(lo + k, hi, m, need)
    return need


def _inclusion_path(lo: int, hi: int, m: int, hashes: list[bytes]) -> list[bytes]:
    # RFC 6962 §2.1.1 PATH(m, D[lo:hi]): the sibling subtree's hash is
    # appended after the path inside the half holding m (leaf to root order).
    if hi - lo == 1:
        return []
    k = _split(hi - lo)
    if m < lo + k:
        path = _inclusion_path(lo, lo + k, m, hashes)
        return path + [_subtree_hash(lo + k, hi, hashes)]
    sibling = _subtree_hash(lo, lo + k, hashes)
    return _inclusion_path(lo + k, hi, m, hashes) + [sibling]


def prove_inclusion(tree_size: int, leaf_index: int, reader: HashReader) -> list[bytes]:
    """Inclusion proof (audit path) of leaf ``leaf_index`` in the tree of ``tree_size``."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError(f"prove_inclusion: want 0 <= leaf index < tree size, got {leaf_index}, {tree_size}")
    hashes = _read(reader, _inclusion_indexes(0, tree_size, leaf_index, []))
    proof = _inclusion_path(0, tree_size, leaf_index, hashes)
    assert not hashes, "tree: bad index math in prove_inclusion"
    return proof


def _consistency_indexes(lo: int, hi: int, m: int, need: list[int]) -> list[int]:
    if m == hi:
        return need if lo == 0 else _subtree_indexes(lo, hi, need)
    k = _split(hi - lo)
    if m <= lo + k:
        _consistency_indexes(lo, lo + k, m, need)
        _subtree_indexes(lo + k, hi, need)
    else:
        _subtree_indexes(lo, lo + k, need)
        _consistency_indexes(lo + k, hi, m, need)
    return need


def _consistency_path(lo: int, hi: int, m: int, hashes: list[bytes]) -> list[bytes]:
    # RFC 6962 §2.1.2 SUBPROOF(m, D[lo:hi], b), with b true exactly when lo == 0:
    # the old tree itself is never sent, any other complete subtree is.
    if m == hi:
        return [] if lo == 0 else [_subtree_hash(lo, hi, hashes)]
    k = _split(hi - lo)
    if m <= lo + k:
        path = _consistency_path(lo, lo + k, m, hashes)
        return path + [_subtree_hash(lo + k, hi, hashes)]
    sibling = _subtree_hash(lo, lo + k, hashes)
    return _consistency_path(lo + k, hi, m, hashes) + [sibling]


def prove_consistency(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """Consistency proof that the tree of ``new_size`` extends the one of ``old_size``."""
    if not 1 <= old_size <= new_size:
        raise ValueError(f"prove_consistency: want 1 <= old size <= new size, got {old_size}, {new_size}")
    hashes = _read(reader, _consistency_indexes(0, new_size, old_size, []))
    proof = _consistency_path(0, new_size, old_size, hashes)
    assert not hashes, "tree: bad index math in prove_consistency"
    return proof


# ---------------------------------------------------------------------------
# Verification: RFC 9162 §2.1.3.2 and §2.1.4.2, with the input checks of
# transparency-dev/merkle proof/verify.go done first so that errors say
# exactly what was wrong.
# ---------------------------------------------------------------------------


def _inclusion_proof_size(index: int, size: int) -> int:
    # Below the point where the paths to `index` and `size-1` diverge every
    # level has a sibling ("inner"); above it only left siblings ("border").
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_size(old_size: int, new_size: int) -> int:
    # A suffix of the inclusion proof of leaf old_size-1, minus the levels
    # inside the largest complete subtree ending at old_size, plus that
    # subtree's hash unless it is the whole old tree.
    shift = _trailing_zeros(old_size)
    size = _inclusion_proof_size(old_size - 1, new_size) - shift
    return size if old_size == 1 << shift else size + 1


def _check_hashes(proof: Sequence[bytes], what: str) -> None:
    for i, h in enumerate(proof):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            found = len(h) if isinstance(h, bytes) else type(h).__name__
            raise ProofError(f"{what} hash {i}: expected {HASH_SIZE} bytes, found {found}")


def verify_inclusion(leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``proof`` shows leaf ``leaf_hash`` at ``leaf_index`` in the tree ``root``.

    Raises ProofError on any failure.
    """
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"inclusion proof: expected 0 <= leaf index < tree size, found leaf index {leaf_index}, tree size {tree_size}")
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"inclusion proof: expected a {HASH_SIZE}-byte leaf hash, found {len(leaf_hash)} bytes")
    want = _inclusion_proof_size(leaf_index, tree_size)
    if len(proof) != want:
        raise ProofError(f"inclusion proof for leaf index {leaf_index} in tree size {tree_size}: expected {want} hashes, found {len(proof)}")
    _check_hashes(proof, "inclusion proof")

    # RFC 9162 §2.1.3.2.
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof: too many hashes")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                # Right border: skip levels where this node has no right sibling.
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof: too few hashes")
    if r != root:
        raise ProofError(f"inclusion proof: computed root {r.hex()}, expected {bytes(root).hex()}")


# Longer and more branched than the other functions here on purpose: it
# follows the verification algorithm of RFC 9162 §2.1.4.2 step by step (as
# transparency-dev/merkle's VerifyConsistency does), so each check can be read
# against the RFC's numbered steps.
def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that ``proof`` shows the tree ``new_root`` extends the tree ``old_root``.

    Raises ProofError on any failure. As in transparency-dev/merkle, a proof
    from the empty tree is meaningless and rejected: callers handle size 0.
    """
    if old_size < 1 or old_size > new_size:
        raise ProofError(f"consistency proof: expected 1 <= old size <= new size, found old size {old_size}, new size {new_size}")
    if old_size == new_size:
        # RFC 9162 §2.1.4.2 step 1: same tree, nothing to prove.
        if proof:
            raise ProofError(f"consistency proof between equal sizes: expected no hashes, found {len(proof)}")
        if old_root != new_root:
            raise ProofError(f"consistency proof between equal sizes {old_size}: roots differ: {bytes(old_root).hex()} != {bytes(new_root).hex()}")
        return
    for what, root in (("old", old_root), ("new", new_root)):
        if len(root) != HASH_SIZE:
            raise ProofError(f"consistency proof: expected a {HASH_SIZE}-byte {what} root, found {len(root)} bytes")
    want = _consistency_proof_size(old_size, new_size)
    if len(proof) != want:
        raise ProofError(f"consistency proof from size {old_size} to {new_size}: expected {want} hashes, found {len(proof)}")
    _check_hashes(proof, "consistency proof")

    # RFC 9162 §2.1.4.2.
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # old tree is a complete subtree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof: too many hashes")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof: too few hashes")
    if fr != old_root:
        raise ProofError(f"consistency proof: computed old root {fr.hex()}, expected {bytes(old_root).hex()}")
    if sr != new_root:
        raise ProofError(f"consistency proof: computed new root {sr.hex()}, expected {bytes(new_root).hex()}")
