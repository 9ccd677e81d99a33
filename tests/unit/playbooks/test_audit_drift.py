"""playbooks/audit.yml: how registered results become drift findings and the exit code.

Runs the audit's own drift-building tasks (its second play's vars, the task naming every
drifted item and the final assertion, taken from audit.yml as they are) on localhost against
registered results faked with set_fact. Nothing runs a module: nothing on this host is read or
changed, only a copy of the findings is written under the test's tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
AUDIT = os.path.join(REPO, "playbooks", "audit.yml")
DRIFT_TASKS = ("Name every drifted item", "Name every userspace OOM killer the inventory did not choose",
               "Fail when the board drifted from its desired state")

CONVERGED = {
    "changed": False, "file_changed": False, "live_changed": [], "path": "/etc/sysctl.d/99-oom-rock5b.conf",
    "settings": {"vm.panic_on_oom": "0"}, "before": {"live": {"vm.panic_on_oom": "0"}},
    "overrides": [], "boot_drift": [],
}
OVERRIDDEN = dict(CONVERGED, overrides=[{
    "path": "/etc/sysctl.d/99-sysctl.conf", "line": 3, "key": "vm.panic_on_oom", "value": "1",
    "reason": "applied after /etc/sysctl.d/99-oom-rock5b.conf, sets vm.panic_on_oom = 1"}],
    boot_drift=["vm.panic_on_oom is overridden at boot: /etc/sysctl.d/99-sysctl.conf line 3 sets "
                "vm.panic_on_oom = 1 after /etc/sysctl.d/99-oom-rock5b.conf"])


BOTH = dict(OVERRIDDEN, changed=True, file_changed=True, live_changed=["vm.panic_on_oom"],
            before={"live": {"vm.panic_on_oom": "1"}})
# a read-only /etc (issue #20): the live values applied, the file could not be written
NOT_PERSISTED = dict(CONVERGED, changed=True, file_changed=True)
BOARDS = {"converged": CONVERGED, "overridden": OVERRIDDEN, "both": BOTH, "not_persisted": NOT_PERSISTED,
          "second_killer": CONVERGED, "earlyoom_chosen": CONVERGED, "none_chosen": CONVERGED, "oomd_and_more": BOTH}
# The userspace OOM killers oom_facts found running (rock5b_oom.killers), and monitor_backend
# where the inventory sets one (default rock5b: rock5b-oom-monitor).
KILLERS = {"converged": ["rock5b-oom-monitor"], "second_killer": ["rock5b-oom-monitor", "earlyoom"],
           "earlyoom_chosen": ["earlyoom"], "none_chosen": ["systemd-oomd"],
           "oomd_and_more": ["rock5b-oom-monitor", "systemd-oomd", "nohang"]}
BACKENDS = {"earlyoom_chosen": "earlyoom", "none_chosen": "none", "oomd_and_more": "systemd-oomd"}
HINT = " (a second userspace OOM killer: stop and disable it, or choose it with monitor_backend)"


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    """The audit's drift tasks, one run for every board of BOARDS (each a local fake host with
    its sysctl_profile_result, the killers oom_facts found, its monitor_backend); (rc, findings
    by board, output)."""
    tmp_path = tmp_path_factory.mktemp("audit")
    with open(AUDIT, encoding="utf-8") as handle:
        report_play = yaml.safe_load(handle)[1]
    tasks = [task for task in report_play["tasks"] if task.get("name") in DRIFT_TASKS]
    assert [task["name"] for task in tasks] == list(DRIFT_TASKS), "audit.yml renamed its drift tasks?"
    fake = [{"name": "fake registered results",
             "ansible.builtin.set_fact": {"sysctl_profile_result": "{{ boards[inventory_hostname] }}",
                                          "rock5b_oom": {"killers": "{{ killers[inventory_hostname] | default([]) }}"}}},
            {"name": "fake inventory", "when": "inventory_hostname in backends",
             "ansible.builtin.set_fact": {"monitor_backend": "{{ backends[inventory_hostname] }}"}}]
    keep = [{"name": "keep the findings", "run_once": True, "ansible.builtin.copy": {
        "content": "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'audit_findings')))"
                   " | to_json }}", "dest": str(tmp_path / "findings.json")}}]
    play = [{"hosts": "all", "gather_facts": False, "connection": "local",
             "vars": dict(report_play["vars"], boards=BOARDS, killers=KILLERS, backends=BACKENDS),
             "tasks": fake + tasks[:-1] + keep + tasks[-1:]}]
    # The audit's template path (templates/audit_findings.j2) is relative to the playbook.
    os.symlink(os.path.join(REPO, "playbooks", "templates"), str(tmp_path / "templates"))
    path = tmp_path / "audit_drift.yml"
    path.write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "-i", ",".join(BOARDS) + ",", "-e", "ansible_python_interpreter=" + sys.executable,
           str(path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert (tmp_path / "findings.json").exists(), output
    return proc.returncode, json.loads((tmp_path / "findings.json").read_text()), output


def test_a_later_file_overriding_a_managed_key_is_drift(audit):
    rc, findings, output = audit
    assert findings["overridden"] == OVERRIDDEN["boot_drift"]
    assert rc == 2
    assert "overridden drifted: vm.panic_on_oom is overridden at boot: /etc/sysctl.d/99-sysctl.conf line 3" in output


def test_a_converged_board_without_overrides_has_no_drift(audit):
    rc, findings, output = audit
    assert findings["converged"] == []
    assert "fatal: [converged]" not in output


BOTH_FINDINGS = ["sysctl file /etc/sysctl.d/99-oom-rock5b.conf differs from the profile",
                 "live vm.panic_on_oom = 1, profile says 0"] + OVERRIDDEN["boot_drift"]


def test_file_live_and_boot_drift_are_all_named(audit):
    rc, findings, output = audit
    assert findings["both"] == BOTH_FINDINGS
    assert "fatal: [both]" in output


def test_a_file_behind_right_live_values_is_drift_named_not_persisted(audit):
    rc, findings, output = audit
    assert findings["not_persisted"] == [
        "sysctl file /etc/sysctl.d/99-oom-rock5b.conf differs from the profile: the live values are right but "
        "not persisted (lost at the next boot)"]
    assert "fatal: [not_persisted]" in output


@pytest.mark.parametrize("value, fails", [("maybe", True), ("flase", True), (False, False), ("true", False)])
def test_a_typo_in_fail_on_drift_is_refused_naming_it(tmp_path, value, fails):
    """A typo must not silently turn the drift failure off: audit.yml's own assert refuses it."""
    with open(AUDIT, encoding="utf-8") as handle:
        report_play = yaml.safe_load(handle)[1]
    guard = [task for task in report_play["tasks"] if "rock5b_oom_audit_fail_on_drift" in task.get("name", "")]
    assert len(guard) == 1, "audit.yml lost its check of rock5b_oom_audit_fail_on_drift"
    play = [{"hosts": "all", "gather_facts": False, "connection": "local", "tasks": guard}]
    path = tmp_path / "guard.yml"
    path.write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "-i", "board,", "-e", "ansible_python_interpreter=" + sys.executable,
           "-e", json.dumps({"rock5b_oom_audit_fail_on_drift": value}), str(path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert (proc.returncode != 0) == fails, proc.stdout
    if fails:
        assert "rock5b_oom_audit_fail_on_drift must be true or false" in proc.stdout


def test_a_killer_the_inventory_did_not_choose_is_drift_named(audit):
    rc, findings, output = audit
    assert findings["second_killer"] == ["killer earlyoom runs but monitor_backend is rock5b" + HINT]
    assert "fatal: [second_killer]" in output
    assert rc == 2
    assert findings["none_chosen"] == ["killer systemd-oomd runs but monitor_backend is none" + HINT]
    # after the roles' own drift, every unchosen killer in oom_facts' order
    assert findings["oomd_and_more"] == BOTH_FINDINGS + [
        "killer rock5b-oom-monitor runs but monitor_backend is systemd-oomd" + HINT,
        "killer nohang runs but monitor_backend is systemd-oomd" + HINT]


def test_only_the_chosen_killer_is_no_drift(audit):
    rc, findings, output = audit
    assert findings["converged"] == [] and findings["earlyoom_chosen"] == []
    assert "fatal: [earlyoom_chosen]" not in output and "fatal: [converged]" not in output
