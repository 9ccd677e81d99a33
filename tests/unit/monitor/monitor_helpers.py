"""The monitor as the role installs it, and fake /proc trees, clocks and readings for its tests.

At import, the files of roles/monitor/files/manifest.json are copied to a temporary install
directory laid out as on a board (main.py, manifest.json, rock5b_oom_monitor/, procfs/) and
that directory is put first on sys.path: the tests import ``rock5b_oom_monitor`` and
``procfs`` from there, so a file missing from the manifest fails them. conftest.py imports
this module before any test module is collected.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MANIFEST_PATH = os.path.join(REPO, "roles", "monitor", "files", "manifest.json")


def load_manifest():
    with open(MANIFEST_PATH) as handle:
        return json.load(handle)


def install(destination):
    """Copy every file of the manifest to ``destination`` as the role installs it."""
    for entry in load_manifest()["files"]:
        target = os.path.join(destination, entry["dest"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(REPO, entry["src"]), target)
    return destination


INSTALL_DIR = install(tempfile.mkdtemp(prefix="rock5b-oom-monitor-"))
atexit.register(shutil.rmtree, INSTALL_DIR, True)
PROGRAM = os.path.join(INSTALL_DIR, "main.py")
for _name in [name for name in sys.modules if name.split(".")[0] in ("rock5b_oom_monitor", "procfs")]:
    del sys.modules[_name]
sys.path.insert(0, INSTALL_DIR)

from procfs import processes  # noqa: E402  pylint: disable=wrong-import-position
from rock5b_oom_monitor import decisions  # noqa: E402  pylint: disable=wrong-import-position
from rock5b_oom_monitor.config import validate_config  # noqa: E402  pylint: disable=wrong-import-position
from rock5b_oom_monitor.monitor import Monitor  # noqa: E402  pylint: disable=wrong-import-position

assert decisions.__file__.startswith(INSTALL_DIR) and processes.__file__.startswith(INSTALL_DIR)

MIB = 1024
TOTAL = 3995120  # a 4 GB board's MemTotal in kB


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
    return validate_config(overrides)


def mb_reading(mb, total=TOTAL, psi=None):
    """A reading of ``mb`` MiB available, without swap."""
    kb = int(mb * MIB)
    return {"effective": kb, "mem_available": kb, "mem_total": total, "swap_free": 0, "zram_free": 0, "zram_size": 0,
            "psi": psi}


def make_monitor(clock_start=None, **overrides):
    config = make_config(**overrides)
    return Monitor(config, decisions.Thresholds.from_config(config, TOTAL), self_pid=4242)


def kinds(actions):
    return [a.kind for a in actions]


def process_entry(pid, comm, rss_mb, oom_score, adj=0, unit=None, cmdline="", **extra):
    """A process as processes.list_resident_processes() gives it."""
    entry = {"pid": pid, "comm": comm, "rss_kb": rss_mb * MIB, "oom_score": oom_score, "oom_score_adj": adj,
             "unit": unit, "cmdline": cmdline, "state": "S", "kernel_thread": False, "ppid": 1, "starttime": pid}
    entry.update(extra)
    return entry


class RecordingJournal:
    native = True

    def __init__(self):
        self.records = []

    def send(self, priority, message, fields=()):
        self.records.append((priority, message, dict(fields)))
        return True


class RecordingNotifier:
    watchdog_s = None

    def __init__(self):
        self.sent = []

    def notify(self, text):
        self.sent.append(text)
        return True
