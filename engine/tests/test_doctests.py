"""The usage examples in the docstrings of the engine and the Listmonk client must stay
true."""

import doctest
import importlib
import pkgutil

import pytest

import engine
import listmonk

PACKAGES = {"engine": (engine, 5), "listmonk": (listmonk, 10)}  # fewest examples expected
MODULES = sorted(
    name
    for package, _minimum in PACKAGES.values()
    for _, name, _ in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")
    if not name.endswith(".tests")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_examples_are_found(package):
    minimum = PACKAGES[package][1]
    names = [name for name in MODULES if name.startswith(f"{package}.")]
    found = sum(doctest.testmod(importlib.import_module(name)).attempted for name in names)
    assert found >= minimum
