"""OOM drill on the real kernel: a hog bigger than RAM must be killed by the kernel's OOM
killer, and the machine must stay manageable.

Needs vm.overcommit_memory 0 or 1 on the VM (molecule.yml sets 0 for the VM hosts):
under the collection's default 2 the hog gets ENOMEM at the commit limit and the OOM
killer never runs (test_overcommit.py checks that side).

VM_DRILL_REPEAT=N repeats the drill N times per VM (default 1); each run is one test
case, so pytest's pass count is the success count (tools/vm/drill.sh prints it).
"""

from __future__ import annotations

import os

import pytest

from drill import run_drill, session_oom_score_adj

REPEAT = int(os.environ.get("VM_DRILL_REPEAT", "1"))


@pytest.fixture(scope="module", autouse=True)
def overcommit_allows_oom(vm):
    value = vm.read("/proc/sys/vm/overcommit_memory")
    assert value in ("0", "1"), (
        f"{vm.name}: vm.overcommit_memory={value}; the drill needs 0 or 1 (see molecule.yml)"
    )


@pytest.mark.parametrize("run", range(1, REPEAT + 1), ids=lambda i: f"run{i}")
def test_oom_drill(vm, run):
    r = run_drill(vm, f"{vm.name}-{run}")
    print(
        f"{vm.name} run {run}: {r.seconds:.1f}s result={r.result} "
        f"code={r.exec_main_code}/{r.exec_main_status} oom_kill {r.oom_kill_before}->"
        f"{r.oom_kill_after} session_adj={r.session_adj_before} "
        f"session_alive={r.session_alive_after} psi_some={r.psi_some_ms}ms "
        f"psi_full={r.psi_full_ms}ms | {r.killed_line}"
    )
    # the kernel's OOM killer, not a failed allocation, ended the hog
    assert r.oom_kill_after > r.oom_kill_before, "oom_kill in /proc/vmstat did not increase"
    assert r.killed_line, f"no 'Killed process {r.hog_pid}' in the kernel log:\n{r.kernel_log[-3000:]}"
    if vm.mode == "v1":
        # cgroup v1: systemd cannot see the cgroup's OOM event, it only sees SIGKILL
        assert r.result in ("oom-kill", "signal"), r.result
        if r.result == "signal":
            assert r.exec_main_code == "2" and r.exec_main_status == "9", (r.exec_main_code, r.exec_main_status)
    else:
        assert r.result == "oom-kill", r.result
    # the login opened before the drill was killable (not sshd's -1000)
    assert r.session_adj_before != -1000, "the ssh login session ran at oom_score_adj -1000"
    # the machine stays manageable: same sshd, new logins work
    assert r.sshd_active_after == "active"
    assert r.sshd_pid_after == r.sshd_pid_before, "sshd was restarted or killed"
    assert r.reachable_after, "no new SSH login after the drill"


def test_login_session_is_killable(vm):
    """A shell opened through sshd must not inherit the listener's -1000: protecting
    sshd must not make everything run from a login immune to the OOM killer."""
    assert session_oom_score_adj(vm) != -1000, "a login session runs at oom_score_adj -1000"
