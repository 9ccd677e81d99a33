# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A systemd unit's memory limits as the kernel holds them in its cgroup (cgroup_memory with
``unit``): read them, say what systemd wants but the kernel lacks, and warn where they are not
enforced. The plan (``UnitPlan``) and the property tables are ``unit_limits``'."""

from __future__ import annotations

import os

from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import hierarchy, memory
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.sizes import human

# The size limits: the module's key and the systemd property that sets it.
PROPERTIES = (
    ("memory_max", "MemoryMax"), ("memory_high", "MemoryHigh"), ("swap_max", "MemorySwapMax"),
    ("memory_min", "MemoryMin"), ("memory_low", "MemoryLow"),
)
SIZE_PROPERTY = dict(PROPERTIES)


def limits(fs, info, control_group):
    """The unit's limits as the kernel holds them (vocabulary), its stats, and the directory."""
    directory = hierarchy.memory_dir(fs, info, control_group)
    if directory is None:
        return None, None, None
    if not os.path.isdir(directory):
        return None, None, directory
    hierarchy_name = info["memory"]["hierarchy"]
    return memory.read_limits(directory, hierarchy_name), memory.read_stats(directory, hierarchy_name), directory


def add_warnings(plan, kernel, directory, control_group):
    enforce = [key for key, _prop in PROPERTIES if key in plan.desired and key not in plan.unsupported]
    if not (plan.state == "present" and plan.active and enforce and plan.info["memory"]["available"]):
        return
    if kernel is None:
        plan.warnings.append("the kernel has no memory cgroup for %s (%s) under %s: the limits are configured but "
                             "not enforced here (a read-only cgroup file system, as in a container?)"
                             % (plan.unit, control_group or "no cgroup", plan.info["memory"]["mount"]))
        return
    for key in enforce:
        if kernel.get(key) is not None and kernel[key] != plan.desired[key]:
            plan.warnings.append("systemd has %s=%s for %s but the kernel's %s holds %s: not enforced here "
                                 "(a read-only cgroup file system, as in a container?)"
                                 % (SIZE_PROPERTY[key], human(plan.desired[key]), plan.unit, directory,
                                    human(kernel[key])))


def lagging(plan):
    """The size properties systemd reports as wanted but the unit's cgroup does not hold yet.

    systemd 252 writes a running unit's new limits into its cgroup at daemon-reload; Debian 13's
    systemd 257 does not (seen in the trixie VM: MemoryMax=64M shown, memory.max still "max"), only
    at set-property. So after the reload, what the kernel lags behind on is set live too."""
    kernel, _stats, _directory = limits(plan.fs, plan.info, plan.before_raw.get("ControlGroup"))
    if not kernel:
        return set()
    return set(SIZE_PROPERTY[key] for key in SIZE_PROPERTY
               if key in plan.desired and key not in plan.unsupported and kernel.get(key) is not None
               and kernel[key] != plan.desired[key])
