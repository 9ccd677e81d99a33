# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""/proc/meminfo and /proc/swaps, and the commit limit arithmetic of strict overcommit."""

from __future__ import annotations

import os

from .files import read_existing


def parse_meminfo(text):
    """Map each /proc/meminfo field to its number (kB for sized fields, a count for HugePages_*)."""
    fields = {}
    for line in text.splitlines():
        name, _sep, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name.strip()] = int(parts[0])
    return fields


_NEEDLES = {}


def pick_meminfo(data, names):
    """Only the named fields of raw /proc/meminfo bytes, in kB; absent fields are left out.

    The monitor's hot path: finding four fields costs a tenth of parsing all fifty-odd lines
    (the ``b"\\nName:"`` needles are built once, and the data is not copied).
    """
    fields = {}
    for name in names:
        needle = _NEEDLES.get(name)
        if needle is None:
            needle = _NEEDLES[name] = b"\n" + name.encode("ascii") + b":"
        if data.startswith(needle[1:]):
            start = len(needle) - 1
        else:
            start = data.find(needle)
            if start < 0:
                continue
            start += len(needle)
        end = data.find(b"\n", start)
        parts = data[start:end if end >= 0 else len(data)].split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0])
    return fields


def read_meminfo(proc_root):
    with open(os.path.join(proc_root, "meminfo")) as handle:
        return parse_meminfo(handle.read())


def parse_swaps(text):
    """Swap devices from /proc/swaps: path, type, size_kb, used_kb, priority, zram."""
    devices = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5:
            continue
        devices.append({
            "path": parts[0], "type": parts[1], "size_kb": int(parts[2]),
            "used_kb": int(parts[3]), "priority": int(parts[4]),
            "zram": os.path.basename(parts[0]).startswith("zram"),
        })
    return devices


def read_swaps(proc_root):
    text = read_existing(os.path.join(proc_root, "swaps"))
    return parse_swaps(text) if text is not None else []


def hugetlb_kb(meminfo):
    """Memory reserved for huge pages, which strict overcommit leaves out of the commit limit."""
    if "Hugetlb" in meminfo:
        return meminfo["Hugetlb"]
    return meminfo.get("HugePages_Total", 0) * meminfo.get("Hugepagesize", 0)


def commit_limit_kb(meminfo, overcommit_ratio, overcommit_kbytes=0):
    """CommitLimit the kernel enforces under vm.overcommit_memory=2 (mm/util.c).

    (MemTotal - huge pages) x ratio / 100 + SwapTotal, or overcommit_kbytes + SwapTotal when
    that is set. SwapTotal already counts zram devices in use as swap.
    """
    swap = meminfo.get("SwapTotal", 0)
    if overcommit_kbytes:
        return int(overcommit_kbytes) + swap
    return (meminfo.get("MemTotal", 0) - hugetlb_kb(meminfo)) * int(overcommit_ratio) // 100 + swap
