"""monitor_backend systemd-oomd on the real kernel (v2 VM, systemd 252 in bookworm; not run by
the author: make vm-test).

Debian's systemd-oomd is installed from its .deb (vm.install_debs), then monitor_backend.yml
converges the VM with monitor_backend systemd-oomd and a test slice with
ManagedOOMMemoryPressure=kill and a 10 % limit (cgroup_limits_units): oomd runs with the role's
oomd.conf drop-in and monitors the slice, the monitor is stopped; a second run changes nothing.
Two pressure-making units run in the slice, both churning memory above their MemoryHigh=
(throttled: memory stalls): the protected one with ManagedOOMPreference=omit, the hog without.
oomd must kill the hog and, with the pressure still there, never the protected unit. At the end
the VM is back to the scenario's settings (slice removed, monitor running, oomd purged).
"""

from __future__ import annotations

import re

import pytest

from backend_vm import MONITOR, changed_tasks, converge, scenario_vars, unit_state, wait_for

# Not passing yet (first VM run, 2026-12-06): oomctl never listed the test slice within 60 s (an
# empty slice has no cgroup until a unit runs in it, so the wait comes too early), and the
# protected unit's cgroup had no user.oomd_omit xattr when read. To be worked out on a VM.
pytestmark = [pytest.mark.vm_modes("v2"), pytest.mark.vm_suites("bookworm"), pytest.mark.not_passing_yet,
              pytest.mark.feature("monitor_backend systemd-oomd")]

OOMD = "systemd-oomd.service"
SLICE = "rock5b-oomd-test.slice"
HOG = "rock5b-oomd-hog"
PROTECTED = "rock5b-oomd-protected"
CHURN_PATH = "/root/rock5b-oomd-churn.py"
# Keeps at most argv[1] MiB, allocating 8 MiB at a time and dropping the oldest: every
# allocation above the unit's MemoryHigh= is throttled (a memory stall), so the pressure lasts.
CHURN = r"""
import sys
keep = int(sys.argv[1]) // 8
chunks = []
while True:
    chunks.append(b"\x01" * (8 << 20))
    if len(chunks) > keep:
        chunks.pop(0)
"""


def variables(state: str = "present") -> dict:
    slice_entry = {"unit": SLICE, "state": "absent"} if state == "absent" else {
        "unit": SLICE, "description": "rock5b.oom test slice for systemd-oomd",
        "managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": "10%"}
    return {"cgroup_limits_units": scenario_vars().get("cgroup_limits_units", []) + [slice_entry]}


BACKEND = {"monitor_backend": "systemd-oomd", "monitor_oomd_memory_pressure_duration": 5}


def cleanup(vm) -> None:
    vm.run(f"systemctl stop {HOG}.service {PROTECTED}.service 2>/dev/null; systemctl reset-failed {HOG}.service "
           f"{PROTECTED}.service 2>/dev/null; true", check=False)


@pytest.fixture(scope="module")
def oomd_backend(vm):
    """The VM converged with monitor_backend systemd-oomd and the test slice; restored afterwards."""
    vm.install_debs("systemd-oomd")
    data, _changed = converge(vm, **BACKEND, **variables())
    yield data
    cleanup(vm)
    converge(vm, monitor_other_killers="stop", **variables("absent"))
    vm.run("DEBIAN_FRONTEND=noninteractive dpkg --purge systemd-oomd; rm -rf /etc/systemd/oomd.conf.d; "
           "systemctl daemon-reload", check=False, timeout=300)
    assert unit_state(vm, MONITOR) == ("active", "enabled")


def test_oomd_runs_with_the_roles_settings_and_watches_the_slice(vm, oomd_backend):
    assert unit_state(vm, OOMD)[0] == "active"
    assert unit_state(vm, MONITOR) == ("inactive", "disabled")
    conf = vm.read("/etc/systemd/oomd.conf.d/rock5b-oom.conf")
    assert "[OOM]" in conf and "DefaultMemoryPressureDurationSec=5s" in conf and "SwapUsedLimit=90%" in conf
    dump = wait_for("oomctl lists the slice", lambda: (lambda text: text if SLICE in text else None)(
        vm.run("oomctl dump", check=False)), 60)
    assert re.search(r"Memory Pressure Duration:\s*5s", dump), dump
    data, changed = converge(vm, **BACKEND, **variables())
    assert changed == 0, changed_tasks(vm, data)


def test_oomd_kills_the_hog_and_spares_the_omitted_unit(vm, oomd_backend):
    cleanup(vm)
    vm.run(f"cat > {CHURN_PATH} <<'EOF'\n{CHURN}\nEOF")
    since = vm.run("date '+%Y-%m-%d %H:%M:%S'").strip()
    common = f"-p Slice={SLICE} -p MemoryHigh=48M -p RuntimeMaxSec=300"
    vm.run(f"systemd-run -q --unit={PROTECTED} {common} -p ManagedOOMPreference=omit /usr/bin/python3 {CHURN_PATH} 128")
    vm.run(f"systemd-run -q --unit={HOG} {common} /usr/bin/python3 {CHURN_PATH} 256")
    cgroup = f"/sys/fs/cgroup/{SLICE}/{PROTECTED}.service"
    # systemd marks the omitted cgroup for oomd with an extended attribute
    omit = vm.run(f"python3 -c 'import os; print(os.getxattr(\"{cgroup}\", \"user.oomd_omit\").decode())'", check=False)
    assert omit.strip() == "1", f"{cgroup} has no user.oomd_omit=1: {omit!r}"
    killed = wait_for("oomd kills the hog", lambda: (lambda text: text if re.search(
        rf"Killed /{SLICE}/{HOG}\.service", text) else None)(vm.run(
            f"journalctl -u {OOMD} --since '{since}' --no-pager -o cat")), 180, step=3)
    print(f"{vm.name}: " + "; ".join(line for line in killed.splitlines() if "Killed" in line))
    assert unit_state(vm, f"{HOG}.service")[0] != "active"
    # the protected unit keeps the slice under pressure: oomd would take it next, were it not omitted
    pressure = []
    for _ in range(10):
        vm.run("sleep 3")
        pressure.append(vm.read(f"/sys/fs/cgroup/{SLICE}/memory.pressure").splitlines()[0])
        assert unit_state(vm, f"{PROTECTED}.service")[0] == "active", "the omitted unit was killed"
    log = vm.run(f"journalctl -u {OOMD} --since '{since}' --no-pager -o cat")
    assert PROTECTED not in log, log
    print(f"{vm.name}: slice pressure after the kill: {pressure[-1]}")
