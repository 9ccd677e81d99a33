"""A board whose kernel has PSI switched off at boot: the nopsi VM, booted with
psi=0, stands in for a Radxa BSP kernel (CONFIG_PSI_DEFAULT_DISABLED=y) without psi=1.
The whole collection converged on it (molecule.yml); here:

* rock5b.oom.memory_pressure used as a gate fails, and its message says PSI is disabled at
  boot and how to enable it (psi=1); asked to report instead, it returns the same state;
* rock5b.oom.oom_facts reports PSI as disabled and everything else as usual;
* the monitor runs without PSI: it says once, when it starts, that it falls back to polling.
"""

from __future__ import annotations

import json

import pytest

from drill import unit_props

pytestmark = [pytest.mark.vm_modes("nopsi"), pytest.mark.feature("PSI off diagnosis")]

MONITOR = "rock5b-oom-monitor.service"
FALLBACK = "adaptive MemAvailable polling only"


def test_kernel_has_no_psi(vm):
    # the ground truth the modules must agree with
    assert "psi=0" in vm.read("/proc/cmdline").split()
    assert vm.host.run("test -e /proc/pressure").rc != 0, "/proc/pressure exists under psi=0"


def test_memory_pressure_gate_fails_with_the_disabled_message(vm):
    result = vm.module("rock5b.oom.memory_pressure", {"name": vm.name, "max_full_avg10": 5})
    assert result.get("failed"), f"the PSI gate passed on a board without PSI: {result}"
    msg = result["msg"]
    print(f"{vm.name}: {msg}")
    assert msg.startswith(f"{vm.name}: PSI cannot be read: "), msg
    assert "PSI is disabled by psi=0 on the kernel command line" in msg, msg
    assert "To fix: replace psi=0 with psi=1 on the kernel command line and reboot" in msg, msg
    assert "extraargs=psi=1 in /boot/armbianEnv.txt" in msg, msg
    assert "/boot/extlinux/extlinux.conf" in msg, msg
    assert result["state"] == "disabled" and result["available"] is False, result
    assert result["pressure"] == {} and result["violations"] == [], result


def test_memory_pressure_reports_disabled_when_asked_to(vm):
    # a cgroup's memory.pressure is hidden under psi=0 too: same diagnosis, no failure
    result = vm.module("rock5b.oom.memory_pressure",
                       {"cgroup": "system.slice", "unavailable": "report"})  # fmt: skip
    assert not result.get("failed"), result.get("msg")
    assert result["available"] is False and result["state"] == "disabled", result
    assert result["source"] == "/sys/fs/cgroup/system.slice", result
    assert "psi=0" in result["reason"] and "psi=1" in result["hint"], result
    assert any("PSI cannot be read" in w for w in result.get("warnings", [])), result


def test_oom_facts_say_psi_is_disabled(vm):
    result = vm.module("rock5b.oom.oom_facts", {"top_n": 3, "since": "boot"})
    assert not result.get("failed"), result.get("msg")
    facts = result["ansible_facts"]["rock5b_oom"]
    psi = facts["psi"]
    assert psi["available"] is False and psi["state"] == "disabled" and psi["memory"] is None, psi
    assert "psi=0" in psi["reason"] and "psi=1" in psi["hint"], psi
    # the rest does not depend on PSI
    assert facts["memory"]["mem_total_kb"] > 1024 * 1024, facts["memory"]
    assert facts["cgroup"]["version"] == "v2", facts["cgroup"]
    assert len(facts["top_processes"]) == 3, facts["top_processes"]


def test_monitor_falls_back_to_polling_and_says_so_once(vm):
    props = unit_props(vm, MONITOR, "ActiveState", "InvocationID", "StatusText")
    assert props["ActiveState"] == "active", props
    assert "polling (no PSI trigger)" in props["StatusText"], props
    out = vm.run(f"journalctl -q -o json --output-fields=MESSAGE,ROCK5B_OOM_EVENT,ROCK5B_OOM_PSI_MODE "
                 f"_SYSTEMD_INVOCATION_ID={props['InvocationID']}")  # fmt: skip
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert entries, f"nothing in the journal of the monitor's invocation {props['InvocationID']}"
    messages = [e.get("MESSAGE", "") for e in entries]
    fallback = [m for m in messages if FALLBACK in m]
    assert len(fallback) == 1, f"expected one fallback message, got {len(fallback)}:\n" + "\n".join(messages)
    assert "PSI unavailable (disabled)" in fallback[0] and "psi=1" in fallback[0], fallback[0]
    modes = [e.get("ROCK5B_OOM_PSI_MODE") for e in entries if e.get("ROCK5B_OOM_EVENT") == "psi_mode"]
    assert modes == ["polling"], modes
    assert not [m for m in messages if "PSI triggers armed" in m], messages
