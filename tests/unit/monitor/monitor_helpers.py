"""The monitor program (roles/monitor/files/rock5b_oom_monitor.py) and fake /proc trees for it.

The program imports the collection's module_utils as top-level modules (meminfo, pressure,
processes), exactly as it does on a board where the role installs them next to it; from the
repository it finds them in plugins/module_utils itself.
"""

from __future__ import annotations

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROGRAM = os.path.join(REPO, "roles", "monitor", "files", "rock5b_oom_monitor.py")

_spec = importlib.util.spec_from_file_location("rock5b_oom_monitor", PROGRAM)
mon = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mon)

MIB = 1024


class FakeClock:
    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds
        return self.now


class FakeProc:
    """A /proc tree: meminfo, swaps, pressure/memory, sys/vm and processes."""

    def __init__(self, base):
        self.root = str(base / "proc")
        os.makedirs(os.path.join(self.root, "sys", "vm"))
        self.set_meminfo(total=3995120, available=3000000)
        self.write("swaps", "Filename\tType\tSize\tUsed\tPriority\n")
        self.write("cmdline", "console=ttyS2 root=/dev/mmcblk0p2\n")
        self.add_process(1, "systemd", ppid=0, cmdline=["/sbin/init"], cgroup="0::/init.scope\n", rss_pages=3000)

    def write(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
        return path

    def set_meminfo(self, total, available, swap_total=0, swap_free=0):
        fields = {"MemTotal": total, "MemFree": available // 2, "MemAvailable": available,
                  "SwapTotal": swap_total, "SwapFree": swap_free}
        # As the kernel prints it: the colon right after the name, then the padded number.
        self.write("meminfo", "".join("%s%s kB\n" % ((k + ":").ljust(16), str(v).rjust(8)) for k, v in fields.items()))

    def set_psi(self, some10=0.0, full10=0.0):
        self.write("pressure/memory",
                   "some avg10=%.2f avg60=0.00 avg300=0.00 total=100\nfull avg10=%.2f avg60=0.00 avg300=0.00 total=50\n"
                   % (some10, full10))

    def add_process(self, pid, comm, ppid=1, cmdline=(), cgroup="0::/user.slice/user-1000.slice/session-1.scope\n",
                    adj=0, rss_pages=1000, oom_score=None, state="S", flags=0x400100):
        base = os.path.join(self.root, str(pid))
        os.makedirs(base)
        self.write("%d/stat" % pid, "%d (%s) %s %d %d %d 0 -1 %d 1 0 0 0 5 3 0 0 20 0 1 0 %d 1 2 3\n"
                   % (pid, comm, state, ppid, pid, pid, flags, pid * 10))
        with open(os.path.join(base, "cmdline"), "wb") as handle:
            handle.write(b"".join(arg.encode() + b"\0" for arg in cmdline))
        self.write("%d/comm" % pid, comm + "\n")
        self.write("%d/cgroup" % pid, cgroup)
        self.write("%d/oom_score_adj" % pid, "%d\n" % adj)
        self.write("%d/statm" % pid, "%d %d 100 10 0 500 0\n" % (rss_pages * 2, rss_pages))
        self.write("%d/oom_score" % pid, "%d\n" % (oom_score if oom_score is not None else max(0, rss_pages // 10 + adj)))


def make_config(**overrides):
    """A validated config; overrides are merged like the JSON file's keys."""
    return mon.validate_config(overrides)
