"""benchmarks/: the one benchmark command runs end to end at a tiny size and writes its table.

Speed is never asserted: only that every measurement of issue 6 is produced.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ROWS = ("1. bulk append", "2. verify", "3. proofs", "4. site", "5. CLI", "5. disk", "6. witnesses", "7. tiles", "8. monitor",
        "9. import", "10. share", "11. load", "11. memory")
SITE_PAGES = ("home", "claim page", "table page", "facet", "search, rare word", "search, word in every claim",
              "search, word in every claim, best match first", "search, Arabic word with folding",
              "search, word in every claim, in Arabic claims", "table search, common term")


def test_benchmark_command_writes_a_well_formed_table(tmp_path):
    pytest.importorskip("pymerkle")
    pytest.importorskip("datasette")
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "150", "--big", "400", "--requests", "3", "--samples", "3", "--feed", "200",
         "--clients", "3", "--seconds", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith("| measurement | what | fact-ledger | limit / peer | ratio | target |")
    assert set(table[1]) <= set("|-")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert all(len(row) == 7 for row in rows)
    assert {row[0] for row in rows} == set(ROWS)
    assert [row[1].split(" at ")[0] for row in rows if row[0] == "4. site"] == list(SITE_PAGES)
    assert {row[1].split(" proof")[0] for row in rows if row[0] == "3. proofs"} == {"inclusion", "consistency"}
    assert [row[1].split(" of ")[0] for row in rows if row[0] == "9. import"] == ["`ledger import`", "the same feed again, 5%"]
    assert all(row[6] in ("met", "**missed**", "—") for row in rows)
    load = [row for row in rows if row[0] == "11. load"]
    assert [row[1].split("`")[1] for row in load] == ["ledger serve --workers 1", "ledger serve --workers 2"]
    assert all(" 0 errors" in row[2] for row in load), load

    report = out.read_text(encoding="utf-8")
    assert report.startswith("# Benchmark results")
    assert "Machine: " in report and " cores, " in report and "SQLite " in report and "cryptography " in report
    assert "\n".join(table) in report
    assert "## Ed25519: OpenSSL (cryptography) or libsodium (PyNaCl)" in report
    assert "## What the hardware allows" in report


def test_ed25519_libraries_agree_on_valid_and_mutated_signatures():
    # The differential the benchmark reports, on a few of our own signatures.
    pytest.importorskip("nacl")
    from benchmarks import ed25519
    from ledger.envelope import Entry, signed_message
    from ledger.note import Signer
    from ledger.records import Claim

    signer = Signer.from_seed("ana@desk.example", bytes(range(32)))
    items = []
    for i in range(5):
        record = Claim(id=f"claim:x{i}", created="2024-04-15T10:00:00Z", text=f"claim {i}", language="en", source="source:y")
        entry = Entry.sign(i, record, signer, "example.org/ledger")
        items.append((signer.public_key, signed_message("example.org/ledger", entry.record_bytes), entry.signature))
    result = ed25519.differential(items)
    assert result["cases"] > 5 * 5
    valid_or_mutated = [d for d in result["disagreements"] if "small-order" not in d["case"]]
    assert valid_or_mutated == []
    assert result["accepted"]["openssl"] >= 5 and result["accepted"]["pynacl"] >= 5
