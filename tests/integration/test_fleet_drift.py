"""Drift made by hand on lab boards: the audit names each item per board and fails, site.yml
corrects them all, and the audit is clean again (issue: fleet drift, end to end).

Needs the lab (`tools/lab.sh up`, which `make integration` runs first): boards lab-board-1..3,
reached over SSH like a real fleet. Boards 1 and 2 get every kind of drift; board 3 stays
converged and must be reported clean. A live vm.* sysctl cannot drift in a container (its
/proc/sys is the host's, read-only): the VM scenario covers that one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402  pylint: disable=wrong-import-position

DRIFTED_BOARDS = ("lab-board-1", "lab-board-2")
CLEAN_BOARD = "lab-board-3"

# (what is changed by hand, shell run on the board, text the audit must name)
DRIFTS = [
    ("the sysctl drop-in",
     "sed -i 's/^vm.panic_on_oom = 0$/vm.panic_on_oom = 1/' /etc/sysctl.d/99-oom-rock5b.conf",
     "sysctl file /etc/sysctl.d/99-oom-rock5b.conf"),
    ("a cgroup limit drop-in",
     "sed -i 's/^MemoryMax=.*/MemoryMax=900M/' /etc/systemd/system/demo-app.service.d/60-rock5b-memory.conf",
     "/etc/systemd/system/demo-app.service.d/60-rock5b-memory.conf"),
    ("a protected daemon list entry's live oom_score_adj",
     "echo 100 > /proc/$(systemctl show -p MainPID --value demo-app.service)/oom_score_adj",
     "= 100, wanted 500"),
    ("the monitor's unit file",
     "sed -i 's/^Restart=always$/Restart=no/' /etc/systemd/system/rock5b-oom-monitor.service",
     "monitor_files_result: /etc/systemd/system/rock5b-oom-monitor.service"),
    ("a stopped monitor",
     "systemctl stop rock5b-oom-monitor.service",
     "monitor_files_result: rock5b-oom-monitor.service is inactive, wanted active"),
]


playbook, on_board = lab.playbook, lab.on_board


def audit(report_dir):
    run = playbook("audit.yml", "-e", "rock5b_oom_audit_report_dir=%s" % report_dir)
    reports = {}
    for name in os.listdir(report_dir):
        with open(os.path.join(report_dir, name)) as handle:
            report = json.load(handle)
        reports[report["board"]] = report["drift"]
    return run, reports


def changed_per_board(output):
    return dict((board, counts["changed"]) for board, counts in lab.recap(output).items())


@pytest.fixture(scope="module")
def drifted_lab(tmp_path_factory):
    before_dir = tmp_path_factory.mktemp("audit-converged")
    run, reports = audit(before_dir)
    assert run.returncode == 0, "the lab must start converged (tools/lab.sh up):\n" + run.stdout[-3000:]
    assert set(reports) == set(DRIFTED_BOARDS + (CLEAN_BOARD,))
    for board in DRIFTED_BOARDS:
        for _what, script, _named in DRIFTS:
            on_board(board, script)
    return tmp_path_factory


def test_audit_names_every_drift_per_board_and_fails(drifted_lab):
    run, reports = audit(drifted_lab.mktemp("audit-drifted"))
    assert run.returncode == 2, run.stdout[-3000:]
    for board in DRIFTED_BOARDS:
        text = "\n".join(reports[board])
        missing = [what for what, _script, named in DRIFTS if named not in text]
        assert not missing, "%s: the audit did not name %s; it said:\n%s" % (board, missing, text)
    assert reports[CLEAN_BOARD] == []


def test_site_corrects_everything_and_the_audit_is_clean_again(drifted_lab):
    run = playbook("site.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    changed = changed_per_board(run.stdout)
    assert all(changed[board] > 0 for board in DRIFTED_BOARDS), changed
    assert changed[CLEAN_BOARD] == 0, changed
    after, reports = audit(drifted_lab.mktemp("audit-corrected"))
    assert after.returncode == 0, after.stdout[-3000:]
    assert all(drift == [] for drift in reports.values()), reports
    for board in DRIFTED_BOARDS:
        state = subprocess.run(check=False, args=["podman", "exec", board, "systemctl", "is-active", "rock5b-oom-monitor.service"],
                               capture_output=True, text=True).stdout.strip()
        assert state == "active", board
