#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: memory_pressure
short_description: Read pressure stall information (PSI) and fail when a board is under memory pressure
version_added: 0.1.0
description:
  - Reads C(/proc/pressure/memory), and C(cpu), C(io) or C(irq) when asked, into numbers,
    C(some) and C(full), each with C(avg10), C(avg60), C(avg300) (percent of wall time) and
    C(total) (microseconds stalled since boot).
  - With O(cgroup) it reads that cgroup's C(memory.pressure) (and the other resources' files)
    from the cgroup v2 hierarchy instead of the system-wide files.
  - With O(sample_seconds) it reads the files twice and reports the share of that window spent
    stalled, computed from the C(total) counters; this reacts faster and more precisely than
    the kernel's C(avg10).
  - Compares the numbers with limits and fails the task with a message naming the board, the
    value and the limit. Used in a play with C(serial), a failing board stops the rolling
    change before the next batch.
  - Tells apart PSI that is not built into the kernel, PSI that is built in but disabled at
    boot (C(psi=0), or C(CONFIG_PSI_DEFAULT_DISABLED=y) without C(psi=1), as Radxa BSP kernels
    ship), and a PSI file that is present but empty, and says how to enable it.
  - Never changes anything; C(changed) is always false.
author:
  - rock5b.oom contributors (!UNKNOWN)
options:
  resources:
    description:
      - The PSI files to read. C(irq) exists on Linux 6.1+ built with C(CONFIG_IRQ_TIME_ACCOUNTING)
        and has only a C(full) line; C(cpu) has no C(full) line before Linux 5.13.
      - Resources named in O(limits) are read as well.
    type: list
    elements: str
    choices: [memory, cpu, io, irq]
    default: [memory]
  cgroup:
    description:
      - A cgroup path relative to the cgroup v2 mount, for example V(system.slice/docker.service).
        Its C(<resource>.pressure) files are read instead of C(/proc/pressure).
      - Needs the unified (v2) hierarchy; on a hybrid board its cgroup2 mount
        (C(/sys/fs/cgroup/unified)) is used. A cgroup that does not exist fails the task.
    type: str
  sample_seconds:
    description:
      - Read the files, wait this long, read again, and report the stall percentage over the
        window from the C(total) counters (RV(sampled)). V(0) does not sample.
      - A number from V(0) to V(60) seconds (a numeric string is read as a number). It is
        C(raw) so that a boolean, NaN or infinity is refused instead of being read as a
        number; the task then fails naming the option.
    type: raw
    default: 0
  max_some_avg10:
    description:
      - Highest allowed memory C(some avg10), in percent.
      - Every C(max_*) option, like each value in O(limits), is a number from V(0) to V(100)
        (a numeric string is read as a number). They are C(raw) so that a boolean, NaN or
        infinity (which would never fire) is refused; the task then fails naming the option.
    type: raw
  max_full_avg10:
    description:
      - Highest allowed memory C(full avg10), in percent. C(full) is the share of time in which
        every runnable task was stalled on memory, the best single sign of thrashing.
    type: raw
  max_some_avg60:
    description: Highest allowed memory C(some avg60), in percent.
    type: raw
  max_full_avg60:
    description: Highest allowed memory C(full avg60), in percent.
    type: raw
  max_some_sampled:
    description: Highest allowed memory C(some) stall over the O(sample_seconds) window, in percent.
    type: raw
  max_full_sampled:
    description: Highest allowed memory C(full) stall over the O(sample_seconds) window, in percent.
    type: raw
  limits:
    description:
      - 'Further limits, by resource, for anything the C(max_*) options do not cover, for
        example V({"memory": {"full_avg300": 2}, "io": {"some_avg60": 40}}).'
      - Each name is C(<some|full>_<avg10|avg60|avg300|sampled>), each value a percentage from
        V(0) to V(100); a boolean, NaN or infinity fails the task naming the entry
        (C(limits.memory.full_avg300)).
        The C(max_*) options win over the same memory limit given here.
    type: dict
    default: {}
  unavailable:
    description:
      - What to do when PSI cannot be read (not built, disabled at boot, empty file, a resource
        this kernel does not have, no cgroup v2 for O(cgroup)).
      - V(fail) fails the task with the reason and how to enable PSI.
      - V(report) returns RV(available=false) with the reason and a warning; limits are checked
        only on the resources that could be read.
      - V(auto) fails when any limit is set, because a gate that cannot measure must not let a
        board pass, and reports otherwise.
    type: str
    choices: [auto, fail, report]
    default: auto
  name:
    description:
      - The board's name in messages. Modules cannot see the inventory, so pass
        V("{{ inventory_hostname }}"); defaults to the board's host name.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Reading PSI needs no privileges. A cgroup's pressure files are hidden on kernels where PSI
    is disabled, and return EOPNOTSUPP on kernels that keep them.
  - To enable PSI on a Radxa or Armbian image add C(psi=1) to C(extraargs) in
    C(/boot/armbianEnv.txt), or to the C(append) line of C(/boot/extlinux/extlinux.conf), and reboot.
seealso:
  - name: PSI - Pressure Stall Information
    description: The kernel's documentation of the PSI files.
    link: https://docs.kernel.org/accounting/psi.html
  - module: rock5b.oom.oom_facts
"""

EXAMPLES = r"""
- name: Stop the rolling change when a board thrashes
  rock5b.oom.memory_pressure:
    name: "{{ inventory_hostname }}"
    max_full_avg10: 5
    max_some_avg60: 20

- name: Measure ten seconds precisely before restarting the service
  rock5b.oom.memory_pressure:
    name: "{{ inventory_hostname }}"
    sample_seconds: 10
    max_full_sampled: 2

- name: Pressure inside the Docker service's cgroup, report only
  rock5b.oom.memory_pressure:
    cgroup: system.slice/docker.service
    resources: [memory, io]
    unavailable: report
  register: docker_pressure

- name: Report whether PSI works, without failing boards that have it disabled
  rock5b.oom.memory_pressure:
    unavailable: report
  register: psi

- name: Gate on io pressure too
  rock5b.oom.memory_pressure:
    name: "{{ inventory_hostname }}"
    max_full_avg10: 5
    limits:
      io:
        full_avg60: 30
"""

RETURN = r"""
board:
  description: The board's name as used in messages (O(name) or the host name).
  returned: always
  type: str
  sample: rock5b-07
available:
  description: Whether every requested PSI file could be read.
  returned: always
  type: bool
state:
  description:
    - C(enabled) when PSI works; C(disabled) (built in, off at boot), C(not_compiled),
      C(empty), C(unreadable), C(unsupported_resource) (PSI works but this kernel or cgroup has
      no such file), C(no_cgroup2) (O(cgroup) given on a board without cgroup v2) or C(unknown)
      (missing, and no kernel config to tell whether it is built).
  returned: always
  type: str
  sample: enabled
reason:
  description: Why PSI is unavailable, for a person; empty when available.
  returned: always
  type: str
  sample: "no /proc/pressure: the kernel is built with CONFIG_PSI_DEFAULT_DISABLED=y (/proc/config.gz) and the command line has no psi=1"
hint:
  description: How to make PSI available; empty when available.
  returned: always
  type: str
source:
  description: The directory the PSI files were read from.
  returned: always
  type: str
  sample: /proc/pressure
cgroup:
  description: The cgroup read (relative to the cgroup v2 mount), or null for system-wide PSI.
  returned: always
  type: str
pressure:
  description:
    - Resource to its numbers. C(some) and C(full) each hold C(avg10), C(avg60), C(avg300)
      (percent) and C(total) (microseconds); a line the kernel does not print is null.
    - A resource that could not be read is left out.
  returned: always
  type: dict
  sample: {"memory": {"some": {"avg10": 38.21, "avg60": 21.07, "avg300": 7.93, "total": 914421337},
                      "full": {"avg10": 17.52, "avg60": 9.85, "avg300": 3.2, "total": 402918220}}}
sampled:
  description: Resource to the C(some) and C(full) stall percentage over the sampling window; empty without sampling.
  returned: always
  type: dict
  sample: {"memory": {"some": 12.5, "full": 3.1}}
sample_seconds:
  description: The measured length of the sampling window in seconds (0 without sampling).
  returned: always
  type: float
  sample: 10.002
limits:
  description: The limits checked, by resource (the C(max_*) options merged into O(limits)).
  returned: always
  type: dict
  sample: {"memory": {"full_avg10": 5.0}}
violations:
  description: The limits exceeded (or not measurable); the task fails when this is not empty.
  returned: always
  type: list
  elements: dict
  sample: [{"resource": "memory", "limit": "full_avg10", "value": 17.52, "max": 5.0,
            "message": "rock5b-07: memory pressure full avg10 is 17.52%, above the limit of 5.00%"}]
"""

import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import hierarchy as cgroup_hierarchy
from ansible_collections.rock5b.oom.plugins.module_utils import errors, hostfs, numbers
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import pressure

# The sampling clock and sleep; unit tests replace them with fakes.
CLOCK = time.monotonic
SLEEP = time.sleep
MAX_SAMPLE_SECONDS = 60.0
SHORTHANDS = ("max_some_avg10", "max_full_avg10", "max_some_avg60", "max_full_avg60",
              "max_some_sampled", "max_full_sampled")


def collect_limits(module):
    """The limits by resource, checked; raises ModuleError on a bad name or value."""
    limits = {}
    for resource, entries in (module.params["limits"] or {}).items():
        if resource not in pressure.RESOURCES:
            raise errors.ModuleError("limits: %s is not a PSI resource (use %s)" % (resource, ", ".join(pressure.RESOURCES)))
        if not isinstance(entries, dict):
            raise errors.ModuleError("limits: %s must map limit names to percentages, got %r" % (resource, entries))
        for name, value in entries.items():
            try:
                pressure.parse_limit_name(name)
            except ValueError as error:
                raise errors.ModuleError("limits: %s: %s" % (resource, error))
            limits.setdefault(resource, {})[name] = percent(value, "limits.%s.%s" % (resource, name))
    for option in SHORTHANDS:
        if module.params[option] is not None:
            limits.setdefault("memory", {})[option[len("max_"):]] = percent(module.params[option], option)
    for resource, entries in limits.items():
        for name in entries:
            if name.endswith("_sampled") and not module.params["sample_seconds"]:
                raise errors.ModuleError("limit %s %s needs sample_seconds > 0" % (resource, name))
    return limits


def percent(value, name):
    """A PSI limit: a finite number of percent, 0 to 100 (a boolean or NaN is refused, naming ``name``)."""
    return numbers.finite_number(value, name, 0, 100)


def checked_cgroup(cgroup):
    """The cgroup option without its outer slashes, or None; checked before anything is read."""
    try:
        return cgroup_hierarchy.clean_path(cgroup).strip("/") or None if cgroup else None
    except ValueError as error:
        raise errors.ModuleError("cgroup: %s" % error)


def locate(fs, cgroup):
    """(directory holding the PSI files, None, None), or (None, state, reason) when there is none."""
    if not cgroup:
        return fs.proc_path("pressure"), None, None
    hierarchy = cgroup_hierarchy.detect(fs)
    if not hierarchy["unified_mount"]:
        return None, "no_cgroup2", ("cgroup pressure needs the cgroup v2 hierarchy, and this board runs "
                                    "cgroup %s with no cgroup2 mount" % hierarchy["version"])
    try:
        directory = cgroup_hierarchy.cgroup_dir(fs, hierarchy["unified_mount"], cgroup)
    except ValueError as error:
        raise errors.ModuleError(str(error))
    if not os.path.isdir(directory):
        raise errors.ModuleError("cgroup %s does not exist (no %s)" % (cgroup, directory))
    return directory, None, None


def read_files(fs, directory, cgroup, resources, values):
    """Read each resource's PSI file into ``values``; (resource to path read, resource to PsiUnavailable)."""
    paths, failures = {}, {}
    for resource in resources:
        path = pressure.cgroup_file(directory, resource) if cgroup else pressure.system_path(fs.proc, resource)
        try:
            values[resource] = pressure.read_psi(path)
            paths[resource] = path
        except pressure.PsiUnavailable as error:
            failures[resource] = error
    return paths, failures


def measure(module, fs):
    """The task's result; raises ModuleError when a limit is exceeded, or PSI must be read and cannot."""
    params = module.params
    board = params["name"] or socket.gethostname()
    seconds = params["sample_seconds"] = numbers.finite_number(params["sample_seconds"], "sample_seconds", 0, MAX_SAMPLE_SECONDS)
    limits = collect_limits(module)
    resources = list(params["resources"])
    resources += sorted(resource for resource in limits if resource not in resources)
    cgroup = checked_cgroup(params["cgroup"])

    result = dict(
        changed=False, board=board, available=False, state="unknown", reason="", hint="",
        source=None, cgroup=cgroup, pressure={}, sampled={}, sample_seconds=0.0, limits=limits, violations=[],
    )
    directory, state, reason = locate(fs, cgroup)
    if state == "no_cgroup2":
        result["hint"] = ("boot with systemd.unified_cgroup_hierarchy=1 (the default since Debian 11), or "
                          "leave out cgroup to read the system-wide PSI")
    paths = {}
    if directory is not None:
        result["source"] = directory
        paths, failures = read_files(fs, directory, cgroup, resources, result["pressure"])
        if failures:
            state, reason, result["hint"] = pressure.explain(fs.proc, fs.root, failures, cgroup)
    result["state"] = state or "enabled"
    result["reason"] = reason or ""
    result["available"] = state is None

    if not result["available"]:
        must_fail = params["unavailable"] == "fail" or (params["unavailable"] == "auto" and limits)
        message = "%s: PSI cannot be read: %s" % (board, result["reason"])
        if result["hint"]:
            message += ". To fix: %s" % result["hint"]
        if must_fail:
            raise errors.ModuleError(message, **result)
        module.warn(message)
        if not paths:
            return result
        # Check what could be read; limits on the rest are skipped.
        limits = dict((resource, entries) for resource, entries in limits.items() if resource in paths)
        result["limits"] = limits

    if seconds:
        try:
            result["sampled"], result["sample_seconds"] = pressure.sample(paths, seconds, clock=CLOCK, sleep=SLEEP)
        except pressure.PsiUnavailable as error:
            raise errors.ModuleError("%s: PSI became unreadable while sampling: %s" % (board, error), **result)
        result["sample_seconds"] = round(result["sample_seconds"], 3)

    for resource in sorted(limits):
        result["violations"] += pressure.check_limits(
            board, resource, result["pressure"][resource], result["sampled"].get(resource), limits[resource])
    if result["violations"]:
        raise errors.ModuleError("; ".join(item["message"] for item in result["violations"]), **result)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            resources=dict(type="list", elements="str", choices=list(pressure.RESOURCES), default=["memory"]),
            cgroup=dict(type="str"),
            sample_seconds=dict(type="raw", default=0),
            max_some_avg10=dict(type="raw"),
            max_full_avg10=dict(type="raw"),
            max_some_avg60=dict(type="raw"),
            max_full_avg60=dict(type="raw"),
            max_some_sampled=dict(type="raw"),
            max_full_sampled=dict(type="raw"),
            limits=dict(type="dict", default={}),
            unavailable=dict(type="str", choices=["auto", "fail", "report"], default="auto"),
            name=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    fs = hostfs.host()
    with errors.failing_on(module):
        result = measure(module, fs)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
