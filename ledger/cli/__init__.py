"""The ``ledger`` command line: a thin layer over the library.

Each command parses its options, calls one ``Ledger`` verb (or ``verify``,
``site``), and prints the result. Every library error becomes one line,
``Error: ...``, with exit code 1; nothing is written when a command fails.
Only passphrases are asked for here. Datasette is imported only by
``serve``, ``publish`` and ``demo`` so the editing commands start fast.

``group`` holds the ``ledger`` group, ``main`` and the helpers every command
shares; each other module holds one family of commands and registers them on
the group when imported: ``keys`` (keys and ``init``), ``records`` (adding and
changing records), ``reading`` (reading, exporting, proving, verifying) and
``site`` (serving, publishing, the demo), ``witness`` (running a witness,
and a ledger's witnesses) and ``monitor`` (following a published ledger). A new command goes in the module of
its family, or in a new module imported below.
"""

from ledger.cli.group import cli, main
from ledger.cli import keys, monitor, reading, records, site, witness  # noqa: E402,F401 - importing registers the commands

__all__ = ["cli", "main"]
