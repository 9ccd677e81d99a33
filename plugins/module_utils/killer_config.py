# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the userspace OOM killers running on a board are configured (oom_killers says which run).

Read only, from files and /proc, nothing run:

- systemd-oomd: ``oomd.conf`` as systemd reads it (the first main file of /etc/systemd,
  /run/systemd, /usr/local/lib/systemd, /usr/lib/systemd, then every ``oomd.conf.d/*.conf`` of
  those directories in file name order, a name in an earlier directory masking the same name
  in a later one; a later assignment wins, an empty one resets to the default), and the units
  whose files set ``ManagedOOM*=`` (the cgroups oomd acts on).
- earlyoom: its process's arguments (``/proc/<pid>/cmdline``), parsed as earlyoom's getopt does.
- nohang: the config file its ``-c``/``--config`` argument names, else the first of its
  default paths that exists.
- the collection's monitor: its config path and resolved thresholds (``oom_killers.monitor_facts``).
"""

from __future__ import annotations

import math
import os

from ansible_collections.rock5b.oom.plugins.module_utils import oom_killers, systemd
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.files import read_bytes

# oomd.conf(5): where systemd-oomd reads its configuration, highest precedence first.
OOMD_CONF_DIRS = ("/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd")
OOMD_CONF = "oomd.conf"
OOMD_SECTION = "OOM"
# The settings of [OOM] and systemd-oomd's built-in defaults (oomd.conf(5)).
OOMD_DEFAULTS = (("SwapUsedLimit", "90%"), ("DefaultMemoryPressureLimit", "60%"),
                 ("DefaultMemoryPressureDurationSec", "30s"))
# systemd.resource-control(5): what a unit tells systemd-oomd.
MANAGED_OOM_KEYS = ("ManagedOOMSwap", "ManagedOOMMemoryPressure", "ManagedOOMMemoryPressureLimit",
                    "ManagedOOMMemoryPressureDurationSec", "ManagedOOMPreference")
MANAGED_OOM_SUFFIXES = (".service", ".slice", ".scope")
MANAGED_OOM_MARK = "ManagedOOM"

# earlyoom(1): -m/-s PERCENT[,KILL_PERCENT] (memory available, swap free), -M/-S SIZE[,KILL_SIZE]
# in KiB; the SIGKILL value defaults to half the SIGTERM one. Options that take an argument.
EARLYOOM_TUPLES = {"-m": "mem_%s_percent", "-s": "swap_%s_percent", "-M": "mem_%s_kib", "-S": "swap_%s_kib"}
EARLYOOM_REGEXES = {"--avoid": "avoid", "--prefer": "prefer", "--ignore": "ignore"}
EARLYOOM_WITH_ARGUMENT = ("-r", "-N") + tuple(EARLYOOM_TUPLES) + tuple(EARLYOOM_REGEXES)
EARLYOOM_FIELDS = tuple(name % kind for name in EARLYOOM_TUPLES.values() for kind in ("term", "kill"))

# nohang(1): -c/--config FILE; without it, the first of these that exists.
NOHANG_CONFIG_OPTIONS = ("-c", "--config")
NOHANG_DEFAULT_CONFIGS = ("/usr/local/etc/nohang/nohang.conf", "/etc/nohang/nohang.conf")


# --- systemd-oomd -----------------------------------------------------------------------------------

def oomd_conf_files(fs):
    """The files systemd-oomd reads, in the order it applies them: one main file, then the drop-ins."""
    files = []
    for directory in OOMD_CONF_DIRS:
        path = os.path.join(directory, OOMD_CONF)
        if fs.read_text(path) is not None:
            files.append(path)
            break
    chosen = {}
    for directory in OOMD_CONF_DIRS:
        for name in fs.listdir(os.path.join(directory, OOMD_CONF + ".d")):
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = os.path.join(directory, OOMD_CONF + ".d", name)
    return files + [chosen[name] for name in sorted(chosen)]


def oomd_settings(fs):
    """dict(files, settings, set_in): the files read, the value of each [OOM] setting in effect
    (its default where no file sets it) and the file that set it (None: the default)."""
    files = oomd_conf_files(fs)
    settings, set_in = dict(OOMD_DEFAULTS), dict((key, None) for key, _default in OOMD_DEFAULTS)
    for path in files:
        text = fs.read_text(path)
        for key, default in OOMD_DEFAULTS:
            value = systemd.section_value(text, OOMD_SECTION, key)
            if value is None:
                continue
            settings[key], set_in[key] = (value, path) if value else (default, None)
    return {"files": files, "settings": settings, "set_in": set_in}


def _mentions_managed_oom(fs, path):
    return MANAGED_OOM_MARK in (fs.read_text(path) or "")


def managed_oom_candidates(fs):
    """Units whose unit file or a drop-in of theirs mentions ManagedOOM*, by name (sorted)."""
    names = set()
    for directory in systemd.UNIT_SEARCH_PATH:
        for name in fs.listdir(directory):
            path = os.path.join(directory, name)
            if name.endswith(".d") and name[:-2].endswith(MANAGED_OOM_SUFFIXES):
                if any(_mentions_managed_oom(fs, os.path.join(path, conf))
                       for conf in fs.listdir(path) if conf.endswith(".conf")):
                    names.add(name[:-2])
            elif name.endswith(MANAGED_OOM_SUFFIXES) and _mentions_managed_oom(fs, path):
                names.add(name)
    return sorted(names)


def managed_oom_units(fs):
    """{unit: {ManagedOOM* key: value}} in effect per the unit's files (unit file, then drop-ins in
    systemd's order; an empty assignment resets), for every unit that sets one."""
    units = {}
    for unit in managed_oom_candidates(fs):
        try:
            info = systemd.resolve_unit(fs, unit)
        except ModuleError:
            continue  # an alias loop: systemd does not load it either
        if info["masked"]:
            continue
        section = systemd.SECTIONS[systemd.unit_suffix(unit)]
        values = {}
        for source in systemd.dropin_sources(fs, info):
            text = fs.read_text(source["path"])
            for key in MANAGED_OOM_KEYS:
                value = systemd.section_value(text, section, key)
                if value is not None:
                    values[key] = value
        values = dict((key, value) for key, value in values.items() if value)
        if values:
            units[unit] = values
    return units


def oomd_config(fs):
    facts = oomd_settings(fs)
    facts["managed_units"] = managed_oom_units(fs)
    return facts


# --- earlyoom and nohang ------------------------------------------------------------------------------

def _number(text):
    """A number earlyoom reads with strtod: an int when whole; None when not a number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value == int(value) else value


def parse_tuple(text):
    """``10,5`` -> (10, 5); ``10`` -> (10, 5) (SIGKILL at half, as earlyoom computes it); a part
    that is not a number -> None."""
    term_text, comma, kill_text = (text or "").partition(",")
    term = _number(term_text)
    kill = _number(kill_text) if comma else (None if term is None else _number(term / 2.0))
    return term, kill


def split_options(args, with_argument):
    """[(option, value or None)] of an argument list as getopt reads it, ``with_argument`` the
    options that take one: ``-m 10``, ``-m10``, ``--avoid re``, ``--avoid=re``; anything else
    is (argument, None)."""
    options, index = [], 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg.startswith("--") and "=" in arg:
            options.append(tuple(arg.split("=", 1)))
        elif arg in with_argument:
            options.append((arg, args[index] if index < len(args) else None))
            index += 1
        elif len(arg) > 2 and not arg.startswith("--") and arg[:2] in with_argument:
            options.append((arg[:2], arg[2:]))
        else:
            options.append((arg, None))
    return options


def parse_earlyoom_args(argv):
    """earlyoom's settings from its argument list (argv[0] the program): the SIGTERM and SIGKILL
    thresholds given (``mem_term_percent``, ``mem_kill_percent``, ``swap_*_percent``,
    ``mem_*_kib``, ``swap_*_kib``; None when not given), the ``avoid``, ``prefer`` and ``ignore``
    regular expressions (None when not given), ``dryrun``, and ``other`` arguments."""
    facts = dict((field, None) for field in EARLYOOM_FIELDS)
    facts.update(avoid=None, prefer=None, ignore=None, dryrun=False, other=[])
    for option, value in split_options(list(argv[1:]), EARLYOOM_WITH_ARGUMENT):
        if option in EARLYOOM_TUPLES:
            term, kill = parse_tuple(value)
            facts[EARLYOOM_TUPLES[option] % "term"], facts[EARLYOOM_TUPLES[option] % "kill"] = term, kill
        elif option in EARLYOOM_REGEXES:
            facts[EARLYOOM_REGEXES[option]] = value
        elif option == "--dryrun":
            facts["dryrun"] = True
        else:
            facts["other"] += [option] + ([value] if value is not None else [])
    return facts


def nohang_config_path(fs, argv):
    """The config file nohang reads: its -c/--config argument (the last one), else the first
    default that exists; None when none does. nohang is a Python script: argv[0] is the interpreter."""
    given = [value for option, value in split_options(list(argv[1:]), NOHANG_CONFIG_OPTIONS)
             if option in NOHANG_CONFIG_OPTIONS and value]
    if given:
        return given[-1]
    for path in NOHANG_DEFAULT_CONFIGS:
        if fs.read_text(path) is not None:
            return path
    return None


def read_argv(fs, pid):
    """A process's arguments from /proc/<pid>/cmdline (NUL separated); [] when it is gone."""
    try:
        raw = read_bytes(fs.proc_path(pid, "cmdline"))
    except OSError:
        return []
    return [arg.decode("utf-8", "replace") for arg in raw.rstrip(b"\0").split(b"\0")] if raw else []


def killer_pid(processes, comms, units):
    """The lowest pid running as one of ``comms``, else in one of ``units``; None when none does."""
    for wanted in (lambda p: p.get("comm") in comms, lambda p: p.get("unit") in units):
        pids = sorted(pid for pid, process in processes.items() if wanted(process))
        if pids:
            return pids[0]
    return None


# --- all of them ---------------------------------------------------------------------------------------

def killer_config(fs, processes, running, monitor, monitor_config=oom_killers.DEFAULT_MONITOR_CONFIG):
    """{killer: its configuration} for every killer in ``running`` (oom_killers.running_killers).

    systemd-oomd: oomd_config. earlyoom: pid, args and parse_earlyoom_args' fields. nohang:
    pid, args, config (the file it reads, None when none is found). The monitor: its config
    file (``monitor_config``), textfile and resolved thresholds, from ``monitor``
    (oom_killers.monitor_facts)."""
    config = {}
    for name, comms, units in oom_killers.KILLERS:
        if name not in running:
            continue
        if name == oom_killers.MONITOR:
            config[name] = dict([("config", monitor_config)]
                                + [(key, monitor.get(key)) for key in ("metrics_path", "warn_bytes", "critical_bytes")])
            continue
        if name == "systemd-oomd":
            config[name] = oomd_config(fs)
            continue
        pid = killer_pid(processes, comms, units)
        argv = read_argv(fs, pid) if pid is not None else []
        config[name] = {"pid": pid, "args": argv[1:]}
        if name == "earlyoom":
            config[name].update(parse_earlyoom_args(argv or [name]))
        else:
            config[name]["config"] = nohang_config_path(fs, argv or [name])
    return config
