"""monitor_backend systemd-oomd on the real kernel (v2 VM, systemd 252 in bookworm).

Debian's systemd-oomd is installed from its .deb (vm.install_debs), then monitor_backend.yml
converges the VM with monitor_backend systemd-oomd and a test slice with
ManagedOOMMemoryPressure=kill and a 10 % limit (cgroup_limits_units): oomd runs with the role's
oomd.conf drop-in and monitors the slice, the monitor is stopped; a second run changes nothing.

Two units run in the slice, each under MemoryHigh=48M and each re-reading a 128 MiB file of its
own (page cache charged to it, dropped before they start): a memory stall with reclaim activity.
systemd-oomd 252 kills only "with reclaim activity" (a cgroup's pgscan rising): anonymous memory
on a board without swap is never scanned, so a hog that only allocates makes pressure that oomd
never acts on (seen on the first VM run; docs/memory_policy.md). The protected unit has
ManagedOOMPreference=omit and starts first; the hog follows. oomd must kill the hog and, with the
pressure and the reclaim still there, consider no cgroup left to kill. At the end the VM is back
to the scenario's settings (slice removed, monitor running, oomd purged).
"""

from __future__ import annotations

import re

import pytest

from backend_vm import MONITOR, changed_tasks, converge, scenario_vars, unit_state, wait_for

pytestmark = [pytest.mark.vm_modes("v2"), pytest.mark.vm_suites("bookworm"),
              pytest.mark.feature("monitor_backend systemd-oomd")]

OOMD = "systemd-oomd.service"
SLICE = "rock5b-oomd-test.slice"
HOG = "rock5b-oomd-hog"
PROTECTED = "rock5b-oomd-protected"
CHURN_PATH = "/root/rock5b-oomd-churn.py"
FILES = {HOG: "/root/rock5b-oomd-hog.data", PROTECTED: "/root/rock5b-oomd-protected.data"}
# Keeps argv[1] MiB of anonymous memory (8 MiB at a time, the oldest dropped) and re-reads the
# file argv[2] whole on every round: above the unit's MemoryHigh= the file's pages are reclaimed
# and read again, a stall that oomd sees with the reclaim it asks for.
CHURN = r"""
import sys
keep = int(sys.argv[1]) // 8
chunks = []
while True:
    chunks.append(b"\x01" * (8 << 20))
    if len(chunks) > keep:
        chunks.pop(0)
    with open(sys.argv[2], "rb") as data:
        while data.read(1 << 20):
            pass
"""


def variables(state: str = "present") -> dict:
    slice_entry = {"unit": SLICE, "state": "absent"} if state == "absent" else {
        "unit": SLICE, "description": "rock5b.oom test slice for systemd-oomd",
        "managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": "10%"}
    return {"cgroup_limits_units": scenario_vars().get("cgroup_limits_units", []) + [slice_entry]}


BACKEND = {"monitor_backend": "systemd-oomd", "monitor_oomd_memory_pressure_duration": 5}


def cleanup(vm) -> None:
    vm.run(f"systemctl stop {HOG}.service {PROTECTED}.service 2>/dev/null; systemctl reset-failed {HOG}.service "
           f"{PROTECTED}.service 2>/dev/null; rm -f {' '.join(FILES.values())}; true", check=False)


def control_group(vm, unit: str) -> str:
    """The unit's cgroup path (a slice named a-b-c.slice nests under a.slice/a-b.slice)."""
    return vm.run(f"systemctl show -P ControlGroup {unit}").strip()


@pytest.fixture(scope="module")
def oomd_backend(vm):
    """The VM converged with monitor_backend systemd-oomd and the test slice; restored afterwards."""
    vm.install_debs("systemd-oomd")
    data, _changed = converge(vm, **BACKEND, **variables())
    yield data
    cleanup(vm)
    vm.run(f"systemctl stop {SLICE}", check=False)  # started by the tests; removing its file does not stop it
    converge(vm, monitor_other_killers="stop", **variables("absent"))
    vm.run("DEBIAN_FRONTEND=noninteractive dpkg --purge systemd-oomd; rm -rf /etc/systemd/oomd.conf.d; "
           "systemctl daemon-reload", check=False, timeout=300)
    assert unit_state(vm, MONITOR) == ("active", "enabled")


def test_oomd_runs_with_the_roles_settings_and_watches_the_slice(vm, oomd_backend):
    assert unit_state(vm, OOMD)[0] == "active"
    assert unit_state(vm, MONITOR) == ("inactive", "disabled")
    conf = vm.read("/etc/systemd/oomd.conf.d/rock5b-oom.conf")
    assert "[OOM]" in conf and "DefaultMemoryPressureDurationSec=5s" in conf and "SwapUsedLimit=90%" in conf
    # an empty slice has no cgroup: oomd watches it from the moment it is started
    vm.run(f"systemctl start {SLICE}")
    path = control_group(vm, SLICE)
    dump = wait_for("oomctl lists the slice", lambda: (lambda text: text if f"Path: {path}\n" in text else None)(
        vm.run("oomctl dump", check=False)), 60)
    watched = dump.split(f"Path: {path}\n", 1)[1]
    assert re.match(r"\s*Memory Pressure Limit: 10\.00%", watched), watched[:300]
    assert re.search(r"Default Memory Pressure Duration:\s*5s", dump), dump
    data, changed = converge(vm, **BACKEND, **variables())
    assert changed == 0, changed_tasks(vm, data)


def start_churn(vm, unit: str, *properties: str) -> str:
    """Start one churning unit in the slice; its cgroup path."""
    vm.run(f"systemd-run -q --unit={unit} -p Slice={SLICE} -p MemoryHigh=48M -p RuntimeMaxSec=300 "
           f"{' '.join(properties)} /usr/bin/python3 {CHURN_PATH} 16 {FILES[unit]}")
    return control_group(vm, f"{unit}.service")


def oomd_log(vm, since: str) -> str:
    return vm.run(f"journalctl -u {OOMD} --since '{since}' --no-pager -o cat")


def test_oomd_kills_the_hog_and_spares_the_omitted_unit(vm, oomd_backend):
    cleanup(vm)
    vm.run(f"cat > {CHURN_PATH} <<'EOF'\n{CHURN}\nEOF")
    for path in FILES.values():
        vm.run(f"dd if=/dev/zero of={path} bs=1M count=128 status=none")
    # the files' pages leave the cache, so each unit reads (and is charged for) its own
    vm.run("sync && echo 3 > /proc/sys/vm/drop_caches")
    # oomd's debug log names the cgroups it considers for a kill
    vm.run(f"systemctl service-log-level {OOMD} debug")
    since = vm.run("date '+%Y-%m-%d %H:%M:%S'").strip()
    protected = start_churn(vm, PROTECTED, "-p ManagedOOMPreference=omit")
    # systemd marks the omitted cgroup for oomd with an extended attribute
    omit = vm.run(f"python3 -c 'import os; print(os.getxattr(\"/sys/fs/cgroup{protected}\", \"user.oomd_omit\").decode())'",
                  check=False)
    assert omit.strip() == "1", f"{protected} has no user.oomd_omit=1: {omit!r}"
    hog = start_churn(vm, HOG)
    killed = wait_for("oomd kills the hog", lambda: (lambda text: text if re.search(
        rf"Killed {re.escape(hog)} due to memory pressure", text) else None)(oomd_log(vm, since)), 180, step=3)
    print(f"{vm.name}: " + "; ".join(line for line in killed.splitlines() if line.startswith("Killed")))
    assert unit_state(vm, f"{HOG}.service")[0] != "active"

    # The protected unit keeps the slice under pressure, with reclaim: oomd would take it next,
    # were it not omitted. It must see the pressure again and find nothing it may kill.
    after_kill = vm.run("date '+%Y-%m-%d %H:%M:%S'").strip()
    scans = []
    for _ in range(10):
        vm.run("sleep 3")
        scans.append(int(re.search(r"^pgscan (\d+)$", vm.read(f"/sys/fs/cgroup{protected}/memory.stat"), re.M).group(1)))
        assert unit_state(vm, f"{PROTECTED}.service")[0] == "active", "the omitted unit was killed"
    assert scans[-1] > scans[0], f"no reclaim in the protected unit after the kill: {scans}"
    log = oomd_log(vm, after_kill)
    assert re.search(r"Memory pressure for .*rock5b-oomd-test\.slice is .* with reclaim activity", log), log[-2000:]
    assert "Considered 0 cgroups for killing" in log, log[-2000:]
    kills = [line for line in oomd_log(vm, since).splitlines() if line.startswith("Killed")]
    assert kills and all(line.startswith(f"Killed {hog} ") for line in kills), kills
    print(f"{vm.name}: after the kill: " + vm.read(f"/sys/fs/cgroup{control_group(vm, SLICE)}/memory.pressure").splitlines()[1])
