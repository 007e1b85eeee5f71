"""The examples in the Listmonk client's docstrings must stay true."""

import doctest
import importlib
import pkgutil

import pytest

import listmonk

MODULES = sorted(
    name
    for _, name, _ in pkgutil.iter_modules(listmonk.__path__, "listmonk.")
    if not name.endswith(".tests")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_examples_are_found():
    found = sum(doctest.testmod(importlib.import_module(name)).attempted for name in MODULES)
    assert found >= 10
