"""The verify command printed on a claim page, run as printed against a real `ledger serve` on 127.0.0.1."""

import base64
import html
import json
import re
import shlex
import subprocess
import sys
import urllib.request

import pytest
import rfc8785

from conftest import ledger_server
from ledger.api import Ledger
from ledger.checkpoint import open_checkpoint_untrusted
from ledger.demo import build_demo

CLAIM = "claim:ro-microelectronics-90pct"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(base URL, the served demo ledger opened read-only)."""
    tmp = tmp_path_factory.mktemp("site-live")
    build_demo(tmp / "demo.db", tmp / "keys").close()
    with ledger_server(tmp / "demo.db") as base, Ledger.open(tmp / "demo.db", readonly=True) as ledger:
        yield base, ledger


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def printed_command(base: str, claim_id: str) -> str:
    page = fetch(base + "claim/" + claim_id.split(":", 1)[1]).decode("utf-8")
    found = re.findall(r'<pre class="command">(.*?)</pre>', page, re.S)
    assert len(found) == 1, page
    return html.unescape(found[0])


def command_steps(command: str) -> tuple[str, str, list[str]]:
    """The printed 'curl -s URL > FILE && ledger verify ...' as (URL, FILE, the ledger command's arguments).

    Checking the shape here means that running the two steps below is what a
    shell does with the command.
    """
    words = shlex.split(command)
    assert words[:2] == ["curl", "-s"] and words[3] == ">" and words[5:8] == ["&&", "ledger", "verify"], command
    url, file = words[2], words[4]
    arguments = words[7:]
    assert arguments[arguments.index("--proof") + 1] == file, command
    return url, file, arguments


def run_ledger(arguments: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ledger", *arguments], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_printed_verify_command_passes(site, tmp_path):
    base, ledger = site
    url, file, arguments = command_steps(printed_command(base, CLAIM))
    assert url == base + f"-/proof/tlog/{ledger.current(CLAIM).index}"
    (tmp_path / file).write_bytes(fetch(url))
    result = run_ledger(arguments, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    size = ledger.latest_checkpoint()[0]
    assert result.stdout.startswith(f"OK: {CLAIM} is entry {ledger.current(CLAIM).index} of the log, "
                                    f"included in the checkpoint of size {size} signed by {ledger.origin}; ")


def _flip_base64_char(text: str, at: int = 0) -> str:
    return text[:at] + ("B" if text[at] == "A" else "A") + text[at + 1:]


def _other_hash(proof: str) -> str:
    lines = proof.split("\n")
    first_hash = lines.index(next(line for line in lines if line.startswith("index "))) + 1
    lines[first_hash] = _flip_base64_char(lines[first_hash])
    return "\n".join(lines)


def _other_index(proof: str) -> str:
    index = int(re.search(r"^index ([0-9]+)$", proof, re.M)[1])
    return proof.replace(f"\nindex {index}\n", f"\nindex {index + 1}\n")


def _other_signature(proof: str) -> str:
    head, _, signature_line = proof.rstrip("\n").rpartition("\n")
    dash, name, signature = signature_line.split(" ")
    # Past the first 4 bytes (the key ID, 6 base64 digits): the Ed25519 signature itself.
    return f"{head}\n{dash} {name} {_flip_base64_char(signature, 20)}\n"


def _other_claim_text(proof: str) -> str:
    # The entry inside the extra line, with the claim's figure changed and the rest kept canonical.
    extra_line = next(line for line in proof.split("\n") if line.startswith("extra "))
    extra = json.loads(base64.b64decode(extra_line.removeprefix("extra ")))
    leaf = base64.b64decode(extra["leaf"])
    assert b"90%" in leaf
    extra["leaf"] = base64.b64encode(leaf.replace(b"90%", b"10%")).decode()
    return proof.replace(extra_line, "extra " + base64.b64encode(rfc8785.dumps(extra)).decode())


def _without_extra(proof: str) -> str:
    return re.sub(r"^extra .*\n", "", proof, flags=re.M)


@pytest.mark.parametrize("alter, error", [
    (_other_hash, "Error: inclusion proof: computed root "),
    (_other_index, "Error: inclusion proof: computed root "),
    (_other_claim_text, "Error: inclusion proof: computed root "),
    (_other_signature, "Error: signature by {signer} does not verify"),
    (_without_extra, "Error: the bundle has no 'extra' line: it does not carry the entry; "
                     "make it with 'ledger prove --format tlog-proof'"),
])
def test_the_printed_verify_command_fails_on_altered_proof_bytes(site, tmp_path, alter, error):
    base, ledger = site
    url, file, arguments = command_steps(printed_command(base, CLAIM))
    proof = fetch(url).decode("utf-8")
    altered = alter(proof)
    assert altered != proof
    (tmp_path / file).write_text(altered, encoding="utf-8")
    result = run_ledger(arguments, tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    signer = "+".join(ledger.log_vkey.split("+", 2)[:2])
    root = open_checkpoint_untrusted(ledger.latest_checkpoint()[1], ledger.log_verifier, ledger.origin).root_hash
    assert result.stderr.startswith(error.format(signer=signer)), result.stderr
    if "computed root" in error:
        assert result.stderr.endswith(f", expected {root.hex()}\n"), result.stderr
