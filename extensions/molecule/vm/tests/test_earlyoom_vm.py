"""monitor_backend earlyoom on the real kernel (v2 VM; not run by the author: make vm-test).

Debian's earlyoom is installed from its .deb (vm.install_debs: nothing downloads in the VM),
then monitor_backend.yml converges the VM with monitor_backend earlyoom: earlyoom runs with the
arguments mapped from the monitor's settings, the monitor is stopped and disabled, a second
run changes nothing. A hog allocating 16 MiB every 50 ms is then killed by earlyoom (its
journal names the hog's pid), not by the kernel (oom_kill unchanged), and sshd survives.
Converging back to rock5b starts the monitor; with monitor_other_killers report earlyoom
keeps running and oom_facts names it, with stop it is stopped and disabled (second run:
nothing changed). earlyoom is purged and the monitor left as the scenario has it.
"""

from __future__ import annotations

import re
import shlex

import pytest

from backend_vm import MONITOR, changed_tasks, converge, unit_state, wait_for
from drill import oom_kills

pytestmark = [pytest.mark.vm_modes("v2"), pytest.mark.vm_suites("bookworm"), pytest.mark.feature("monitor_backend earlyoom")]

EARLYOOM = "earlyoom.service"
HOG_UNIT = "rock5b-earlyoom-hog"
HOG_PATH = "/root/rock5b-earlyoom-hog.py"
# As bench-monitor's hog: 16 MiB every 50 ms, every page written, oom_score_adj left at 0.
HOG = r"""
import time
chunks = []
while True:
    chunks.append(b"\x01" * (16 << 20))
    time.sleep(0.05)
"""
# A threshold well above the kernel's reserves, and swap ignored (-s 100), so that earlyoom acts
# on MemAvailable alone, whatever swap (zram) the VM has.
VARIABLES = {"monitor_backend": "earlyoom", "monitor_warn": "400M", "monitor_critical": "300M",
             "monitor_count_swap": False, "monitor_prefer_comms": ["python3"]}
ARGS = ["-r", "3600", "-M", "307200", "-s", "100", "--avoid", "^(systemd|systemd-journal|sshd)$", "--prefer", "^(python3)$"]


def purge(vm) -> None:
    vm.run("systemctl stop rock5b-earlyoom-hog.service 2>/dev/null; "
           "if dpkg-query -W earlyoom >/dev/null 2>&1; then systemctl stop earlyoom.service; "
           "DEBIAN_FRONTEND=noninteractive dpkg --purge earlyoom; fi; "
           "rm -rf /etc/systemd/system/earlyoom.service.d; systemctl daemon-reload", check=False, timeout=300)


def cmdline(vm, unit: str) -> list[str]:
    pid = vm.run(f"systemctl show -P MainPID {unit}").strip()
    return [arg for arg in vm.run(f"tr '\\0' '\\n' < /proc/{pid}/cmdline").split("\n") if arg]


def sshd_pid(vm) -> int:
    return int(vm.run("systemctl show -P MainPID ssh.service").strip())


@pytest.fixture(scope="module")
def earlyoom_backend(vm):
    """The VM converged with monitor_backend earlyoom; afterwards back to rock5b, earlyoom purged."""
    vm.install_debs("earlyoom")
    data, _changed = converge(vm, **VARIABLES)
    yield data
    purge(vm)
    converge(vm)  # the scenario's settings: the monitor (rock5b) running


def test_earlyoom_runs_with_the_mapped_arguments_and_the_monitor_is_stopped(vm, earlyoom_backend):
    assert unit_state(vm, EARLYOOM) == ("active", "enabled")
    wait_for("earlyoom restarted with the drop-in's arguments",
             lambda: cmdline(vm, EARLYOOM)[1:len(ARGS) + 1] == ARGS, 30)
    # then Debian's EARLYOOM_ARGS, the package's file untouched
    assert cmdline(vm, EARLYOOM)[len(ARGS) + 1:] == ["-r", "3600"]
    assert unit_state(vm, MONITOR) == ("inactive", "disabled")
    assert vm.run("test -f /usr/lib/rock5b-oom/main.py && echo kept").strip() == "kept"
    journal = vm.run(f"journalctl -b -u {EARLYOOM} --no-pager -o cat")
    # earlyoom 1.7 (bookworm) says "mem <=", 1.8 (trixie) "mem avail <="
    assert re.search(r"sending SIGTERM when mem (avail )?<=", journal), journal[-2000:]


def test_the_switch_is_idempotent_and_check_mode_predicts_nothing(vm, earlyoom_backend):
    data, changed = converge(vm, check=True, **VARIABLES)
    assert changed == 0, changed_tasks(vm, data)
    data, changed = converge(vm, **VARIABLES)
    assert changed == 0, changed_tasks(vm, data)


def test_earlyoom_kills_the_hog_and_sshd_survives(vm, earlyoom_backend):
    vm.run(f"cat > {HOG_PATH} <<'EOF'\n{HOG}\nEOF")
    sshd_before, kills_before = sshd_pid(vm), oom_kills(vm)
    since = vm.run("date '+%Y-%m-%d %H:%M:%S'").strip()
    vm.run(f"systemd-run -q --unit={HOG_UNIT} -p RuntimeMaxSec=300 /usr/bin/python3 {HOG_PATH}")
    hog_pid = int(vm.run(f"systemctl show -P MainPID {HOG_UNIT}.service").strip())
    assert hog_pid > 0
    journal = wait_for(f"earlyoom names the hog (pid {hog_pid})", lambda: (lambda text: text if re.search(
        rf"sending SIG(TERM|KILL) to process {hog_pid}\b", text) else None)(vm.run(
            f"journalctl -u {EARLYOOM} --since {shlex.quote(since)} --no-pager -o cat")), 240, step=2)
    wait_for("the hog ended", lambda: unit_state(vm, f"{HOG_UNIT}.service")[0] in ("inactive", "failed"), 60)
    print(f"{vm.name}: " + "; ".join(line for line in journal.splitlines() if "sending" in line))
    assert oom_kills(vm) == kills_before, "the kernel's OOM killer acted before earlyoom"
    assert unit_state(vm, "ssh.service")[0] == "active" and sshd_pid(vm) == sshd_before, "sshd was killed or restarted"
    assert vm.reachable(), "no new SSH login after the hog"


def test_back_to_rock5b_reports_then_stops_earlyoom(vm, earlyoom_backend):
    converge(vm)  # rock5b, monitor_other_killers report (the defaults)
    assert unit_state(vm, MONITOR) == ("active", "enabled")
    assert unit_state(vm, EARLYOOM)[0] == "active", "report must leave earlyoom running"
    facts = vm.module("rock5b.oom.oom_facts", {"top_n": 0, "log_source": "none"})["ansible_facts"]["rock5b_oom"]
    assert "earlyoom" in facts["killers"] and "rock5b-oom-monitor" in facts["killers"], facts["killers"]

    data, changed = converge(vm, monitor_other_killers="stop")
    changed_names = [name.split(" : ")[-1] for name in changed_tasks(vm, data)]
    assert "Stop and disable the other userspace OOM killers" in changed_names, changed_names
    assert unit_state(vm, EARLYOOM) == ("inactive", "disabled")
    assert unit_state(vm, MONITOR) == ("active", "enabled")
    data, changed = converge(vm, monitor_other_killers="stop")
    assert changed == 0, changed_tasks(vm, data)
