"""rock5b.oom.validate_role_arguments: one task validating several roles, as harden.yml uses it.

Runs ansible-playbook against localhost (the action never connects) with the repository's
ansible.cfg, so the action, the roles' argument specs and role defaults are the real ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
HARDEN = os.path.join(REPO, "playbooks", "tasks", "harden.yml")


def run_play(tmp_path, roles, extra_vars=None, import_roles=False):
    """Run the action for `roles` on localhost; return (rc, result of the validation task)."""
    tasks = [{"name": "validate", "rock5b.oom.validate_role_arguments": {"roles": roles},
              "register": "validation", "ignore_errors": True},
             {"name": "show", "ansible.builtin.copy": {"content": "{{ validation | to_json }}",
                                                       "dest": str(tmp_path / "result.json")}}]
    if import_roles:
        # Defaults of imported roles are visible to tasks before the imports, as in harden.yml;
        # the import is never run (tag), only parsed.
        tasks += [{"ansible.builtin.import_role": {"name": "rock5b.oom." + r, "rolespec_validate": False},
                   "tags": ["never"]} for r in roles]
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": tasks}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, str(path)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    result_file = tmp_path / "result.json"
    assert result_file.exists(), proc.stdout + proc.stderr
    return proc.returncode, json.loads(result_file.read_text())


def test_valid_defaults_pass(tmp_path):
    rc, result = run_play(tmp_path, ["sysctl_profile", "protect_daemons", "psi_boot"], import_roles=True)
    assert rc == 0
    assert not result.get("failed")
    assert result["validated_roles"] == ["sysctl_profile", "protect_daemons", "psi_boot"]


def test_every_failing_role_is_named(tmp_path):
    rc, result = run_play(tmp_path, ["sysctl_profile", "monitor", "protect_daemons"], import_roles=True,
                          extra_vars={"sysctl_profile_apply_live": "maybe", "protect_daemons_list": 3})
    assert result["failed"]
    assert set(result["argument_errors"]) == {"sysctl_profile", "protect_daemons"}
    assert "rock5b.oom.sysctl_profile: " in result["msg"] and "sysctl_profile_apply_live" in result["msg"]
    assert "rock5b.oom.protect_daemons: " in result["msg"]


def test_templated_values_are_validated(tmp_path):
    rc, result = run_play(tmp_path, ["sysctl_profile"],
                          extra_vars={"bad": "maybe", "sysctl_profile_apply_live": "{{ bad }}"})
    assert result["failed"]
    assert "sysctl_profile_apply_live" in result["msg"]


def test_unknown_role_fails_clearly(tmp_path):
    rc, result = run_play(tmp_path, ["no_such_role"])
    assert result["failed"]
    assert "no role 'no_such_role'" in result["msg"]


def harden_tasks():
    with open(HARDEN, encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_harden_validates_exactly_the_roles_it_imports_unvalidated():
    tasks = harden_tasks()
    validated = [t["rock5b.oom.validate_role_arguments"]["roles"] for t in tasks if "rock5b.oom.validate_role_arguments" in t]
    assert len(validated) == 1, "harden.yml must validate its roles in exactly one task"
    imports = [t["ansible.builtin.import_role"] for t in tasks if "ansible.builtin.import_role" in t]
    assert imports, "harden.yml imports no roles?"
    unvalidated = [i["name"].removeprefix("rock5b.oom.") for i in imports if i.get("rolespec_validate") is False]
    # Every role whose own validation is switched off is validated by the one task, and the
    # task validates nothing that is not imported.
    assert validated[0] == unvalidated
    assert tasks.index(next(t for t in tasks if "rock5b.oom.validate_role_arguments" in t)) == 0
    assert "always" in tasks[0].get("tags", [])


@pytest.mark.parametrize("role", sorted(os.listdir(os.path.join(REPO, "roles"))))
def test_every_role_has_a_main_entry_point(role):
    with open(os.path.join(REPO, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as f:
        assert yaml.safe_load(f)["argument_specs"]["main"]["options"]
