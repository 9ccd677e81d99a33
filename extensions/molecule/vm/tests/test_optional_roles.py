"""Checks of roles that site.yml may not apply yet. Deselected (not skipped, not counted)
unless their marker is named in VM_TEST_ENABLE (see conftest.py):

  VM_TEST_ENABLE=needs_protect_daemons,needs_monitor tools/vm/test.sh
"""

from __future__ import annotations

import json
import re

import pytest

from drill import run_drill, unit_props

MONITOR = "rock5b-oom-monitor.service"


@pytest.mark.feature("protect_daemons")
@pytest.mark.needs_protect_daemons
def test_sshd_listener_protected(vm):
    pid = int(unit_props(vm, "ssh.service", "MainPID")["MainPID"])
    assert pid > 0
    assert vm.read(f"/proc/{pid}/oom_score_adj") == "-1000"


@pytest.mark.feature("protect_daemons")
@pytest.mark.needs_protect_daemons
def test_ssh_service_has_no_unit_wide_minus_1000(vm):
    # OOMScoreAdjust=-1000 on ssh.service would be inherited by every login session
    value = unit_props(vm, "ssh.service", "OOMScoreAdjust")["OOMScoreAdjust"]
    assert value != "-1000", "ssh.service runs with OOMScoreAdjust=-1000"


@pytest.mark.feature("protect_daemons")
@pytest.mark.needs_protect_daemons
def test_sshd_protected_again_after_restart(vm):
    vm.run("systemctl restart ssh.service")
    pid = int(unit_props(vm, "ssh.service", "MainPID")["MainPID"])
    assert vm.read(f"/proc/{pid}/oom_score_adj") == "-1000"
    assert vm.reachable()


@pytest.mark.feature("monitor")
@pytest.mark.needs_monitor
def test_monitor_active(vm):
    props = unit_props(vm, MONITOR, "ActiveState", "MainPID", "UnitFileState")
    assert props["ActiveState"] == "active", props
    assert props["UnitFileState"] == "enabled", props


@pytest.mark.feature("protect_daemons")
@pytest.mark.needs_monitor
@pytest.mark.needs_protect_daemons
def test_monitor_protected(vm):
    pid = int(unit_props(vm, MONITOR, "MainPID")["MainPID"])
    assert vm.read(f"/proc/{pid}/oom_score_adj") == "-1000"


@pytest.mark.feature("monitor")
@pytest.mark.needs_monitor
@pytest.mark.vm_modes("v2", "v1")
def test_monitor_logs_low_memory_before_the_kernel_kills_and_survives(vm):
    before = unit_props(vm, MONITOR, "MainPID", "ActiveState")
    assert before["ActiveState"] == "active", before
    since = vm.run("date +%s").strip()
    r = run_drill(vm, f"{vm.name}-monitor")
    assert r.killed_line, r.kernel_log[-2000:]
    after = unit_props(vm, MONITOR, "MainPID", "ActiveState")
    assert after == before, f"monitor restarted or died: {before} -> {after}"
    killed_at = kernel_kill_realtime_us(vm, r.hog_pid, since)
    records = journal_records(vm, f"-u {MONITOR} --since @{since}")
    low = [rec for rec in records if rec.get("ROCK5B_OOM_EVENT") in ("warn", "critical")]
    assert low, "the monitor logged no low-memory record during the drill:\n" + "\n".join(
        rec.get("MESSAGE", "") for rec in records)
    # _SOURCE_REALTIME_TIMESTAMP: when the monitor sent it (the socket's timestamp), not when
    # a journald busy under the same pressure got round to it.
    sent_at = int(low[0].get("_SOURCE_REALTIME_TIMESTAMP") or low[0]["__REALTIME_TIMESTAMP"])
    assert sent_at < killed_at, (
        f"first low-memory record {(sent_at - killed_at) / 1000:.0f} ms after the kill: {low[0].get('MESSAGE')}")
    assert int(low[0]["ROCK5B_OOM_AVAILABLE_KB"]) < int(low[0]["ROCK5B_OOM_WARN_KB"])


def journal_records(vm, args: str) -> list[dict]:
    out = vm.run(f"journalctl -q -o json --no-pager {args}", check=False)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def kernel_kill_realtime_us(vm, pid: int, since: str) -> int:
    """When the kernel killed ``pid``: the kmsg record's own monotonic stamp, on the wall clock."""
    for rec in journal_records(vm, f"-k --since @{since}"):
        if re.search(rf"Killed process {pid} \(", rec.get("MESSAGE", "")):
            offset = int(rec["__REALTIME_TIMESTAMP"]) - int(rec["__MONOTONIC_TIMESTAMP"])
            return int(rec.get("_SOURCE_MONOTONIC_TIMESTAMP") or rec["__MONOTONIC_TIMESTAMP"]) + offset
    raise AssertionError(f"no 'Killed process {pid}' record in the kernel log")
