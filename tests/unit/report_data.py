"""Synthetic fleet reports (the dict playbooks/report.yml hands to report_page.render) for the page's
unit and browser tests and the docs picture: the same arguments always give the same report.

A fleet of ``boards`` Rock 5B+ boards (4/8/16/32 GiB) with what a real one shows: two unreachable
boards, drifted ones, a few under pressure or critical, OOM kills spread over the last week (with their
victims), boards without PSI, swap on zram, and the killers each board runs.
"""

from __future__ import annotations

import datetime
import random

GIB = 1024 ** 3
MIB = 1024 ** 2
GENERATED = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.timezone.utc)
COMMS = [("chromium", "/user.slice/user-1000.slice/session-3.scope"), ("python3", "/system.slice/ml-infer.service"),
         ("node", "/system.slice/dashboard.service"), ("java", "/system.slice/broker.service"),
         ("ffmpeg", "/system.slice/camera-encode.service"), ("demo-app", "/system.slice/demo-app.service"),
         ("gst-launch-1.0", None)]
DRIFTS = ["sysctl file /etc/sysctl.d/99-oom-rock5b.conf: vm.panic_on_oom = 1, wanted 0",
          "/etc/systemd/system/demo-app.service.d/60-rock5b-memory.conf: MemoryMax=900M, wanted 1536M",
          "demo-app.service oom_score_adj = 100, wanted 500",
          "monitor_files_result: /etc/systemd/system/rock5b-oom-monitor.service differs",
          "monitor_files_result: rock5b-oom-monitor.service is inactive, wanted active"]
KILLERS = ["rock5b-oom-monitor", "earlyoom", "systemd-oomd"]


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reachable_board(rng, index, name):
    ram = rng.choice([4, 8, 8, 16, 16, 32]) * GIB - 120 * MIB
    kind = index % 8
    share = {0: 0.04, 1: 0.12}.get(kind, rng.uniform(0.3, 0.85))
    avail = int(ram * share)
    has_psi = index % 11 != 7
    stalled = kind in (0, 1) or index % 9 == 4
    psi = {"some_avg10": round(rng.uniform(12, 40) if stalled else rng.uniform(0, 2), 2),
           "some_avg60": round(rng.uniform(5, 25) if stalled else rng.uniform(0, 1), 2),
           "full_avg10": round(rng.uniform(1, 9) if stalled else 0.0, 2),
           "full_avg60": round(rng.uniform(0.5, 4) if stalled else 0.0, 2)} if has_psi else None
    kills = sorted(GENERATED - datetime.timedelta(minutes=rng.randint(1, 7 * 24 * 60 - 1))
                   for _kill in range(rng.choice([0, 0, 0, 1, 3, 8, 20]) + (12 if kind == 0 else 0)))
    victims = []
    for moment in kills[-10:]:
        comm, cgroup = rng.choice(COMMS)
        victims.append({"comm": comm, "pid": rng.randint(300, 65000), "time": _iso(moment), "cgroup": cgroup,
                        "rss_bytes": rng.randint(80, 2400) * MIB if rng.random() > 0.1 else None})
    day, week = GENERATED - datetime.timedelta(days=1), GENERATED - datetime.timedelta(days=7)
    drift = rng.sample(DRIFTS, rng.randint(1, 3)) if index % 6 == 5 else []
    monitor_state = "inactive" if any("inactive" in d for d in drift) else "active"
    level = {0: "critical", 1: "warn"}.get(kind) if monitor_state == "active" else None
    zram = int(ram / 2)
    killers = ["rock5b-oom-monitor"] + (["earlyoom"] if index % 5 == 3 else []) + (["systemd-oomd"] if index % 7 == 2 else [])
    return {
        "name": name, "reachable": True, "reason": None, "ram_bytes": ram, "mem_available_bytes": avail,
        "mem_available_percent": round(100.0 * avail / ram, 1),
        "swap_total_bytes": zram, "swap_used_bytes": int(zram * rng.uniform(0, 0.9)),
        "zram_total_bytes": zram, "zram_used_bytes": int(zram * rng.uniform(0, 0.5)),
        "psi": psi, "commit_limit_bytes": int(ram * 0.5 + zram), "committed_as_bytes": int(ram * rng.uniform(0.3, 1.4)),
        "oom_kills_since_boot": len(kills) + rng.randint(0, 5),
        "oom_kills_24h": sum(1 for k in kills if k >= day), "oom_kills_7d": sum(1 for k in kills if k >= week),
        "victims": victims, "kill_times": [_iso(k) for k in kills],
        "monitor": {"state": monitor_state, "level": level,
                    "status": ("%s: %d MiB available, PSI trigger armed" % (level, avail // MIB)) if level else None,
                    "last_action": {"action": "kill", "target": "%s (pid %d)" % (victims[-1]["comm"], victims[-1]["pid"]),
                                    "time": victims[-1]["time"]}
                    if victims and level == "critical" else ({"action": level, "target": None, "time": _iso(GENERATED)} if level else None)},
        "killers": killers, "warn_bytes": int(ram * 0.15), "critical_bytes": int(ram * 0.06), "drift": drift,
    }


def _unreachable(name, reason):
    board = {key: None for key in (
        "ram_bytes", "mem_available_bytes", "mem_available_percent", "swap_total_bytes", "swap_used_bytes",
        "zram_total_bytes", "zram_used_bytes", "psi", "commit_limit_bytes", "committed_as_bytes",
        "oom_kills_since_boot", "oom_kills_24h", "oom_kills_7d", "warn_bytes", "critical_bytes")}
    board.update({"name": name, "reachable": False, "reason": reason, "victims": [], "kill_times": [],
                  "monitor": {"state": "absent", "level": None, "status": None, "last_action": None}, "killers": [], "drift": []})
    return board


def summarize(boards):
    """The report's summary, counted by the action plugin itself."""
    from ansible_collections.rock5b.oom.plugins.action.fleet_report import summarize as counted
    return counted(boards)


def synthetic_report(boards=25, seed=17, names=None):
    """A fleet report of ``boards`` boards; ``names`` (optional) replaces the first board names."""
    rng = random.Random(seed)
    names = list(names or []) + ["rock5b-%02d" % (i + 1) for i in range(boards)]
    fleet = []
    for index in range(boards):
        name = names[index]
        if index == 9:
            fleet.append(_unreachable(name, "ssh: connect to host %s port 22: Connection timed out" % name))
        elif index == 20:
            fleet.append(_unreachable(name, "Permission denied (publickey)"))
        else:
            fleet.append(_reachable_board(rng, index, name))
    return {"generated": _iso(GENERATED), "inventory": "inventories/fleet.yml", "collection_version": "1.4.0",
            "boards": fleet, "summary": summarize(fleet)}
