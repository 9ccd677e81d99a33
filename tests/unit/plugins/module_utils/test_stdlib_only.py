"""What the low-memory monitor ships (roles/monitor/files/manifest.json) imports only the standard
library and the packages shipped with it; kernel_log.py and cgroupfs/hierarchy.py stay standard library only."""

from __future__ import annotations

import ast
import json
import os
import sys

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import kernel_log
from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import hierarchy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(REPO, "roles", "monitor", "files", "manifest.json")) as _handle:
    MANIFEST = json.load(_handle)["files"]
SHIPPED = [entry for entry in MANIFEST if entry["dest"].endswith(".py")]
# Installed modules by the name they are imported by: procfs/meminfo.py -> procfs.meminfo.
INSTALLED = set(entry["dest"][:-3].replace("/", ".").replace(".__init__", "") for entry in SHIPPED)
PACKAGES = set(name for name in INSTALLED if "." not in name and name != "main")


def imports(path):
    """Every imported module name in a file (nested imports included): [(name, node)]."""
    with open(path) as handle:
        tree = ast.parse(handle.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in %s: the installed layout imports absolutely" % path
            # from package import module: the module counts, when the package has one by that name.
            found.append((node.module, node))
            found.extend(("%s.%s" % (node.module, alias.name), node) for alias in node.names
                         if "%s.%s" % (node.module, alias.name) in INSTALLED)
    return found


def test_the_manifest_ships_python_files():
    assert {"main", "rock5b_oom_monitor", "rock5b_oom_monitor.cli", "procfs", "procfs.meminfo"} <= INSTALLED
    assert PACKAGES == {"rock5b_oom_monitor", "procfs"}


@pytest.mark.parametrize("entry", SHIPPED, ids=[entry["dest"] for entry in SHIPPED])
def test_shipped_files_import_the_standard_library_and_what_is_shipped(entry):
    stdlib = set(sys.stdlib_module_names)
    for name, _node in imports(os.path.join(REPO, entry["src"])):
        top = name.split(".")[0]
        if top in stdlib:
            continue
        assert top in PACKAGES, "%s imports %s: neither standard library nor shipped" % (entry["dest"], name)
        assert name in INSTALLED, "%s imports %s, which the manifest does not ship" % (entry["dest"], name)
        if entry["dest"].startswith("procfs/"):
            # Ansible modules import procfs as ansible_collections...procfs: no imports between them.
            pytest.fail("%s imports %s: procfs modules import the standard library only" % (entry["dest"], name))


@pytest.mark.parametrize("module", [kernel_log, hierarchy])
def test_imports_only_the_standard_library(module):
    names = set(name.split(".")[0] for name, _node in imports(module.__file__))
    assert names <= set(sys.stdlib_module_names), names - set(sys.stdlib_module_names)
