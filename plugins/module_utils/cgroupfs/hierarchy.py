# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which cgroup hierarchy a board runs, where its memory controller is, and cgroup paths.

Files are read through procfs.files. Every reading function takes ``fs``, the
module's ``hostfs.HostFS`` (anything with ``proc_path()`` and ``path()``), so tests run against
fake trees and "a path under the fake root" is always ``fs.path``.

* ``v2``: the unified hierarchy only (cgroup2 on /sys/fs/cgroup; Debian 11+, Ubuntu 21.10+,
  current Armbian).
* ``v1``: legacy controller hierarchies only (cgroup on /sys/fs/cgroup/<controller>; old BSP
  images, systemd.unified_cgroup_hierarchy=0 without a unified mount).
* ``hybrid``: v1 controllers plus a cgroup2 tree for systemd (/sys/fs/cgroup/unified);
  controllers live in v1, so memory limits and memory.pressure are in different trees.
* ``none``: no cgroup file system mounted.

The memory controller can be missing even when it is built: ``cgroup_disable=memory`` on the
kernel command line (common on Raspberry-Pi-derived images), or bound to a v1 hierarchy so the
unified tree does not offer it. /proc/cgroups tells whether the kernel has it and enabled it.
"""

from __future__ import annotations

import os
import re

from ansible_collections.rock5b.oom.plugins.module_utils.procfs.files import read_text

_ESCAPE = re.compile(r"\\([0-7]{3})")
V1_NAMED = ("name=",)
# Controllers a cgroup v1 mount can carry in its options (Documentation/admin-guide/cgroup-v1).
V1_CONTROLLERS = ("blkio", "cpu", "cpuacct", "cpuset", "debug", "devices", "freezer", "hugetlb",
                  "memory", "misc", "net_cls", "net_prio", "perf_event", "pids", "rdma")


def unescape(field):
    """Undo the octal escapes of /proc/self/mountinfo (``\\040`` for a space)."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def parse_mountinfo(text):
    """Cgroup mounts in /proc/self/mountinfo text: list of dicts (mount_point, root, fstype, options).

    ``options`` are the super block options, where cgroup v1 names its controllers.
    """
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if "-" not in parts:
            continue
        sep = parts.index("-")
        if sep < 6 or len(parts) < sep + 3:
            continue
        fstype = parts[sep + 1]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        mounts.append({
            "mount_point": unescape(parts[4]), "root": unescape(parts[3]), "fstype": fstype,
            "options": parts[sep + 3].split(",") if len(parts) > sep + 3 else [],
        })
    return mounts


def parse_mounts(text):
    """Cgroup mounts in /proc/mounts text (the fallback when mountinfo is missing)."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[2] not in ("cgroup", "cgroup2"):
            continue
        mounts.append({"mount_point": unescape(parts[1]), "root": "/", "fstype": parts[2],
                       "options": parts[3].split(",")})
    return mounts


def parse_proc_cgroups(text):
    """/proc/cgroups: controller -> {"hierarchy": int, "num_cgroups": int, "enabled": bool}."""
    controllers = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 4:
            continue
        try:
            controllers[parts[0]] = {"hierarchy": int(parts[1]), "num_cgroups": int(parts[2]),
                                     "enabled": parts[3] == "1"}
        except ValueError:
            continue
    return controllers


def read_mounts(fs):
    """Cgroup mounts of this process's mount namespace, and which file they were read from."""
    text = read_text(fs.proc_path("self", "mountinfo"))
    if text is not None:
        return parse_mountinfo(text), "mountinfo"
    text = read_text(fs.proc_path("mounts"))
    if text is not None:
        return parse_mounts(text), "mounts"
    return [], None


def _memory_reason(found, controllers_v1, kernel, kernel_enabled):
    """The ``memory`` part of detect(): where the memory controller is, or why there is none."""
    unified, unified_controllers = found["unified_mount"], found["unified_controllers"]
    memory = {"available": False, "hierarchy": None, "mount": None, "kernel_enabled": kernel_enabled, "reason": ""}
    if "memory" in controllers_v1:
        memory.update(available=True, hierarchy="v1", mount=controllers_v1["memory"],
                      reason="the memory controller is mounted as a cgroup v1 hierarchy at %s" % controllers_v1["memory"])
    elif unified and "memory" in unified_controllers:
        memory.update(available=True, hierarchy="v2", mount=unified,
                      reason="the cgroup v2 root at %s offers the memory controller" % unified)
    elif kernel_enabled is False and kernel is not None and "memory" in kernel:
        memory["reason"] = ("the kernel has the memory controller but it is disabled at boot "
                            "(cgroup_disable=memory on the kernel command line?); remove that or add "
                            "cgroup_enable=memory and reboot")
    elif kernel is not None and "memory" not in kernel:
        memory["reason"] = ("the kernel is built without the memory controller (CONFIG_MEMCG): /proc/cgroups "
                            "has no memory line and no hierarchy offers it")
    elif found["version"] == "none":
        memory["reason"] = "no cgroup file system is mounted"
    elif unified:
        memory["reason"] = ("the cgroup v2 root at %s does not offer the memory controller (%s)" % (
            unified, "cgroup.controllers: %s" % (" ".join(unified_controllers) or "empty")))
    else:
        memory["reason"] = "no cgroup v1 hierarchy has the memory controller mounted"
    return memory


def detect(fs):
    """Describe the cgroup hierarchy and the memory controller of the board ``fs`` reads.

    Returns a dict:

    * ``version``: ``v2``, ``v1``, ``hybrid`` or ``none``;
    * ``unified_mount``: where cgroup2 is mounted (None without one);
    * ``v1_mounts``: v1 controller -> mount point (named hierarchies such as name=systemd
      are listed under their name);
    * ``unified_controllers``: controllers the cgroup2 root offers (cgroup.controllers);
    * ``memory``: ``available`` (bool), ``hierarchy`` (``v2``, ``v1`` or None), ``mount``
      (the tree that holds memory limits), ``kernel_enabled`` (from /proc/cgroups, None when
      unknown) and ``reason`` (text for a person);
    * ``source``: the /proc file the mounts came from.
    """
    mounts, source = read_mounts(fs)
    unified = None
    v1 = {}
    for mount in mounts:
        if mount["fstype"] == "cgroup2":
            if unified is None or mount["mount_point"] == "/sys/fs/cgroup":
                unified = mount["mount_point"]
            continue
        for option in mount["options"]:
            if option.startswith("name=") or option in V1_CONTROLLERS:
                v1.setdefault(option, mount["mount_point"])
    controllers_v1 = dict((name, path) for name, path in v1.items() if not name.startswith(V1_NAMED))

    if unified and v1:
        # v1 controllers, or cgroup2 plus only named v1 hierarchies (name=systemd).
        version = "hybrid"
    elif unified:
        version = "v2"
    elif v1:
        version = "v1"
    else:
        version = "none"

    unified_controllers = []
    if unified:
        unified_controllers = (read_text(os.path.join(fs.path(unified), "cgroup.controllers")) or "").split()

    table = read_text(fs.proc_path("cgroups"))
    kernel = parse_proc_cgroups(table) if table is not None else None
    kernel_enabled = None
    if kernel is not None:
        kernel_enabled = kernel.get("memory", {}).get("enabled", False)
        if "memory" not in kernel and unified and "memory" in unified_controllers:
            # Linux 6.x drops v2-only controllers from /proc/cgroups when CONFIG_MEMCG_V1 is off.
            kernel_enabled = True

    found = {"version": version, "unified_mount": unified, "v1_mounts": v1,
             "unified_controllers": unified_controllers, "source": source}
    found["memory"] = _memory_reason(found, controllers_v1, kernel, kernel_enabled)
    return dict((key, found[key]) for key in
                ("version", "unified_mount", "v1_mounts", "unified_controllers", "memory", "source"))


# The longest name of one directory (NAME_MAX); the kernel refuses more with ENAMETOOLONG.
NAME_MAX = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_path(cgroup):
    """``rock5b/app/`` -> ``/rock5b/app`` (``/`` for the root). Raises ValueError for ``..`` and
    for a name the kernel would refuse only once the parents exist: a control character (a
    newline would make /proc/<pid>/cgroup unparsable; NUL cannot be passed at all) or more than
    NAME_MAX bytes."""
    parts = [part for part in cgroup.strip().strip("/").split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise ValueError("cgroup %s must stay inside the cgroup v2 hierarchy (no '..')" % cgroup)
    for part in parts:
        if _CONTROL.search(part):
            raise ValueError("cgroup %r: a name may not hold a control character (newline, tab, NUL...)" % cgroup)
        if len(part.encode("utf-8", "surrogatepass")) > NAME_MAX:
            raise ValueError("cgroup %r: the name %r... is longer than %d bytes" % (cgroup, part[:20], NAME_MAX))
    return "/" + "/".join(parts)


def cgroup_dir(fs, mount, cgroup):
    """The directory of ``cgroup`` (relative to the hierarchy mounted at ``mount``), mapped by ``fs``.

    Raises ValueError for a path that leaves the hierarchy (``..``).
    """
    relative = clean_path(cgroup).lstrip("/")
    return os.path.join(fs.path(mount), relative) if relative else fs.path(mount)


def process_cgroup(text, hierarchy):
    """The cgroup path of a process in the memory hierarchy, from /proc/<pid>/cgroup text.

    v2: the ``0::`` line; v1: the line whose controllers include ``memory``. None if absent.
    """
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        number, controllers, path = parts
        if hierarchy == "v2" and number == "0" and controllers == "":
            return path.strip()
        if hierarchy == "v1" and "memory" in controllers.split(","):
            return path.strip()
    return None


def mount_root(mounts, mount_point):
    """The root (inside the hierarchy) of the cgroup mount at ``mount_point``: "/" on a host,
    the container's own cgroup in a container without a cgroup namespace."""
    for mount in mounts:
        if mount["mount_point"] == mount_point and mount["fstype"] in ("cgroup", "cgroup2"):
            if mount["fstype"] == "cgroup2" or "memory" in mount["options"]:
                return mount["root"]
    return "/"


def relative_path(path, root):
    """``path`` of /proc/<pid>/cgroup relative to the mount's ``root``; None if outside it."""
    if root in ("/", ""):
        return "/" + path.strip("/")
    root = "/" + root.strip("/")
    if path == root:
        return "/"
    if path.startswith(root + "/"):
        return path[len(root):]
    return None


def memory_root(fs, info):
    """The root, inside the hierarchy, of the memory mount ``detect()`` found (see mount_root)."""
    mounts, _source = read_mounts(fs)
    return mount_root(mounts, info["memory"]["mount"])


def memory_cgroup_of(fs, pid, hierarchy, root):
    """Where process ``pid`` is in the memory hierarchy, relative to its mount's ``root``; None
    when the process is gone or outside the mount."""
    current = read_text(fs.proc_path(pid, "cgroup"))
    where = process_cgroup(current, hierarchy) if current is not None else None
    return relative_path(where, root) if where is not None else None


def memory_dir(fs, info, control_group):
    """The directory of ``control_group`` (as /proc/<pid>/cgroup or systemd's ControlGroup name it)
    in the memory hierarchy; None without a memory controller, a cgroup, or when it lies outside
    the mount (a container)."""
    memory = info["memory"]
    if not memory["available"] or not control_group:
        return None
    relative = relative_path(control_group, memory_root(fs, info))
    return None if relative is None else cgroup_dir(fs, memory["mount"], relative)
