"""A second userspace OOM killer is a fact, not a surprise (issue #15), on a real Debian VM.

Debian's earlyoom package is installed (its maintainer scripts enable and start
earlyoom.service) with known arguments; playbooks/audit.yml, run against the VM with the
scenario's inventory variables and the default monitor_backend (rock5b), must fail naming
earlyoom as a killer nobody chose, and oom_facts must report earlyoom's arguments parsed. After
earlyoom is purged the audit names no such killer. The package is purged at the end, also when
an assertion fails.
"""

from __future__ import annotations

import json
import pathlib
import shlex
import time

import pytest
import yaml

pytestmark = [pytest.mark.vm_modes("v2"), pytest.mark.vm_suites("bookworm"), pytest.mark.feature("second killer in the audit")]

SCENARIO = pathlib.Path(__file__).resolve().parents[1]
REPO = SCENARIO.parents[2]
AUDIT = REPO / "playbooks" / "audit.yml"
FACTS_TASK = "Read the board's memory state and OOM history"
KILLERS_TASK = "Name every userspace OOM killer the inventory did not choose"
FAIL_TASK = "Fail when the board drifted from its desired state"
# No quotes or spaces inside an argument: systemd splits $EARLYOOM_ARGS at whitespace.
ARGS = "-r 3600 -m 7,3 -s 15 --avoid (^|/)sshd --prefer=(^|/)rock5b-hog"
FINDING = "killer earlyoom runs but monitor_backend is rock5b"


def scenario_vars() -> dict:
    """The scenario's group_vars for the boards (what converge used), so the audit's check-mode
    converge compares the VM with the same inventory."""
    config = yaml.safe_load((SCENARIO / "molecule.yml").read_text())
    group = dict(config["provisioner"]["inventory"]["group_vars"]["rock5b"])
    group.pop("ansible_python_interpreter", None)
    return group


def audit(vm) -> tuple[int, dict, list, dict]:
    """(exit status, the json document, the audit's findings, oom_facts' rock5b_oom)."""
    extra = dict(scenario_vars(), rock5b_oom_audit_hosts=vm.name)
    rc, data = vm.playbook(AUDIT, "-e", json.dumps(extra), timeout=1200)
    facts = vm.task_result(data, FACTS_TASK)
    assert not facts.get("failed"), facts.get("msg")
    named = vm.task_result(data, KILLERS_TASK)
    assert not named.get("failed"), named.get("msg")
    return rc, data, named["ansible_facts"]["audit_findings"], facts["ansible_facts"]["rock5b_oom"]


def wait_active(vm, unit: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while vm.run(f"systemctl is-active {unit}", check=False).strip() != "active":
        if time.monotonic() > deadline:
            pytest.fail(f"{vm.name}: {unit} is not active: " + vm.run(f"systemctl status --no-pager {unit}", check=False))
        time.sleep(1)


def purge(vm) -> None:
    """Stop and purge earlyoom (its conffile /etc/default/earlyoom too); nothing when it is gone."""
    vm.run("if dpkg-query -W earlyoom >/dev/null 2>&1; then systemctl stop earlyoom.service; "
           "DEBIAN_FRONTEND=noninteractive dpkg --purge earlyoom; fi", timeout=300)


@pytest.fixture(scope="module")
def earlyoom(vm):
    """earlyoom installed and running with ARGS; purged afterwards whatever happened."""
    vm.install_debs("earlyoom")
    vm.run(f"printf 'EARLYOOM_ARGS=\"%s\"\\n' {shlex.quote(ARGS)} > /etc/default/earlyoom")
    vm.run("systemctl restart earlyoom.service")
    wait_active(vm, "earlyoom.service")
    yield vm.run("cat /proc/$(systemctl show -P MainPID earlyoom.service)/cmdline | tr '\\0' '\\n'").split("\n")
    purge(vm)


def test_the_audit_names_earlyoom_and_oom_facts_reports_its_arguments(vm, earlyoom):
    cmdline = [arg for arg in earlyoom if arg]
    assert cmdline[1:] == ARGS.split(), f"earlyoom.service did not start with EARLYOOM_ARGS: {cmdline}"
    rc, data, findings, facts = audit(vm)
    assert "earlyoom" in facts["killers"], facts["killers"]
    assert any(finding.startswith(FINDING) for finding in findings), findings
    assert rc != 0
    failed = vm.task_result(data, FAIL_TASK)
    assert failed.get("failed") and FINDING in failed["msg"], failed
    config = facts["killer_config"]["earlyoom"]
    assert config["args"] == ARGS.split(), config
    assert (config["mem_term_percent"], config["mem_kill_percent"]) == (7, 3), config
    assert (config["swap_term_percent"], config["swap_kill_percent"]) == (15, 7.5), config
    assert (config["avoid"], config["prefer"]) == ("(^|/)sshd", "(^|/)rock5b-hog"), config
    assert config["other"] == ["-r", "3600"], config
    assert facts["lru_gen"]["present"] is True, facts["lru_gen"]


def test_without_earlyoom_the_audit_names_no_unchosen_killer(vm, earlyoom):
    purge(vm)
    assert vm.run("pgrep -x earlyoom", check=False).strip() == ""
    _rc, _data, findings, facts = audit(vm)
    assert "earlyoom" not in facts["killers"] and "earlyoom" not in facts["killer_config"], facts["killers"]
    killer_findings = [finding for finding in findings if finding.startswith("killer ")]
    # only the chosen killer (rock5b-oom-monitor, where the monitor role runs) may be left
    unchosen = [killer for killer in facts["killers"] if killer != "rock5b-oom-monitor"]
    assert [finding.split()[1] for finding in killer_findings] == unchosen, (killer_findings, facts["killers"])
    assert unchosen == [], f"another test left a killer running: {unchosen}"
