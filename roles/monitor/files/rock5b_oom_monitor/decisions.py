# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure decisions: levels with hysteresis, rate limits, adaptive polling, victims, kills.

Readings and the time are fed in; nothing here touches /proc or sleeps.
"""

from __future__ import annotations

import re

from procfs import processes as mu_processes
from rock5b_oom_monitor import CRITICAL, OK, RANK, WARN


class Thresholds:
    """warn, critical and kill levels in kB, percentages resolved against MemTotal."""

    def __init__(self, warn, critical, kill, mem_total_kb, hysteresis_percent=10):
        self.mem_total_kb = mem_total_kb
        self.warn_kb = self.resolve(warn, mem_total_kb)
        self.critical_kb = self.resolve(critical, mem_total_kb)
        self.kill_kb = self.resolve(kill, mem_total_kb)
        if self.critical_kb >= self.warn_kb:
            # 200M critical with 5% warn on a 2 GB board: keep the order the names promise.
            self.critical_kb = self.warn_kb - 1
        self.kill_kb = min(self.kill_kb, self.critical_kb)
        factor = 1 + hysteresis_percent / 100.0
        self.warn_up_kb = int(self.warn_kb * factor)
        self.critical_up_kb = min(int(self.critical_kb * factor), self.warn_kb)

    @staticmethod
    def resolve(spec, mem_total_kb):
        kb, percent = spec
        if kb is not None:
            return kb
        return int(mem_total_kb * percent / 100.0)

    @classmethod
    def from_config(cls, config, mem_total_kb):
        return cls(config["_warn"], config["_critical"], config["_kill"], mem_total_kb, config["hysteresis_percent"])

    def raw_level(self, kb):
        if kb < self.critical_kb:
            return CRITICAL
        if kb < self.warn_kb:
            return WARN
        return OK


class LevelTracker:
    """ok / warn / critical with hysteresis: down at once, up only past threshold + margin."""

    def __init__(self, thresholds):
        self.thresholds = thresholds
        self.level = OK

    def update(self, kb):
        """Feed one reading; return (previous level, new level)."""
        previous = self.level
        target = self.thresholds.raw_level(kb)
        if RANK[target] > RANK[previous]:
            self.level = target
        elif RANK[target] < RANK[previous]:
            t = self.thresholds
            if kb < t.critical_up_kb:
                upper = CRITICAL
            elif kb < t.warn_up_kb:
                upper = WARN
            else:
                upper = OK
            if RANK[upper] < RANK[previous]:
                self.level = upper
        return previous, self.level


class RateLimiter:
    """At most one event per ``interval`` seconds of the given clock."""

    def __init__(self, interval):
        self.interval = interval
        self.last = None

    def ready(self, now):
        return self.last is None or now - self.last >= self.interval

    def allow(self, now):
        if self.ready(now):
            self.last = now
            return True
        return False


# Shortest sleep while memory is seen falling towards a threshold (see next_interval).
FALLING_FLOOR_S = 0.01

# Steady memory (see next_interval): a check that finds memory fallen by at most this much
# since the one before is a steady check; from the second in a row on, each doubles the next
# interval, up to STEADY_BACKOFF_MAX times the headroom's, while a PSI trigger is armed.
STEADY_NOISE_KB = 1024
STEADY_BACKOFF_MAX = 4
# How far back the fall rate looks for the highest reading (Monitor._track_fall).
TREND_WINDOW_S = 1.0
TREND_WINDOW_CHECKS = 16


def next_interval(kb, level, thresholds, poll, psi_active, urgent=False, falling_kb_s=0.0, steady_checks=0):
    """Seconds until the next MemAvailable check (earlyoom's idea, 100 ms to 1 s, plus a trend).

    The headroom down to the next threshold divided by how fast memory can fill: close to a
    threshold the checks speed up to ``min_ms``; far from it they slow down to ``max_ms``,
    or ``max_psi_ms`` while a PSI trigger wakes the monitor on stalls anyway.

    ``steady_checks`` is how many checks in a row found memory not falling (see
    STEADY_NOISE_KB). While a PSI trigger is armed, each after the first doubles the interval,
    up to STEADY_BACKOFF_MAX times: memory held steady near a threshold (a board running full) costs
    a check every 400 ms instead of every 100 ms, and the first fall brings the short
    intervals back. Without a trigger, or at critical, polling alone watches and never backs off.

    ``falling_kb_s`` is the rate memory fell at between the last two checks. While it falls,
    the next check comes no later than the moment that rate would reach the threshold (10 ms
    at the shortest), so a crossing is seen within a few ms instead of up to ``min_ms`` late.
    """
    low, high = poll["min_ms"] / 1000.0, (poll["max_psi_ms"] if psi_active else poll["max_ms"]) / 1000.0
    if urgent or level == CRITICAL:
        return low
    target = thresholds.critical_kb if level == WARN else thresholds.warn_kb
    headroom_kb = max(0, kb - target)
    seconds = max(low, min(high, headroom_kb / (poll["fill_rate_mb_s"] * 1024.0)))
    if psi_active and steady_checks > 0:
        seconds = min(high, seconds * min(STEADY_BACKOFF_MAX, 2 ** min(steady_checks - 1, 8)))
    if falling_kb_s > 0:
        seconds = min(seconds, max(FALLING_FLOOR_S, headroom_kb / falling_kb_s))
    return seconds


def protected_reason(process, protect, self_pid):
    """Why a process must never be killed, or None when it is expendable."""
    if process["pid"] == 1:
        return "pid 1"
    if process["pid"] == self_pid:
        return "the monitor itself"
    if process.get("kernel_thread"):
        return "a kernel thread"
    if process.get("state") in ("Z", "X"):
        return "a zombie"
    if process.get("oom_score_adj") == mu_processes.OOM_SCORE_ADJ_MIN:
        return "oom_score_adj -1000"
    if process.get("unit") and process["unit"] in protect["units"]:
        return "unit %s is protected" % process["unit"]
    comm = process.get("comm", "")
    for name in protect["comms"]:
        if comm == name[:mu_processes.COMM_LEN]:
            return "comm %s is protected" % comm
    for pattern in protect.get("_compiled") or [re.compile(p) for p in protect["patterns"]]:
        if pattern.search(process.get("cmdline", "")):
            return "command line matches %s" % pattern.pattern
    return None


def choose_victim(processes, protect, self_pid):
    """The expendable process the kernel would pick first: highest oom_score, then RSS.

    ``processes`` are dicts as processes.read_process() gives them plus ``rss_kb`` and
    ``oom_score``. A process without resident memory frees nothing and is skipped.
    """
    candidates = [p for p in processes
                  if p.get("rss_kb", 0) > 0 and protected_reason(p, protect, self_pid) is None]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.get("oom_score", 0), p.get("rss_kb", 0), -p["pid"]))


class KillJob:
    """One pre-emptive kill: SIGTERM, then SIGKILL after the grace period, until it is gone."""

    def __init__(self, victim, started, grace):
        self.victim = victim
        self.started = started
        self.deadline = started + grace
        self.escalated = False
        self.finished = None

    def step(self, now, alive):
        """``wait``, ``sigkill`` (once, at the deadline) or ``done`` (the process is gone)."""
        if not alive:
            self.finished = now
            return "done"
        if not self.escalated and now >= self.deadline:
            self.escalated = True
            return "sigkill"
        if self.escalated and now >= self.deadline + 10:
            # Unkillable (D state, or not ours to kill): give up so another victim can be chosen.
            self.finished = now
            return "done"
        return "wait"

    def timeout(self, now):
        if self.escalated:
            return max(0.0, self.deadline + 10 - now)
        return max(0.0, self.deadline - now)


def compile_protect(protect):
    """The config's protect section with its patterns compiled once (``_compiled``)."""
    protect = dict(protect)
    protect["_compiled"] = [re.compile(pattern) for pattern in protect["patterns"]]
    return protect


class Action:
    """Something the executor does for the monitor: log, drop_caches, kill, sigkill, hook."""

    def __init__(self, kind, **fields):
        self.kind = kind
        self.__dict__.update(fields)

    def __repr__(self):
        return "Action(%s)" % ", ".join("%s=%r" % item for item in sorted(self.__dict__.items()))
