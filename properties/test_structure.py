"""The suite's own structure (issue 19): thin test modules over a support library. A test module
imports properties, strategies and cases from support modules (``*_properties``, ``*_cases``,
``strategies``, ``checks``, ...), never from another test module, so that each test file can be
read, run and changed alone."""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every module an ``import`` or ``from ... import`` names, the
    names imported from a package included (``from . import test_x`` names ``test_x``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}".lstrip(".")) for alias in node.names)
    return found


def test_no_module_imports_a_test_module():
    """Neither a test module nor a support module (the atlas's included) imports a test
    module."""
    offenders = []
    for path in sorted(HERE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for line, name in _imported_modules(tree):
            if any(part.startswith("test_") for part in name.split(".")):
                offenders.append(f"{path.relative_to(HERE)}:{line} imports {name}")
    assert not offenders, "modules importing test modules:\n" + "\n".join(offenders)


def test_the_check_sees_an_import_of_a_test_module():
    """The check itself: each import form that names a test module is seen."""
    for source in (
        "from . import test_losses as L",
        "from .test_losses import CASES",
        "def f():\n    from .test_dropout import source",
        "import properties.test_optim",
    ):
        names = [n for _, n in _imported_modules(ast.parse(source))]
        assert any(p.startswith("test_") for n in names for p in n.split(".")), source
    assert not [
        n
        for _, n in _imported_modules(ast.parse("from . import loss_cases\nimport pytest"))
        if any(p.startswith("test_") for p in n.split("."))
    ]
