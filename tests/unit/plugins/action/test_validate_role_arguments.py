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


# --- value rules (meta/value_rules.yml): what an argument spec cannot say ------------------------

@pytest.mark.parametrize("role, extra_vars, named", [
    ("monitor", {"monitor_poll_min_ms": 0}, "monitor_poll_min_ms"),
    ("monitor", {"monitor_warn": "100M", "monitor_critical": "200M"}, "monitor_critical"),
    ("monitor", {"monitor_oom_score_adjust": -2000}, "monitor_oom_score_adjust"),
    ("monitor", {"monitor_memory_max": "1180591620717411303424"}, "monitor_memory_max"),
    ("monitor", {"monitor_protect_patterns": ["("]}, "monitor_protect_patterns"),
    ("cgroup_limits", {"cgroup_limits_units": [{"unit": "-Hevil.service", "memory_max": "64M"}]},
     "cgroup_limits_units[0]"),
    ("cgroup_limits", {"cgroup_limits_units": [{"unit": "a.service", "memory_max": "512MB"}]},
     "cgroup_limits_units[0]: memory_max"),
    ("cgroup_limits", {"cgroup_limits_raw": [{"path": "x", "memory_max": "64M", "pids": [1]}]},
     "cgroup_limits_raw[0]"),
    ("protect_daemons", {"protect_daemons_extra": [{"name": "x", "comm": "sshd", "score": -2000}]},
     "protect_daemons_extra[0] (x): value"),
    ("protect_daemons", {"protect_daemons_extra": [{"name": "all", "pattern": ".*", "score": -1000}]},
     "protect_daemons_extra[0] (all): refusing the protective value"),
    ("protect_daemons", {"protect_daemons_dropin_name": "../x.conf"}, "protect_daemons_dropin_name"),
    ("sysctl_profile", {"sysctl_profile_settings": {"vm.overcommit_memory": 5}}, "vm.overcommit_memory"),
    ("psi_boot", {"psi_boot_reboot_timeout": -1}, "psi_boot_reboot_timeout"),
    # The spec's int reads "٥" as 5; the values the role hands on are checked as typed.
    ("monitor", {"monitor_log_top": "٥"}, "monitor_log_top"),
    ("protect_daemons", {"protect_daemons_extra": [{"name": "x", "comm": "sshd", "score": "١٠٠"}]},
     "protect_daemons_extra[0] (x)"),
])
def test_value_rules_refuse_what_the_spec_lets_through(tmp_path, role, extra_vars, named):
    rc, result = run_play(tmp_path, [role], import_roles=True, extra_vars=extra_vars)
    assert result["failed"], result
    assert named in result["msg"]
    assert "rock5b.oom.%s: " % role in result["msg"]


def test_value_rules_pass_the_lab_inventory(tmp_path):
    with open(os.path.join(REPO, "inventory", "lab", "group_vars", "rock5b.yml"), encoding="utf-8") as handle:
        lab = yaml.safe_load(handle)
    lab = dict((key, value) for key, value in lab.items() if not key.startswith("ansible_"))
    roles = ["sysctl_profile", "cgroup_limits", "monitor", "protect_daemons", "psi_boot"]
    rc, result = run_play(tmp_path, roles, import_roles=True, extra_vars=lab)
    assert rc == 0 and not result.get("failed"), result


@pytest.mark.parametrize("role", ["sysctl_profile", "cgroup_limits", "monitor", "protect_daemons", "psi_boot"])
def test_value_rules_name_real_variables_and_known_rules(role):
    """A rule for a variable the spec does not have, or a rule name that does not exist, is a typo."""
    sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
    from ansible_collections.rock5b.oom.plugins.module_utils import value_rules
    with open(os.path.join(REPO, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    with open(os.path.join(REPO, "roles", role, "meta", "value_rules.yml"), encoding="utf-8") as handle:
        rules = yaml.safe_load(handle)["value_rules"]
    for variable, listed in rules.items():
        assert variable in options, "%s: value rule for unknown variable %s" % (role, variable)
        for rule in listed if isinstance(listed, list) else [listed]:  # a variable may meet several rules
            for key, sub_rule in (rule.get("each") or {variable: rule}).items():
                if "each" in rule:
                    assert key in options[variable]["options"], "%s: %s has no suboption %s" % (role, variable, key)
                    sub_rule = rule["each"][key]
                assert sub_rule["rule"] in value_rules.RULES or sub_rule["rule"] == "monitor_config", sub_rule
