"""rock5b.oom.zram on the controller: its variables' rules (the zram_swap module's checks, run before any role writes), and the swap sysctls it
hands to sysctl_profile (the settings expression of roles/sysctl_profile/tasks/main.yml, taken
from the file as it is and rendered with ansible-playbook against localhost: nothing on this
host is read or changed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.rock5b.oom.plugins.module_utils import value_rules

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ZRAM = os.path.join(REPO, "roles", "zram")
SYSCTL = os.path.join(REPO, "roles", "sysctl_profile")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def playbook(tmp_path, variables, tasks, vars_files=()):
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "vars_files": list(vars_files),
             "vars": variables, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.yml")]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


# --- meta/value_rules.yml --------------------------------------------------------------------
@pytest.mark.parametrize("variables, named", [
    ({"zram_size_tiers": [{"ram_up_to": "4GB", "percent": 50}]}, "zram_size_tiers[0].ram_up_to"),
    ({"zram_size_tiers": [{"ram_up_to": "4G", "percent": 500}]}, "zram_size_tiers[0].percent"),
    ({"zram_size": "max"}, "zram_size"),
    ({"zram_size_max": "lots"}, "zram_size_max"),
    ({"zram_priority": 40000}, "zram_priority"),
    ({"zram_swapoff_margin_mb": -1}, "zram_swapoff_margin_mb"),
    ({"zram_swappiness": 201}, "zram_swappiness"),
    ({"zram_page_cluster": 32}, "zram_page_cluster"),
])
def test_value_rules_refuse_naming_the_variable(variables, named):
    problems = value_rules.check(load(os.path.join(ZRAM, "meta", "value_rules.yml"))["value_rules"], variables)
    assert problems and all(problem.startswith(named) for problem in problems), problems


def test_the_defaults_pass_the_value_rules():
    defaults = load(os.path.join(ZRAM, "defaults", "main.yml"))
    assert value_rules.check(load(os.path.join(ZRAM, "meta", "value_rules.yml"))["value_rules"], defaults) == []


def test_defaults_and_argument_spec_agree():
    defaults = load(os.path.join(ZRAM, "defaults", "main.yml"))
    options = load(os.path.join(ZRAM, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    assert all(options[name].get("default") == value for name, value in defaults.items())


# --- what used to reach the board: now refused on the controller, before sysctl_profile writes
@pytest.mark.parametrize("variables, named", [
    ({"zram_size_tiers": []}, "zram_size_tiers: give at least one tier"),
    ({"zram_size_tiers": [{"ram_up_to": "8G", "percent": 50}, {"ram_up_to": "8G", "percent": 25}]}, "zram_size_tiers[1].ram_up_to"),
    ({"zram_size_tiers": [{"ram_up_to": "8G"}]}, "zram_size_tiers[0]: must be a mapping"),
    ({"zram_size": "512K"}, "zram_size: '512K' is below 1M"),
    ({"zram_size_max": "512K"}, "zram_size_max: '512K' is below 1M"),
])
def test_the_modules_own_checks_run_on_the_controller(variables, named):
    problems = value_rules.check(load(os.path.join(ZRAM, "meta", "value_rules.yml"))["value_rules"], variables)
    assert problems and problems[0].startswith(named), problems


def test_a_fixed_size_passes_with_the_default_tiers():
    rules = load(os.path.join(ZRAM, "meta", "value_rules.yml"))["value_rules"]
    assert value_rules.check(rules, {"zram_size": "2G", "zram_size_max": "max"}) == []


# --- the swap sysctls, written by sysctl_profile ---------------------------------------------
CASES = {
    "off": {},
    "on": {"zram_enabled": True},
    "on_tuned": {"zram_enabled": True, "zram_swappiness": 180, "zram_page_cluster": 1},
    "operator_wins": {"zram_enabled": True, "sysctl_profile_settings": {"vm.swappiness": 60, "vm.page-cluster": None}},
}


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """case -> the settings sysctl_profile passes to vm_sysctl."""
    base = tmp_path_factory.mktemp("zram_sysctls")
    task = load(os.path.join(SYSCTL, "tasks", "main.yml"))[0]
    settings = task["rock5b.oom.vm_sysctl"]["settings"]
    tasks = []
    for name, variables in CASES.items():
        tasks.append({"ansible.builtin.copy": {"content": "{{ %s | to_json }}" % settings[2:-2].strip(),
                                               "dest": str(base / ("%s.json" % name)), "mode": "0600"},
                      "vars": variables})
    files = [os.path.join(SYSCTL, "defaults", "main.yml"), os.path.join(SYSCTL, "vars", "main.yml"),
             os.path.join(ZRAM, "defaults", "main.yml")]
    proc = playbook(base, {}, tasks, files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict((name, json.loads((base / ("%s.json" % name)).read_text())) for name in CASES)


def test_zram_off_adds_no_swap_sysctls(profiles):
    assert "vm.swappiness" not in profiles["off"] and "vm.page-cluster" not in profiles["off"]
    assert profiles["off"]["vm.overcommit_memory"] == 2


def test_zram_on_adds_its_swap_sysctls(profiles):
    assert profiles["on"]["vm.swappiness"] == 100 and profiles["on"]["vm.page-cluster"] == 0
    assert profiles["on_tuned"]["vm.swappiness"] == 180 and profiles["on_tuned"]["vm.page-cluster"] == 1


def test_the_operators_sysctl_settings_still_win(profiles):
    assert profiles["operator_wins"]["vm.swappiness"] == 60 and profiles["operator_wins"]["vm.page-cluster"] is None
