"""OOM drill on the real kernel: a hog bigger than RAM must be killed by the kernel's OOM
killer, and the machine must stay manageable.

Needs vm.overcommit_memory 0 or 1 on the VM (molecule.yml sets 0 for the VM hosts):
under the collection's default 2 the hog gets ENOMEM at the commit limit and the OOM
killer never runs (test_overcommit.py checks that side).

VM_DRILL_REPEAT=N repeats the drill N times per VM (default 1); each run is one test
case, so pytest's pass count is the success count (tools/vm/drill.sh prints it).

After the drill, rock5b.oom.oom_facts (through ansible, as a playbook calls it) must name the
hog the kernel killed and count the kill. The drill runs on the v2 and v1 VMs, not
on nopsi: its kernel is v2's, and test_psi_disabled.py covers what differs there.
"""

from __future__ import annotations

import os
import re

import pytest

from drill import DrillResult, run_drill, session_oom_score_adj

pytestmark = [pytest.mark.vm_modes("v2", "v1"), pytest.mark.feature("OOM drill")]

REPEAT = int(os.environ.get("VM_DRILL_REPEAT", "1"))
# VM name -> (VM clock in epoch seconds just before the drill, its result); the last run wins
DRILLS: dict[str, tuple[int, DrillResult]] = {}


def drill(vm, tag: str) -> tuple[int, DrillResult]:
    since = int(vm.run("date +%s").strip())
    result = run_drill(vm, tag)
    DRILLS[vm.name] = (since, result)
    return since, result


@pytest.fixture(scope="module", autouse=True)
def overcommit_allows_oom(vm):
    value = vm.read("/proc/sys/vm/overcommit_memory")
    assert value in ("0", "1"), (
        f"{vm.name}: vm.overcommit_memory={value}; the drill needs 0 or 1 (see molecule.yml)"
    )


@pytest.mark.parametrize("run", range(1, REPEAT + 1), ids=lambda i: f"run{i}")
def test_oom_drill(vm, run):
    _since, r = drill(vm, f"{vm.name}-{run}")
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


def kernel_kb(line: str, field: str) -> int:
    """A ``<field>:<n>kB`` number of the kernel's 'Killed process' line."""
    match = re.search(rf"\b{field}:(\d+)kB", line)
    assert match, f"no {field} in {line!r}"
    return int(match.group(1))


@pytest.mark.feature("oom_facts after the drill")
def test_oom_facts_reports_the_drill_victim(vm):
    """oom_facts since just before the drill: the hog is the victim, with the kernel's numbers,
    and the oom_kill counter went up."""
    since, r = DRILLS.get(vm.name) or drill(vm, f"{vm.name}-facts")
    assert r.killed_line, "the drill's hog was not OOM-killed, nothing for oom_facts to report"
    result = vm.module("rock5b.oom.oom_facts", {"since": f"@{since}", "top_n": 5})
    assert not result.get("failed"), result.get("msg")
    facts = result["ansible_facts"]["rock5b_oom"]
    assert facts["vmstat"]["oom_kill"] >= r.oom_kill_after > r.oom_kill_before, (facts["vmstat"], r)
    events = facts["oom_events"]
    assert all(e["timestamp"] >= since for e in events), [(e["time"], e["victim"]) for e in events]
    mine = [e for e in events if e["victim"] and e["victim"]["pid"] == r.hog_pid]
    assert len(mine) == 1, (f"hog pid {r.hog_pid} not reported once since @{since}: {events}; "
                            f"oom_log={facts.get('oom_log')} warnings={result.get('warnings')}; "
                            f"kernel log: {r.killed_line}; "
                            + vm.run(f"journalctl -k -q -o short-unix --since=@{since} | grep -F 'Killed process' || true"))
    event = mine[0]
    print(f"{vm.name}: oom_facts event {event['time']} {event['kind']} victim={event['victim']} "
          f"task_memcg={event.get('task_memcg')}")  # fmt: skip
    victim = event["victim"]
    assert victim["comm"] == "python3" and victim["uid"] == 0, victim
    assert victim["anon_rss_kb"] == kernel_kb(r.killed_line, "anon-rss"), (victim, r.killed_line)
    assert victim["total_vm_kb"] == kernel_kb(r.killed_line, "total-vm"), (victim, r.killed_line)
    assert victim["anon_rss_kb"] > 512 * 1024, "the hog was killed before it grew: not the drill's kill?"
    assert event["kind"] == "global" and not event["memcg"], event
    assert event["constraint"] == "CONSTRAINT_NONE", event
    # the unit the drill ran the hog in (systemd-run), as the kernel names its memory cgroup
    assert event["task_memcg"] == f"/system.slice/{r.unit}.service", event
    assert facts["memory"]["mem_total_kb"] > 0 and facts["psi"]["available"], facts["psi"]
