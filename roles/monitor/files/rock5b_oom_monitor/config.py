# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor's JSON config: defaults, validation with errors naming the key, PSI triggers."""

from __future__ import annotations

import json
import os
import re

from procfs import processes as mu_processes
from procfs import sizes as mu_sizes


class ConfigError(Exception):
    """A config value that cannot be used; the message names the key."""


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
    try:
        return mu_sizes.parse_size_or_percent(value, key, allow_percent, unit=1024)
    except mu_sizes.SizeError as error:
        raise ConfigError(str(error))


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
