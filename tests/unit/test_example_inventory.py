"""The example fleet (inventory/example, shown in docs/memory_policy.md) is valid as written.

Every board of it goes through the same controller-side check site.yml starts with
(rock5b.oom.validate_role_arguments: each role's argument spec, then its value rules), with
the variables Ansible resolves for it (group_vars of rock5b and of its RAM group). Nothing
connects to a board: the action runs on the controller. A typo in an example that operators
copy would otherwise reach every board that copies it.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(REPO, "inventory", "example")
HARDEN = os.path.join(REPO, "playbooks", "tasks", "harden.yml")


def validated_roles():
    """The roles list of harden.yml's validation task, so this test checks what site.yml checks."""
    with open(HARDEN, encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)
    return next(task["rock5b.oom.validate_role_arguments"]["roles"] for task in tasks if "rock5b.oom.validate_role_arguments" in task)


def validate(tmp_path, inventory):
    playbook = tmp_path / "validate.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "rock5b", "gather_facts": False, "connection": "local",
        "tasks": [{"name": "Validate", "rock5b.oom.validate_role_arguments": {"roles": validated_roles()}}],
    }]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    done = subprocess.run(["ansible-playbook", "-i", inventory, str(playbook)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    results = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]
    return done.returncode, results


def test_every_board_of_the_example_fleet_passes_every_roles_checks(tmp_path):
    rc, results = validate(tmp_path, INVENTORY)
    failed = {board: result.get("msg") for board, result in results.items() if result.get("failed")}
    assert rc == 0 and not failed, failed
    assert sorted(results) == ["edge-ai-01.example.net", "kiosk-01.example.net", "kiosk-02.example.net", "nvr-01.example.net"]


def test_a_typo_in_an_example_group_fails_its_boards(tmp_path):
    """The check above can fail: the same inventory with one misspelled value is refused."""
    broken = tmp_path / "inventory"
    os.makedirs(broken / "group_vars")
    with open(os.path.join(INVENTORY, "hosts.yml"), encoding="utf-8") as handle:
        (broken / "hosts.yml").write_text(handle.read())
    for name in os.listdir(os.path.join(INVENTORY, "group_vars")):
        with open(os.path.join(INVENTORY, "group_vars", name), encoding="utf-8") as handle:
            text = handle.read()
        if name == "rock5b_4g.yml":
            text = text.replace("zram_enabled: true", "zram_enabled: true\nzram_algorithm: zstdd")
        (broken / "group_vars" / name).write_text(text)
    rc, results = validate(tmp_path, str(broken))
    assert rc != 0
    assert all("zram_algorithm" in results[board]["msg"] for board in ("kiosk-01.example.net", "kiosk-02.example.net")), results
    assert not results["nvr-01.example.net"].get("failed"), results["nvr-01.example.net"]


@pytest.mark.parametrize("group", ["rock5b_4g", "rock5b_16g"])
def test_each_ram_group_sets_a_whole_memory_policy(group):
    """The docs page promises each example group sets zram, MGLRU and the killer backend."""
    with open(os.path.join(INVENTORY, "group_vars", group + ".yml"), encoding="utf-8") as handle:
        values = yaml.safe_load(handle)
    assert {"zram_enabled", "mglru_enabled", "mglru_min_ttl_ms", "monitor_backend", "sysctl_profile_settings"} <= set(values)
