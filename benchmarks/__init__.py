"""Benchmarks of fact-ledger against its raw limits and peers (issue 6).

Run ``python -m benchmarks`` (``--size N``, ``--large``); see README.md, "Benchmarks".
Benchmark-only dependencies (pymerkle, PyNaCl) are imported here, never by ``ledger``.
"""
