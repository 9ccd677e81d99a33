"""What the low-memory monitor ships (roles/monitor/files/manifest.json) imports only the standard
library and the packages shipped with it; procfs files import only procfs.files (relatively, which
works in the collection and on the board); kernel_log.py stays standard library only and cgroupfs
reads files through procfs."""

from __future__ import annotations

import ast
import json
import os
import sys

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import kernel_log
from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import hierarchy, memory

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
        elif isinstance(node, ast.ImportFrom) and node.level:
            # Only procfs imports relatively, and only its own files: "from .files import x".
            assert node.level == 1 and os.path.basename(os.path.dirname(path)) == "procfs", \
                "relative import in %s: only procfs files import each other relatively" % path
            found.append(("procfs.%s" % node.module, node))
        elif isinstance(node, ast.ImportFrom):
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
        if entry["dest"].startswith("procfs/") and name != "procfs.files":
            # Ansible modules import procfs as ansible_collections...procfs: between procfs files
            # only the relative import of files.py works in both places.
            pytest.fail("%s imports %s: procfs modules import the standard library and procfs.files only"
                        % (entry["dest"], name))


def test_kernel_log_imports_only_the_standard_library():
    names = set(name.split(".")[0] for name, _node in imports(kernel_log.__file__))
    assert names <= set(sys.stdlib_module_names), names - set(sys.stdlib_module_names)


@pytest.mark.parametrize("module", [hierarchy, memory])
def test_cgroupfs_imports_the_standard_library_and_procfs_only(module):
    procfs = "ansible_collections.rock5b.oom.plugins.module_utils.procfs."
    names = set(name for name, _node in imports(module.__file__) if name.split(".")[0] not in sys.stdlib_module_names)
    assert names and all(name.startswith(procfs) for name in names), names


def test_procfs_files_import_each_other_only_through_files_py():
    procfs = os.path.join(REPO, "plugins", "module_utils", "procfs")
    for name in sorted(os.listdir(procfs)):
        if not name.endswith(".py"):
            continue
        outside = [imported for imported, node in imports(os.path.join(procfs, name))
                   if imported.split(".")[0] not in sys.stdlib_module_names and imported != "procfs.files"]
        assert outside == [], "%s imports %s" % (name, outside)
