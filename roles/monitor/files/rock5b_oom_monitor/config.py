# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor's JSON config: defaults, validation with errors naming the key, PSI triggers."""

from __future__ import annotations

import json
import math
import os
import re

from procfs import processes as mu_processes
from procfs import sizes as mu_sizes


class ConfigError(Exception):
    """A config value that cannot be used; the message names the key."""


# The longest interval (seconds) a rate limit, timeout or the metrics may take: a week. Longer
# is a typo (switch the action off instead), and a whole number past a float's range would
# crash the loop's arithmetic (now + interval).
MAX_INTERVAL_S = 7 * 86400
# poll.fill_rate_mb_s: 1 TB/s, far above any board's memory bandwidth.
MAX_FILL_RATE_MB_S = 1000000
# A config file is a few kB; reading stops past this (--config /dev/zero must not eat the RAM).
MAX_CONFIG_BYTES = 1 << 20
HOOK_EVENTS = ("warn", "critical", "recover", "psi", "kill", "drop_caches")


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
    except ValueError:  # int() of thousands of digits
        raise ConfigError("%s: %.40r... is not a size; write it with a unit, e.g. 200M, 1G or 5%%" % (key, value))


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
    if isinstance(node, float) and not math.isfinite(node):
        # JSON's NaN and Infinity (YAML's .nan, .inf): NaN passes every comparison below.
        raise ConfigError("%s: %r is not a finite number" % (dotted, node))
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


def _strings(config, dotted, non_empty=False):
    """A list of strings; ``non_empty``: none of them empty (nor only spaces) nor holding NUL."""
    node = config
    for part in dotted.split("."):
        node = node[part]
    if not isinstance(node, list) or not all(isinstance(item, str) for item in node):
        raise ConfigError("%s: must be a list of strings" % dotted)
    for item in node if non_empty else ():
        if not item.strip() or "\0" in item:
            raise ConfigError("%s: %r is %s" % (dotted, item, "empty" if not item.strip() else "not usable (NUL)"))
    return node


def _interval(config, dotted, minimum=0):
    return _number(config, dotted, minimum, MAX_INTERVAL_S)


def validate_config(raw):
    """The full config (defaults merged) from a parsed JSON document; raises ConfigError.

    The one validation of the program: ``--validate-config`` and the daemon's start both call
    it (through load_config). A config it accepts starts the monitor: every value the start
    or the loop would refuse or crash on (NaN, a number past a float's range, a NUL in a path,
    a regular expression the re module cannot compile) is refused here, naming its key.
    """
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a JSON object")
    config = _merge(DEFAULTS, raw)
    _validate_levels(config)
    _validate_polling(config)
    _validate_actions(config)
    _validate_protect(config)
    _validate_hook(config)
    path = config["metrics"]["path"]
    if path is not None and (not isinstance(path, str) or not path.endswith(".prom") or not os.path.isabs(path)
                             or "\0" in path):
        raise ConfigError("metrics.path: %r must be null or an absolute path ending in .prom" % (path,))
    _interval(config, "metrics.interval_s", 1)
    _bool(config, "watchdog")
    _bool(config, "mlock")
    return config


def _validate_levels(config):
    """warn above critical, the kill threshold, and how swap counts."""
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


def _validate_polling(config):
    _number(config, "poll.min_ms", 10, 60000, integer=True)
    _number(config, "poll.max_ms", config["poll"]["min_ms"], 600000, integer=True)
    _number(config, "poll.max_psi_ms", config["poll"]["min_ms"], 600000, integer=True)
    _number(config, "poll.fill_rate_mb_s", 1, MAX_FILL_RATE_MB_S)
    _bool(config, "psi.enabled")
    for trigger in _strings(config, "psi.triggers"):
        parse_trigger(trigger)
    _interval(config, "psi.log_interval_s")


def _validate_actions(config):
    """log, drop_caches and kill."""
    _bool(config, "log.enabled")
    _interval(config, "log.repeat_s")
    _number(config, "log.top", 0, 50, integer=True)
    _bool(config, "drop_caches.enabled")
    _interval(config, "drop_caches.interval_s")
    value = config["drop_caches"]["value"]
    if isinstance(value, bool) or not isinstance(value, int) or value not in (1, 2, 3):
        raise ConfigError("drop_caches.value: %r is not 1 (page cache), 2 (slab) or 3 (both)" % (value,))
    _bool(config, "kill.enabled")
    _bool(config, "kill.dry_run")
    _number(config, "kill.psi_full_avg10", 0, 100, allow_none=True)
    _number(config, "kill.grace_s", 0, 600)
    _interval(config, "kill.interval_s")


def _validate_protect(config):
    """Names and patterns of what is never killed; an empty entry is a typo, never a wish."""
    for key in ("units", "comms", "patterns"):
        _strings(config, "protect." + key, non_empty=True)
    for pattern in config["protect"]["patterns"]:
        try:
            re.compile(pattern)
        except (re.error, OverflowError, RecursionError) as error:
            raise ConfigError("protect.patterns: %r is not a regular expression: %s" % (pattern, error))
    units = [mu_processes.normalize_unit(unit) for unit in config["protect"]["units"]]
    for given, unit in zip(config["protect"]["units"], units):
        if not mu_processes.valid_unit(unit):
            raise ConfigError("protect.units: %r is not a systemd unit name" % given)
    config["protect"]["units"] = units


def _validate_hook(config):
    """The hook's argv (no shell), its events, rate limit and timeout."""
    command = config["hook"]["command"]
    if command is not None and (not isinstance(command, list) or not command
                                or not all(isinstance(arg, str) for arg in command)):
        raise ConfigError("hook.command: must be null or a non-empty list of strings (argv, no shell)")
    if command is not None and not os.path.isabs(command[0]):
        raise ConfigError("hook.command: %r must be an absolute path" % command[0])
    if command is not None and any("\0" in arg for arg in command):
        raise ConfigError("hook.command: %r holds a NUL character, which no argument can" % (command,))
    for event in _strings(config, "hook.events"):
        if event not in HOOK_EVENTS:
            raise ConfigError("hook.events: unknown event %r (%s)" % (event, ", ".join(HOOK_EVENTS)))
    _interval(config, "hook.interval_s")
    _interval(config, "hook.timeout_s", 1)


def load_config(path):
    """Read, parse and validate_config() a config file; a ConfigError names the file and the key."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError("%s: cannot be read: %s" % (path, error.strerror or error))
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError("%s: larger than %d bytes: not a config file" % (path, MAX_CONFIG_BYTES))
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise ConfigError("%s: not valid JSON: %s" % (path, error))
    try:
        return validate_config(raw)
    except ConfigError as error:
        raise ConfigError("%s: %s" % (path, error))


# A PSI trigger's numbers: ASCII digits (str.isdigit() also takes "²", which int() refuses).
_TRIGGER_NUMBER = re.compile(r"^[0-9]{1,12}$")


def parse_trigger(text):
    """``some 150000 1000000`` -> (kind, stall_us, window_us), as the kernel accepts them."""
    parts = text.split()
    if len(parts) != 3 or parts[0] not in ("some", "full") or not _TRIGGER_NUMBER.match(parts[1]) \
            or not _TRIGGER_NUMBER.match(parts[2]):
        raise ConfigError("psi.triggers: %.80r is not '<some|full> <stall us> <window us>'" % text)
    stall, window = int(parts[1]), int(parts[2])
    if not 500000 <= window <= 10000000:
        raise ConfigError("psi.triggers: %r: the window must be 500000 to 10000000 us" % text)
    if not 0 < stall <= window:
        raise ConfigError("psi.triggers: %r: the stall must be above 0 and at most the window" % text)
    return parts[0], stall, window
