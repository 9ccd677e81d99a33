# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a path lives: the mount point that holds it, the device mounted there, and the free
space on it as a message names it (hostfs' write errors)."""

from __future__ import annotations

import os


def mount_source(mount):
    """The device mounted at ``mount`` (the last such line of /proc/self/mounts), or None."""
    found = None
    try:
        with open("/proc/self/mounts") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 1 and fields[1].replace("\\040", " ") == mount:
                    found = fields[0]
    except OSError:
        return None
    return found


def mount_point(path):
    """The mount point of the file system that holds ``path`` (or would, for a missing path)."""
    current = os.path.abspath(path)
    while not os.path.exists(current) and current != os.path.dirname(current):
        current = os.path.dirname(current)
    while not os.path.ismount(current) and current != os.path.dirname(current):
        current = os.path.dirname(current)
    return current


def free_space(path):
    """"<N> bytes free on <mount point>" for the file system holding ``path``: what df shows as
    available (f_bavail), or a shorter phrase when it cannot be read.

    Not f_bfree, although root may use the blocks reserved for it: on ext4 f_bfree also counts
    the clusters the file system keeps back for itself (s_resv_clusters, 16 MiB on a small
    root), which nobody may write, so a full root reported "16777216 bytes free" beside ENOSPC
    (the fault test, 2026-12-06)."""
    mount = mount_point(path)
    try:
        info = os.statvfs(mount)
    except OSError:
        return "free space on %s unknown" % mount
    return "%d bytes free on %s" % (info.f_bavail * info.f_frsize, mount)
