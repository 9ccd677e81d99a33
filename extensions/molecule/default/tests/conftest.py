"""Point testinfra at the scenario's containers through podman directly.

molecule's testinfra verifier defaults to testinfra's ansible backend, which runs every
command through ansible (several seconds each under qemu-user). The podman backend
(`podman://<name>` = `podman exec`) is much faster. The containers are the hosts of the
`rock5b` group in molecule's inventory. Without a molecule inventory, pass the hosts
explicitly: `pytest --hosts=podman://board-1 extensions/molecule/default/tests`.
The tests never fall back to the local host: they check and change kernel settings.
"""

import os

import pytest
import yaml

GROUP = "rock5b"


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


def pytest_configure(config):
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
