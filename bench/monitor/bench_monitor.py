"""Side-by-side benchmark of low-memory monitors on one boot of a board (or the test-bed VM).

Prints figures and a table; asserts nothing about time. Standard library only; run as root
on the board, where bench/monitor/run-vm.sh has installed the three contenders:

  rock5b    rock5b-oom-monitor.service (the rock5b.oom.monitor role, its defaults)
  seed      oom-monitor.service: the lesson's bash loop, verbatim (bench/seed/)
  earlyoom  Debian's earlyoom.service with EARLYOOM_ARGS="-r 3600 -M 204800": SIGTERM at
            exactly 200 MiB available (Debian's default arguments plus -M)

  python3 bench_monitor.py [--tools rock5b,seed,earlyoom] [--trials 12] [--idle 120] [--pressure 60]
                           [--levels 400,240]

Phases, on one boot:

- forks: each contender alone for --forks seconds; /proc/stat 'processes' less the rate
  measured with none running.
- idle: all contenders at once (one window, so host load hits them alike) for --idle seconds:
  CPU time of each service's cgroup (cpu.stat usage_usec, children included) and wake-ups of
  its main process (voluntary + involuntary context switches); then RSS of the main process
  and the cgroup's memory.current.
- pressure: the same over --pressure seconds at each of --levels, MiB of MemAvailable a holder
  keeps (default 400, and 240: just above the 200 MiB warn level and its 10 % hysteresis, where
  every contender checks most often; above every contender's threshold, so none acts).
- latency: each contender alone, --trials times, after a random start phase (0-2 s; 0-30 s
  for the seed's 30 s loop), a hog allocates (and touches)
  16 MiB every 50 ms while a sampler process reads /proc/meminfo every 10 ms; the moment it
  sees MemAvailable below 204800 kB is the crossing (CLOCK_REALTIME); the hog takes one more
  step after it and waits. The reaction is the contender's first journal record after the
  trial started (rock5b: its ROCK5B_OOM_EVENT=warn record; seed: logger's "Low memory" line;
  the journal's __REALTIME_TIMESTAMP, found by a one-shot journal query every 0.5 s) or, for
  earlyoom, the hog receiving SIGTERM. A reaction before the crossing is reported as it is,
  negative: the contender read /proc/meminfo between two samples, or the sampler was late.
  No reaction within 45 s is a miss; more than one miss of a running contender fails the run.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import time

WARN_KB = 204800
HOLD_LEVELS_MIB = (400, 240)
CHUNK = 16 * 1024 * 1024
STEP_S = 0.05
SAMPLE_S = 0.01
REACTION_TIMEOUT_S = 45
QUERY_EVERY_S = 0.5  # how often a trial reads the journal (the latency is the record's own time)

# journal: matches for journalctl -f (None: the reaction is the hog's SIGTERM instead).
# The seed's records come from logger, a child that often exits before journald has looked
# up its cgroup, so they do not always carry _SYSTEMD_UNIT: matched by identifier and text.
TOOLS = {
    "rock5b": {"unit": "rock5b-oom-monitor.service", "journal": ["_SYSTEMD_UNIT=rock5b-oom-monitor.service",
                                                                  "ROCK5B_OOM_EVENT=warn"]},
    "seed": {"unit": "oom-monitor.service", "journal": ["SYSLOG_IDENTIFIER=root"], "message": "Low memory:",
             "period_s": 30},
    "earlyoom": {"unit": "earlyoom.service", "journal": None},
}


def mem_available(fd):
    data = os.pread(fd, 8192, 0)
    start = data.index(b"MemAvailable:") + 13
    return int(data[start:data.index(b"kB", start)])


def systemctl(*args):
    subprocess.run(["systemctl"] + list(args), check=True)


def unit_property(unit, name):
    return subprocess.run(["systemctl", "show", "-p", name, "--value", unit],
                          capture_output=True, text=True, check=True).stdout.strip()


def cgroup_dir(unit):
    return "/sys/fs/cgroup" + unit_property(unit, "ControlGroup")


def forks_total():
    with open("/proc/stat") as handle:
        for line in handle:
            if line.startswith("processes "):
                return int(line.split()[1])
    return 0


def counters(cgroup, pid):
    """CPU seconds of the unit's cgroup, wake-ups of its main process, forks so far (no fork here)."""
    forks = forks_total()
    with open(os.path.join(cgroup, "cpu.stat")) as handle:
        usage = dict(line.split() for line in handle)["usage_usec"]
    switches = 0
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                switches += int(line.split()[1])
    return {"cpu_s": int(usage) / 1e6, "wakeups": switches, "forks": forks, "at": time.monotonic()}


def footprint(unit):
    pid = int(unit_property(unit, "MainPID"))
    rss = 0
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(os.path.join(cgroup_dir(unit), "memory.current")) as handle:
        current = int(handle.read())
    return {"rss_mib": rss / 1024.0, "memory_current_mib": current / 1048576.0}


def costs(units, seconds):
    """CPU % of each unit's cgroup and wake-ups/s of its main process over one shared window."""
    where = dict((unit, (cgroup_dir(unit), int(unit_property(unit, "MainPID")))) for unit in units)
    before = dict((unit, counters(*where[unit])) for unit in units)
    time.sleep(seconds)
    after = dict((unit, counters(*where[unit])) for unit in units)
    result = {}
    for unit in units:
        if int(unit_property(unit, "MainPID")) != where[unit][1]:
            print("  warning: %s restarted during the measurement" % unit)
        elapsed = after[unit]["at"] - before[unit]["at"]
        result[unit] = {"cpu_percent": (after[unit]["cpu_s"] - before[unit]["cpu_s"]) / elapsed * 100,
                        "wakeups_per_s": (after[unit]["wakeups"] - before[unit]["wakeups"]) / elapsed}
    return result


def forks_per_min(seconds):
    start, at = forks_total(), time.monotonic()
    time.sleep(seconds)
    return (forks_total() - start) / (time.monotonic() - at) * 60


def allocate(count):
    """``count`` chunks of 16 MiB, populated by the kernel (MAP_POPULATE) rather than touched
    page by page in Python, which under TCG took longer than the 50 ms step."""
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE
    return [mmap.mmap(-1, CHUNK, flags=flags) for _ in range(count)]


def holder(target_kb, ready_w):
    """Child: allocate until MemAvailable is near target_kb, say so, and hold until killed."""
    fd = os.open("/proc/meminfo", os.O_RDONLY)
    maps = []
    while mem_available(fd) - CHUNK // 1024 > target_kb:
        maps += allocate(1)
    os.write(ready_w, b"%d\n" % mem_available(fd))
    while True:
        time.sleep(3600)


def sampler(report_w):
    """Child: read MemAvailable every 10 ms; report ``cross <realtime> <kB>`` once and exit.

    A process of its own: the allocating hog cannot sample while it is inside mmap().
    """
    fd = os.open("/proc/meminfo", os.O_RDONLY)
    due = time.monotonic()
    while True:
        available = mem_available(fd)
        if available < WARN_KB:
            os.write(report_w, b"cross %.6f %d\n" % (time.time(), available))
            return
        due += SAMPLE_S
        time.sleep(max(0.0, due - time.monotonic()))


def hog(report_w):
    """Child: 16 MiB every 50 ms until MemAvailable is below 200 MiB, one more step, then hold.

    Reports ``term <realtime>`` when SIGTERM arrives (earlyoom's reaction) and exits;
    ``fail <error>`` when an allocation fails.
    """
    with open("/proc/self/oom_score_adj", "w") as handle:
        handle.write("1000")  # the obvious victim for earlyoom and the kernel alike

    def on_term(_signum, _frame):
        os.write(report_w, b"term %.6f\n" % time.time())
        os._exit(0)  # pylint: disable=protected-access

    signal.signal(signal.SIGTERM, on_term)
    fd = os.open("/proc/meminfo", os.O_RDONLY)
    maps, steps_left = [], None
    due = time.monotonic()
    try:
        while steps_left != 0:
            maps += allocate(1)
            if steps_left is not None:
                steps_left -= 1
            elif mem_available(fd) < WARN_KB:
                # One more step after the crossing: every contender then sees memory clearly
                # below 200 MiB (and still far above 100 MiB).
                steps_left = 1
            due += STEP_S
            time.sleep(max(0.0, due - time.monotonic()))
    except (MemoryError, OSError) as error:
        os.write(report_w, b"fail %s\n" % str(error).encode())
    while True:
        time.sleep(3600)


def fork(target, *args):
    pid = os.fork()
    if pid == 0:
        try:
            target(*args)
        finally:
            os._exit(0)  # pylint: disable=protected-access
    return pid


def spawn(*targets):
    """Fork one child per target, all writing lines to one pipe; (pids, reading end)."""
    read_fd, write_fd = os.pipe()
    pids = [fork(target, write_fd) for target in targets]
    os.close(write_fd)
    return pids, os.fdopen(read_fd, "rb", buffering=0)


def stop(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


class JournalQuery:
    """The contender's journal records of one kind since a moment, by a one-shot ``journalctl``.

    Not ``journalctl -f``: in the benchmark VM a follower started for the latency phase received
    none of the monitor's records that a query finds in the journal (12 of 12 trials missed), for
    a reason not found. The latency is the record's journal time less the crossing, so when the
    journal is read does not change it: a query every half second is enough.
    """

    def __init__(self, matches, message=None):
        self.matches, self.message = matches, message

    def since(self, started):
        """Records of the kind stamped at or after ``started`` (epoch seconds), oldest first."""
        out = subprocess.run(["journalctl", "--no-pager", "-o", "json", "--since", "@%d" % int(started)]
                             + self.matches, capture_output=True, check=False).stdout
        records = [json.loads(line) for line in out.split(b"\n") if line.strip()]
        return [r for r in records if record_time(r) >= started
                and (not self.message or str(r.get("MESSAGE", "")).startswith(self.message))]


def read_lines(stream, timeout):
    ready, _w, _x = select.select([stream], [], [], timeout)
    if not ready:
        return []
    return os.read(stream.fileno(), 4096).decode().split("\n")


def wait_recovered(fd, above_kb, limit_s=60):
    deadline = time.monotonic() + limit_s
    while mem_available(fd) < above_kb and time.monotonic() < deadline:
        time.sleep(0.2)


def record_time(record):
    """The journal's receive time of a record, in seconds since the epoch."""
    return int(record["__REALTIME_TIMESTAMP"]) / 1e6


def first_reaction(records, started):
    """The time of the first record at or after ``started`` (this trial's reaction), or None.

    Before a trial the memory is back above twice the threshold and the contender has logged
    its recovery, so any record of the kind followed after the trial started is this trial's
    reaction - even one stamped before the sampler's crossing: under emulation the sampler can
    be starved for a moment while the hog populates memory, and a reaction before the crossing
    it reports is the sampler's lag, reported as a negative latency, not a miss.
    """
    for record in records:
        if record_time(record) >= started:
            return record_time(record)
    return None


def explain_miss(name, seen, started, crossed):
    """What the journal query found during a missed trial, and the contender's own journal lines."""
    print("  %s: the journal query found %d record(s) of the kind since the trial started" % (name, len(seen)))
    for record in seen[:5]:
        offset = record_time(record) - (crossed or started)
        print("    %+.3f s from the crossing: %s" % (offset, str(record.get("MESSAGE", ""))[:100]))
    lines = subprocess.run(["journalctl", "--no-pager", "-o", "short-precise", "-u", TOOLS[name]["unit"],
                            "--since", "@%d" % int(started)], capture_output=True, text=True, check=False)
    for line in lines.stdout.splitlines()[-8:]:
        print("    journal: %s" % line)


def trial(name, journal, meminfo_fd):
    """One latency trial: seconds from the crossing to the reaction, or None (a miss)."""
    # A random start phase over the contender's own period (its sleep between checks), so that
    # trials do not lock on to its clock: 2 s covers rock5b and earlyoom, the seed sleeps 30 s.
    time.sleep(random.uniform(0, TOOLS[name].get("period_s", 2)))
    started = time.time()
    pids, reports = spawn(sampler, hog)
    crossed = reaction = None
    seen = []
    deadline = time.monotonic() + 120
    next_query = 0.0
    try:
        while reaction is None and time.monotonic() < deadline:
            for line in read_lines(reports, 0.05):
                fields = line.split()
                if fields and fields[0] == "cross":
                    crossed = float(fields[1])
                    deadline = time.monotonic() + REACTION_TIMEOUT_S
                elif fields and fields[0] == "term":
                    reaction = float(fields[1])
                elif fields and fields[0] == "fail":
                    print("  hog failed: %s" % " ".join(fields[1:]))
                    return None
            if journal is not None and crossed is not None and time.monotonic() >= next_query:
                next_query = time.monotonic() + QUERY_EVERY_S
                seen = journal.since(started)
                reaction = first_reaction(seen, started)
    finally:
        stop(pids)
        reports.close()
    wait_recovered(meminfo_fd, WARN_KB * 2)
    time.sleep(1.5)  # the monitor's hysteresis (ok again above warn + 10%) and earlyoom's report
    if crossed is None:
        print("  %s: MemAvailable never fell below %d kB" % (name, WARN_KB))
        return None
    if reaction is None:
        print("  %s: no reaction within %d s" % (name, REACTION_TIMEOUT_S))
        if journal is not None:
            explain_miss(name, seen, started, crossed)
        return None
    return reaction - crossed


def missed_too_often(results):
    """Contenders that were running and still missed more than one trial: the run fails on them
    (a miss is the harness or the contender failing, never a slow reaction)."""
    return [r["tool"] for r in results if r["misses"] > 1 and r["ran"]]


def only(unit):
    """Stop every contender but ``unit`` (None: stop all); (re)start ``unit``."""
    for spec in TOOLS.values():
        if spec["unit"] != unit:
            subprocess.run(["systemctl", "stop", spec["unit"]], check=False)
    if unit:
        systemctl("restart", unit)  # returns once started (Type=notify: once READY=1)


def measure_forks(names, seconds):
    """Forks per minute of each contender running alone, net of the rate with none running."""
    only(None)
    time.sleep(5)
    baseline = forks_per_min(seconds)
    print("== forks/min over %ds: no monitor %.1f" % (seconds, baseline))
    result = {}
    for name in names:
        only(TOOLS[name]["unit"])
        time.sleep(5)
        result[name] = max(0.0, forks_per_min(seconds) - baseline)
        print("  %s: %.1f" % (name, result[name]))
    return result


def hold_and_measure(units, target_mib, seconds, meminfo_fd):
    """Costs of ``units`` over ``seconds`` while a holder keeps MemAvailable near ``target_mib``."""
    pids, ready = spawn(lambda write_fd: holder(target_mib * 1024, write_fd))
    try:
        held = int(read_lines(ready, 120)[0])
        measured = costs(units, seconds)
    finally:
        stop(pids)
        ready.close()
    wait_recovered(meminfo_fd, WARN_KB * 2)
    return held, measured


def measure_side_by_side(names, idle_s, pressure_s, levels_mib, meminfo_fd):
    """Idle and pressure cost of all contenders at once: one window, the same host load.

    Returns, per contender, its footprint, ``idle`` costs and ``levels``: one entry per held
    level (target_mib, available_mib, cpu_percent, wakeups_per_s).
    """
    units = [TOOLS[name]["unit"] for name in names]
    only(None)
    for unit in units:
        systemctl("start", unit)
    time.sleep(15)  # start-up (python compiles and imports) well behind us
    idle = costs(units, idle_s)
    prints = dict((unit, footprint(unit)) for unit in units)
    held_levels = [(target,) + hold_and_measure(units, target, pressure_s, meminfo_fd) for target in levels_mib]
    print("== side by side: idle %ds, then %ds at each of %s MiB available" % (
        idle_s, pressure_s, ", ".join("%d (held %d)" % (target, held // 1024) for target, held, _m in held_levels)))
    result = {}
    for name, unit in zip(names, units):
        levels = [dict(measured[unit], target_mib=target, available_mib=held / 1024.0)
                  for target, held, measured in held_levels]
        result[name] = dict(prints[unit], idle=idle[unit], levels=levels)
        print("  %-9s idle %s | %s | RSS %.1f MiB, memory.current %.1f MiB" % (
            name, fmt_cost(idle[unit]), " | ".join("%d MiB %s" % (level["target_mib"], fmt_cost(level))
                                                   for level in levels),
            prints[unit]["rss_mib"], prints[unit]["memory_current_mib"]))
    return result


def measure_latency(name, trials, meminfo_fd):
    """``trials`` crossings with the contender running alone: latencies in ms and misses."""
    unit = TOOLS[name]["unit"]
    only(unit)
    time.sleep(10)
    print("== latency: %s alone" % name)
    matches = TOOLS[name]["journal"]
    journal = JournalQuery(matches, TOOLS[name].get("message")) if matches is not None else None
    latencies = []
    for number in range(trials):
        seconds = trial(name, journal, meminfo_fd)
        if seconds is not None:
            latencies.append(seconds)
            print("  trial %2d: reaction %.0f ms after the crossing" % (number + 1, seconds * 1000))
    return {"latencies_ms": [round(s * 1000, 1) for s in latencies], "misses": trials - len(latencies),
            "restarts": int(unit_property(unit, "NRestarts") or 0),
            "ran": unit_property(unit, "ActiveState") == "active"}


def fmt_cost(values):
    return "CPU %.2f%%, %.2f wake-ups/s" % (values["cpu_percent"], values["wakeups_per_s"])


def table(results):
    levels = [level["target_mib"] for level in results[0]["levels"]] if results else []
    head = (("tool", "latency min/median/max ms", "n", "idle CPU %", "idle wake/s")
            + tuple(column % mib for mib in levels for column in ("CPU %% at %d MiB", "wake/s at %d MiB"))
            + ("forks/min", "RSS MiB", "memory.current MiB"))
    rows = []
    for r in results:
        lat = r["latencies_ms"]
        rows.append((r["tool"], "%.0f / %.0f / %.0f" % (min(lat), statistics.median(lat), max(lat)) if lat else "-",
                     "%d%s" % (len(lat), " (%d missed)" % r["misses"] if r["misses"] else ""),
                     "%.2f" % r["idle"]["cpu_percent"], "%.2f" % r["idle"]["wakeups_per_s"])
                    + tuple(figure for level in r["levels"]
                            for figure in ("%.2f" % level["cpu_percent"], "%.2f" % level["wakeups_per_s"]))
                    + ("%.1f" % r["forks_per_min"], "%.1f" % r["rss_mib"], "%.1f" % r["memory_current_mib"]))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_comparison(results, name="rock5b", against="earlyoom"):
    """Lines saying, at idle and at each held level, whether ``name`` cost less CPU than ``against``."""
    by_tool = dict((r["tool"], r) for r in results)
    if name not in by_tool or against not in by_tool:
        return []
    mine, theirs = by_tool[name], by_tool[against]
    pairs = [("idle", mine["idle"], theirs["idle"])]
    pairs += [("%d MiB available" % a["target_mib"], a, b) for a, b in zip(mine["levels"], theirs["levels"])]
    return ["%s CPU %s: %.2f %% vs %s %.2f %%: %s" % (
        name, where, a["cpu_percent"], against, b["cpu_percent"], "below" if a["cpu_percent"] < b["cpu_percent"] else "NOT below")
        for where, a, b in pairs]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--tools", default="rock5b,seed,earlyoom")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--idle", type=int, default=120)
    parser.add_argument("--pressure", type=int, default=60, help="seconds at each held level")
    parser.add_argument("--levels", default=",".join(str(mib) for mib in HOLD_LEVELS_MIB),
                        help="MiB of MemAvailable to hold during the pressure windows, comma-separated")
    parser.add_argument("--forks", type=int, default=60, help="seconds per contender alone, counting forks")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    names = args.tools.split(",")
    unknown = [n for n in names if n not in TOOLS]
    if unknown:
        sys.exit("unknown tools: %s (%s)" % (", ".join(unknown), ", ".join(TOOLS)))
    meminfo_fd = os.open("/proc/meminfo", os.O_RDONLY)
    print("kernel %s, MemTotal %d MiB, MemAvailable %d MiB, PSI %s, load %s" % (
        os.uname().release, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 1048576,
        mem_available(meminfo_fd) // 1024, "present" if os.path.exists("/proc/pressure/memory") else "absent",
        os.getloadavg()))
    forks = measure_forks(names, args.forks)
    levels = [int(mib) for mib in args.levels.split(",")]
    side = measure_side_by_side(names, args.idle, args.pressure, levels, meminfo_fd)
    results = []
    for name in names:
        result = dict(side[name], tool=name, forks_per_min=forks[name])
        result.update(measure_latency(name, args.trials, meminfo_fd))
        results.append(result)
    only(None)
    print()
    print(table(results))
    print("(idle and pressure side by side in one window: CPU of each service cgroup, wake-ups of its main"
          " process; forks with each alone, net of the rate with none; emulated arm64 inflates CPU figures)")
    for line in cpu_comparison(results):
        print(line)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    systemctl("start", TOOLS["rock5b"]["unit"])
    failed = missed_too_often(results)
    if failed:
        sys.exit("missed more than one trial while running: %s (see the trials above)" % ", ".join(failed))


if __name__ == "__main__":
    main()
