"""Point testinfra at the scenario's containers through podman directly.

molecule's testinfra verifier defaults to testinfra's ansible backend, which runs every
command through ansible (several seconds each under qemu-user). The podman backend
(`podman://<name>` = `podman exec`) is much faster. The containers are the hosts of the
`rock5b` group in molecule's inventory. Without a molecule inventory, pass the hosts
explicitly: `pytest --hosts=podman://board-1 extensions/molecule/default/tests`.
The tests never fall back to the local host: they check and change kernel settings.

Marker ``board_vars(monitor_backend="rock5b")``: the test is about boards whose variables (the
scenario's group_vars and host_vars in molecule.yml, over the roles' defaults) have these
values; on the other containers it is deselected (neither run nor counted as skipped). So
board-2, which runs earlyoom instead of the monitor, is not asked for a running monitor.
"""

import glob
import os

import pytest
import yaml

GROUP = "rock5b"
SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLES = os.path.join(SCENARIO, "..", "..", "..", "roles")


def _group_hosts(node, group, inside=False):
    """Host names of `group` anywhere in an ansible YAML inventory tree."""
    found = []
    if not isinstance(node, dict):
        return found
    for key, value in node.items():
        if key == "hosts" and inside and isinstance(value, dict):
            found.extend(value)
        elif isinstance(value, dict):
            found.extend(_group_hosts(value, group, inside or key == group))
    return found


def board_vars(board):
    """The variables a board of the scenario converges with: role defaults, then molecule.yml's
    group_vars of the rock5b group, then its host_vars (the precedence Ansible applies)."""
    values = {}
    for path in sorted(glob.glob(os.path.join(ROLES, "*", "defaults", "main.yml"))):
        with open(path, encoding="utf-8") as handle:
            values.update(yaml.safe_load(handle) or {})
    with open(os.path.join(SCENARIO, "molecule.yml"), encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)["provisioner"]["inventory"]
    values.update((inventory.get("group_vars") or {}).get(GROUP) or {})
    values.update((inventory.get("host_vars") or {}).get(board) or {})
    return values


def _board_of(item):
    host = getattr(item, "callspec", None) and item.callspec.params.get("_testinfra_host")
    return host.backend.get_hostname() if host is not None else None


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("board_vars")
        board = _board_of(item)
        if marker is None or board is None:
            keep.append(item)
            continue
        values = board_vars(board)
        (keep if all(values.get(name) == value for name, value in marker.kwargs.items()) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "board_vars(**values): run only on the boards whose scenario variables have these values"
    )
    if config.option.hosts:
        return
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE", "")
    if not os.path.isfile(inventory):
        raise pytest.UsageError(
            "no molecule inventory (MOLECULE_INVENTORY_FILE): run through `molecule verify` "
            "or pass --hosts=podman://<container>"
        )
    with open(inventory, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    hosts = sorted(set(_group_hosts(data, GROUP)))
    if not hosts:
        raise pytest.UsageError(f"no hosts in group {GROUP} of {inventory}")
    config.option.hosts = ",".join(f"podman://{name}" for name in hosts)
