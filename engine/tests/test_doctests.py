"""The usage examples in the engine's docstrings must stay true."""

import doctest
import importlib
import pkgutil

import pytest

import engine

MODULES = sorted(
    name
    for _, name, _ in pkgutil.iter_modules(engine.__path__, "engine.")
    if not name.endswith(".tests")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_examples_are_found():
    found = sum(doctest.testmod(importlib.import_module(name)).attempted for name in MODULES)
    assert found >= 5
