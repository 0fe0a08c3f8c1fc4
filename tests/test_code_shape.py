"""The code's shape, as issue 12's acceptance states it.

- No function or method in ``ledger/`` is over 60 lines or over cyclomatic
  complexity 15 (radon's ``cc``), except the spec algorithms listed in
  ``SPEC_ALGORITHMS``, each of which says in a comment or its docstring
  that it follows its RFC or spec step by step.
- Only ``Ledger`` (``ledger/api.py``) and the verifier (``ledger/verify/``)
  import the SQLite store and the browsing tables (``ledger.store``,
  ``ledger.projection``): the library, the site and the benchmarks go
  through ``Ledger``. Tests import them only in their own unit tests and
  the few listed in ``TESTS_ALLOWED``.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest
from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 60
MAX_COMPLEXITY = 15

# Algorithms that read best as their specification's steps in one function.
SPEC_ALGORITHMS = {
    "ledger/tree.py": {"verify_consistency"},  # RFC 9162 §2.1.4.2
    "ledger/note.py": {"open_note_untrusted"},  # C2SP signed-note, as Go's note.Open
}

PRIVATE = ("ledger.store", "ledger.projection")
# The browsing tables are written from the log's rows; the two modules of
# that layer may use each other. Everything else goes through Ledger.
PRIVATE_LAYER = {"ledger/store.py", "ledger/projection.py"}
TESTS_ALLOWED = {
    "tests/test_store.py": "the store's own unit tests",
    "tests/test_projection.py": "the projection's own unit tests",
    "tests/test_concurrency.py": "Store.write_lock held and waited for across OS connections (wait_seconds, LockedError)",
    "tests/test_rules.py": "rules.check_entry takes the projection as its state; entry 0's checks need an empty one",
    "tests/test_bulk_append.py": "compares every browsing table (projection.TABLES) after a bulk and a one-by-one append",
    "tests/test_tamper.py": "mutates every log table the store defines (store.LOG_TABLES), new ones included",
}


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _functions(blocks):
    """Every function, method and nested function radon found (its blocks list methods beside their class)."""
    for block in blocks:
        if not hasattr(block, "methods"):  # not a class
            yield block
            yield from _functions(block.closures)


def _oversized(source: str) -> list[tuple[str, int, int, int]]:
    """(name, line, lines, complexity) of each function of ``source`` over either limit."""
    # Lines from the def to the function's last line (radon's endline stops
    # at the first line of a last statement written over several lines).
    end = {n.lineno: n.end_lineno for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    sizes = [(f.fullname, f.lineno, end[f.lineno] - f.lineno + 1, f.complexity) for f in _functions(cc_visit(source))]
    return [size for size in sizes if size[2] > MAX_LINES or size[3] > MAX_COMPLEXITY]


def _too_big() -> list[str]:
    found = []
    for path in _python_files("ledger"):
        for name, line, lines, complexity in _oversized(path.read_text(encoding="utf-8")):
            if name not in SPEC_ALGORITHMS.get(_relative(path), ()):
                found.append(f"{_relative(path)}:{line} {name}: {lines} lines, complexity {complexity}")
    return found


def test_no_function_in_ledger_is_over_60_lines_or_complexity_15():
    assert _too_big() == []


def test_the_size_check_sees_methods_and_nested_functions():
    branches = "".join(f"        if x == {i}:\n            return {i}\n" for i in range(15))
    source = ("class A:\n    def long(self):\n" + "        pass\n" * 60
              + "def outer():\n    def nested(x):\n" + branches + "    return nested\n")
    assert sorted(_oversized(source)) == [("A.long", 2, 61, 1), ("nested", 64, 31, 16)]


def _comments_and_docstring(path: Path, name: str) -> str:
    """The docstring of function ``name``, its comments and the comment lines just above it, as one line."""
    source = path.read_text(encoding="utf-8")
    node = next((n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == name), None)
    assert node is not None, f"{_relative(path)} has no function {name}; update SPEC_ALGORITHMS"
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    lines = source.splitlines()
    while first > 1 and lines[first - 2].strip().startswith("#"):
        first -= 1
    comments = [t.string.lstrip("#") for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type == tokenize.COMMENT and first <= t.start[0] <= node.end_lineno]
    return " ".join(" ".join([ast.get_docstring(node) or ""] + comments).split())


@pytest.mark.parametrize("file, name", [(f, n) for f, names in SPEC_ALGORITHMS.items() for n in sorted(names)])
def test_spec_algorithms_say_they_follow_their_spec_step_by_step(file, name):
    text = _comments_and_docstring(ROOT / file, name)
    assert "step by step" in text and ("RFC" in text or "C2SP" in text), (
        f"{file} {name}: its docstring or a comment must say which RFC or C2SP spec it follows step by step; found {text!r}")


def _module_name(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(path: Path, root: Path) -> set[str]:
    """Every module ``path`` imports (``from A import b`` gives A and A.b), relative imports resolved."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            package = _module_name(path, root) if path.name == "__init__.py" else _module_name(path, root)[:-1]
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value)
    return names


def _imports_private(path: Path, root: Path = ROOT) -> list[str]:
    return sorted(n for n in _imported(path, root) if any(n == p or n.startswith(p + ".") for p in PRIVATE))


def _may_import_private(file: str) -> bool:
    return file == "ledger/api.py" or file.startswith("ledger/verify/") or file in PRIVATE_LAYER


def test_only_ledger_and_the_verifier_import_the_store_and_the_projection():
    found = [f"{_relative(p)}: {', '.join(_imports_private(p))}" for p in _python_files("ledger", "publish", "benchmarks")
             if not _may_import_private(_relative(p)) and _imports_private(p)]
    assert found == []


def test_tests_import_the_store_and_the_projection_only_in_their_unit_tests():
    found = [f"{_relative(p)}: {', '.join(_imports_private(p))}" for p in _python_files("tests")
             if _relative(p) not in TESTS_ALLOWED and _imports_private(p)]
    assert found == []


def test_the_import_check_sees_every_form_of_import(tmp_path):
    # The checks above pass on an empty list: show that each form is found.
    forms = {"a.py": "import ledger.store", "b.py": "from ledger import projection", "c.py": "from ledger.store import Store",
             "d.py": "import importlib\nimportlib.import_module('ledger.projection')", "ledger/e.py": "from . import store",
             "ledger/interop/f.py": "from ..projection import TABLES", "ledger/g.py": "def f():\n    from .store import Store",
             "ok.py": "import ledger.storage\nfrom ledger import api\nfrom ledger.api import Ledger"}
    for name, text in forms.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    found = {name: _imports_private(tmp_path / name, tmp_path) for name in forms}
    assert {name for name, private in found.items() if private} == set(forms) - {"ok.py"}
    assert found["ledger/interop/f.py"] == ["ledger.projection", "ledger.projection.TABLES"]
