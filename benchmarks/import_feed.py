"""9. Import: ``ledger import`` of a ClaimReview feed against ``ledger append`` of the records it makes.

The feed (``feed``) is N ClaimReview nodes in a JSON-LD ``@graph``, as a desk's
archive gives them: forty desks, a claimant for half the claims, an
appearance each, labels in six languages; a fifth of the nodes repeat an
earlier review (overlapping pages of a dump). The measurements, each a
fresh process with its peak resident memory (``wait4``):

- the import of the feed into a new ledger (one atomic batch);
- ``ledger append`` of exactly the records that import appended, as JSONL,
  into another new ledger: the same records, signed and stored the same
  way, without reading a feed or planning (the issue's target: import
  ≥ 0.5× the speed of this append). Imports and appends run in turn, PAIRS
  of each, the order swapped every time, and the ratio is the median of the
  pairs': this machine's speed drifts by 2× within minutes;
- the import again of the feed with 5% of its reviews changed (their label):
  what a desk's daily re-import costs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.workload import installed_env, new_ledger

DESKS = 40
LABELS = ("False", "Misleading", "Mostly False", "خبر كاذب", "Falso", "Engañoso", "Faux", "Fals", "مضلل", "True")
LANGUAGES = ("en", "en", "en", "ar", "pt", "es", "fr", "ro", "ar", "en")
DUPLICATES = 0.20
CHANGED = 0.05
PAIRS = 3  # import and append, in turn


def _node(review: int, label_shift: int = 0) -> dict:
    desk = review % DESKS
    node = {
        "@type": "ClaimReview", "url": f"https://desk{desk}.example/checks/{review}",
        "claimReviewed": f"Claim {review}: the ministry said exports of machine tools rose by a third in 2023",
        "inLanguage": LANGUAGES[review % len(LANGUAGES)], "datePublished": f"2025-0{1 + review % 9}-1{review % 10}T10:{review % 60:02d}:00Z",
        "headline": f"Fact-check {review} of desk {desk}",
        "author": {"@type": "Organization", "name": f"Desk {desk}", "url": f"https://desk{desk}.example/"},
        "reviewRating": {"@type": "Rating", "alternateName": LABELS[(review + label_shift) % len(LABELS)]},
        "itemReviewed": {"@type": "Claim", "datePublished": "2025-01-02",
                         "appearance": [{"@type": "CreativeWork", "url": f"https://social.example/posts/{review}"}]},
    }
    if review % 2:
        node["itemReviewed"]["author"] = {"@type": "Person", "name": f"Claimant {review % 997}"}
    return node


def write_feed(path: Path, n: int, changed: float = 0.0) -> dict:
    """N ClaimReview nodes, DUPLICATES of them repeating an earlier review; ``changed`` of the reviews relabelled."""
    distinct = round(n * (1 - DUPLICATES))
    every_changed = round(1 / changed) if changed else 0
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"@context": "https://schema.org", "@graph": [\n')
        for i in range(n):
            review = i if i < distinct else (i * 7919) % distinct  # a repeat of an earlier node
            shift = 1 if every_changed and review % every_changed == 0 else 0
            f.write(("," if i else "") + json.dumps(_node(review, shift), ensure_ascii=False) + "\n")
        f.write("]}\n")
    return {"nodes": n, "distinct": distinct, "bytes": path.stat().st_size}


def measured(*args, env=None) -> dict:
    """``python -m ledger ARGS`` in a fresh process: wall time, CPU time (its own and its workers') and peak
    resident memory of the process, and what it printed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "ledger", *map(str, args)], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"ledger {' '.join(map(str, args))} failed: {err.read().decode()[-500:]}")
        # Linux: ru_maxrss is in KiB, the most the process (not its workers) held.
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss * 1024, "out": out.read()}


def appended_records(db: Path, out: Path) -> int:
    """The records the import appended (all but the ledger's first three entries), as ``ledger append`` takes them."""
    from ledger.api import Ledger

    count = 0
    with Ledger.open(db, readonly=True) as ledger, open(out, "w", encoding="utf-8") as f:
        for entry in ledger.entries(3):
            f.write(json.dumps(entry.record.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def bench_import(n: int, directory: Path, pairs: int = PAIRS) -> dict:
    sub = directory / "import"
    sub.mkdir(exist_ok=True)
    env = installed_env()
    feed, changed, records_file = sub / "feed.json", sub / "feed-changed.json", sub / "records.jsonl"
    shape = write_feed(feed, n)
    write_feed(changed, n, CHANGED)
    key = sub / "ana.key"

    def run_import(name):
        return measured("import", new_ledger(sub, name), feed, "--key", key, "--json", env=env)

    def run_append(name):
        return measured("append", new_ledger(sub, name), records_file, "--key", key, env=env)

    imports = [run_import("import-0.db")]
    report = json.loads(imports[0].pop("out"))
    records = appended_records(sub / "import-0.db", records_file)
    appends = [run_append("append-0.db")]
    for k in range(1, pairs):  # in turn, the other way round each time (the machine's speed drifts)
        first, second = (run_append, run_import) if k % 2 else (run_import, run_append)
        one, two = first(f"{first.__name__}-{k}.db"), second(f"{second.__name__}-{k}.db")
        appends.append(one if first is run_append else two)
        imports.append(two if first is run_append else one)
    again = measured("import", sub / "import-0.db", changed, "--key", key, "--json", env=env)
    report_again = json.loads(again.pop("out"))
    ratios = [a["wall"] / i["wall"] for a, i in zip(appends, imports)]
    return {**shape, "records": records, "created": len(report["created"]), "imports": imports, "appends": appends,
            "ratios": ratios, "ratio": statistics.median(ratios),
            "cpu_ratio": statistics.median(a["cpu"] / i["cpu"] for a, i in zip(appends, imports)),
            "again": again, "again_updated": len(report_again["updated"]), "again_unchanged": len(report_again["unchanged"])}


def rows(i: dict) -> list[tuple]:
    """The report's rows (benchmarks/report.py): the best run of each, and the median of the pairs' ratios."""
    mib, again = 2 ** 20, i["again"]
    imp, app = min(i["imports"], key=lambda r: r["wall"]), min(i["appends"], key=lambda r: r["wall"])
    return [
        ("9. import", f"`ledger import` of {i['nodes']:,} ClaimReviews ({i['bytes'] / mib:,.0f} MiB; {i['distinct']:,} distinct, "
                      f"{DUPLICATES:.0%} repeated) into a new ledger",
         f"{imp['wall']:.1f} s ({imp['cpu']:.1f} s CPU): {i['records'] / imp['wall']:,.0f} records/s, "
         f"{i['nodes'] / imp['wall']:,.0f} nodes/s; peak RSS {imp['rss'] / mib:,.0f} MiB",
         f"`ledger append` of the same {i['records']:,} records: {app['wall']:.1f} s ({app['cpu']:.1f} s CPU), "
         f"{i['records'] / app['wall']:,.0f}/s; peak RSS {app['rss'] / mib:,.0f} MiB",
         f"{i['ratio']:.2f}× wall (median of the pairs {', '.join(f'{r:.2f}' for r in i['ratios'])}); {i['cpu_ratio']:.2f}× CPU",
         "≥ 0.5×", "met" if i["ratio"] >= 0.5 else "**missed**"),
        ("9. import", f"the same feed again, {CHANGED:.0%} of its reviews relabelled",
         f"{again['wall']:.1f} s ({again['cpu']:.1f} s CPU): {i['again_updated']:,} updated, {i['again_unchanged']:,} "
         f"unchanged; peak RSS {again['rss'] / mib:,.0f} MiB", "", "", "", "—"),
    ]
