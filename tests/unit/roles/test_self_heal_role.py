"""rock5b.oom.self_heal on the controller: its checks run first, and the units it writes load in systemd.

Runs the role's first tasks (tasks/validate.yml, controller-only asserts) with ansible-playbook
against localhost, then renders the role's unit templates into a temporary directory - nothing
else on this host is touched. The rendered service is read back the way systemd reads it
(systemd_exec_reader) and, where systemd-analyze exists, verified by systemd itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugins", "filter"))
from systemd_exec_reader import read_exec  # noqa: E402 (tests/unit/plugins/filter)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TEMPLATES = os.path.join(REPO, "roles", "self_heal", "templates")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3rPrK0xZk3m8Yv2gJxq8b0l8p6Xy3bQv0t3o2rZ0x release@ci"
UNITS = ("rock5b-oom-pull.service", "rock5b-oom-pull.timer")


CASES = {
    # Specials everywhere systemd looks for them; signed commits.
    "special": {"self_heal_repo_url": "https://git.example.com/infra/50%25-off.git", "self_heal_branch": "release/100%",
                "self_heal_extra_args": ["-e", "note=50% of $HOME", "--tags", "a b", ";"],
                "self_heal_signing_keys": [KEY]},
    # The lab's bundle source, without signing keys.
    "unverified": {"self_heal_bundle_source": REPO},
    # Last: its failure ends the run.
    "bad": {"self_heal_repo_url": "https://deploy:hunter2@git.example.com/x.git", "self_heal_branch": "a b",
            "self_heal_interval": "soon"},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One ansible-playbook run, a play per case: the role's checks, then its units rendered into <case>/."""
    base = tmp_path_factory.mktemp("self_heal")
    venv = base / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("ansible", "ansible-playbook"):
        (venv / "bin" / name).write_text("#!/bin/sh\n")
        (venv / "bin" / name).chmod(0o755)
    plays = []
    for case, variables in CASES.items():
        (base / case).mkdir()
        tasks = [{"ansible.builtin.include_role": {"name": "rock5b.oom.self_heal", "tasks_from": "validate", "public": True}}]
        tasks += [{"ansible.builtin.template": {"src": os.path.join(TEMPLATES, unit + ".j2"), "dest": str(base / case / unit),
                                                "mode": "0600"}} for unit in UNITS]
        plays.append({"name": case, "hosts": "localhost", "gather_facts": False, "connection": "local",
                      "vars": dict(variables, self_heal_venv=str(venv)), "tasks": tasks})
    path = base / "play.yml"
    path.write_text(yaml.safe_dump(plays))
    cmd = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, str(path)]
    # Warnings go to stderr: interleaved with stdout, each stays under its own play.
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    output = proc.stdout
    parts = re.split(r"^PLAY \[(\w+)\] \**$", output, flags=re.M)
    return {"rc": proc.returncode, "output": output, "base": base, "venv": venv,
            "play": {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}}


def settings(line, unit):
    return [m.group(1) for m in re.finditer(r"^%s=(.*)$" % line, unit, re.M)]


def test_specials_reach_the_board_as_written_and_systemd_loads_the_unit(runs):
    output, out, venv = runs["play"]["special"], runs["base"] / "special", runs["venv"]
    assert "[WARNING]" not in output and "failed=" not in output, output
    unit = (out / UNITS[0]).read_text()
    pre = read_exec(settings("ExecStartPre", unit)[0])
    assert pre[:2] == [str(venv / "bin" / "ansible"), "localhost"]
    git = json.loads(pre[-1])
    assert git["repo"] == CASES["special"]["self_heal_repo_url"] and git["version"] == "release/100%"
    assert git["verify_commit"] is True
    assert read_exec(settings("ExecStart", unit)[0])[-6:] == CASES["special"]["self_heal_extra_args"] + ["playbooks/site.yml"]
    assert "GIT_CONFIG_VALUE_0=/var/lib/rock5b-oom-pull/allowed_signers" in unit
    if shutil.which("systemd-analyze"):
        proc = subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no"] + [str(out / u) for u in UNITS],
                              capture_output=True, text=True, timeout=60, check=False)
        assert str(out) not in proc.stderr, proc.stderr


def test_unverified_commits_are_a_warning(runs):
    output = runs["play"]["unverified"]
    assert output.count("[WARNING]: rock5b.oom.self_heal: self_heal_verify_commit is false") == 1, output
    assert '"verify_commit": false' in (runs["base"] / "unverified" / UNITS[0]).read_text()


def test_bad_settings_fail_before_any_file_naming_each_variable(runs):
    assert runs["rc"] != 0
    output = runs["play"]["bad"]
    for words in ("self_heal_repo_url must not carry credentials", "self_heal_deploy_key", "self_heal_branch must",
                  "self_heal_interval must", "nothing was changed"):
        assert words in output, output
    assert "hunter2" not in runs["output"]
    assert list((runs["base"] / "bad").iterdir()) == []
