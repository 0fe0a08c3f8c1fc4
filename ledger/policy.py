"""A reader's witness policy: the log keys it accepts, the witnesses it trusts, and how many of
them must cosign a checkpoint (docs/witness.md "Policy files").

The file format follows Sigsum's policy file (sigsum-go ``doc/policy.md``),
with C2SP verifier keys in place of Sigsum's hex public keys, since ours
carry their name, key ID and signature type (0x01 for a log, 0x04 for a
cosignature/v1 witness)::

    # comments run from '#' to the end of the line
    log <log verifier key> [<url>]
    witness <name> <witness verifier key> [<url>]
    group <name> <k>|all|any <member name> ...
    quorum <name>|none

Lines are items separated by white space. ``<name>`` (of a witness or a
group; one namespace, ``none`` predefined) is local to the file and must be
defined on an earlier line than any line naming it. A group acts when at
least ``k`` of its members act (``any`` is 1, ``all`` every member); a
witness acts when its cosignature on the checkpoint verifies. There is
exactly one ``quorum`` line: the checkpoint is accepted when that witness
or group acts (``none``: always). ``--witness W ... --quorum K`` on the
command line is the policy of one group of those witnesses with threshold K.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Sequence

import attrs

from ledger.cosignature import CosignatureVerifier, parse_cosigner_vkey_untrusted
from ledger.errors import FormatError, LedgerError
from ledger.note import Verifier, is_valid_name, parse_verifier_key_untrusted

NONE = "none"
MAX_POLICY_SIZE = 1 << 20


@attrs.frozen
class PolicyWitness:
    """A witness the policy trusts: its local name, its key, and where it answers (for monitors)."""

    name: str
    verifier: CosignatureVerifier
    url: Optional[str] = None

    @property
    def id(self) -> str:
        """``name+keyid`` of its key, as cosignature lines and the ledger's records name it."""
        return f"{self.verifier.name}+{self.verifier.key_id.hex()}"


@attrs.frozen
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@attrs.frozen
class Policy:
    """Log keys, trusted witnesses and the quorum rule; ``satisfied_by`` decides a checkpoint."""

    logs: tuple[Verifier, ...] = ()
    log_urls: tuple[Optional[str], ...] = ()
    witnesses: tuple[PolicyWitness, ...] = ()
    groups: tuple[Group, ...] = ()
    quorum: str = NONE

    @classmethod
    def from_options(cls, witness_vkeys: Sequence[str], quorum: Optional[int]) -> "Policy":
        """The policy of ``--witness W ... --quorum K``: K of those witnesses (default: all of them)."""
        verifiers = [parse_cosigner_vkey_untrusted(v) for v in witness_vkeys]
        names = [v.name for v in verifiers]
        # Named after their keys, so that the rule reads as it is ("2 of witness.example.org/w1, ...").
        witnesses = tuple(PolicyWitness(v.name if names.count(v.name) == 1 else f"{v.name}+{v.key_id.hex()}", v)
                          for v in verifiers)
        if len({w.id for w in witnesses}) != len(witnesses):
            raise FormatError("a --witness key is given twice")
        k = len(witnesses) if quorum is None else quorum
        if not 0 <= k <= len(witnesses):
            raise FormatError(f"--quorum {k}: expected 0 to {len(witnesses)}, the number of --witness keys given")
        if k == 0:
            return cls(witnesses=witnesses)
        group = Group("witnesses", k, tuple(w.name for w in witnesses))
        return cls(witnesses=witnesses, groups=(group,), quorum=group.name)

    @property
    def requires_cosignatures(self) -> bool:
        return self.quorum != NONE

    def verifiers(self) -> list[CosignatureVerifier]:
        return [w.verifier for w in self.witnesses]

    def satisfied_by(self, cosigners: Iterable[str]) -> bool:
        """Whether the witnesses (``name+keyid``) whose cosignatures verified meet the quorum."""
        acting = set(cosigners)
        by_name = {w.name: w for w in self.witnesses}
        groups = {g.name: g for g in self.groups}

        def acts(name: str) -> bool:
            if name == NONE:
                return True
            if name in by_name:
                return by_name[name].id in acting
            group = groups[name]
            return sum(acts(member) for member in group.members) >= group.threshold

        return acts(self.quorum)

    def describe(self) -> str:
        """The quorum rule in words, e.g. ``2 of w1, w2, w3``."""
        groups = {g.name: g for g in self.groups}

        def words(name: str) -> str:
            if name not in groups:
                return name
            group = groups[name]
            return f"{group.threshold} of {', '.join(words(m) for m in group.members)}"

        return "no cosignature" if self.quorum == NONE else words(self.quorum)

    def log_vkey(self, pinned: Optional[str]) -> Optional[str]:
        """The log key to pin: ``pinned`` (which the policy must accept) or the policy's only log key."""
        if pinned is not None:
            if self.logs and parse_verifier_key_untrusted(pinned).vkey not in {log.vkey for log in self.logs}:
                raise LedgerError(f"--vkey {pinned} is not one of the log keys the policy accepts")
            return pinned
        if len(self.logs) > 1:
            raise LedgerError(f"the policy accepts {len(self.logs)} log keys: say which log this is with --vkey")
        return self.logs[0].vkey if self.logs else None


def policy_from_options(policy_file=None, witness_vkeys: Sequence[str] = (), quorum: Optional[int] = None) -> Optional[Policy]:
    """The policy of ``--policy FILE`` or of ``--witness W ... [--quorum K]``; None when neither is given."""
    if policy_file is not None and (witness_vkeys or quorum is not None):
        raise LedgerError("give either --policy FILE or --witness/--quorum, not both")
    if policy_file is not None:
        return read_policy(policy_file)
    if quorum is not None and not witness_vkeys:
        raise LedgerError("--quorum counts the witnesses given with --witness VKEY: give at least one")
    return Policy.from_options(witness_vkeys, quorum) if witness_vkeys else None


def read_policy(path) -> Policy:
    """The policy in a file (``--policy FILE``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise LedgerError(f"cannot read the policy file {path}: {e.strerror}") from e
    try:
        return parse_policy_untrusted(data)
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from e


def parse_policy_untrusted(data: bytes) -> Policy:
    """Parse a policy file; anything but the lines above, in that form, is a FormatError naming its line."""
    if len(data) > MAX_POLICY_SIZE:
        raise FormatError(f"a policy file is at most {MAX_POLICY_SIZE:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"expected UTF-8, found an invalid byte at offset {e.start}") from e
    parser = _Parser()
    for number, line in enumerate(text.split("\n"), 1):
        items = line.split("#", 1)[0].split()
        if not items:
            continue
        try:
            parser.line(items)
        except FormatError as e:
            raise FormatError(f"line {number}: {e}") from e
    return parser.policy()


class _Parser:
    """The policy's lines, checked one by one in order (names must be defined before they are used)."""

    def __init__(self):
        self.logs: list[tuple[Verifier, Optional[str]]] = []
        self.witnesses: list[PolicyWitness] = []
        self.groups: list[Group] = []
        self.names: set[str] = {NONE}
        self.quorum: Optional[str] = None

    def line(self, items: list[str]) -> None:
        keyword, args = items[0], items[1:]
        handler = {"log": self._log, "witness": self._witness, "group": self._group, "quorum": self._quorum}.get(keyword)
        if handler is None:
            raise FormatError(f"expected log, witness, group or quorum, found {keyword!r}")
        handler(args)

    def _log(self, args: list[str]) -> None:
        if len(args) not in (1, 2):
            raise FormatError("expected 'log <verifier key> [<url>]'")
        self.logs.append((parse_verifier_key_untrusted(args[0]), _url(args[1:])))

    def _witness(self, args: list[str]) -> None:
        if len(args) not in (2, 3):
            raise FormatError("expected 'witness <name> <verifier key> [<url>]'")
        self._new_name(args[0])
        self.witnesses.append(PolicyWitness(args[0], parse_cosigner_vkey_untrusted(args[1]), _url(args[2:])))

    def _group(self, args: list[str]) -> None:
        if len(args) < 3:
            raise FormatError("expected 'group <name> <k>|all|any <member> ...'")
        name, threshold, members = args[0], args[1], tuple(args[2:])
        unknown = [m for m in members if m not in self.names or m == NONE]
        if unknown:
            raise FormatError(f"group {name}: {unknown[0]!r} is not a witness or group defined on an earlier line")
        if len(set(members)) != len(members):
            raise FormatError(f"group {name}: a member is listed twice")
        k = {"all": len(members), "any": 1}.get(threshold)
        if k is None:
            if not threshold.isdigit() or threshold != str(int(threshold)):
                raise FormatError(f"group {name}: expected a threshold k, 'all' or 'any', found {threshold!r}")
            k = int(threshold)
        if not 1 <= k <= len(members):
            raise FormatError(f"group {name}: threshold {k} is not between 1 and its {len(members)} members")
        self._new_name(name)
        self.groups.append(Group(name, k, members))

    def _quorum(self, args: list[str]) -> None:
        if len(args) != 1:
            raise FormatError("expected 'quorum <name>|none'")
        if self.quorum is not None:
            raise FormatError("a policy has exactly one quorum line")
        if args[0] not in self.names:
            raise FormatError(f"quorum {args[0]}: not a witness or group defined on an earlier line")
        self.quorum = args[0]

    def _new_name(self, name: str) -> None:
        if name in self.names or not is_valid_name(name):
            raise FormatError(f"{name!r} is already defined, or is not a name (no spaces or '+')")
        self.names.add(name)

    def policy(self) -> Policy:
        if self.quorum is None:
            raise FormatError("no quorum line: end the policy with 'quorum <name>' (or 'quorum none')")
        return Policy(tuple(v for v, _ in self.logs), tuple(u for _, u in self.logs), tuple(self.witnesses),
                      tuple(self.groups), self.quorum)


def _url(items: list[str]) -> Optional[str]:
    if not items:
        return None
    if not items[0].startswith(("http://", "https://")):
        raise FormatError(f"expected an http(s) URL, found {items[0]!r}")
    return items[0]
