"""rock5b.oom.psi_boot on the controller: its own checks name the role variable.

Runs only the role's tasks/validate.yml (controller-only asserts) with ansible-playbook against
localhost: nothing on this host is read or changed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def run_validate(tmp_path, variables):
    play = [{"name": "psi_boot", "hosts": "localhost", "gather_facts": False, "connection": "local",
             "vars": variables,
             "tasks": [{"ansible.builtin.include_role": {"name": "rock5b.oom.psi_boot", "tasks_from": "validate"}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, str(path)]
    return subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)


def test_empty_targets_fail_naming_the_role_variable(tmp_path):
    proc = run_validate(tmp_path, {"psi_boot_targets": []})
    assert proc.returncode != 0
    assert "psi_boot_targets is empty" in proc.stdout and "nothing was changed" in proc.stdout, proc.stdout


def test_the_default_targets_pass(tmp_path):
    proc = run_validate(tmp_path, {})
    assert proc.returncode == 0, proc.stdout
