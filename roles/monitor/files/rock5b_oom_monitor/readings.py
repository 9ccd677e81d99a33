# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readings: what the thresholds compare (MemAvailable and counted swap), and the top memory users."""

from __future__ import annotations

import os

from procfs import meminfo as mu_meminfo
from procfs import processes as mu_processes
from rock5b_oom_monitor import fmt_kb


def effective_available(meminfo, swaps, count_swap=True, zram_weight=0.5):
    """What the thresholds compare: MemAvailable plus free swap when counted.

    Disk swap counts in full; free zram swap counts ``zram_weight`` of its size, since
    filling it costs RAM too (about half at lzo/zstd ratios of 2-3). Returns a dict of kB
    figures: effective, mem_available, mem_total, swap_total, swap_free, zram_free, zram_size
    (zram swap devices' sizes; with ``zram_free``, 0 when ``swaps`` is empty: not read or none).
    """
    mem_available = meminfo.get("MemAvailable")
    if mem_available is None:
        # Kernels before 3.14: the classic approximation.
        mem_available = meminfo.get("MemFree", 0) + meminfo.get("Cached", 0) + meminfo.get("Buffers", 0)
    disk_free = zram_free = zram_size = 0
    if swaps:
        for device in swaps:
            free = max(0, device["size_kb"] - device["used_kb"])
            if device["zram"]:
                zram_free += free
                zram_size += device["size_kb"]
            else:
                disk_free += free
    else:
        disk_free = meminfo.get("SwapFree", 0)
    effective = mem_available
    if count_swap:
        effective += disk_free + int(zram_free * zram_weight)
    return {"effective": effective, "mem_available": mem_available, "mem_total": meminfo.get("MemTotal", 0),
            "swap_total": meminfo.get("SwapTotal", 0), "swap_free": disk_free + zram_free, "zram_free": zram_free,
            "zram_size": zram_size}


def zram_figures(swaps):
    """zram_free and zram_size (kB) of the zram swap devices in ``swaps``, as effective_available() counts them."""
    zram = [device for device in swaps if device["zram"]]
    return {"zram_free": sum(max(0, device["size_kb"] - device["used_kb"]) for device in zram),
            "zram_size": sum(device["size_kb"] for device in zram)}


class MemReader:
    """/proc/meminfo through a descriptor kept open (pread at 0 regenerates the seq_file)."""

    def __init__(self, proc_root):
        self.path = os.path.join(proc_root, "meminfo")
        self.swaps_path = os.path.join(proc_root, "swaps")
        self.proc_root = proc_root
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self.swaps_fd = None

    # What effective_available() looks at (MemFree, Cached, Buffers: kernels before 3.14).
    FIELDS = ("MemTotal", "MemAvailable", "SwapTotal", "SwapFree")
    OLD_KERNEL_FIELDS = ("MemFree", "Cached", "Buffers")

    def meminfo(self):
        return mu_meminfo.parse_meminfo(os.pread(self.fd, 16384, 0).decode("ascii", "replace"))

    def swaps(self):
        """/proc/swaps (zram or disk), also through a descriptor kept open; [] when unreadable."""
        try:
            if self.swaps_fd is None:
                self.swaps_fd = os.open(self.swaps_path, os.O_RDONLY | os.O_CLOEXEC)
            return mu_meminfo.parse_swaps(os.pread(self.swaps_fd, 16384, 0).decode("utf-8", "replace"))
        except OSError:
            return []

    def reading(self, count_swap, zram_weight):
        data = os.pread(self.fd, 4096, 0)  # the fields used are all in the first lines
        info = mu_meminfo.pick_meminfo(data, self.FIELDS)
        if "MemAvailable" not in info:
            info.update(mu_meminfo.pick_meminfo(data, self.OLD_KERNEL_FIELDS))
        swaps = self.swaps() if count_swap and info.get("SwapTotal") else []
        return effective_available(info, swaps, count_swap, zram_weight)

    def with_zram(self, reading, count_swap):
        """``reading`` with its zram figures, for the metrics and --check.

        A check reads /proc/swaps only when it counts swap (count_swap) and there is swap
        (SwapTotal); otherwise its zram figures are 0 whatever the devices. Then this reads
        /proc/swaps once, at metrics-writing time, so the per-check cost stays as it is.
        """
        if count_swap or not reading.get("swap_total"):
            return reading
        return dict(reading, **zram_figures(self.swaps()))


def top_users(table, count):
    ordered = sorted(table, key=lambda p: (-p.get("rss_kb", 0), p["pid"]))[:count]
    return "; ".join("%s[%d] %s adj=%d" % (p["comm"], p["pid"], fmt_kb(p.get("rss_kb", 0)), p.get("oom_score_adj", 0))
                     for p in ordered)


def top_memory_users(proc_root, count):
    """The ``count`` largest processes by RSS, formatted as top_users() does.

    Cheaper than a full process listing (processes.largest_resident): the log line is about
    the few largest, and it is written under pressure.
    """
    return top_users(mu_processes.largest_resident(proc_root, count), count)
