"""The engine must stay importable, testable and benchmarkable without Odoo."""

import ast
import pathlib

ENGINE = pathlib.Path(__file__).resolve().parents[1]


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


def test_no_engine_file_imports_odoo():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) >= 4, "the engine sources were not found"
    offenders = [
        str(path.relative_to(ENGINE))
        for path in files
        if "odoo" in set(_imported_roots(ast.parse(path.read_text(), str(path))))
    ]
    assert offenders == []


def test_the_check_sees_an_odoo_import():
    for source in ("from odoo.tools import config", "import odoo.fields", "__import__('odoo')"):
        assert "odoo" in set(_imported_roots(ast.parse(source)))
