"""The Listmonk client must stay importable and testable without Odoo."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1]


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


def test_no_listmonk_file_imports_odoo():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 8, "the listmonk sources were not found"
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in files
        if "odoo" in set(_imported_roots(ast.parse(path.read_text(), str(path))))
    ]
    assert offenders == []


def test_the_check_sees_an_odoo_import():
    for source in ("from odoo.tools import config", "import odoo.fields", "__import__('odoo')"):
        assert "odoo" in set(_imported_roots(ast.parse(source)))


def test_no_module_keeps_client_state():
    """One client per configuration: nothing at module level may hold a connection."""
    import listmonk.client
    import listmonk.transport

    for module in (listmonk.client, listmonk.transport):
        for value in vars(module).values():
            assert not type(value).__module__.startswith("httpx"), value
