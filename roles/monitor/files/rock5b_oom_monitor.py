# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rock5b-oom-monitor: the low-memory monitor of a Rock 5B+ board.

Standard library only. The /proc parsing is the collection's module_utils (meminfo.py,
pressure.py, processes.py), installed next to this file by the rock5b.oom.monitor role and
imported as they are; from a checkout of the collection they are found in
plugins/module_utils.

Layout: the decisions are pure (``Thresholds``, ``LevelTracker``, ``RateLimiter``,
``next_interval``, ``choose_victim``, ``KillJob``, ``Monitor``): they take readings and the
time and return actions. The I/O around them is thin: ``Journal`` (native journal protocol,
stderr fallback), ``Notifier`` (sd_notify), ``PsiTrigger`` (poll for POLLPRI), ``Executor``
(drop_caches, signals, hook) and ``run`` (the loop).

Installed without a shebang (/usr/local/sbin/rock5b-oom-monitor runs it with /usr/bin/python3):

  rock5b-oom-monitor [--config FILE]            run (systemd: Type=notify)
  rock5b-oom-monitor --check [--config FILE]    print the state for a person; exit 0 ok,
                                                1 warn, 2 critical
  rock5b-oom-monitor --validate-config FILE     check a config file; exit 0 or 78
"""

from __future__ import annotations

import errno
import json
import os
import re
import select
import signal
import struct

# _socket, not socket: socket.py turns the AF_*/SOCK_*/MSG_* constants into enums at import,
# about 0.45 MiB of resident memory for two AF_UNIX datagram sockets.
import _socket
import sys
import time


def _find_module_utils():
    here = os.path.dirname(os.path.realpath(__file__))
    for candidate in (here, os.path.join(here, "..", "..", "..", "plugins", "module_utils", "procfs")):
        if os.path.isfile(os.path.join(candidate, "pressure.py")):
            candidate = os.path.normpath(candidate)
            if candidate not in sys.path:
                sys.path.insert(0, candidate)
            return candidate
    return None


_find_module_utils()
import meminfo as mu_meminfo  # noqa: E402  pylint: disable=wrong-import-position
import pressure as mu_pressure  # noqa: E402  pylint: disable=wrong-import-position
import processes as mu_processes  # noqa: E402  pylint: disable=wrong-import-position

VERSION = "1.0.0"
IDENTIFIER = "rock5b-oom-monitor"
DEFAULT_CONFIG = "/etc/rock5b-oom/monitor.json"
EX_CONFIG = 78  # sysexits.h; the unit has RestartPreventExitStatus=78

# syslog priorities
LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG = 2, 3, 4, 5, 6, 7

OK, WARN, CRITICAL = "ok", "warn", "critical"
LEVELS = (OK, WARN, CRITICAL)
RANK = {OK: 0, WARN: 1, CRITICAL: 2}

# journalctl MESSAGE_ID=... finds every event of a kind on any board.
MESSAGE_IDS = {
    "start": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e01",
    "warn": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e02",
    "critical": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e03",
    "recover": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e04",
    "psi": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e05",
    "drop_caches": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e06",
    "kill": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e07",
    "hook": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e08",
    "fallback": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e09",
    "error": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e0a",
    "top": "5a1e1c3f7a5c4b0e9d1f2a3b4c5d6e0b",
}


# --------------------------------------------------------------------------- configuration

class ConfigError(Exception):
    """A config value that cannot be used; the message names the key."""


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b?|b)\s*$", re.I)
_UNIT_KB = {"b": 1.0 / 1024, "k": 1, "m": 1024, "g": 1024 ** 2, "t": 1024 ** 3}

DEFAULTS = {
    "warn": "200M",
    "critical": "100M",
    "hysteresis_percent": 10,
    "count_swap": True,
    "zram_weight": 0.5,
    "poll": {"min_ms": 100, "max_ms": 1000, "max_psi_ms": 2000, "fill_rate_mb_s": 1000},
    "psi": {"enabled": True, "triggers": ["some 150000 1000000", "full 50000 1000000"], "log_interval_s": 60},
    "log": {"enabled": True, "repeat_s": 60, "top": 5},
    "drop_caches": {"enabled": True, "interval_s": 300, "value": 3},
    "kill": {"enabled": False, "threshold": "critical", "psi_full_avg10": None, "grace_s": 5,
             "interval_s": 10, "dry_run": False},
    "protect": {"units": ["rock5b-oom-monitor.service", "init.scope", "systemd-journald.service",
                          "systemd-logind.service", "systemd-udevd.service", "dbus.service"],
                "comms": ["systemd", "systemd-journal", "sshd"], "patterns": []},
    "hook": {"command": None, "events": ["warn", "critical", "kill"], "interval_s": 60, "timeout_s": 30},
    "metrics": {"path": None, "interval_s": 15},
    "watchdog": True,
    "mlock": True,
}


def parse_size(value, key, allow_percent=True):
    """``200M``/``1.5G``/``512K``/``5%`` -> (kB, None) or (None, percent). Binary units."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ConfigError("%s: %r is not a size; write it with a unit, e.g. 200M, 1G or 5%%" % (key, value))
    match = _SIZE.match(value)
    if not match:
        raise ConfigError("%s: %r is not a size; write it with a unit, e.g. 200M, 1G or 5%%" % (key, value))
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit == "%":
        if not allow_percent:
            raise ConfigError("%s: a percentage is not allowed here" % key)
        if not 0 < number < 100:
            raise ConfigError("%s: %s is not a percentage between 0 and 100" % (key, value))
        return None, number
    kb = int(number * _UNIT_KB[unit[0]])
    if kb <= 0:
        raise ConfigError("%s: %s is zero" % (key, value))
    return kb, None


def _merge(base, override, path=""):
    result = dict(base)
    for key, value in (override or {}).items():
        where = path + key
        if key not in base:
            raise ConfigError("%s: unknown setting (known: %s)" % (where, ", ".join(sorted(base))))
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError("%s: must be a mapping" % where)
            result[key] = _merge(base[key], value, where + ".")
        else:
            result[key] = value
    return result


def _number(config, dotted, minimum=None, maximum=None, integer=False, allow_none=False):
    node = config
    for part in dotted.split("."):
        node = node[part]
    if node is None and allow_none:
        return None
    if isinstance(node, bool) or not isinstance(node, (int, float)) or (integer and not isinstance(node, int)):
        raise ConfigError("%s: %r is not %s" % (dotted, node, "an integer" if integer else "a number"))
    if minimum is not None and node < minimum:
        raise ConfigError("%s: %r is below the minimum %r" % (dotted, node, minimum))
    if maximum is not None and node > maximum:
        raise ConfigError("%s: %r is above the maximum %r" % (dotted, node, maximum))
    return node


def _bool(config, dotted):
    node = config
    for part in dotted.split("."):
        node = node[part]
    if not isinstance(node, bool):
        raise ConfigError("%s: %r is not true or false" % (dotted, node))
    return node


def _strings(config, dotted):
    node = config
    for part in dotted.split("."):
        node = node[part]
    if not isinstance(node, list) or not all(isinstance(item, str) for item in node):
        raise ConfigError("%s: must be a list of strings" % dotted)
    return node


def validate_config(raw):
    """The full config (defaults merged) from a parsed JSON document; raises ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a JSON object")
    config = _merge(DEFAULTS, raw)
    warn = parse_size(config["warn"], "warn")
    critical = parse_size(config["critical"], "critical")
    config["_warn"], config["_critical"] = warn, critical
    if warn[0] is not None and critical[0] is not None and critical[0] >= warn[0]:
        raise ConfigError("critical (%s) must be below warn (%s)" % (config["critical"], config["warn"]))
    if warn[1] is not None and critical[1] is not None and critical[1] >= warn[1]:
        raise ConfigError("critical (%s) must be below warn (%s)" % (config["critical"], config["warn"]))
    kill_threshold = config["kill"]["threshold"]
    config["_kill"] = critical if kill_threshold == "critical" else parse_size(kill_threshold, "kill.threshold")
    _number(config, "hysteresis_percent", 0, 100)
    _bool(config, "count_swap")
    _number(config, "zram_weight", 0, 1)
    _number(config, "poll.min_ms", 10, 60000, integer=True)
    _number(config, "poll.max_ms", config["poll"]["min_ms"], 600000, integer=True)
    _number(config, "poll.max_psi_ms", config["poll"]["min_ms"], 600000, integer=True)
    _number(config, "poll.fill_rate_mb_s", 1)
    _bool(config, "psi.enabled")
    for trigger in _strings(config, "psi.triggers"):
        parse_trigger(trigger)
    _number(config, "psi.log_interval_s", 0)
    _bool(config, "log.enabled")
    _number(config, "log.repeat_s", 0)
    _number(config, "log.top", 0, 50, integer=True)
    _bool(config, "drop_caches.enabled")
    _number(config, "drop_caches.interval_s", 0)
    if config["drop_caches"]["value"] not in (1, 2, 3):
        raise ConfigError("drop_caches.value: %r is not 1 (page cache), 2 (slab) or 3 (both)"
                          % config["drop_caches"]["value"])
    _bool(config, "kill.enabled")
    _bool(config, "kill.dry_run")
    _number(config, "kill.psi_full_avg10", 0, 100, allow_none=True)
    _number(config, "kill.grace_s", 0, 600)
    _number(config, "kill.interval_s", 0)
    for key in ("units", "comms", "patterns"):
        _strings(config, "protect." + key)
    for pattern in config["protect"]["patterns"]:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ConfigError("protect.patterns: %r is not a regular expression: %s" % (pattern, error))
    config["protect"]["units"] = [mu_processes.normalize_unit(unit) for unit in config["protect"]["units"]]
    command = config["hook"]["command"]
    if command is not None and (not isinstance(command, list) or not command
                                or not all(isinstance(arg, str) for arg in command)):
        raise ConfigError("hook.command: must be null or a non-empty list of strings (argv, no shell)")
    if command is not None and not os.path.isabs(command[0]):
        raise ConfigError("hook.command: %r must be an absolute path" % command[0])
    for event in _strings(config, "hook.events"):
        if event not in ("warn", "critical", "recover", "psi", "kill", "drop_caches"):
            raise ConfigError("hook.events: unknown event %r (warn, critical, recover, psi, kill, drop_caches)" % event)
    _number(config, "hook.interval_s", 0)
    _number(config, "hook.timeout_s", 1)
    path = config["metrics"]["path"]
    if path is not None and (not isinstance(path, str) or not path.endswith(".prom") or not os.path.isabs(path)):
        raise ConfigError("metrics.path: %r must be null or an absolute path ending in .prom" % (path,))
    _number(config, "metrics.interval_s", 1)
    _bool(config, "watchdog")
    _bool(config, "mlock")
    return config


def load_config(path):
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as error:
        raise ConfigError("%s: cannot be read: %s" % (path, error.strerror or error))
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise ConfigError("%s: not valid JSON: %s" % (path, error))
    try:
        return validate_config(raw)
    except ConfigError as error:
        raise ConfigError("%s: %s" % (path, error))


def parse_trigger(text):
    """``some 150000 1000000`` -> (kind, stall_us, window_us), as the kernel accepts them."""
    parts = text.split()
    if len(parts) != 3 or parts[0] not in ("some", "full") or not parts[1].isdigit() or not parts[2].isdigit():
        raise ConfigError("psi.triggers: %r is not '<some|full> <stall us> <window us>'" % text)
    stall, window = int(parts[1]), int(parts[2])
    if not 500000 <= window <= 10000000:
        raise ConfigError("psi.triggers: %r: the window must be 500000 to 10000000 us" % text)
    if not 0 < stall <= window:
        raise ConfigError("psi.triggers: %r: the stall must be above 0 and at most the window" % text)
    return parts[0], stall, window


# --------------------------------------------------------------------------- decisions (pure)

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


def effective_available(meminfo, swaps, count_swap=True, zram_weight=0.5):
    """What the thresholds compare: MemAvailable plus free swap when counted.

    Disk swap counts in full; free zram swap counts ``zram_weight`` of its size, since
    filling it costs RAM too (about half at lzo/zstd ratios of 2-3). Returns a dict of kB
    figures: effective, mem_available, mem_total, swap_free, zram_free.
    """
    mem_available = meminfo.get("MemAvailable")
    if mem_available is None:
        # Kernels before 3.14: the classic approximation.
        mem_available = meminfo.get("MemFree", 0) + meminfo.get("Cached", 0) + meminfo.get("Buffers", 0)
    disk_free = zram_free = 0
    if swaps:
        for device in swaps:
            free = max(0, device["size_kb"] - device["used_kb"])
            if device["zram"]:
                zram_free += free
            else:
                disk_free += free
    else:
        disk_free = meminfo.get("SwapFree", 0)
    effective = mem_available
    if count_swap:
        effective += disk_free + int(zram_free * zram_weight)
    return {"effective": effective, "mem_available": mem_available, "mem_total": meminfo.get("MemTotal", 0),
            "swap_free": disk_free + zram_free, "zram_free": zram_free}


# Metrics may be written this much before they are due, to share a wake-up with a check.
HOUSEKEEPING_EARLY_S = 2.0

# How often the systemd status line (systemctl status) gets fresh figures without a level change.
STATUS_INTERVAL_S = 15

# Shortest sleep while memory is seen falling towards a threshold (see next_interval).
FALLING_FLOOR_S = 0.01


def next_interval(kb, level, thresholds, poll, psi_active, urgent=False, falling_kb_s=0.0):
    """Seconds until the next MemAvailable check (earlyoom's idea, 100 ms to 1 s, plus a trend).

    The headroom down to the next threshold divided by how fast memory can fill: close to a
    threshold the checks speed up to ``min_ms``; far from it they slow down to ``max_ms``,
    or ``max_psi_ms`` while a PSI trigger wakes the monitor on stalls anyway.

    ``falling_kb_s`` is the rate memory fell at between the last two checks. While it falls,
    the next check comes no later than the moment that rate would reach the threshold (10 ms
    at the shortest), so a crossing is seen within a few ms instead of up to ``min_ms`` late.
    Steady memory near a threshold still costs no more than one check per ``min_ms``.
    """
    low, high = poll["min_ms"] / 1000.0, (poll["max_psi_ms"] if psi_active else poll["max_ms"]) / 1000.0
    if urgent or level == CRITICAL:
        return low
    target = thresholds.critical_kb if level == WARN else thresholds.warn_kb
    headroom_kb = max(0, kb - target)
    seconds = max(low, min(high, headroom_kb / (poll["fill_rate_mb_s"] * 1024.0)))
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


def fmt_kb(kb):
    if kb is None:
        return "?"
    if kb >= 1024 * 1024:
        return "%.1f GiB" % (kb / 1048576.0)
    return "%d MiB" % (kb // 1024)


class Action:
    """Something the executor does for the monitor: log, drop_caches, kill, sigkill, hook."""

    def __init__(self, kind, **fields):
        self.kind = kind
        self.__dict__.update(fields)

    def __repr__(self):
        return "Action(%s)" % ", ".join("%s=%r" % item for item in sorted(self.__dict__.items()))


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
        self.last = None
        self.last_at = None
        self.falling_kb_s = 0.0
        self.psi_state = "unknown"

    @property
    def level(self):
        return self.tracker.level

    def count(self, action, result):
        key = (action, result)
        self.actions[key] = self.actions.get(key, 0) + 1

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

    def step(self, now, reading):
        """One MemAvailable check: level changes, repeated warnings, and the critical actions."""
        if self.last is not None and now > self.last_at:
            self.falling_kb_s = max(0.0, (self.last["effective"] - reading["effective"]) / (now - self.last_at))
        self.last, self.last_at = reading, now
        kb = reading["effective"]
        previous, level = self.tracker.update(kb)
        actions = []
        if level != previous:
            if RANK[level] > RANK[previous]:
                self.events[level] += 1
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
                                falling_kb_s=self.falling_kb_s)
        if self.kill_job is not None:
            seconds = min(seconds, max(0.01, self.kill_job.timeout(now)))
        return seconds


# --------------------------------------------------------------------------- metrics (pure render)

def render_metrics(monitor, reading, psi_values, psi_mode, now_wall):
    """node_exporter textfile collector text."""
    lines = []

    def metric(name, kind, helptext, samples):
        full = "rock5b_oom_monitor_" + name
        lines.append("# HELP %s %s" % (full, helptext))
        lines.append("# TYPE %s %s" % (full, kind))
        for labels, value in samples:
            label = ",".join('%s="%s"' % item for item in labels)
            lines.append("%s%s %s" % (full, "{%s}" % label if label else "", value))

    t = monitor.thresholds
    if reading:
        metric("available_bytes", "gauge", "Memory the thresholds compare: MemAvailable plus counted free swap.",
               [((), reading["effective"] * 1024)])
        metric("mem_available_bytes", "gauge", "MemAvailable.", [((), reading["mem_available"] * 1024)])
        metric("mem_total_bytes", "gauge", "MemTotal.", [((), reading["mem_total"] * 1024)])
        metric("swap_free_bytes", "gauge", "Free swap, zram included.", [((), reading["swap_free"] * 1024)])
        metric("zram_free_bytes", "gauge", "Free zram swap.", [((), reading["zram_free"] * 1024)])
    metric("threshold_bytes", "gauge", "The resolved thresholds.",
           [((("level", "warn"),), t.warn_kb * 1024), ((("level", "critical"),), t.critical_kb * 1024),
            ((("level", "kill"),), t.kill_kb * 1024)])
    metric("level", "gauge", "0 ok, 1 warn, 2 critical.", [((), RANK[monitor.level])])
    metric("psi_trigger_active", "gauge", "1 when a PSI trigger wakes the monitor, 0 on adaptive polling alone.",
           [((), 1 if psi_mode == "trigger" else 0)])
    samples = []
    for kind in ("some", "full"):
        for window in ("avg10", "avg60", "avg300"):
            value = ((psi_values or {}).get(kind) or {}).get(window)
            if value is not None:
                samples.append(((("kind", kind), ("window", window)), value))
    if samples:
        metric("psi_memory_percent", "gauge", "Memory PSI averages (percent of wall time).", samples)
    metric("events_total", "counter", "Level changes and PSI trigger events.",
           [((("event", name),), monitor.events[name]) for name in sorted(monitor.events)])
    metric("actions_total", "counter", "Actions carried out, by result.",
           [((("action", a), ("result", r)), n) for (a, r), n in sorted(monitor.actions.items())])
    metric("last_update_timestamp_seconds", "gauge", "When this file was written.", [((), "%.3f" % now_wall)])
    return "\n".join(lines) + "\n"


def write_atomic(path, text, mode=0o644):
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, text.encode())
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.rename(tmp, path)


# --------------------------------------------------------------------------- journal and sd_notify

_FIELD = re.compile(r"[^A-Z0-9_]")


def journal_payload(fields):
    """The native journal protocol: KEY=value lines, binary form for values with newlines."""
    out = bytearray()
    for key, value in fields:
        key = _FIELD.sub("_", key.upper()).lstrip("_") or "X"
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class Journal:
    """Structured log records to journald's native socket; stderr with <N> prefixes otherwise."""

    def __init__(self, path="/run/systemd/journal/socket", stream=None, identifier=IDENTIFIER):
        self.path = path
        self.stream = stream if stream is not None else sys.stderr
        self.identifier = identifier
        self.sock = None
        if path and os.path.exists(path):
            try:
                self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
            except OSError:
                self.sock = None

    @property
    def native(self):
        return self.sock is not None

    def send(self, priority, message, fields=()):
        record = [("MESSAGE", message), ("PRIORITY", priority), ("SYSLOG_IDENTIFIER", self.identifier)]
        record += [(k, v) for k, v in fields if v is not None]
        if self.sock is not None:
            payload = journal_payload(record)
            try:
                self.sock.sendto(payload, self.path)
                return True
            except OSError as error:
                if error.errno in (errno.EMSGSIZE, errno.ENOBUFS) and self._send_memfd(payload):
                    return True
        extra = " ".join("%s=%s" % (k, v) for k, v in fields if v is not None and "\n" not in str(v))
        try:
            self.stream.write("<%d>%s%s\n" % (priority, message, (" [%s]" % extra) if extra else ""))
            self.stream.flush()
        except (OSError, ValueError):
            return False
        return False

    def _send_memfd(self, payload):
        """Large records go through a sealed memfd passed with SCM_RIGHTS, as sd_journal_send does."""
        try:
            fd = os.memfd_create("journal", os.MFD_CLOEXEC | getattr(os, "MFD_ALLOW_SEALING", 2))
        except (AttributeError, OSError):
            return False
        try:
            os.write(fd, payload)
            try:
                import fcntl  # pylint: disable=import-outside-toplevel
                fcntl.fcntl(fd, 1033, 0x1 | 0x2 | 0x4 | 0x8)  # F_ADD_SEALS: seal, shrink, grow, write
            except (ImportError, OSError):
                pass
            self.sock.sendmsg([b""], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", fd))], 0, self.path)
            return True
        except (OSError, TypeError):
            return False
        finally:
            os.close(fd)


class Notifier:
    """sd_notify over $NOTIFY_SOCKET: READY, STATUS, WATCHDOG, STOPPING."""

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        self.address = ("\0" + address[1:]) if address.startswith("@") else address
        self.sock = None
        if self.address:
            try:
                self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
            except OSError:
                self.sock = None
        self.watchdog_s = None
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            # Ping at half the period, as sd_watchdog_enabled() users do.
            self.watchdog_s = int(usec) / 2e6

    def notify(self, text):
        if self.sock is None:
            return False
        try:
            self.sock.sendto(text.encode(), self.address)
            return True
        except OSError:
            return False


# --------------------------------------------------------------------------- PSI trigger (I/O)

class PsiTrigger:
    """Kernel PSI triggers on /proc/pressure/memory, one open file per trigger.

    The kernel wakes poll() with POLLPRI when a stall of ``stall`` us accumulates within
    ``window`` us. Without CAP_SYS_RESOURCE, Linux 6.5+ still accepts triggers whose window
    is a multiple of 2 s (and before 6.5 refuses the write open): the window is widened
    once on EPERM/EACCES/EINVAL before giving up.
    """

    def __init__(self, path, triggers):
        self.path = path
        self.fds = []
        self.error = None
        for text in triggers:
            kind, stall, window = parse_trigger(text)
            fd, error = self._open(kind, stall, window)
            if fd is None and error in (errno.EPERM, errno.EACCES, errno.EINVAL) and window % 2000000:
                widened = max(2000000, (window + 1999999) // 2000000 * 2000000)
                fd, error = self._open(kind, stall * widened // window, widened)
            if fd is None:
                self.close()
                self.error = error
                return
            self.fds.append(fd)

    def _open(self, kind, stall, window):
        fd = None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            os.write(fd, ("%s %d %d\0" % (kind, stall, window)).encode())
            return fd, None
        except OSError as error:
            if fd is not None:
                os.close(fd)
            return None, error.errno

    @property
    def active(self):
        return bool(self.fds)

    def close(self):
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


def psi_status(proc_root, fs_root, enabled, triggers, open_trigger=PsiTrigger):
    """Decide how the monitor wakes: ``(mode, trigger or None, message)``.

    mode ``trigger``: PSI triggers armed plus adaptive polling; ``polling``: adaptive
    polling alone, with the reason (PSI missing, empty, disabled at boot, refused).
    """
    if not enabled:
        return "polling", None, "PSI triggers are switched off in the config (psi.enabled: false); adaptive polling only"
    path = mu_pressure.system_path(proc_root, "memory")
    try:
        mu_pressure.read_psi(path)
    except mu_pressure.PsiUnavailable:
        found = mu_pressure.diagnose(proc_root, fs_root)
        return "polling", None, "PSI unavailable (%s): %s; adaptive MemAvailable polling only. %s" % (
            found["state"], found["reason"], found["hint"])
    if not triggers:
        return "polling", None, "no PSI triggers configured; adaptive polling only (PSI read for the logs)"
    trigger = open_trigger(path, triggers)
    if not trigger.active:
        reason = errno.errorcode.get(trigger.error, str(trigger.error))
        if trigger.error in (errno.EPERM, errno.EACCES):
            hint = "the unit needs CAP_SYS_RESOURCE in CapabilityBoundingSet= (kernels before 6.5)"
        elif trigger.error == errno.EOPNOTSUPP:
            hint = "PSI is disabled at boot (psi=1 missing on the command line)"
        else:
            hint = "the kernel refused the trigger"
        return "polling", None, "PSI triggers on %s refused (%s): %s; adaptive MemAvailable polling only" % (
            path, reason, hint)
    return "trigger", trigger, "PSI triggers armed on %s (%s) with adaptive MemAvailable polling" % (
        path, ", ".join(triggers))


# --------------------------------------------------------------------------- readings and processes (I/O)

class MemReader:
    """/proc/meminfo through a descriptor kept open (pread at 0 regenerates the seq_file)."""

    def __init__(self, proc_root):
        self.path = os.path.join(proc_root, "meminfo")
        self.swaps_path = os.path.join(proc_root, "swaps")
        self.proc_root = proc_root
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self.swaps_fd = None

    # What effective_available() looks at (MemFree, Cached, Buffers: kernels before 3.14).
    FIELDS = ("MemTotal", "MemAvailable", "SwapTotal", "SwapFree")
    OLD_KERNEL_FIELDS = ("MemFree", "Cached", "Buffers")

    def meminfo(self):
        return mu_meminfo.parse_meminfo(os.pread(self.fd, 16384, 0).decode("ascii", "replace"))

    def swaps(self):
        """/proc/swaps (zram or disk), also through a descriptor kept open; [] when unreadable."""
        try:
            if self.swaps_fd is None:
                self.swaps_fd = os.open(self.swaps_path, os.O_RDONLY | os.O_CLOEXEC)
            return mu_meminfo.parse_swaps(os.pread(self.swaps_fd, 16384, 0).decode("utf-8", "replace"))
        except OSError:
            return []

    def reading(self, count_swap, zram_weight):
        data = os.pread(self.fd, 4096, 0)  # the fields used are all in the first lines
        info = mu_meminfo.pick_meminfo(data, self.FIELDS)
        if "MemAvailable" not in info:
            info.update(mu_meminfo.pick_meminfo(data, self.OLD_KERNEL_FIELDS))
        swaps = self.swaps() if count_swap and info.get("SwapTotal") else []
        return effective_available(info, swaps, count_swap, zram_weight)


def read_rss_kb(proc_root, pid, page_kb):
    """Resident memory of a process in kB from /proc/<pid>/statm; 0 when gone."""
    try:
        with open(os.path.join(proc_root, str(pid), "statm")) as handle:
            return int(handle.read().split()[1]) * page_kb
    except (OSError, ValueError, IndexError):
        return 0


def read_oom_score(proc_root, pid):
    try:
        with open(os.path.join(proc_root, str(pid), "oom_score")) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return 0


def process_table(proc_root):
    """Every user-space process with rss_kb and oom_score added.

    statm first: kernel threads and zombies have no resident memory and are skipped before
    processes.read_process() reads their four other files (a board has ~150 kernel threads).
    """
    page_kb = max(1, os.sysconf("SC_PAGE_SIZE") // 1024)
    root = mu_processes.read_cgroup_root(proc_root)
    result = []
    for pid in mu_processes.list_pids(proc_root):
        rss_kb = read_rss_kb(proc_root, pid, page_kb)
        if rss_kb <= 0:
            continue
        process = mu_processes.read_process(proc_root, pid, root)
        if process is None or process["kernel_thread"] or process["state"] in ("Z", "X"):
            continue
        process["rss_kb"] = rss_kb
        process["oom_score"] = read_oom_score(proc_root, pid)
        result.append(process)
    return result


def top_users(table, count):
    ordered = sorted(table, key=lambda p: (-p.get("rss_kb", 0), p["pid"]))[:count]
    return "; ".join("%s[%d] %s adj=%d" % (p["comm"], p["pid"], fmt_kb(p.get("rss_kb", 0)), p.get("oom_score_adj", 0))
                     for p in ordered)


def top_memory_users(proc_root, count):
    """The ``count`` largest processes by RSS, formatted as top_users() does.

    Cheaper than process_table(): one statm read per process, then comm and oom_score_adj
    for the few largest only (the log line is about them, and it is written under pressure).
    """
    page_kb = max(1, os.sysconf("SC_PAGE_SIZE") // 1024)
    sizes = []
    for pid in mu_processes.list_pids(proc_root):
        rss_kb = read_rss_kb(proc_root, pid, page_kb)
        if rss_kb > 0:
            sizes.append((-rss_kb, pid))
    table = []
    for negative_rss, pid in sorted(sizes)[:count]:
        try:
            with open(os.path.join(proc_root, str(pid), "comm")) as handle:
                comm = handle.read().rstrip("\n")
            adj = mu_processes.read_oom_score_adj(proc_root, pid)
        except (OSError, ValueError, mu_processes.ProcessGone):
            continue
        table.append({"pid": pid, "comm": comm, "rss_kb": -negative_rss, "oom_score_adj": adj})
    return top_users(table, count)


def compile_protect(protect):
    protect = dict(protect)
    protect["_compiled"] = [re.compile(pattern) for pattern in protect["patterns"]]
    return protect


# --------------------------------------------------------------------------- executor (I/O)

class Executor:
    """Carries out the monitor's actions and reports back."""

    def __init__(self, monitor, journal, proc_root="/proc", clock=time.monotonic):
        self.monitor = monitor
        self.journal = journal
        self.proc_root = proc_root
        self.clock = clock
        self.protect = compile_protect(monitor.config["protect"])
        self.psi_path = mu_pressure.system_path(proc_root, "memory")
        self.pidfd = None
        self.hook_process = None
        self.hook_started = None
        # subprocess costs about 1 MiB of resident memory: imported only when a hook is set,
        # and at start-up rather than under pressure.
        self.subprocess = None
        if monitor.config["hook"]["command"] is not None:
            import subprocess  # pylint: disable=import-outside-toplevel
            self.subprocess = subprocess

    def psi_values(self):
        try:
            return mu_pressure.read_psi(self.psi_path)
        except mu_pressure.PsiUnavailable:
            return None

    def fields(self, event, reading):
        psi = self.psi_values()
        fields = [
            ("MESSAGE_ID", MESSAGE_IDS.get(event, MESSAGE_IDS["error"])),
            ("ROCK5B_OOM_EVENT", event),
            ("ROCK5B_OOM_LEVEL", self.monitor.level),
        ]
        if reading:
            fields += [
                ("ROCK5B_OOM_AVAILABLE_KB", reading["effective"]),
                ("ROCK5B_OOM_MEM_AVAILABLE_KB", reading["mem_available"]),
                ("ROCK5B_OOM_SWAP_FREE_KB", reading["swap_free"]),
                ("ROCK5B_OOM_WARN_KB", self.monitor.thresholds.warn_kb),
                ("ROCK5B_OOM_CRITICAL_KB", self.monitor.thresholds.critical_kb),
            ]
        if psi:
            fields += [("ROCK5B_OOM_PSI_SOME_AVG10", (psi.get("some") or {}).get("avg10")),
                       ("ROCK5B_OOM_PSI_FULL_AVG10", (psi.get("full") or {}).get("avg10"))]
        return fields

    def run(self, actions):
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            handler = getattr(self, "do_" + action.kind)
            queue.extend(handler(action) or [])

    def do_log(self, action):
        """The record first, then (when asked) the top memory users in a second record.

        Listing processes takes a while on a loaded board; the news that memory is low must
        not wait for it.
        """
        self.journal.send(action.priority, action.message, self.fields(action.event, self.monitor.last))
        count = self.monitor.config["log"]["top"]
        if not (action.top and count):
            return
        try:
            top = top_memory_users(self.proc_root, count)
        except OSError:
            return
        self.journal.send(action.priority, "top memory users at %s: %s" % (action.event, top), [
            ("MESSAGE_ID", MESSAGE_IDS["top"]), ("ROCK5B_OOM_EVENT", "top"), ("ROCK5B_OOM_CAUSE", action.event),
            ("ROCK5B_OOM_LEVEL", self.monitor.level), ("ROCK5B_OOM_TOP", top)])

    def do_drop_caches(self, action):
        try:
            os.sync()
            fd = os.open(os.path.join(self.proc_root, "sys", "vm", "drop_caches"), os.O_WRONLY)
            try:
                os.write(fd, b"%d\n" % action.value)
            finally:
                os.close(fd)
        except OSError as error:
            code = errno.errorcode.get(error.errno, str(error.errno))
            hint = ""
            if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                hint = " (/proc/sys is read-only here: a container, or ProtectKernelTunables=yes)"
            return self.monitor.record("drop_caches", False, code, "%s: %s%s" % (code, error.strerror, hint))
        return self.monitor.record("drop_caches", True, now=self.clock())

    def do_kill(self, action):
        try:
            victim = choose_victim(process_table(self.proc_root), self.protect, os.getpid())
        except OSError as error:
            return self.monitor.record("kill", False, "proc", "listing processes: %s" % error)
        if victim is None:
            return self.monitor.record("kill", False, "no_victim", "no expendable process to kill")
        if action.dry_run:
            self.monitor.kill_limit.last = self.clock()
            self.monitor.count("kill", "dry_run")
            return [Action("log", event="kill", priority=LOG_WARNING, top=False,
                           message="dry run: would kill %s (pid %d, %s resident, oom_score %d)" % (
                               victim["comm"], victim["pid"], fmt_kb(victim["rss_kb"]), victim["oom_score"]))]
        try:
            self.pidfd = self._signal(victim, signal.SIGTERM)
        except OSError as error:
            if error.errno == errno.ESRCH:
                return []
            return self.monitor.record("kill", False, errno.errorcode.get(error.errno, "?"),
                                       "SIGTERM to %s (pid %d): %s" % (victim["comm"], victim["pid"], error.strerror))
        return self.monitor.start_kill(self.clock(), victim)

    def _signal(self, victim, signum):
        """Signal through a pidfd (no pid reuse race) when the kernel and Python have them."""
        if hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal"):
            try:
                fd = os.pidfd_open(victim["pid"])
            except OSError as error:
                if error.errno not in (errno.ENOSYS, errno.EINVAL):
                    raise
            else:
                try:
                    with open(os.path.join(self.proc_root, str(victim["pid"]), "stat")) as handle:
                        stat = mu_processes.parse_stat(handle.read())
                    if stat["starttime"] != victim["starttime"]:
                        os.close(fd)
                        raise OSError(errno.ESRCH, "pid reused")
                except (OSError, ValueError, IndexError):
                    os.close(fd)
                    raise OSError(errno.ESRCH, "gone")
                signal.pidfd_send_signal(fd, signum)
                return fd
        os.kill(victim["pid"], signum)
        return None

    def victim_alive(self):
        job = self.monitor.kill_job
        if job is None:
            return False
        if self.pidfd is not None:
            ready, _w, _x = select.select([self.pidfd], [], [], 0)
            return not ready
        try:
            os.kill(job.victim["pid"], 0)
        except OSError as error:
            return error.errno != errno.ESRCH
        return mu_processes.read_process(self.proc_root, job.victim["pid"]) is not None

    def do_sigkill(self, action):
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                os.kill(action.victim["pid"], signal.SIGKILL)
        except OSError:
            pass
        return []

    def finish_kill(self):
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def do_hook(self, action):
        self.reap_hook()
        if self.hook_process is not None:
            self.monitor.count("hook", "skipped")
            return []
        reading = self.monitor.last or {}
        env = dict(os.environ, ROCK5B_OOM_EVENT=action.event, ROCK5B_OOM_LEVEL=self.monitor.level,
                   ROCK5B_OOM_AVAILABLE_KB=str(reading.get("effective", "")),
                   ROCK5B_OOM_MEM_AVAILABLE_KB=str(reading.get("mem_available", "")))
        try:
            self.hook_process = self.subprocess.Popen(  # pylint: disable=consider-using-with
                self.monitor.config["hook"]["command"], env=env, stdin=self.subprocess.DEVNULL,
                start_new_session=True, close_fds=True)
            self.hook_started = self.clock()
        except OSError as error:
            return self.monitor.record("hook", False, errno.errorcode.get(error.errno, "?"),
                                       "%s: %s" % (self.monitor.config["hook"]["command"][0], error.strerror))
        return []

    def reap_hook(self):
        """Collect a finished hook; kill one that outlived its timeout. Returns log actions."""
        process = self.hook_process
        if process is None:
            return []
        code = process.poll()
        if code is None:
            if self.clock() - self.hook_started > self.monitor.config["hook"]["timeout_s"]:
                process.kill()
                process.wait()
                self.hook_process = None
                return self.monitor.record("hook", False, "timeout", "the hook ran longer than %ss and was killed"
                                           % self.monitor.config["hook"]["timeout_s"])
            return []
        self.hook_process = None
        if code == 0:
            return self.monitor.record("hook", True)
        return self.monitor.record("hook", False, "exit", "the hook exited with status %d" % code)


# --------------------------------------------------------------------------- the loop

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4


def settle_memory(lock):
    """Shrink and (when ``lock``) pin the monitor's memory once start-up is done.

    The garbage of start-up (compiling the program from source) goes back to the kernel
    (gc, then glibc's malloc_trim): about 2 MiB. mlockall keeps what the loop touches in RAM,
    as earlyoom does, but with MCL_ONFAULT (Linux 4.4+): only pages actually used are locked,
    so the whole mapped interpreter (libpython, locale data) is not pulled into RSS.
    Returns None or the reason locking failed.
    """
    import gc  # pylint: disable=import-outside-toplevel
    gc.collect()
    gc.freeze()  # start-up objects never need scanning again: cheaper collections in the loop
    try:
        import ctypes  # pylint: disable=import-outside-toplevel
        libc = ctypes.CDLL(None, use_errno=True)
    except (OSError, ImportError) as error:
        return str(error) if lock else None
    trim = getattr(libc, "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)
    if not lock:
        return None
    if libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0:
        return None
    code = ctypes.get_errno()
    if code == errno.EINVAL and libc.mlockall(MCL_CURRENT | MCL_FUTURE) == 0:  # before Linux 4.4
        return None
    code = ctypes.get_errno() or code
    return "%s (%s)" % (os.strerror(code), errno.errorcode.get(code, code))


class Stop(Exception):
    pass


def run(config, proc_root="/proc", fs_root="/", journal=None, notifier=None, clock=time.monotonic,
        wall=time.time, max_iterations=None):
    """The daemon. Returns the exit status."""
    journal = journal or Journal()
    notifier = notifier or Notifier()
    reader = MemReader(proc_root)
    thresholds = Thresholds.from_config(config, reader.meminfo().get("MemTotal", 0))
    monitor = Monitor(config, thresholds, os.getpid())
    executor = Executor(monitor, journal, proc_root, clock)

    stop = {"signal": None}
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def on_signal(signum, _frame):
        stop["signal"] = signum

    old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    notes = []
    mode, trigger, psi_message = psi_status(proc_root, fs_root, config["psi"]["enabled"], config["psi"]["triggers"])
    problem = settle_memory(config["mlock"])
    if problem:
        notes.append("mlockall failed (%s): the monitor's pages may be reclaimed under pressure" % problem)
    monitor.psi_state = mode
    journal.send(LOG_INFO, "started: warn below %s, critical below %s%s; actions: %s; %s" % (
        fmt_kb(thresholds.warn_kb), fmt_kb(thresholds.critical_kb),
        " (swap counted, zram at %g)" % config["zram_weight"] if config["count_swap"] else "",
        ", ".join(name for name, on in (("log", config["log"]["enabled"]),
                                        ("drop_caches", config["drop_caches"]["enabled"]),
                                        ("kill%s" % (" (dry run)" if config["kill"]["dry_run"] else ""),
                                         config["kill"]["enabled"]),
                                        ("hook", config["hook"]["command"] is not None)) if on) or "none",
        "journal: native" if journal.native else "journal: stderr"),
        [("MESSAGE_ID", MESSAGE_IDS["start"]), ("ROCK5B_OOM_EVENT", "start"),
         ("ROCK5B_OOM_WARN_KB", thresholds.warn_kb), ("ROCK5B_OOM_CRITICAL_KB", thresholds.critical_kb)])
    journal.send(LOG_INFO if mode == "trigger" else LOG_WARNING, psi_message,
                 [("MESSAGE_ID", MESSAGE_IDS["psi" if mode == "trigger" else "fallback"]),
                  ("ROCK5B_OOM_EVENT", "psi_mode"), ("ROCK5B_OOM_PSI_MODE", mode)])
    for note in notes:
        journal.send(LOG_WARNING, note, [("ROCK5B_OOM_EVENT", "mlock")])

    poller = select.poll()
    poller.register(wake_r, select.POLLIN)
    trigger_fds = set(trigger.fds) if trigger else set()
    for fd in trigger_fds:
        poller.register(fd, select.POLLPRI)

    metrics_path = config["metrics"]["path"]
    metrics_due = clock()
    watchdog_due = clock()
    status_level = None
    status_due = clock()
    ready = False
    iterations = 0
    psi_suppressed_until = 0.0
    try:
        while True:
            now = clock()
            reading = reader.reading(config["count_swap"], config["zram_weight"])
            executor.run(monitor.step(now, reading))
            if monitor.kill_job is not None:
                actions = monitor.kill_progress(now, executor.victim_alive())
                if monitor.kill_job is None:
                    executor.finish_kill()
                executor.run(actions)
            executor.run(executor.reap_hook())

            # Status text follows level changes at once and the figures every STATUS_INTERVAL_S.
            if not ready or monitor.level != status_level or now >= status_due:
                status = "%s: %s available, %s" % (monitor.level, fmt_kb(reading["effective"]),
                                                   "PSI trigger armed" if mode == "trigger" else "polling (no PSI trigger)")
                notifier.notify(("STATUS=%s" if ready else "READY=1\nSTATUS=%s") % status)
                ready, status_level = True, monitor.level
                status_due = now + STATUS_INTERVAL_S
            # Housekeeping rides on the checks' own wake-ups where it can: the watchdog is pinged
            # up to half its period early and the metrics written up to HOUSEKEEPING_EARLY_S early,
            # so neither needs a wake-up of its own while checks come every second or two.
            if notifier.watchdog_s and config["watchdog"] and now >= watchdog_due - notifier.watchdog_s / 2:
                notifier.notify("WATCHDOG=1")
                watchdog_due = now + notifier.watchdog_s
            if metrics_path and now >= metrics_due - HOUSEKEEPING_EARLY_S:
                try:
                    write_atomic(metrics_path, render_metrics(monitor, reading, executor.psi_values(), mode, wall()))
                except OSError as error:
                    executor.run(monitor.record("metrics", False, errno.errorcode.get(error.errno, "?"),
                                                "writing %s: %s" % (metrics_path, error.strerror)))
                metrics_due = now + config["metrics"]["interval_s"]

            iterations += 1
            if max_iterations is not None and iterations >= max_iterations:
                raise Stop()
            timeout = monitor.next_timeout(now, mode == "trigger")
            if notifier.watchdog_s and config["watchdog"]:
                timeout = min(timeout, max(0.0, watchdog_due - now))
            if metrics_path:
                timeout = min(timeout, max(0.0, metrics_due - now))
            for fd, events in poller.poll(int(timeout * 1000) + 1):
                if fd == wake_r:
                    try:
                        os.read(wake_r, 512)
                    except OSError:
                        pass
                elif fd in trigger_fds:
                    if events & (select.POLLERR | select.POLLNVAL):
                        poller.unregister(fd)
                        trigger_fds.discard(fd)
                        if not trigger_fds:
                            mode = monitor.psi_state = "polling"
                            journal.send(LOG_WARNING, "the PSI trigger failed (POLLERR); adaptive polling only",
                                         [("MESSAGE_ID", MESSAGE_IDS["fallback"]), ("ROCK5B_OOM_EVENT", "psi_mode")])
                    elif events & select.POLLPRI:
                        wake = clock()
                        # Several triggers may fire together: one event per wake-up.
                        if wake >= psi_suppressed_until:
                            executor.run(monitor.on_psi(wake, executor.psi_values()))
                            psi_suppressed_until = wake + 0.05
            if stop["signal"] is not None:
                raise Stop()
    except Stop:
        pass
    finally:
        signal.set_wakeup_fd(old_wakeup)
        notifier.notify("STOPPING=1\nSTATUS=stopping")
        if trigger:
            trigger.close()
        os.close(wake_r)
        os.close(wake_w)
    if stop["signal"] is not None:
        journal.send(LOG_INFO, "stopping on %s" % signal.Signals(stop["signal"]).name, [("ROCK5B_OOM_EVENT", "stop")])
    return 0


# --------------------------------------------------------------------------- --check

def check_report(config, proc_root="/proc", fs_root="/"):
    """The state for a person: ``(text, exit status)``; 0 ok, 1 warn, 2 critical."""
    reader = MemReader(proc_root)
    info = reader.meminfo()
    thresholds = Thresholds.from_config(config, info.get("MemTotal", 0))
    reading = reader.reading(config["count_swap"], config["zram_weight"])
    level = thresholds.raw_level(reading["effective"])
    lines = ["rock5b-oom-monitor %s --check" % VERSION,
             "level:      %s" % level,
             "available:  %s (MemAvailable %s of MemTotal %s, swap free %s, zram free %s%s)" % (
                 fmt_kb(reading["effective"]), fmt_kb(reading["mem_available"]), fmt_kb(reading["mem_total"]),
                 fmt_kb(reading["swap_free"]), fmt_kb(reading["zram_free"]),
                 "; swap counted, zram at %g" % config["zram_weight"] if config["count_swap"] else "; swap not counted"),
             "thresholds: warn below %s (%s), critical below %s (%s), kill below %s, hysteresis %s%%" % (
                 fmt_kb(thresholds.warn_kb), config["warn"], fmt_kb(thresholds.critical_kb), config["critical"],
                 fmt_kb(thresholds.kill_kb), config["hysteresis_percent"])]
    found = mu_pressure.diagnose(proc_root, fs_root)
    if found["available"]:
        values = found["values"]
        lines.append("PSI:        some avg10 %s%%, full avg10 %s%% (triggers: %s)" % (
            (values.get("some") or {}).get("avg10"), (values.get("full") or {}).get("avg10"),
            ", ".join(config["psi"]["triggers"]) if config["psi"]["enabled"] else "off"))
    else:
        lines.append("PSI:        %s: %s" % (found["state"], found["reason"]))
        if found["hint"]:
            lines.append("            %s" % found["hint"])
    lines.append("actions:    log %s, drop_caches %s, kill %s, hook %s" % (
        "on" if config["log"]["enabled"] else "off",
        ("every %ss at most" % config["drop_caches"]["interval_s"]) if config["drop_caches"]["enabled"] else "off",
        ("on, dry run" if config["kill"]["dry_run"] else "on") if config["kill"]["enabled"] else "off",
        " ".join(config["hook"]["command"]) if config["hook"]["command"] else "none"))
    lines.append("metrics:    %s" % (config["metrics"]["path"] or "off"))
    protect = compile_protect(config["protect"])
    lines.append("protected:  units %s; comms %s; patterns %s; and every oom_score_adj -1000" % (
        ", ".join(protect["units"]) or "-", ", ".join(protect["comms"]) or "-", ", ".join(protect["patterns"]) or "-"))
    try:
        table = process_table(proc_root)
    except OSError:
        table = []
    if table:
        lines.append("top:        %s" % top_users(table, max(config["log"]["top"], 5)))
        victim = choose_victim(table, protect, os.getpid())
        if victim:
            lines.append("victim:     %s (pid %d, %s resident, oom_score %d) would be killed first%s" % (
                victim["comm"], victim["pid"], fmt_kb(victim["rss_kb"]), victim["oom_score"],
                "" if config["kill"]["enabled"] else " if kill were on"))
        else:
            lines.append("victim:     none: every process is protected")
    return "\n".join(lines) + "\n", RANK[level]


USAGE = """usage: rock5b-oom-monitor [--config FILE] [--check] [--validate-config FILE] [--version]

Low-memory monitor for Rock 5B+ boards.

  --config FILE           JSON config (default %s)
  --check                 print the current state and exit (0 ok, 1 warn, 2 critical)
  --validate-config FILE  check a config file and exit (0, or 78 with the error)
  --version               print the version and exit
""" % DEFAULT_CONFIG


class Args:  # pylint: disable=too-few-public-methods
    config = DEFAULT_CONFIG
    check = False
    validate_config = None
    proc = "/proc"  # for tests: a fake /proc and root
    root = "/"


def usage_error(message):
    sys.stderr.write("%s: %s\n%s" % (IDENTIFIER, message, USAGE))
    raise SystemExit(2)


def parse_args(argv):
    """The command line; argparse would cost the daemon about 0.5 MiB for five options."""
    args, rest = Args(), list(argv)
    takes_value = {"--config": "config", "--validate-config": "validate_config", "--proc": "proc", "--root": "root"}
    while rest:
        word = rest.pop(0)
        name, equals, value = word.partition("=")
        if name in takes_value:
            if not equals:
                if not rest:
                    usage_error("%s needs a value" % name)
                value = rest.pop(0)
            setattr(args, takes_value[name], value)
        elif word == "--check":
            args.check = True
        elif word in ("-h", "--help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        elif word == "--version":
            sys.stdout.write("%s %s\n" % (IDENTIFIER, VERSION))
            raise SystemExit(0)
        else:
            usage_error("unknown argument %r" % word)
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    try:
        config = load_config(args.validate_config or args.config)
    except ConfigError as error:
        message = "config error: %s" % error
        if args.validate_config or args.check:
            sys.stderr.write(message + "\n")
        else:
            Journal().send(LOG_ERR, message, [("MESSAGE_ID", MESSAGE_IDS["error"]), ("ROCK5B_OOM_EVENT", "config_error")])
            sys.stderr.write("<%d>%s\n" % (LOG_ERR, message))
            Notifier().notify("STATUS=%s" % message)
        return EX_CONFIG
    if args.validate_config:
        sys.stdout.write("%s: valid\n" % args.validate_config)
        return 0
    if args.check:
        text, status = check_report(config, args.proc, args.root)
        sys.stdout.write(text)
        return status
    return run(config, args.proc, args.root)


if __name__ == "__main__":
    sys.exit(main())
