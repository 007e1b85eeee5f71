"""The engine and the Listmonk client must stay importable, testable and benchmarkable
without Odoo."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = {"engine": 4, "listmonk": 8}  # package: the fewest source files expected


def _imported_roots(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            yield str(node.args[0].value).split(".")[0]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_file_imports_odoo(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert len(files) >= PACKAGES[package], f"the {package} sources were not found"
    offenders = [
        str(path.relative_to(ROOT))
        for path in files
        if "odoo" in set(_imported_roots(ast.parse(path.read_text(), str(path))))
    ]
    assert offenders == []


def test_the_check_sees_an_odoo_import():
    for source in ("from odoo.tools import config", "import odoo.fields", "__import__('odoo')"):
        assert "odoo" in set(_imported_roots(ast.parse(source)))
