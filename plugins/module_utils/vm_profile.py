# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm.* OOM profile: what values are allowed, the ``auto`` choice, the overcommit pre-flight."""

from __future__ import annotations

import re

from ansible_collections.rock5b.oom.plugins.module_utils.procfs.meminfo import commit_limit_kb
from ansible_collections.rock5b.oom.plugins.module_utils.sysctl import normalize_key, normalize_value

KEY_PATTERN = re.compile(r"^vm\.[a-z0-9_]+$")

# Allowed ranges of the keys the profile knows (inclusive; None = no upper bound). They are the
# kernel's own limits where it has them (kernel/sysctl.c, mm/*), and 0/1 for switches.
KNOWN_RANGES = {
    "vm.min_free_kbytes": (0, None),
    "vm.overcommit_memory": (0, 2),
    "vm.overcommit_ratio": (0, None),
    "vm.overcommit_kbytes": (0, None),
    "vm.oom_dump_tasks": (0, 1),
    "vm.oom_kill_allocating_task": (0, 1),
    "vm.panic_on_oom": (0, 2),
    "vm.watermark_scale_factor": (1, 3000),
    "vm.watermark_boost_factor": (0, None),
    "vm.admin_reserve_kbytes": (0, None),
    "vm.user_reserve_kbytes": (0, None),
    "vm.swappiness": (0, 200),
    "vm.vfs_cache_pressure": (0, None),
}

# min_free_kbytes: auto = MemTotal / 128, kept between these bounds. That is the seed's 32 MiB
# reserve for a 4 GiB board, scaled linearly with RAM so the watermarks (which derive from it)
# keep the same share of memory on 8, 16 and 32 GiB boards, and capped at 256 MiB, the
# ceiling the kernel puts on its own computed default.
AUTO_MIN_FREE_FLOOR_KB = 32768
AUTO_MIN_FREE_CEILING_KB = 262144
AUTO_MIN_FREE_DIVISOR = 128


def auto_min_free_kbytes(memtotal_kb):
    """The ``auto`` value of vm.min_free_kbytes for a board with ``memtotal_kb`` of RAM."""
    value = memtotal_kb // AUTO_MIN_FREE_DIVISOR
    return max(AUTO_MIN_FREE_FLOOR_KB, min(AUTO_MIN_FREE_CEILING_KB, value))


def _describe_range(low, high):
    if high is None:
        return "an integer >= %d" % low
    if high - low <= 3:
        return "one of %s" % ", ".join(str(v) for v in range(low, high + 1))
    return "an integer from %d to %d" % (low, high)


def _as_int(value):
    if isinstance(value, bool):
        raise ValueError("a boolean")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not re.match(r"^-?[0-9]+$", text):
        raise ValueError(repr(value))
    return int(text)


def validate_settings(settings, memtotal_kb):
    """Check and normalize the profile. Returns (resolved, errors).

    ``resolved`` maps each dotted key to the string the kernel would print; keys set to None
    are dropped (so a host can remove a default key). ``auto`` for vm.min_free_kbytes is
    resolved from ``memtotal_kb``. ``errors`` lists one message per bad entry.
    """
    resolved, errors = {}, []
    for raw_key, value in sorted(settings.items(), key=lambda item: str(item[0])):
        key = normalize_key(str(raw_key))
        if value is None:
            continue
        if not KEY_PATTERN.match(key):
            errors.append("%s: only vm.* keys belong in this profile" % raw_key)
            continue
        if key == "vm.min_free_kbytes" and str(value).strip() == "auto":
            resolved[key] = str(auto_min_free_kbytes(memtotal_kb))
            continue
        if key in KNOWN_RANGES:
            low, high = KNOWN_RANGES[key]
            try:
                number = _as_int(value)
            except ValueError:
                errors.append("%s = %r: must be %s%s" % (
                    key, value, _describe_range(low, high),
                    " or 'auto'" if key == "vm.min_free_kbytes" else ""))
                continue
            if number < low or (high is not None and number > high):
                errors.append("%s = %d: out of range, must be %s" % (key, number, _describe_range(low, high)))
                continue
            resolved[key] = str(number)
            continue
        if isinstance(value, (bool, dict, list)) or not normalize_value(value) or "\n" in str(value):
            errors.append("%s = %r: must be a number or a line of numbers" % (key, value))
            continue
        resolved[key] = normalize_value(value)
    return resolved, errors


def overcommit_preflight(meminfo, desired, live, margin_kb):
    """Would switching to strict overcommit leave less room than is committed already?

    Applies when the profile wants vm.overcommit_memory=2 and that is not live yet, or the new
    CommitLimit is lower than the live one. Returns a dict: applies, ok, new_limit_kb,
    live_limit_kb, committed_kb, margin_kb, message.
    """
    result = {
        "applies": False, "ok": True, "margin_kb": margin_kb,
        "committed_kb": meminfo.get("Committed_AS", 0),
        "live_limit_kb": meminfo.get("CommitLimit", 0),
        "new_limit_kb": None, "message": "",
    }
    if desired.get("vm.overcommit_memory") != "2":
        return result

    def pick(key, default):
        value = desired.get(key, live.get(key))
        return int(value) if value not in (None, "") else default

    new_limit = commit_limit_kb(meminfo, pick("vm.overcommit_ratio", 50), pick("vm.overcommit_kbytes", 0))
    result["new_limit_kb"] = new_limit
    result["applies"] = live.get("vm.overcommit_memory") != "2" or new_limit < result["live_limit_kb"]
    if result["applies"] and new_limit < result["committed_kb"] + margin_kb:
        result["ok"] = False
        if pick("vm.overcommit_kbytes", 0):
            basis = "overcommit_kbytes %d kB" % pick("vm.overcommit_kbytes", 0)
        else:
            basis = "MemTotal %d kB x overcommit_ratio %d%%" % (
                meminfo.get("MemTotal", 0), pick("vm.overcommit_ratio", 50))
        result["message"] = (
            "refusing vm.overcommit_memory=2: the commit limit would be %d kB (%s + swap %d kB, "
            "zram included) but %d kB is committed already (Committed_AS) and the margin asked "
            "for is %d kB, so new allocations would fail at once. Raise vm.overcommit_ratio, add "
            "swap/zram, or skip this check with overcommit_check=false (role variable "
            "sysctl_profile_overcommit_check: false)." % (
                new_limit, basis, meminfo.get("SwapTotal", 0), result["committed_kb"], margin_kb))
    return result
