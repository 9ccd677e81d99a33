"""The OOM drill: one run of a memory hog bigger than the VM's RAM, with everything the
tests check recorded before and after. Shared by test_oom_drill.py and the tests of the
optional roles (needs_monitor)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import time
import zlib

# A plain allocator: 32 MiB chunks of non-zero bytes (every page written, so nothing
# is left to the zero page or to lazy allocation) until the kernel stops it. Its
# oom_score_adj stays 0: the kernel must pick it by its size, not because it asked.
# (stress-ng raises its own workers to oom_score_adj 1000, which would hide a wrong
# victim choice.)
HOG = r"""
import sys
chunks = []
mib = 0
while True:
    chunks.append(b"\x01" * (32 << 20))
    mib += 32
    if mib % 256 == 0:
        print(f"hog: {mib} MiB", flush=True)
"""
HOG_PATH = "/root/rock5b-hog.py"


@dataclasses.dataclass
class DrillResult:
    unit: str
    hog_pid: int
    seconds: float
    result: str
    exec_main_code: str
    exec_main_status: str
    oom_kill_before: int
    oom_kill_after: int
    sshd_pid_before: int
    sshd_pid_after: int
    sshd_active_after: str
    session_pid: int
    session_adj_before: int
    session_alive_after: bool
    kernel_log: str
    reachable_after: bool
    psi_some_ms: float | None = None  # memory stall time during the drill (PSI totals)
    psi_full_ms: float | None = None

    @property
    def killed_line(self) -> str | None:
        m = re.search(rf"Killed process {self.hog_pid} \([^)]*\).*", self.kernel_log)
        return m.group(0) if m else None


def oom_kills(vm) -> int:
    for line in vm.read("/proc/vmstat").splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    raise AssertionError("no oom_kill in /proc/vmstat")


def psi_memory_totals(vm) -> tuple[int, int] | None:
    """(some, full) total stall microseconds from /proc/pressure/memory, None without PSI."""
    res = vm.host.run("cat /proc/pressure/memory")
    if res.rc != 0:
        return None
    totals = [int(line.rsplit("total=", 1)[1]) for line in res.stdout.splitlines()[:2]]
    return totals[0], totals[1]


def unit_props(vm, unit: str, *props: str) -> dict[str, str]:
    out = vm.run(f"systemctl show -p {','.join(props)} {unit}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def run_drill(vm, tag: str, timeout: float = 600) -> DrillResult:
    unit = f"rock5b-drill-{tag}"
    cursor = f"/run/{unit}.cursor"
    vm.run(f"cat > {HOG_PATH} <<'EOF'\n{HOG}\nEOF")
    vm.run(f"systemctl reset-failed {unit} 2>/dev/null; rm -f {cursor}; "
           f"journalctl -k -q -n 0 --cursor-file={cursor} >/dev/null")  # fmt: skip
    before = oom_kills(vm)
    psi_before = psi_memory_totals(vm)
    sshd_before = int(unit_props(vm, "ssh.service", "MainPID")["MainPID"])

    # a login session opened through sshd before the drill, kept open during it
    marker = f"8{zlib.crc32(unit.encode()) % 10**6:06d}"
    session = subprocess.Popen(vm.ssh_argv(f"exec sleep {marker}"), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    session_pid = 0
    for _ in range(60):
        out = vm.run(f"pgrep -x -f 'sleep {marker}' || true").split()
        if out:
            session_pid = int(out[0])
            break
        time.sleep(1)
    assert session_pid, "the long-lived ssh session did not start"
    session_adj = int(vm.read(f"/proc/{session_pid}/oom_score_adj"))

    t0 = time.monotonic()
    vm.run(f"systemd-run -q --unit={unit} -p RuntimeMaxSec={int(timeout)} /usr/bin/python3 {HOG_PATH}")
    hog_pid = int(unit_props(vm, unit, "MainPID")["MainPID"])
    props: dict[str, str] = {}
    while time.monotonic() - t0 < timeout + 60:
        try:
            props = unit_props(vm, unit, "ActiveState", "Result", "ExecMainCode", "ExecMainStatus")
        except (RuntimeError, AssertionError):
            props = {}  # ssh may stall while the VM is out of memory: try again
        if props.get("ActiveState") in ("failed", "inactive"):
            break
        time.sleep(2)
    seconds = time.monotonic() - t0

    psi_after = psi_memory_totals(vm)
    kernel_log = vm.run(f"journalctl -k -q -o cat --cursor-file={cursor}", check=False)
    alive = vm.host.run(f"test -d /proc/{session_pid}").rc == 0
    session.terminate()
    session.wait(timeout=30)
    result = DrillResult(
        unit=unit, hog_pid=hog_pid, seconds=seconds,
        result=props.get("Result", "?"), exec_main_code=props.get("ExecMainCode", "?"),
        exec_main_status=props.get("ExecMainStatus", "?"),
        oom_kill_before=before, oom_kill_after=oom_kills(vm),
        sshd_pid_before=sshd_before,
        sshd_pid_after=int(unit_props(vm, "ssh.service", "MainPID")["MainPID"]),
        sshd_active_after=unit_props(vm, "ssh.service", "ActiveState")["ActiveState"],
        session_pid=session_pid, session_adj_before=session_adj, session_alive_after=alive,
        kernel_log=kernel_log, reachable_after=vm.reachable(),
    )  # fmt: skip
    if psi_before and psi_after:
        result.psi_some_ms = (psi_after[0] - psi_before[0]) / 1000
        result.psi_full_ms = (psi_after[1] - psi_before[1]) / 1000
    vm.run(f"systemctl reset-failed {unit} 2>/dev/null || true")
    return result


def session_oom_score_adj(vm) -> int:
    """oom_score_adj of a command run in a fresh (non-multiplexed) ssh login."""
    proc = subprocess.Popen(vm.ssh_argv("exec sleep 7654321"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(60):
            pid = vm.run("pgrep -x -f 'sleep 7654321' || true").split()
            if pid:
                return int(vm.read(f"/proc/{pid[0]}/oom_score_adj"))
            time.sleep(1)
        raise AssertionError("the ssh session did not start")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
