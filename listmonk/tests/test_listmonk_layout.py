"""How the code is laid out: the fake Listmonk is test support that the product never
imports, and the client's modules import each other without a circle."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the addon
TEST_SUPPORT = "listmonk.testing"
# Folders that are not the product: tests, the fake, benchmarks, developer tools.
NOT_PRODUCT = ("tests", "listmonk/tests", "listmonk/testing", "engine/tests", "bench", "tools")
ADDON_PREFIX = "odoo.addons.marketing_trigger."


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path):
    return path.name == "__init__.py"


def _imports(path):
    """Every module ``path`` imports (relative imports resolved, the Odoo addon prefix
    dropped), in ``if TYPE_CHECKING:`` blocks and functions too."""
    name = _module_name(path)
    package = name if _is_package(path) else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from . import x`` may import the submodule x.
            found = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for module in found:
            yield module.removeprefix(ADDON_PREFIX)


def _product_files():
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
        and not any(
            path.relative_to(ROOT).as_posix().startswith(folder + "/") for folder in NOT_PRODUCT
        )
    ]


def test_no_product_module_imports_the_fake():
    files = _product_files()
    assert len(files) > 40, "the addon's sources were not found"
    offenders = {
        str(path.relative_to(ROOT)): module
        for path in files
        for module in _imports(path)
        if module == TEST_SUPPORT or module.startswith(TEST_SUPPORT + ".")
    }
    assert offenders == {}


def test_the_fake_is_not_in_the_product():
    shipped = [
        str(path.relative_to(ROOT))
        for path in _product_files()
        if "fake" in path.name.lower()
        or any(
            isinstance(node, ast.ClassDef) and node.name.startswith("Fake")
            for node in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert shipped == []
    assert (ROOT / "listmonk" / "testing" / "fake.py").is_file()


def test_the_check_resolves_relative_and_addon_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "models").mkdir()
    source = tmp_path / "models" / "thing.py"
    source.write_text(
        "from ..listmonk.testing import FakeListmonk\n"
        "from odoo.addons.marketing_trigger.listmonk import testing\n"
    )
    assert {"listmonk.testing", "listmonk.testing.FakeListmonk"} <= set(_imports(source))


def _cycle(graph):
    """A circle in ``graph`` (module -> modules it imports), as a list, or ``None``."""
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return trail[trail.index(target) :] + [target]
            if target not in state and (found := visit(target, trail + [target])):
                return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [node])):
            return found
    return None


def test_the_client_modules_import_each_other_without_a_circle():
    """``TYPE_CHECKING`` imports count: a circle there is one refactoring away from an
    ImportError, and it says the shared types are in the wrong module."""
    modules = {
        _module_name(path): path
        for path in sorted((ROOT / "listmonk").glob("*.py"))
        if path.name != "__init__.py"
    }
    graph = {
        name: {module for module in _imports(path) if module in modules and module != name}
        for name, path in modules.items()
    }
    assert len(graph) >= 8
    assert _cycle(graph) is None


def test_the_circle_check_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
