# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules for role variables that an argument spec cannot say: ranges, sizes, names, patterns.

A role's ``meta/argument_specs.yml`` checks types and choices. What it cannot express (an
integer's range, a size's unit and bound, a regular expression, a systemd unit name, a sysctl
profile) each role states in ``meta/value_rules.yml``, by rule name; ``rock5b.oom.validate_role_arguments``
applies them on the controller, once per board, **before any role changes anything**.

Each rule here is a thin adapter over the layer that owns the fact (sizes over
``procfs.sizes``, names over ``systemd``, selectors over ``selection``, the vm.* profile over
``vm_profile``), so the controller and the module on the board refuse the same values with the
same words. A rule takes ``(value, name, **options)`` and returns a list of problems, each
starting with ``name`` (the variable, with the entry's index for list items).

``value_rules.yml``::

    value_rules:
      psi_boot_reboot_timeout: {rule: integer, minimum: 1}
      cgroup_limits_units:           # a list of dicts: rules per key of each entry
        each:
          memory_max: {rule: size}
      monitor_warn: {rule: monitor_config, key: warn}

``monitor_config`` is a rule over several variables at once: each names the key of the monitor
program's config it fills, and the program's own validation checks them together
(``monitor_settings``).
"""

from __future__ import annotations

import collections
import re

from ansible_collections.rock5b.oom.plugins.module_utils import (
    killer_backends, lru_gen_settings, memory_targets, monitor_settings, numbers, oom_score, paths, selection, sysctl, systemd,
    vm_profile, zram_setups)
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import processes, sizes


def _number_rule(convert, value, name, minimum, maximum):
    if value is None:
        return []
    try:
        convert(value, name, minimum, maximum)
    except ModuleError as error:
        return [error.msg]
    return []


def integer(value, name, minimum=None, maximum=None):
    """A whole number (not a boolean, not NaN) within [minimum, maximum]: ``numbers.whole_number``."""
    return _number_rule(numbers.whole_number, value, name, minimum, maximum)


def number(value, name, minimum=None, maximum=None):
    """A finite number (not a boolean, NaN or infinity) within [minimum, maximum]: ``numbers.finite_number``."""
    return _number_rule(numbers.finite_number, value, name, minimum, maximum)


def size(value, name, allow_max=True):
    """A memory size as cgroup limits take it (``512M``, bytes, ``max``): ``procfs.sizes.parse_size``."""
    if value is None:
        return []
    try:
        parsed = sizes.parse_size(value, name)
    except sizes.SizeError as error:
        return [str(error)]
    if parsed == sizes.MAX and not allow_max:
        return ["%s: %r: a limit is needed here, not max" % (name, value)]
    return []


def size_or_percent(value, name):
    """A threshold: a size (``200M``) or a share of RAM (``5%``): ``procfs.sizes.parse_size_or_percent``."""
    if value is None:
        return []
    try:
        sizes.parse_size_or_percent(value, name)
    except sizes.SizeError as error:
        return [str(error)]
    return []


def percent(value, name):
    """A share from 0 to 100 %, written ``40%`` or ``12.5%`` (systemd's percent values)."""
    if value is None:
        return []
    match = re.match(r"\A([0-9]+(?:\.[0-9]+)?)%\Z", str(value)) if isinstance(value, str) else None
    if not match or float(match.group(1)) > 100:
        return ["%s: %r is not a percentage from 0%% to 100%% (for example 40%%)" % (name, value)]
    return []


def regex(value, name):
    """A Python regular expression, as selectors and the monitor compile it."""
    if value is None:
        return []
    problems = selection.validate({"pattern": value})
    return ["%s: %s" % (name, problem) for problem in problems]


def unit(value, name, suffix=None):
    """A systemd unit name (``ssh`` means ``ssh.service``); never one that reads as an option."""
    if value is None:
        return []
    normalized = processes.normalize_unit(str(value))
    if not processes.valid_unit(normalized) or normalized.startswith("-") or re.search(r"\s", str(value)):
        return ["%s: %r is not a valid systemd unit name" % (name, value)]
    if suffix and not normalized.endswith(suffix):
        return ["%s: %r must be a %s unit" % (name, value, suffix)]
    return []


def dropin_name(value, name):
    """A drop-in file name: ``60-rock5b.conf``, no directories, no newline."""
    if value is None or systemd.valid_dropin_name(value):
        return []
    return ["%s: %r must be a file name ending in .conf (letters, digits, _ . @ -)" % (name, value)]


def absolute_path(value, name, empty_ok=False):
    """An absolute, normalized path without control characters (``paths.absolute_problem``);
    V("") only where ``empty_ok`` (the variable's "none")."""
    if value is None or (value == "" and empty_ok):
        return []
    problem = paths.absolute_problem(value, name)
    return [problem] if problem else []


def unit_path(value, name, empty_ok=False):
    """A path a systemd unit names verbatim (``paths.unit_path_problem``); V("") only where ``empty_ok``."""
    if value is None or (value == "" and empty_ok):
        return []
    problem = paths.unit_path_problem(value, name)
    return [problem] if problem else []


def comm(value, name):
    """A process name as the kernel keeps it (1 to 15 bytes, no control character): ``killer_backends.comm_problem``."""
    if value is None:
        return []
    problem = killer_backends.comm_problem(value, name)
    return [problem] if problem else []


_LISTEN = re.compile(r"\A(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)?:(?P<port>[0-9]{1,5})\Z")


def listen_address(value, name):
    """``[host]:port`` as Go's net.Listen takes it: ``:9100``, ``127.0.0.1:9100``, ``[::1]:9100``, ``board.lan:9100``."""
    if value is None:
        return []
    match = _LISTEN.match(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match.group("port")) <= 65535:
        return ["%s: %r must be [host]:port (:9100, 127.0.0.1:9100, [::1]:9100) with a port from 1 to 65535" % (name, value)]
    return []


def oom_score_value(value, name):
    """An oom_score_adj value: a whole number from -1000 to 1000 (the kernel's range)."""
    return integer(value, name, processes.OOM_SCORE_ADJ_MIN, processes.OOM_SCORE_ADJ_MAX)


def vm_profile_settings(value, name):
    """A vm.* sysctl profile: ``vm_profile.validate_settings`` (``auto`` needs no RAM size to be valid)."""
    if not value:
        return []
    if not isinstance(value, dict):
        return ["%s: must be a mapping of vm.* keys to values" % name]
    _resolved, problems = vm_profile.validate_settings(value, 4 << 20)
    return ["%s: %s" % (name, problem) for problem in problems]


def sysctl_path(value, name):
    """A sysctl.d file systemd-sysctl reads at boot: ``sysctl.conf_path_problem``."""
    problem = sysctl.conf_path_problem(value) if value is not None else None
    return ["%s: %s" % (name, problem)] if problem else []


def tmpfiles_path(value, name):
    """A tmpfiles.d file systemd-tmpfiles reads at boot: ``lru_gen_settings.tmpfiles_path_problem``."""
    problem = lru_gen_settings.tmpfiles_path_problem(value, name) if value is not None else None
    return [problem] if problem else []


def zram_size(value, name, allow_max=True):
    """A zram size of at least 1M (max only where ``allow_max``): ``zram_setups.checked_size``."""
    if value is None or value == "":
        return []
    problem = zram_setups.checked_size(value, name, allow_max)[1]
    return [problem] if problem else []


def zram_tiers(value, name):
    """A non-empty size_tiers list as the zram_swap module checks it: ``zram_setups.tier_problems``."""
    if isinstance(value, list) and not value:
        return ["%s: give at least one tier, e.g. {ram_up_to: 8G, percent: 50}" % name]
    return [problem.replace("size_tiers", name, 1) for problem in zram_setups.tier_problems(value)]


def _as_typed_int(value):
    """``"100"`` (an entry typed on the command line) as the module's int would read it; anything
    else as it is, so the layer's own check judges it (``"١٠٠"`` stays text and is refused)."""
    if isinstance(value, str) and re.match(r"\A[+-]?[0-9]+\Z", value.strip()):
        return int(value.strip())
    return value


def cgroup_target(value, name):
    """One entry of cgroup_limits_units/_raw as cgroup_memory checks it before reading the board
    (sizes and their bound and floor, their order, the unit or raw path, the selectors):
    ``memory_targets.check``."""
    if not isinstance(value, dict):
        return []
    params = collections.defaultdict(lambda: None, value)
    params["state"] = params["state"] or "present"
    pids = params["pids"] or []
    bad = [pid for pid in pids if not isinstance(_as_typed_int(pid), int)]
    if bad:
        return ["%s: pids: %r is not a list of process ids" % (name, pids)]
    params["pids"] = [_as_typed_int(pid) for pid in pids]
    # The role's drop-in name has a rule of its own; a valid stand-in keeps this to the entry.
    params["dropin_name"] = "60-rock5b-memory.conf"
    problems = memory_targets.check(params)
    if selection.INIT_PID in params["pids"]:
        problems.append("pids: %d is init, which is never moved (%s)" % (selection.INIT_PID, selection.GUARD_NOTE))
    return ["%s: %s" % (name, problem) for problem in problems]


def protect_entry(value, name):
    """One entry of protect_daemons_list/_extra as oom_score_adj checks it before reading the
    board (selectors, the score and its range, a protective score for a pattern that matches
    every process): ``oom_score.entry_problems``."""
    if not isinstance(value, dict):
        return []
    entry = dict(value)
    for key in ("score", "value", "pid"):
        if key in entry:
            entry[key] = _as_typed_int(entry[key])
    return ["%s (%s): %s" % (name, value.get("name"), problem)
            for problem in oom_score.entry_problems(entry, allow_broad=bool(value.get("allow_broad")))]


RULES = {
    "integer": integer,
    "number": number,
    "size": size,
    "size_or_percent": size_or_percent,
    "percent": percent,
    "regex": regex,
    "unit": unit,
    "dropin_name": dropin_name,
    "absolute_path": absolute_path,
    "unit_path": unit_path,
    "comm": comm,
    "listen_address": listen_address,
    "oom_score": oom_score_value,
    "vm_profile": vm_profile_settings,
    "sysctl_path": sysctl_path,
    "tmpfiles_path": tmpfiles_path,
    "zram_size": zram_size,
    "zram_tiers": zram_tiers,
    "cgroup_target": cgroup_target,
    "protect_entry": protect_entry,
}


def check(rules, values, owner="value_rules.yml"):
    """Problems of ``values`` (variable -> value) under ``rules`` (a value_rules mapping).

    Rules of a variable that is not set are skipped (its argument spec decides whether it must
    be). A rule name this file does not know is a bug in the role, reported as such.
    """
    problems, monitor_config = [], []
    for variable, variable_rules in rules.items():
        if variable not in values:
            continue
        for rule in variable_rules if isinstance(variable_rules, list) else [variable_rules]:
            if rule.get("rule") == "monitor_config":
                monitor_config.append((rule["key"], variable, values[variable]))
            else:
                problems += _apply(rule, values[variable], variable, owner)
    if monitor_config:
        problems += monitor_settings.problems(monitor_config)
    return problems


def _apply(rule, value, name, owner):
    if "each" in rule:
        if not isinstance(value, list):
            return []
        problems = []
        for index, item in enumerate(value):
            if isinstance(item, dict):
                for key, sub_rule in rule["each"].items():
                    if key in item:
                        problems += _apply(sub_rule, item[key], "%s[%d].%s" % (name, index, key), owner)
        return problems
    options = dict(rule)
    function = RULES.get(options.pop("rule", None))
    if function is None:
        raise ValueError("%s: %s names an unknown rule %r (known: %s)" % (owner, name, rule.get("rule"), ", ".join(sorted(RULES))))
    if "list" in options and options.pop("list"):
        if not isinstance(value, list):
            return []
        problems = []
        for index, item in enumerate(value):
            problems += function(item, "%s[%d]" % (name, index), **options)
        return problems
    return function(value, name, **options)
