"""Benchmark of the installed rock5b-oom-monitor on a board (or the real-kernel VM).

Prints figures; asserts nothing about time. Standard library only, run as root on the board:

  python3 bench_monitor.py [--idle 60] [--runs 5] [--rate 200,1000] [--no-latency]

Idle cost: CPU time (utime+stime) and wake-ups (voluntary + involuntary context switches)
of the service's main process over --idle seconds, its RSS and the unit's MemoryCurrent; the
same for earlyoom when it runs (for comparison). The seed's bash loop wakes once per 30 s.

Detection latency: an allocator (a child of this script) fills memory at --rate MiB/s
until MemAvailable falls below the monitor's warn threshold (read from `--check`), notes
that moment (CLOCK_REALTIME), holds a few seconds above the critical threshold, and frees
everything. The latency is the journal's reception time of the monitor's next
ROCK5B_OOM_EVENT=warn record minus that moment. The seed's loop would take 0-30 s (mean 15 s).
The allocator stops 10% above critical, so no drop_caches or kill is triggered, and gives up
(and says so) when an allocation fails, e.g. under vm.overcommit_memory=2.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import re
import statistics
import subprocess
import sys
import time

UNIT = "rock5b-oom-monitor.service"
MIB = 1024 * 1024


def meminfo():
    fields = {}
    with open("/proc/meminfo") as handle:
        for line in handle:
            name, _sep, rest = line.partition(":")
            fields[name] = int(rest.split()[0])
    return fields


def main_pid():
    out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", UNIT], capture_output=True, text=True)
    pid = int(out.stdout.strip() or 0)
    if pid <= 0:
        sys.exit("%s is not running" % UNIT)
    return pid


def proc_cost(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / float(ticks)
    switches = rss = 0
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                switches += int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return cpu, switches, rss


def idle(seconds):
    print("== idle cost over %ds" % seconds)
    targets = [("rock5b-oom-monitor", main_pid())]
    earlyoom = subprocess.run(["pidof", "earlyoom"], capture_output=True, text=True).stdout.split()
    if earlyoom:
        targets.append(("earlyoom", int(earlyoom[0])))
    else:
        print("earlyoom: not running (apt-get install earlyoom to compare)")
    before = dict((name, proc_cost(pid)) for name, pid in targets)
    time.sleep(seconds)
    for name, pid in targets:
        cpu0, sw0, _rss = before[name]
        cpu1, sw1, rss = proc_cost(pid)
        print("%-20s CPU %.3f s in %d s (%.3f%%), %.2f wake-ups/s, RSS %d KiB" % (
            name, cpu1 - cpu0, seconds, (cpu1 - cpu0) / seconds * 100, (sw1 - sw0) / float(seconds), rss))
    props = subprocess.run(["systemctl", "show", "-p", "MemoryCurrent,StatusText,NRestarts", UNIT],
                           capture_output=True, text=True).stdout.strip().replace("\n", ", ")
    print("unit: %s" % props)


def thresholds():
    out = subprocess.run(["rock5b-oom-monitor", "--check"], capture_output=True, text=True).stdout
    match = re.search(r"warn below (\d+(?:\.\d+)?) (MiB|GiB) .*critical below (\d+(?:\.\d+)?) (MiB|GiB)", out)
    if not match:
        sys.exit("cannot read the thresholds from rock5b-oom-monitor --check:\n" + out)

    def kb(number, unit):
        return int(float(number) * (1024 if unit == "MiB" else 1048576))
    return kb(match.group(1), match.group(2)), kb(match.group(3), match.group(4))


ALLOCATOR = r"""
import mmap, sys, time
target_kb, floor_kb, rate, hold = (float(x) for x in sys.argv[1:5])
chunk = 4 * 1024 * 1024
maps, crossed = [], None
def available():
    with open("/proc/meminfo") as h:
        for line in h:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
start = time.monotonic()
try:
    while True:
        avail = available()
        if crossed is None and avail < target_kb:
            crossed = time.time()
            print("CROSSED %.6f %d" % (crossed, avail), flush=True)
        if avail < floor_kb or (crossed and time.monotonic() - start > 120):
            break
        m = mmap.mmap(-1, chunk)
        for off in range(0, chunk, 4096):
            m[off] = 1
        maps.append(m)
        # pace: len(maps) chunks should have taken len*chunk/rate seconds
        ahead = len(maps) * chunk / (rate * 1048576.0) - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
except (MemoryError, OSError) as error:
    print("FAILED %s after %d MiB" % (error, len(maps) * 4), flush=True)
if crossed:
    time.sleep(hold)
print("DONE", flush=True)
"""


def journal_warn_after(since_realtime):
    out = subprocess.run(["journalctl", "-u", UNIT, "-o", "json", "--no-pager", "ROCK5B_OOM_EVENT=warn",
                          "--since", "@%d" % int(since_realtime - 1)], capture_output=True, text=True).stdout
    times = []
    for line in out.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        stamp = int(record["__REALTIME_TIMESTAMP"]) / 1e6
        if stamp >= since_realtime - 0.5:
            times.append((stamp, record))
    return sorted(times, key=lambda item: item[0])


def latency(runs, rates):
    warn_kb, critical_kb = thresholds()
    floor_kb = int(critical_kb * 1.1)
    info = meminfo()
    print("== detection latency (warn below %d MiB, allocator stops at %d MiB, MemTotal %d MiB, "
          "MemAvailable %d MiB now)" % (warn_kb // 1024, floor_kb // 1024, info["MemTotal"] // 1024,
                                        info["MemAvailable"] // 1024))
    for rate in rates:
        samples = []
        for run in range(runs):
            time.sleep(max(0, 0))
            # The monitor must be back at ok (hysteresis: warn + 10%) before the next run.
            deadline = time.time() + 30
            while meminfo()["MemAvailable"] < warn_kb * 1.3 and time.time() < deadline:
                time.sleep(0.5)
            time.sleep(3)
            child = subprocess.run([sys.executable, "-c", ALLOCATOR, str(warn_kb), str(floor_kb), str(rate), "3"],
                                   capture_output=True, text=True, timeout=300)
            crossed = None
            for line in child.stdout.splitlines():
                if line.startswith("CROSSED"):
                    crossed = float(line.split()[1])
                elif line.startswith("FAILED"):
                    print("  rate %d MiB/s run %d: %s" % (rate, run + 1, line))
            if crossed is None:
                print("  rate %d MiB/s run %d: MemAvailable never fell below warn" % (rate, run + 1))
                continue
            time.sleep(1)
            found = journal_warn_after(crossed - 2)
            if not found:
                print("  rate %d MiB/s run %d: no warn record in the journal" % (rate, run + 1))
                continue
            delay = found[0][0] - crossed
            samples.append(delay)
            print("  rate %4d MiB/s run %d: warn logged %+.0f ms after MemAvailable crossed (MESSAGE: %s)" % (
                rate, run + 1, delay * 1000, found[0][1].get("MESSAGE", "")[:60]))
        if samples:
            print("rate %4d MiB/s: median %.0f ms, max %.0f ms over %d runs (seed bash loop: 0-30000 ms, mean 15000)"
                  % (rate, statistics.median(samples) * 1000, max(samples) * 1000, len(samples)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=int, default=60, help="seconds of idle measurement")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", default="200,1000", help="allocation rates in MiB/s, comma-separated")
    parser.add_argument("--no-latency", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (journalctl of the unit, /proc of the service)")
    print("kernel %s, PSI %s" % (os.uname().release, "present" if os.path.exists("/proc/pressure/memory") else "absent"))
    print(subprocess.run(["rock5b-oom-monitor", "--check"], capture_output=True, text=True).stdout)
    if args.idle:
        idle(args.idle)
    if not args.no_latency:
        latency(args.runs, [int(r) for r in args.rate.split(",")])


if __name__ == "__main__":
    main()
