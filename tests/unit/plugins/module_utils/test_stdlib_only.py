"""pressure.py, kernel_log.py and cgroups.py ship with the low-memory monitor: standard library only."""

from __future__ import annotations

import ast
import sys

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import cgroups, kernel_log
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import pressure


@pytest.mark.parametrize("module", [pressure, kernel_log, cgroups])
def test_imports_only_the_standard_library(module):
    with open(module.__file__) as handle:
        tree = ast.parse(handle.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in %s" % module.__file__
            names.add(node.module.split(".")[0])
    assert names <= set(sys.stdlib_module_names), names - set(sys.stdlib_module_names)
