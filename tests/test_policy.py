"""ledger.policy: the witness policy file (Sigsum's format with C2SP verifier keys), the
``--witness/--quorum`` options, and quorum rules of groups within groups."""

from __future__ import annotations

import pytest

from ledger.cosignature import CosignatureSigner
from ledger.errors import FormatError, LedgerError
from ledger.note import Signer
from ledger.policy import Policy, parse_policy_untrusted, policy_from_options, read_policy

LOG = Signer.from_seed("desk.example/ledger", b"l" * 32)
OTHER_LOG = Signer.from_seed("other.example/ledger", b"o" * 32)
W = {name: CosignatureSigner(Signer.from_seed(f"{name}.witness.example", name.encode() * 16)) for name in ("x1", "x2", "x3", "y1", "y2")}


def wid(name: str) -> str:
    v = W[name].verifier
    return f"{v.name}+{v.key_id.hex()}"


POLICY = f"""
# Two groups of witnesses, as in Sigsum's example policy.
log {LOG.vkey} https://desk.example/ledger/
witness X1 {W['x1'].vkey}   # with a comment
witness X2 {W['x2'].vkey} https://x2.example/
witness X3 {W['x3'].vkey}
group X-witnesses 2 X1 X2 X3

witness Y1 {W['y1'].vkey}
witness Y2 {W['y2'].vkey}
group Y-witnesses any Y1 Y2
group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def test_the_example_policy():
    policy = parse_policy_untrusted(POLICY.encode())
    assert [log.vkey for log in policy.logs] == [LOG.vkey]
    assert policy.log_urls == ("https://desk.example/ledger/",)
    assert [(w.name, w.id, w.url) for w in policy.witnesses][:2] == [("X1", wid("x1"), None), ("X2", wid("x2"), "https://x2.example/")]
    assert policy.describe() == "2 of 2 of X1, X2, X3, 1 of Y1, Y2"
    assert policy.requires_cosignatures
    cases = {
        ("x1", "x2", "y1"): True, ("x1", "x3", "y2"): True, ("x1", "x2", "x3", "y1", "y2"): True,
        ("x1", "y1"): False, ("x1", "x2"): False, ("y1", "y2", "x3"): False, (): False,
    }
    for cosigners, expected in cases.items():
        assert policy.satisfied_by(wid(n) for n in cosigners) is expected, cosigners
    assert policy.log_vkey(None) == LOG.vkey
    assert policy.log_vkey(LOG.vkey) == LOG.vkey
    with pytest.raises(LedgerError, match="is not one of the log keys the policy accepts"):
        policy.log_vkey(OTHER_LOG.vkey)


def test_quorum_none_and_several_logs():
    policy = parse_policy_untrusted(f"log {LOG.vkey}\nlog {OTHER_LOG.vkey}\nquorum none\n".encode())
    assert policy.satisfied_by([]) and not policy.requires_cosignatures and policy.describe() == "no cosignature"
    with pytest.raises(LedgerError, match="the policy accepts 2 log keys: say which log this is with --vkey"):
        policy.log_vkey(None)
    assert policy.log_vkey(OTHER_LOG.vkey) == OTHER_LOG.vkey


@pytest.mark.parametrize("text, message", [
    ("quorum none\nquorum none\n", "line 2: a policy has exactly one quorum line"),
    ("log " + LOG.vkey + "\n", "no quorum line"),
    ("witness a " + "x" + "\nquorum a\n", "line 1: witness verifier key"),
    (f"witness a {LOG.vkey}\nquorum a\n", "line 1: witness verifier key desk.example/ledger: expected type 0x04 (cosignature/v1), found 0x01"),
    (f"log {W['x1'].vkey}\nquorum none\n", "line 1: verifier key x1.witness.example: expected algorithm 0x01 (Ed25519), found 0x04"),
    (f"quorum X1\nwitness X1 {W['x1'].vkey}\n", "line 1: quorum X1: not a witness or group defined on an earlier line"),
    (f"witness X1 {W['x1'].vkey}\nwitness X1 {W['x2'].vkey}\nquorum X1\n", "line 2: 'X1' is already defined"),
    (f"witness X1 {W['x1'].vkey}\ngroup g 2 X1\nquorum g\n", "line 2: group g: threshold 2 is not between 1 and its 1 members"),
    (f"witness X1 {W['x1'].vkey}\ngroup g 0 X1\nquorum g\n", "line 2: group g: threshold 0 is not between 1 and its 1 members"),
    (f"witness X1 {W['x1'].vkey}\ngroup g most X1\nquorum g\n", "line 2: group g: expected a threshold k, 'all' or 'any'"),
    (f"witness X1 {W['x1'].vkey}\ngroup g 01 X1\nquorum g\n", "line 2: group g: expected a threshold k"),
    (f"witness X1 {W['x1'].vkey}\ngroup g any X1 X1\nquorum g\n", "line 2: group g: a member is listed twice"),
    (f"witness X1 {W['x1'].vkey}\ngroup g any X1 none\nquorum g\n", "line 2: group g: 'none' is not a witness or group"),
    (f"witness X1 {W['x1'].vkey} ftp://x.example/\nquorum X1\n", "line 1: expected an http(s) URL"),
    (f"witness X1 {W['x1'].vkey} https://a/ extra\nquorum X1\n", "line 1: expected 'witness <name> <verifier key> [<url>]'"),
    ("witnesses X1\nquorum none\n", "line 1: expected log, witness, group or quorum, found 'witnesses'"),
    ("quorum\n", "line 1: expected 'quorum <name>|none'"),
])
def test_malformed_policies_name_their_line(text, message):
    with pytest.raises(FormatError) as e:
        parse_policy_untrusted(text.encode())
    assert message in str(e.value)


def test_not_utf8_and_too_large():
    with pytest.raises(FormatError, match="expected UTF-8"):
        parse_policy_untrusted(b"quorum none\n\xff")
    with pytest.raises(FormatError, match="at most 1,048,576 bytes"):
        parse_policy_untrusted(b"#" * (1 << 20 + 1))


def test_options_are_a_group_of_the_named_witnesses():
    policy = Policy.from_options([W["x1"].vkey, W["x2"].vkey, W["x3"].vkey], 2)
    assert policy.describe() == "2 of x1.witness.example, x2.witness.example, x3.witness.example"
    assert policy.satisfied_by([wid("x1"), wid("x3")]) and not policy.satisfied_by([wid("x2"), wid("y1")])
    every = Policy.from_options([W["x1"].vkey, W["x2"].vkey], None)
    assert every.describe() == "2 of x1.witness.example, x2.witness.example"
    assert not Policy.from_options([W["x1"].vkey], 0).requires_cosignatures
    with pytest.raises(FormatError, match="--quorum 3: expected 0 to 2"):
        Policy.from_options([W["x1"].vkey, W["x2"].vkey], 3)
    with pytest.raises(FormatError, match="a --witness key is given twice"):
        Policy.from_options([W["x1"].vkey, W["x1"].vkey], 1)


def test_policy_from_options(tmp_path):
    assert policy_from_options() is None
    path = tmp_path / "policy"
    path.write_text(POLICY)
    assert policy_from_options(path).describe() == read_policy(path).describe()
    with pytest.raises(LedgerError, match="give either --policy FILE or --witness/--quorum, not both"):
        policy_from_options(path, [W["x1"].vkey])
    with pytest.raises(LedgerError, match="--quorum counts the witnesses given with --witness VKEY"):
        policy_from_options(None, (), 1)
    with pytest.raises(LedgerError, match="cannot read the policy file"):
        read_policy(tmp_path / "missing")
    path.write_text("quorum X\n")
    with pytest.raises(FormatError, match=f"{path}: line 1: quorum X"):
        read_policy(path)
