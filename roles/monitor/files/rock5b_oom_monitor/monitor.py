# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor's state and decisions (``Monitor``): readings and the time in, actions out."""

from __future__ import annotations

import collections

from rock5b_oom_monitor import (
    CRITICAL, LOG_CRIT, LOG_ERR, LOG_NOTICE, LOG_WARNING, OK, RANK, fmt_kb,
)
from rock5b_oom_monitor.decisions import STEADY_NOISE_KB, TREND_WINDOW_CHECKS, TREND_WINDOW_S, Action, KillJob, LevelTracker, RateLimiter, next_interval


def victim_name(victim):
    """How the metrics and the journal name a process: ``comm (pid N)``."""
    return "%s (pid %d)" % (victim["comm"], victim["pid"])


class Monitor:
    """The monitor's state and decisions, fed with readings and the time; no I/O.

    ``step()`` returns actions; the executor carries them out and calls ``record()`` with
    the outcome, which may return further (log) actions.
    """

    def __init__(self, config, thresholds, self_pid=0):
        self.config = config
        self.thresholds = thresholds
        self.tracker = LevelTracker(thresholds)
        self.self_pid = self_pid
        self.log_repeat = RateLimiter(config["log"]["repeat_s"])
        self.psi_log = RateLimiter(config["psi"]["log_interval_s"])
        self.drop_limit = RateLimiter(config["drop_caches"]["interval_s"])
        self.kill_limit = RateLimiter(config["kill"]["interval_s"])
        self.hook_limit = RateLimiter(config["hook"]["interval_s"])
        self.kill_job = None
        self.events = dict((name, 0) for name in ("warn", "critical", "recover", "psi"))
        self.actions = {}
        for action, on in (("drop_caches", config["drop_caches"]["enabled"]), ("kill", config["kill"]["enabled"]),
                           ("hook", config["hook"]["command"] is not None)):
            if on:
                self.actions[(action, "ok")] = self.actions[(action, "failed")] = 0
        self.failed_once = set()
        # action -> (the clock's time, target) of its last occurrence: warn, critical, drop_caches,
        # kill (target "comm (pid N)"), kill_dry_run and hook (target: its event). Set on actions
        # only, never per check; the metrics file exports it.
        self.last_actions = {}
        self.last = None
        self.last_at = None
        self.falling_kb_s = 0.0
        self.steady_checks = 0  # checks in a row that found memory not falling (next_interval)
        # (time, effective kB) of the last checks within TREND_WINDOW_S; a few are enough, and
        # a bounded window keeps each check's cost flat however often it checks.
        self.recent = collections.deque(maxlen=TREND_WINDOW_CHECKS)
        self.psi_state = "unknown"

    @property
    def level(self):
        return self.tracker.level

    def count(self, action, result):
        key = (action, result)
        self.actions[key] = self.actions.get(key, 0) + 1

    def note(self, action, now, target=""):
        """The monitor took ``action`` at ``now`` (against ``target``)."""
        self.last_actions[action] = (now, target)

    def _log(self, event, priority, message, with_top=False):
        # With the log action off only kills are still recorded: nobody may kill unseen.
        if not self.config["log"]["enabled"] and event != "kill":
            return []
        return [Action("log", event=event, priority=priority, message=message, top=with_top)]

    def _hook(self, now, event):
        if self.config["hook"]["command"] is None or event not in self.config["hook"]["events"]:
            return []
        if not self.hook_limit.allow(now):
            self.count("hook", "skipped")
            return []
        return [Action("hook", event=event)]

    def describe(self, reading):
        t = self.thresholds
        text = "%s available (MemAvailable %s" % (fmt_kb(reading["effective"]), fmt_kb(reading["mem_available"]))
        if self.config["count_swap"] and reading["swap_free"]:
            text += ", swap free %s" % fmt_kb(reading["swap_free"])
        text += "; warn below %s, critical below %s)" % (fmt_kb(t.warn_kb), fmt_kb(t.critical_kb))
        return text

    def _track_fall(self, now, kb):
        """How fast memory falls, and whether this check found it steady (see next_interval).

        A hog allocates in steps: between two checks memory may not move although it falls
        hundreds of MiB/s, and a rate taken from those two checks alone (0) put the next check
        100 ms away, just as the next step crossed the threshold (the 86-89 ms reactions of
        2026-12-06). So the rate is the larger of the fall since the last check and the fall
        since the highest reading of the last TREND_WINDOW_S (at most TREND_WINDOW_CHECKS checks); memory seen rising since the last
        check (more than the noise) ends the trend.
        """
        elapsed = now - self.last_at
        fallen_kb = self.last["effective"] - kb
        window = self.recent
        window.append((self.last_at, self.last["effective"]))
        while len(window) > 1 and now - window[0][0] > TREND_WINDOW_S:
            window.popleft()
        if fallen_kb < -STEADY_NOISE_KB:
            rate = 0.0
        else:
            peak_at, peak_kb = max(window, key=lambda item: item[1])
            rate = max(fallen_kb / elapsed, (peak_kb - kb) / (now - peak_at))
        self.falling_kb_s = max(0.0, rate)
        self.steady_checks = self.steady_checks + 1 if self.falling_kb_s * elapsed <= STEADY_NOISE_KB else 0

    def step(self, now, reading):
        """One MemAvailable check: level changes, repeated warnings, and the critical actions."""
        if self.last is not None and now > self.last_at:
            self._track_fall(now, reading["effective"])
        self.last, self.last_at = reading, now
        kb = reading["effective"]
        previous, level = self.tracker.update(kb)
        actions = []
        if level != previous:
            if RANK[level] > RANK[previous]:
                self.events[level] += 1
                self.note(level, now)
                priority = LOG_CRIT if level == CRITICAL else LOG_WARNING
                actions += self._log(level, priority, "%s memory: %s" % (
                    "critical" if level == CRITICAL else "low", self.describe(reading)), with_top=True)
                actions += self._hook(now, level)
            else:
                self.events["recover"] += 1
                actions += self._log("recover", LOG_NOTICE, "memory recovered to %s: %s" % (level, self.describe(reading)))
                actions += self._hook(now, "recover")
            self.log_repeat.last = now
        elif level != OK and self.log_repeat.allow(now):
            actions += self._log(level, LOG_CRIT if level == CRITICAL else LOG_WARNING,
                                 "still %s memory: %s" % (
                                     "critical" if level == CRITICAL else "low", self.describe(reading)),
                                 with_top=True)
        if level == CRITICAL:
            if self.config["drop_caches"]["enabled"] and self.drop_limit.allow(now):
                actions.append(Action("drop_caches", value=self.config["drop_caches"]["value"]))
            actions += self._kill_decision(now, reading)
        return actions

    def _kill_decision(self, now, reading):
        kill = self.config["kill"]
        if not kill["enabled"] or self.kill_job is not None:
            return []
        if reading["effective"] >= self.thresholds.kill_kb:
            return []
        if kill["psi_full_avg10"] is not None:
            full = ((reading.get("psi") or {}).get("full") or {}).get("avg10")
            # Without PSI numbers the memory figures decide alone.
            if full is not None and full < kill["psi_full_avg10"]:
                return []
        if not self.kill_limit.ready(now):
            return []
        return [Action("kill", dry_run=kill["dry_run"])]

    def start_kill(self, now, victim):
        """The executor found a victim and sent SIGTERM."""
        self.kill_limit.last = now
        self.kill_job = KillJob(victim, now, self.config["kill"]["grace_s"])
        self.count("kill", "ok")
        self.note("kill", now, victim_name(victim))
        actions = self._log("kill", LOG_CRIT, "killed %s (pid %d, %s resident, oom_score %s) with SIGTERM to "
                            "free memory before the kernel OOM killer: %s" % (
                                victim["comm"], victim["pid"], fmt_kb(victim.get("rss_kb")),
                                victim.get("oom_score"), self.describe(self.last)), with_top=False)
        return actions + self._hook(now, "kill")

    def kill_progress(self, now, alive):
        """Called while a kill job runs; returns actions (sigkill) and ends the job when done."""
        job = self.kill_job
        if job is None:
            return []
        state = job.step(now, alive)
        if state == "sigkill":
            self.count("sigkill", "ok")
            return [Action("sigkill", victim=job.victim)] + self._log(
                "kill", LOG_CRIT, "%s (pid %d) did not exit within %gs of SIGTERM: SIGKILL" % (
                    job.victim["comm"], job.victim["pid"], self.config["kill"]["grace_s"]))
        if state == "done":
            self.kill_job = None
            self.kill_limit.last = now
            if alive:
                return self._log("kill", LOG_ERR, "%s (pid %d) survived SIGKILL; choosing another victim next time"
                                 % (job.victim["comm"], job.victim["pid"]))
            return self._log("kill", LOG_NOTICE, "%s (pid %d) exited %.1fs after the kill" % (
                job.victim["comm"], job.victim["pid"], now - job.started))
        return []

    def record(self, action, ok, error=None, detail="", now=0.0):
        """Outcome of an action from the executor; failures are logged once per kind of error."""
        self.count(action, "ok" if ok else "failed")
        if ok:
            if action == "drop_caches":
                self.note("drop_caches", now)
                return self._log("drop_caches", LOG_NOTICE, "synced and dropped caches (echo %d > drop_caches)%s" % (
                    self.config["drop_caches"]["value"], (": " + detail) if detail else "")) + \
                    self._hook(now, "drop_caches")
            return []
        key = (action, error)
        if key in self.failed_once:
            return []
        self.failed_once.add(key)
        return [Action("log", event=action, priority=LOG_ERR, top=False,
                       message="%s failed: %s (counted in the metrics; further %s failures are not logged)"
                       % (action, detail or error, action))]

    def on_psi(self, now, values):
        """A PSI trigger fired: a stall above the trigger's threshold within its window."""
        self.events["psi"] += 1
        actions = []
        if self.psi_log.allow(now):
            some = ((values or {}).get("some") or {}).get("avg10")
            full = ((values or {}).get("full") or {}).get("avg10")
            actions += self._log("psi", LOG_NOTICE if self.level == OK else LOG_WARNING,
                                 "memory pressure stall (PSI some avg10 %s%%, full avg10 %s%%)" % (some, full))
        return actions + self._hook(now, "psi")

    def next_timeout(self, now, psi_active):
        reading = self.last
        if reading is None:
            return self.config["poll"]["min_ms"] / 1000.0
        seconds = next_interval(reading["effective"], self.level, self.thresholds, self.config["poll"], psi_active,
                                falling_kb_s=self.falling_kb_s, steady_checks=self.steady_checks)
        if self.kill_job is not None:
            seconds = min(seconds, max(0.01, self.kill_job.timeout(now)))
        return seconds
