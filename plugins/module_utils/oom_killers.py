# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Userspace OOM killers on a board: which run, how each is configured, and the state of the
collection's own monitor.

Read only. The killers are found by process (``comm``) or by the systemd unit a process runs
in, from a ``procfs.processes.list_processes`` result. The monitor's state is its unit's
``LoadState``/``ActiveState``/``StatusText`` (the program sends ``<level>: <available>, ...``
with sd_notify), and its resolved thresholds and action counters come from the node_exporter
textfile its config (``metrics.path``) names. How the other killers are configured is in
``killer_config`` (oomd.conf, earlyoom's arguments, nohang's config file).
"""

from __future__ import annotations

import json
import math
import re

from ansible_collections.rock5b.oom.plugins.module_utils import systemd
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError

MONITOR = "rock5b-oom-monitor"
MONITOR_UNIT = "rock5b-oom-monitor.service"
# The monitor role's default monitor_config_path.
DEFAULT_MONITOR_CONFIG = "/etc/rock5b-oom/monitor.json"
LEVELS = ("ok", "warn", "critical")

# name: (process names, units). The monitor runs as python3: only its unit names it.
KILLERS = (
    (MONITOR, (), (MONITOR_UNIT,)),
    ("systemd-oomd", ("systemd-oomd",), ("systemd-oomd.service",)),
    ("earlyoom", ("earlyoom",), ("earlyoom.service",)),
    ("nohang", ("nohang",), ("nohang.service", "nohang-desktop.service")),
)

# Label values as the text exposition format escapes them (\\, \" and \n), so a quote or a brace
# in a killed process's name ends neither the value nor the label set.
_VALUE = r'"(?:[^"\\]|\\.)*"'
_SAMPLE = re.compile(r'^rock5b_oom_monitor_(?P<name>\w+)(?:\{(?P<labels>(?:[^}"]|%s)*)\})?\s+(?P<value>\S+)\s*$' % _VALUE)
_LABEL = re.compile(r'(\w+)=(%s)' % _VALUE)
_UNESCAPE = re.compile(r'\\(.)')


def _label_value(quoted):
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), quoted[1:-1])


def running_killers(processes, monitor_active=False):
    """The names of the KILLERS with a process running (by comm or unit), in KILLERS order; the
    monitor also when systemd says its unit is active (``monitor_active``)."""
    comms = set(p.get("comm") for p in processes.values())
    units = set(p.get("unit") for p in processes.values())
    return [name for name, names, unit_names in KILLERS
            if comms.intersection(names) or units.intersection(unit_names) or (name == MONITOR and monitor_active)]


def parse_metrics(text):
    """The monitor's textfile: dict(level, warn_bytes, critical_bytes, actions, last_action), None where absent.

    ``actions`` maps "action result" to its counter, for the counters above zero. ``last_action``
    is the most recent of the monitor's actions (``last_action_timestamp_seconds``):
    dict(action, target (None when it has none), time (seconds since the epoch))."""
    result = {"level": None, "warn_bytes": None, "critical_bytes": None, "actions": {}, "last_action": None}
    for line in (text or "").splitlines():
        match = _SAMPLE.match(line.strip())
        if not match:
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        labels = dict((key, _label_value(quoted)) for key, quoted in _LABEL.findall(match.group("labels") or ""))
        name = match.group("name")
        if name == "level" and 0 <= value < len(LEVELS) and value == int(value):
            result["level"] = LEVELS[int(value)]
        elif name == "threshold_bytes" and labels.get("level") in ("warn", "critical"):
            result[labels["level"] + "_bytes"] = int(value)
        elif name == "actions_total" and value > 0:
            result["actions"]["%s %s" % (labels.get("action"), labels.get("result"))] = int(value)
        elif name == "last_action_timestamp_seconds" and labels.get("action") and not math.isnan(value):
            last = result["last_action"]
            if last is None or value > last["time"]:
                result["last_action"] = {"action": labels["action"], "target": labels.get("target") or None, "time": value}
    return result


def unit_state(props):
    """active, failed, inactive or absent, from ``systemctl show`` LoadState and ActiveState."""
    if props.get("LoadState") in ("not-found", ""):
        return "absent"
    active = props.get("ActiveState", "")
    if active in systemd.ACTIVE_STATES:
        return "active"
    return "failed" if active == "failed" else "inactive"


def status_level(text):
    """The level the monitor's status text starts with (``warn: 180.0 MiB available, ...``), or None."""
    level = (text or "").partition(":")[0].strip()
    return level if level in LEVELS else None


def metrics_path(fs, config_path):
    """The textfile the monitor's config names, or None (no config, unreadable, metrics off)."""
    text = fs.read_text(config_path)
    try:
        config = json.loads(text) if text else None
    except ValueError:
        return None
    path = ((config if isinstance(config, dict) else {}).get("metrics") or {}).get("path")
    return path if isinstance(path, str) and path.startswith("/") else None


def _unit_props(module, fs, processes):
    """``systemctl show`` of the monitor's unit; without systemctl, what /proc and the unit files say."""
    if module.get_bin_path(systemd.SYSTEMCTL) is not None:
        try:
            return systemd.Systemctl(module).show(MONITOR_UNIT, ["LoadState", "ActiveState", "StatusText"])
        except ModuleError:
            pass
    running = any(p.get("unit") == MONITOR_UNIT for p in processes.values())
    try:
        exists = systemd.resolve_unit(fs, MONITOR_UNIT)["exists"]
    except ModuleError:
        exists = True
    return {"LoadState": "loaded" if running or exists else "not-found",
            "ActiveState": "active" if running else "inactive", "StatusText": ""}


def monitor_facts(module, fs, processes, config_path=DEFAULT_MONITOR_CONFIG):
    """The monitor's unit state; its level, status and thresholds when known.

    ``level`` comes from the status text, else the textfile, and only while the unit is
    active (a stopped monitor's textfile is stale). ``actions`` are the actions it counted since it
    started (``{"drop_caches ok": 3}``), ``last_action`` the latest it took (parse_metrics; from the
    textfile, so also after it stopped), or None."""
    props = _unit_props(module, fs, processes)
    state = unit_state(props)
    path = metrics_path(fs, config_path)
    metrics = parse_metrics(fs.read_text(path) if path else None)
    status = props.get("StatusText") or None
    level = (status_level(status) or metrics["level"]) if state == "active" else None
    return {
        "unit": MONITOR_UNIT, "state": state, "level": level, "status": status,
        "actions": metrics["actions"], "last_action": metrics["last_action"], "warn_bytes": metrics["warn_bytes"],
        "critical_bytes": metrics["critical_bytes"], "metrics_path": path,
    }
