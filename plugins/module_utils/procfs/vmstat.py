# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel counters: /proc/vmstat, and the boot time (``btime``) in /proc/stat.

Standard library and procfs.files only: the low-memory monitor may ship
this file next to itself. Every reader takes the root of the /proc tree it reads (``proc_root``),
so unit tests run them against fake trees.

/proc/vmstat is one ``name value`` pair a line (mm/vmstat.c); ``oom_kill``, the number of OOM
kills since boot, is there from Linux 4.13. /proc/stat has ``btime <seconds since the epoch>``.
"""

from __future__ import annotations

import os

from .files import read_text


def parse_vmstat(text):
    """Map each /proc/vmstat counter to its int; lines that are not ``name number`` are skipped."""
    counters = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            counters[parts[0]] = int(parts[1])
    return counters


def read_vmstat(proc_root):
    """The counters of ``proc_root``/vmstat; {} when it cannot be read."""
    return parse_vmstat(read_text(os.path.join(proc_root, "vmstat")))


def oom_kills(proc_root):
    """OOM kills since boot (``oom_kill`` in /proc/vmstat); None before Linux 4.13 or when unreadable."""
    return read_vmstat(proc_root).get("oom_kill")


def parse_boot_time(text):
    """The boot time in seconds since the epoch from /proc/stat text (``btime``); None without one."""
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "btime":
            try:
                return float(parts[1])
            except ValueError:
                return None
    return None


def boot_time(proc_root):
    """The boot time of ``proc_root``/stat in seconds since the epoch; None when it cannot be read."""
    return parse_boot_time(read_text(os.path.join(proc_root, "stat")))
