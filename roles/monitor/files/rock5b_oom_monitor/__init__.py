# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rock5b-oom-monitor: the low-memory monitor of a Rock 5B+ board.

Standard library only. The /proc parsing is the collection's ``procfs`` package
(plugins/module_utils/procfs), installed as it is next to this package; ``main.py`` puts their
directory on sys.path. ``manifest.json`` lists what is installed where.

The decisions are pure (``decisions``: Thresholds, LevelTracker, RateLimiter, next_interval,
choose_victim, KillJob; ``monitor``: Monitor): they take readings and the time and return
actions. The I/O around them is thin: ``journal`` (native journal protocol, stderr
fallback), ``notify`` (sd_notify), ``psi`` (PSI triggers), ``readings`` (/proc/meminfo),
``executor`` (drop_caches, signals, hook), ``loop`` (the daemon), ``check`` (``--check``)
and ``cli`` (the command line).

  rock5b-oom-monitor [--config FILE]            run (systemd: Type=notify)
  rock5b-oom-monitor --check [--config FILE]    print the state for a person; exit 0 ok,
                                                1 warn, 2 critical
  rock5b-oom-monitor --validate-config FILE     check a config file; exit 0 or 78
"""

from __future__ import annotations

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


def fmt_kb(kb):
    """A kB figure for people: ``150 MiB``, ``1.5 GiB``; ``?`` when unknown."""
    if kb is None:
        return "?"
    if kb >= 1024 * 1024:
        return "%.1f GiB" % (kb / 1048576.0)
    return "%d MiB" % (kb // 1024)
