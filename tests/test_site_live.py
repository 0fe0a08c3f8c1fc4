"""Every command the site prints, run as printed against a real `ledger serve` on 127.0.0.1.

The claim page's verify command is also run on altered proof bytes; the
how-to-verify page's sample outputs are checked against what its commands
really print (… stands for what varies), OK against the demo and FAILED
against a copy of it whose claims row was changed in place.
"""

import base64
import html
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import rfc8785

from conftest import demo_copies, ledger_server
from ledger.api import Ledger
from ledger.checkpoint import open_checkpoint_untrusted

CLAIM = "claim:ro-microelectronics-90pct"


@pytest.fixture(scope="module")
def served(tmp_path_factory, _demo_build):
    """The demo served, and a copy of it whose claims row text was changed in place, served too."""
    path, altered_path = demo_copies(_demo_build, tmp_path_factory.mktemp("site-live"), {CLAIM: "Altered."})
    with ledger_server(path) as base, ledger_server(altered_path) as altered, Ledger.open(path, readonly=True) as ledger:
        yield {"base": base, "altered": altered, "ledger": ledger}


@pytest.fixture(scope="module")
def site(served):
    """(base URL, the served demo ledger opened read-only)."""
    return served["base"], served["ledger"]


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


# --- every command on every page -----------------------------------------------------------------------

PRE = re.compile(r'<pre class="(command|output)">(.*?)</pre>', re.S)


def printed(page_html: str) -> list[tuple[str, str]]:
    """The page's commands and sample outputs, in order: ("command" | "output", text as shown)."""
    return [(kind, html.unescape(text)) for kind, text in PRE.findall(page_html)]


def run_in_shell(command: str, cwd) -> subprocess.CompletedProcess:
    """The command as a reader pastes it into bash, with this package's `ledger` on the PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def matches_sample(sample: str, output: str) -> bool:
    """The output has the sample's shape: its text exactly, with … standing for anything."""
    pattern = ".*?".join(re.escape(part) for part in sample.strip().split("…"))
    return re.fullmatch(pattern, output.strip(), re.S) is not None


def reader_pages(ledger) -> list[str]:
    return (["/", "/how-to-verify"] + ["/claim/" + h.id.split(":", 1)[1] for h in ledger.heads("claim")]
            + ["/source/" + h.id.split(":", 1)[1] for h in ledger.heads("source")])


def test_every_command_on_every_page_works_as_printed(served, tmp_path):
    base, ledger = served["base"], served["ledger"]
    ran = 0
    for path in reader_pages(ledger):
        cwd = tmp_path / (path.strip("/").replace("/", "_") or "home")
        cwd.mkdir()
        for kind, command in printed(fetch(base + path.lstrip("/")).decode("utf-8")):
            if kind == "command":
                result = run_in_shell(command, cwd)
                assert result.returncode == 0, (path, command, result.stdout, result.stderr)
                ran += 1
    assert ran == len(ledger.heads("claim")) + 5  # one per claim page; five on how-to-verify


def test_the_how_to_verify_samples_are_what_its_commands_print(served, tmp_path):
    base, ledger = served["base"], served["ledger"]
    shown = printed(fetch(base + "how-to-verify").decode("utf-8"))
    commands, samples = [], {}  # the commands, and the sample outputs printed after each
    for kind, text in shown:
        if kind == "command":
            commands.append(text)
        else:
            samples.setdefault(commands[-1], []).append(text)
    fingerprint, whole, claim = commands[0], commands[1], commands[2]
    assert samples[fingerprint] == [run_in_shell(fingerprint, tmp_path).stdout.strip()]
    ok_sample, failed_sample = samples[whole]
    assert matches_sample(ok_sample, run_in_shell(whole, tmp_path).stdout)
    claim_ok, claim_failed = samples[claim]
    assert matches_sample(claim_ok, run_in_shell(claim, tmp_path).stdout)
    # FAIL, as shown: the same command against the altered copy, and the claim's bundle with a wrong hash.
    altered = printed(fetch(served["altered"] + "how-to-verify").decode("utf-8"))
    result = run_in_shell([text for kind, text in altered if kind == "command"][1], tmp_path)
    assert result.returncode == 1 and matches_sample(failed_sample, result.stdout[result.stdout.index("FAILED"):]), result.stdout
    url, file, arguments = command_steps(claim)
    (tmp_path / file).write_text(_other_hash(fetch(url).decode("utf-8")), encoding="utf-8")
    result = run_ledger(arguments, tmp_path)
    assert result.returncode == 1 and matches_sample(claim_failed, result.stderr), result.stderr


def test_samples_are_matched_as_their_shape():
    assert matches_sample("OK: a … b", "OK: a x y b\n") and not matches_sample("OK: a … b", "OK: a x y c")
    assert not matches_sample("Verified X\n  …\nOK: every check holds.", "Verified X\n  ...\nFAILED: 1 problem(s):")
