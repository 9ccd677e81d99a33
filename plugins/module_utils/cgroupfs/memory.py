# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Memory control files of one cgroup, in one vocabulary for cgroup v2 and v1, and the limits.

Which hierarchy holds the memory controller comes from ``hierarchy.detect()``, the cgroup's
directory from ``hierarchy.cgroup_dir()`` (the one place a board path is mapped); this file
reads and writes the files under that directory. The vocabulary:

============== ============================ ======================================================
key            cgroup v2                    cgroup v1
============== ============================ ======================================================
memory_max     memory.max                   memory.limit_in_bytes
memory_high    memory.high                  memory.soft_limit_in_bytes (no throttling in v1:
                                            the module maps it with a warning)
swap_max       memory.swap.max              memory.memsw.limit_in_bytes = memory_max + swap_max
                                            (needs swapaccount=1)
memory_min     memory.min                   none
memory_low     memory.low                   none
oom_group      memory.oom.group             none
oom_kill_disable  none                      memory.oom_control (1 = processes hang instead)
============== ============================ ======================================================

Values are ints of bytes or ``"max"`` (sizes.MAX); ``oom_group`` and ``oom_kill_disable`` are bools.
Files are read through procfs.files; the wanted limits (sizes as users write
them) are limits.py's.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.rock5b.oom.plugins.module_utils.procfs.files import read_existing

MAX = "max"  # sizes.MAX: this file imports the standard library only
# Above this a cgroup v1 file means "unlimited" (PAGE_COUNTER_MAX pages: 9223372036854771712
# bytes with 4 KiB pages, a little less with 16/64 KiB pages).
V1_UNLIMITED_FLOOR = 1 << 62

KEYS = ("memory_min", "memory_low", "memory_high", "memory_max", "swap_max", "oom_group", "oom_kill_disable")
SIZE_KEYS = ("memory_min", "memory_low", "memory_high", "memory_max", "swap_max")
BOOL_KEYS = ("oom_group", "oom_kill_disable")
V2_FILES = {
    "memory_max": "memory.max", "memory_high": "memory.high", "swap_max": "memory.swap.max",
    "memory_min": "memory.min", "memory_low": "memory.low", "oom_group": "memory.oom.group",
}
V1_FILES = {
    "memory_max": "memory.limit_in_bytes", "memory_high": "memory.soft_limit_in_bytes",
    "swap_max": "memory.memsw.limit_in_bytes", "oom_kill_disable": "memory.oom_control",
}
# Why a key has no file on a hierarchy (for the error or warning).
UNSUPPORTED = {
    ("v1", "memory_min"): "cgroup v1 has no memory.min (hard protection exists only in cgroup v2)",
    ("v1", "memory_low"): "cgroup v1 has no memory.low (best-effort protection exists only in cgroup v2)",
    ("v1", "oom_group"): "cgroup v1 has no memory.oom.group (killing a whole group exists only in cgroup v2)",
    ("v2", "oom_kill_disable"): "cgroup v2 cannot disable the OOM killer for a cgroup (memory.oom_control is v1 only)",
}


class CgroupError(Exception):
    """A control file could not be read or written; ``errno`` as the kernel answered."""

    def __init__(self, message, error=None):
        super().__init__(message)
        self.errno = getattr(error, "errno", None)


# --- reading ------------------------------------------------------------------------------------

def parse_kernel(text, v1=False):
    """A memory control file's value as an int of bytes or ``max``; None for a missing file.

    cgroup v2 prints ``max``; cgroup v1 prints a huge number (PAGE_COUNTER_MAX pages).
    """
    if text is None:
        return None
    token = text.strip()
    if not token:
        return None
    if token == MAX:
        return MAX
    number = int(token)
    if v1 and number >= V1_UNLIMITED_FLOOR:
        return MAX
    return number


def files_for(hierarchy):
    return V2_FILES if hierarchy == "v2" else V1_FILES


def parse_oom_control(text):
    """memory.oom_control (v1): {"oom_kill_disable": int, "under_oom": int, "oom_kill": int}."""
    values = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            values[parts[0]] = int(parts[1])
    return values


def parse_flat_keyed(text):
    """memory.events, memory.stat: "key value" lines -> dict of ints."""
    return parse_oom_control(text)


def read_limits(directory, hierarchy):
    """The cgroup's limits in the vocabulary; a key is None when its file does not exist here.

    On v1 ``swap_max`` is memsw minus the memory limit (``max`` when memsw is unlimited).
    """
    values = dict((key, None) for key in KEYS)
    if hierarchy == "v2":
        for key, name in V2_FILES.items():
            text = read_existing(os.path.join(directory, name))
            if text is None:
                continue
            values[key] = text.strip() == "1" if key == "oom_group" else parse_kernel(text)
        return values
    limit = parse_kernel(read_existing(os.path.join(directory, V1_FILES["memory_max"])), v1=True)
    values["memory_max"] = limit
    values["memory_high"] = parse_kernel(read_existing(os.path.join(directory, V1_FILES["memory_high"])), v1=True)
    memsw = read_memsw(directory)
    if memsw is not None:
        if memsw == MAX:
            values["swap_max"] = MAX
        elif limit == MAX or limit is None:
            values["swap_max"] = memsw
        else:
            values["swap_max"] = max(memsw - limit, 0)
    oom = read_existing(os.path.join(directory, V1_FILES["oom_kill_disable"]))
    if oom is not None:
        values["oom_kill_disable"] = parse_oom_control(oom).get("oom_kill_disable", 0) == 1
    return values


def read_memsw(directory):
    """v1 memory.memsw.limit_in_bytes as bytes or ``max``; None without swap accounting."""
    return parse_kernel(read_existing(os.path.join(directory, V1_FILES["swap_max"])), v1=True)


def defaults(hierarchy):
    """The limits of a cgroup the kernel has just created."""
    if hierarchy == "v1":
        return {"memory_max": MAX, "memory_high": MAX, "swap_max": MAX, "memory_min": None, "memory_low": None,
                "oom_group": None, "oom_kill_disable": False}
    return {"memory_max": MAX, "memory_high": MAX, "swap_max": MAX, "memory_min": 0, "memory_low": 0,
            "oom_group": False, "oom_kill_disable": None}


def read_procs(directory):
    """Pids in the cgroup's cgroup.procs (sorted); [] when the file is missing."""
    text = read_existing(os.path.join(directory, "cgroup.procs")) or ""
    return sorted(int(token) for token in text.split() if token.isdigit())


def read_stats(directory, hierarchy):
    """Usage and OOM counters for the report: usage, oom, oom_kill, failcnt (None if absent)."""
    stats = {"usage": None, "oom": None, "oom_kill": None, "failcnt": None}
    if hierarchy == "v2":
        stats["usage"] = parse_kernel(read_existing(os.path.join(directory, "memory.current")))
        events = read_existing(os.path.join(directory, "memory.events"))
        if events is not None:
            parsed = parse_flat_keyed(events)
            stats["oom"] = parsed.get("oom")
            stats["oom_kill"] = parsed.get("oom_kill")
        return stats
    stats["usage"] = parse_kernel(read_existing(os.path.join(directory, "memory.usage_in_bytes")), v1=True)
    failcnt = read_existing(os.path.join(directory, "memory.failcnt"))
    stats["failcnt"] = int(failcnt) if failcnt and failcnt.strip().isdigit() else None
    oom = read_existing(os.path.join(directory, "memory.oom_control"))
    if oom is not None:
        parsed = parse_oom_control(oom)
        stats["oom"] = parsed.get("under_oom")
        stats["oom_kill"] = parsed.get("oom_kill")
    return stats


def subtree_has_memory(directory):
    """Whether cgroup.subtree_control of ``directory`` (v2) enables the memory controller."""
    text = read_existing(os.path.join(directory, "cgroup.subtree_control"))
    return text is not None and "memory" in text.split()


def probe_directory(mount_dir, directory):
    """An existing non-root cgroup that shows which memory files this kernel offers, for a
    ``directory`` yet to be created: its nearest existing parent, or a child of the root."""
    path = os.path.dirname(directory)
    while len(path) > len(mount_dir):
        if os.path.isdir(path):
            return path
        path = os.path.dirname(path)
    try:
        for name in sorted(os.listdir(mount_dir)):
            candidate = os.path.join(mount_dir, name)
            if os.path.isdir(candidate) and (os.path.exists(os.path.join(candidate, "memory.max"))
                                             or os.path.exists(os.path.join(candidate, "memory.limit_in_bytes"))):
                return candidate
    except OSError:
        pass
    return None


# --- writing ------------------------------------------------------------------------------------

def render_v2(key, value):
    if key in BOOL_KEYS:
        return "1" if value else "0"
    return MAX if value == MAX else str(value)


def render_v1_size(value):
    return "-1" if value == MAX else str(value)


def render(hierarchy, key, value):
    """The text that writes ``value`` of ``key`` to its file (v1's memsw value for ``swap_max``)."""
    if hierarchy == "v2":
        return render_v2(key, value)
    if key == "oom_kill_disable":
        return "1" if value else "0"
    return render_v1_size(value)


def write_control(directory, name, text):
    """Write one control file as a shell's ``echo text > file`` does; raises CgroupError."""
    path = os.path.join(directory, name)
    try:
        # O_TRUNC as a shell's ">" does: ignored by cgroupfs, needed by fake trees.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, ("%s\n" % text).encode())
        finally:
            os.close(fd)
    except OSError as error:
        hint = {
            errno.EBUSY: " (cgroup v1 refuses a limit below the current usage it cannot reclaim, or "
                         "memory.limit_in_bytes above memory.memsw.limit_in_bytes)",
            errno.EROFS: " (the cgroup file system is read-only here: a container?)",
            errno.EINVAL: " (the kernel rejected the value)",
            errno.ENOENT: " (the kernel has no such file here)",
        }.get(error.errno, "")
        raise CgroupError("writing %s to %s failed: %s%s" % (text, path, error.strerror or error, hint), error)


def _keep_swap_v1(desired, current):
    """``desired`` with the swap allowance kept when memory_max changes without swap_max (v1).

    v1 limits swap only through memsw = memory + swap, so a new limit alone would break it: a
    higher one than memsw is refused (EINVAL), a lower one silently lets the group swap the
    difference (swap_max 0 would no longer be 0). memsw moves with the limit instead. Raises
    ValueError where v1 cannot keep it: memory_max max with a finite swap allowance."""
    limit_now, memsw_now, limit = current.get("memory_max"), current.get("_memsw"), desired.get("memory_max")
    if "swap_max" in desired or "memory_max" not in desired or limit == limit_now or memsw_now in (None, MAX):
        return desired
    if limit_now in (None, MAX):
        # Only memory + swap is capped (set outside the module): keep that cap if it still fits.
        if limit == MAX or limit > memsw_now:
            raise ValueError("memory_max %s is above memory.memsw.limit_in_bytes (%d bytes, memory + swap), "
                             "which cgroup v1 refuses; give swap_max too (max for no swap limit)"
                             % (limit if limit == MAX else "%d bytes" % limit, memsw_now))
        return desired
    swap = max(memsw_now - limit_now, 0)
    if limit == MAX:
        raise ValueError("memory_max: max on cgroup v1 would also lift the swap limit (swap_max is now %d bytes, "
                         "kept as memory.memsw.limit_in_bytes = memory_max + swap_max); give swap_max: max as well "
                         "to lift both, or keep a finite memory_max" % swap)
    return dict(desired, swap_max=swap)


def _plan_v1(desired, current):
    """plan_writes() on cgroup v1: memsw (memory + swap) must stay >= limit_in_bytes at every step."""
    writes = []
    desired = _keep_swap_v1(desired, current)
    limit_now = current.get("memory_max")
    limit = desired.get("memory_max", limit_now)
    memsw_now = current.get("_memsw")
    memsw_write = None
    if "swap_max" in desired:
        swap = desired["swap_max"]
        if swap != MAX and (limit == MAX or limit is None):
            raise ValueError("swap_max on cgroup v1 is written as memory.memsw.limit_in_bytes = memory_max + "
                             "swap_max, so it needs a memory_max other than max")
        memsw = MAX if swap == MAX else limit + swap
        if memsw != memsw_now or swap != current.get("swap_max"):
            memsw_write = (V1_FILES["swap_max"], render_v1_size(memsw), "swap_max")
    limit_write = None
    if "memory_max" in desired and desired["memory_max"] != limit_now:
        limit_write = (V1_FILES["memory_max"], render_v1_size(desired["memory_max"]), "memory_max")
    grows_past_memsw = limit_write and memsw_now not in (None, MAX) and (limit == MAX or limit > memsw_now)
    if memsw_write and grows_past_memsw:
        writes += [memsw_write, limit_write]
    else:
        writes += [item for item in (limit_write, memsw_write) if item]
    if "memory_high" in desired and desired["memory_high"] != current.get("memory_high"):
        writes.append((V1_FILES["memory_high"], render_v1_size(desired["memory_high"]), "memory_high"))
    if "oom_kill_disable" in desired and desired["oom_kill_disable"] != current.get("oom_kill_disable"):
        writes.append((V1_FILES["oom_kill_disable"], "1" if desired["oom_kill_disable"] else "0", "oom_kill_disable"))
    return writes


def plan_writes(hierarchy, desired, current):
    """Ordered (file, text, key) writes that bring ``current`` to ``desired`` (keys given only).

    ``desired`` holds normalized values (page-rounded bytes or ``max``); keys it lacks are left
    alone. On v1 memsw (memory + swap) must stay >= limit_in_bytes at every step, so memsw is
    written first when the limit grows above the current memsw, and last otherwise; a memory_max
    given without swap_max keeps the swap allowance (memsw - limit) the cgroup has.
    Raises ValueError for a combination v1 cannot express.
    """
    if hierarchy != "v2":
        return _plan_v1(desired, current)
    writes = []
    # Limits that free room first, then protections, so no step is tighter than both ends.
    for key in ("memory_max", "memory_high", "swap_max", "memory_low", "memory_min", "oom_group"):
        if key in desired and desired[key] != current.get(key):
            writes.append((V2_FILES[key], render_v2(key, desired[key]), key))
    return writes
