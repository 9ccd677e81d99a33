"""Helpers of the monitor_backend VM tests (test_earlyoom_vm.py, test_oomd_vm.py): converging
the VM with monitor_backend.yml and the scenario's variables, unit state, waiting."""

from __future__ import annotations

import json
import pathlib
import time

import pytest
import yaml

SCENARIO = pathlib.Path(__file__).resolve().parents[1]
PLAYBOOK = SCENARIO / "monitor_backend.yml"
MONITOR = "rock5b-oom-monitor.service"
MONITOR_TASK = "Install the monitor's program, command, config and unit, and start it"


def scenario_vars() -> dict:
    """The scenario's group_vars for the boards (what converge used)."""
    config = yaml.safe_load((SCENARIO / "molecule.yml").read_text())
    group = dict(config["provisioner"]["inventory"]["group_vars"]["rock5b"])
    group.pop("ansible_python_interpreter", None)
    return group


def converge(vm, check: bool = False, **variables) -> tuple[dict, int]:
    """Run monitor_backend.yml with the scenario's variables and ``variables``: (the json
    document, the number of changed tasks). Fails the test when the run fails."""
    extra = dict(scenario_vars(), **variables)
    rc, data = vm.playbook(PLAYBOOK, *(["--check"] if check else []), "-e", json.dumps(extra), timeout=1200)
    assert rc == 0, f"{vm.name}: monitor_backend.yml failed:\n" + json.dumps(data)[-4000:]
    return data, data["stats"][vm.name]["changed"]


def changed_tasks(vm, data: dict) -> list[str]:
    return [task["task"]["name"] for play in data["plays"] for task in play["tasks"]
            if task["hosts"].get(vm.name, {}).get("changed")]


def unit_state(vm, unit: str) -> tuple[str, str]:
    """(ActiveState, UnitFileState)."""
    props = dict(line.split("=", 1) for line in vm.run(
        f"systemctl show -p ActiveState -p UnitFileState {unit}").splitlines() if "=" in line)
    return props.get("ActiveState", ""), props.get("UnitFileState", "")


def wait_for(what: str, condition, timeout: float, step: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        time.sleep(step)
