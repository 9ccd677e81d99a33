# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm.* OOM profile: what values are allowed, the ``auto`` choice, the overcommit pre-flight."""

from __future__ import annotations

import re

from ansible_collections.rock5b.oom.plugins.module_utils.procfs.meminfo import commit_limit_kb
from ansible_collections.rock5b.oom.plugins.module_utils.sysctl import normalize_key, normalize_value

# vm.page-cluster is the one vm.* name with a dash (mm/swap.c); \Z, not $, refuses a trailing newline.
KEY_PATTERN = re.compile(r"\Avm\.[a-z0-9_]+(?:-[a-z0-9_]+)*\Z")

# The kernel's C types: an int sysctl holds at most INT_MAX, an unsigned long one ULONG_MAX
# (64-bit on arm64). A larger number in the file fails at boot or wraps.
INT_MAX = 2 ** 31 - 1
ULONG_MAX = 2 ** 64 - 1
# Any number of an unknown key must at least fit in the kernel's widest sysctl type.
ANY_LOW, ANY_HIGH = -(2 ** 63), ULONG_MAX

# Allowed ranges of the keys the profile knows (inclusive). They are the kernel's own limits
# (proc_dointvec_minmax bounds in kernel/sysctl.c and mm/* of Linux 6.1, else the C type), and
# 0/1 for switches the kernel reads as booleans.
KNOWN_RANGES = {
    "vm.min_free_kbytes": (0, INT_MAX),
    "vm.overcommit_memory": (0, 2),
    "vm.overcommit_ratio": (0, INT_MAX),
    "vm.overcommit_kbytes": (0, ULONG_MAX),
    "vm.oom_dump_tasks": (0, 1),
    "vm.oom_kill_allocating_task": (0, 1),
    "vm.panic_on_oom": (0, 2),
    "vm.watermark_scale_factor": (1, 3000),
    "vm.watermark_boost_factor": (0, INT_MAX),
    "vm.admin_reserve_kbytes": (0, ULONG_MAX),
    "vm.user_reserve_kbytes": (0, ULONG_MAX),
    "vm.swappiness": (0, 200),
    # log2 of the pages read from swap at once; 0 suits zram (no seek to save). mm/swap.c caps it at 31.
    "vm.page-cluster": (0, 31),
    "vm.vfs_cache_pressure": (0, INT_MAX),
    "vm.dirty_ratio": (0, 100),
    "vm.dirty_background_ratio": (0, 100),
    "vm.compaction_proactiveness": (0, 100),
    "vm.extfrag_threshold": (0, 1000),
}

# vm.min_free_kbytes above a quarter of RAM keeps the board reclaiming (and OOM-killing) with
# most of its memory free; the kernel itself computes at most 256 MiB.
MIN_FREE_KBYTES_MAX_SHARE = 4

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
    if high in (INT_MAX, ULONG_MAX):
        return "an integer >= %d and <= %d" % (low, high)
    if high - low <= 3:
        return "one of %s" % ", ".join(str(v) for v in range(low, high + 1))
    return "an integer from %d to %d" % (low, high)


INTEGER = re.compile(r"^-?[0-9]+$")


def _as_int(value):
    """``value`` as an int: an int (not a bool) or the digits of one; ValueError otherwise
    (floats, NaN, infinities, booleans, hex, empty)."""
    if isinstance(value, bool):
        raise ValueError("a boolean")
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not INTEGER.match(value.strip()):
        raise ValueError(repr(value))
    return int(value.strip())


def check_value(key, value, memtotal_kb=None):
    """Check one value of the dotted ``key``. Returns (resolved, problem): the string the kernel
    would print and None, or None and a message that starts with the key.

    Known keys (KNOWN_RANGES) take one integer in their range; vm.min_free_kbytes also at most
    a quarter of ``memtotal_kb`` when that is known (``auto`` is resolved by validate_settings).
    Other keys take an integer or a line of integers, each within the kernel's widest type.
    """
    if key in KNOWN_RANGES:
        low, high = KNOWN_RANGES[key]
        try:
            number = _as_int(value)
        except ValueError:
            return None, "%s = %r: must be %s%s" % (
                key, value, _describe_range(low, high), " or 'auto'" if key == "vm.min_free_kbytes" else "")
        if number < low or number > high:
            return None, "%s = %d: out of range, must be %s" % (key, number, _describe_range(low, high))
        if key == "vm.min_free_kbytes" and memtotal_kb and number > memtotal_kb // MIN_FREE_KBYTES_MAX_SHARE:
            return None, ("%s = %d: too large for this board, must be at most a quarter of MemTotal "
                          "(%d kB): the kernel would keep reclaiming with that much free" % (
                              key, number, memtotal_kb // MIN_FREE_KBYTES_MAX_SHARE))
        return str(number), None
    words = normalize_value(value).split(" ") if isinstance(value, (int, str)) and not isinstance(value, bool) else []
    if not words or "\n" in str(value) or not all(INTEGER.match(word) for word in words) \
            or not all(ANY_LOW <= int(word) <= ANY_HIGH for word in words):
        return None, "%s = %r: must be an integer or a line of integers (each from %d to %d)" % (
            key, value, ANY_LOW, ANY_HIGH)
    return " ".join(str(int(word)) for word in words), None


def duplicate_keys(keys):
    """Keys that name one sysctl in more than one spelling (``vm.a``, ``vm/a``, `` vm.a``):
    a list of (dotted key, [spellings]) in key order; the last spelling would silently win."""
    spellings = {}
    for raw in keys:
        spellings.setdefault(normalize_key(str(raw)), []).append(str(raw))
    return [(key, sorted(names)) for key, names in sorted(spellings.items()) if len(names) > 1]


def validate_settings(settings, memtotal_kb):
    """Check and normalize the profile. Returns (resolved, errors).

    ``resolved`` maps each dotted key to the string the kernel would print; keys set to None
    are dropped (so a host can remove a default key). ``auto`` for vm.min_free_kbytes is
    resolved from ``memtotal_kb``. ``errors`` lists one message per bad entry, and one per key
    spelled more than once (``vm.a`` and ``vm/a``).
    """
    resolved = {}
    errors = ["%s are the same key %s: set it once" % (" and ".join(repr(name) for name in names), key)
              for key, names in duplicate_keys(settings)]
    duplicated = set(key for key, _names in duplicate_keys(settings))
    for raw_key, value in sorted(settings.items(), key=lambda item: str(item[0])):
        key = normalize_key(str(raw_key))
        if value is None or key in duplicated:
            continue
        if not KEY_PATTERN.match(key):
            errors.append("%s: only vm.* keys belong in this profile" % raw_key)
            continue
        if key == "vm.min_free_kbytes" and isinstance(value, str) and value.strip() == "auto":
            resolved[key] = str(auto_min_free_kbytes(memtotal_kb))
            continue
        number, problem = check_value(key, value, memtotal_kb)
        if problem:
            errors.append(problem)
        else:
            resolved[key] = number
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
