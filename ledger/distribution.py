"""The verifier's own code, as a reader can obtain it and check it (docs/security.md, "Installing the verifier").

``fact-ledger`` is not published on a package index by its authors, so
anyone could register that name and ship a verifier that always says OK: a
reader must never ``pip install fact-ledger``. Instead ``ledger publish``
puts this package's wheel in the bundle (and so on the site) with its
SHA-256, and names the source commit it was built from when the source
checkout holds no uncommitted change to what goes into the wheel. The wheel
is built offline (``pip wheel --no-deps --no-build-isolation --no-index``)
and reproducibly (hatchling fixes every timestamp in it), so building the
same commit again gives the same SHA-256.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import attrs

import ledger
from ledger.errors import LedgerError

# What the wheel is built from (pyproject.toml's packages and force-include, and its readme).
WHEEL_SOURCES = ("ledger", "schema", "publish", "data", "pyproject.toml", "README.md")


@attrs.frozen
class VerifierWheel:
    """A wheel of this package: where it is, its SHA-256 (hex) and the commit it was built from (None if unknown)."""

    path: Path
    sha256: str
    commit: Optional[str]

    @property
    def name(self) -> str:
        return self.path.name


def source_checkout() -> Optional[Path]:
    """The source tree this package runs from (with its pyproject.toml), or None when it is installed from a wheel."""
    root = Path(ledger.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "fact-ledger"' in pyproject.read_text("utf-8"):
        return root
    return None


def source_commit(root: Path) -> Optional[str]:
    """The git commit of ``root`` if nothing that goes into the wheel differs from it, else None."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", *WHEEL_SOURCES],
                                 capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0 or changed.returncode != 0 or changed.stdout.strip():
        return None
    return head.stdout.strip()


def wheel_of(path) -> VerifierWheel:
    """A wheel file someone gave (``ledger publish --wheel``), checked to be a fact-ledger wheel."""
    path = Path(path)
    if not path.is_file() or not path.name.startswith("fact_ledger-") or not path.name.endswith(".whl"):
        raise LedgerError(f"{path} is not a fact-ledger wheel (expected a file named fact_ledger-VERSION-py3-none-any.whl)")
    return VerifierWheel(path, hashlib.sha256(path.read_bytes()).hexdigest(), None)


def build_wheel(outdir) -> VerifierWheel:
    """Build this package's wheel into ``outdir``, offline, from the source checkout it runs from."""
    root = source_checkout()
    if root is None:
        raise LedgerError("fact-ledger is installed from a wheel, not run from its source: pass that wheel with --wheel FILE "
                          "(or run 'ledger publish' from a source checkout)")
    with tempfile.TemporaryDirectory(prefix="fact-ledger-wheel-") as tmp:
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                               "--quiet", "--wheel-dir", tmp, str(root)], capture_output=True, text=True, timeout=600)
        built = sorted(Path(tmp).glob("fact_ledger-*.whl"))
        if done.returncode != 0 or len(built) != 1:
            reason = (done.stderr.strip().splitlines() or ["no wheel was written"])[-1]
            raise LedgerError(f"cannot build the verifier's wheel from {root} ({reason}); it needs pip and hatchling "
                              "installed ('pip install hatchling'), or pass a wheel with --wheel FILE")
        target = Path(outdir) / built[0].name
        shutil.copyfile(built[0], target)
    return VerifierWheel(target, hashlib.sha256(target.read_bytes()).hexdigest(), source_commit(root))
