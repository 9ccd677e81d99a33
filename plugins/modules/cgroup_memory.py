#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cgroup_memory
short_description: Memory limits for a systemd unit or a raw cgroup, on cgroup v2 and v1 alike
version_added: 0.1.0
description:
  - One vocabulary (O(memory_max), O(memory_high), O(swap_max), O(memory_min), O(memory_low),
    O(oom_group)) translated to the hierarchy the host runs - cgroup v2 (unified), v1 (legacy) or
    hybrid (memory controller in v1). Which one is detected from C(/proc/self/mountinfo) and
    C(/proc/cgroups) and returned as RV(cgroup).
  - B(systemd unit or slice) (O(unit), the persistent way). Writes one drop-in
    C(/etc/systemd/system/<unit>.d/60-rock5b-memory.conf) with C(MemoryMax=), C(MemoryHigh=),
    C(MemorySwapMax=), C(MemoryMin=), C(MemoryLow=), and where given C(Slice=), C(OOMPolicy=)
    (systemd 243 or later) and C(ManagedOOMSwap=), C(ManagedOOMMemoryPressure=),
    C(ManagedOOMMemoryPressureLimit=) (systemd 247/248 or later, acted on by systemd-oomd).
    systemd applies C(MemoryMax=) as C(memory.limit_in_bytes) on cgroup v1; the other memory
    properties act only on cgroup v2 and are reported (RV(unsupported)) on v1.
  - Applies the limits to a running unit without restarting it. After a changed drop-in it runs
    C(systemctl daemon-reload), then compares every memory property systemd reports
    (C(systemctl show)) with the wanted value and runs C(systemctl set-property --runtime) only
    for those that still differ, so a converged unit is left alone. Finally it reads the unit's
    memory control files in the kernel back (RV(kernel)) and warns where they do not hold the
    limit (a read-only cgroup file system in a container).
  - A new C(Slice=) takes effect at the unit's next start; the module reports RV(restart_required)
    and restarts the unit only with O(restart_moved=true).
  - A C(.slice) that has no unit file gets one (C(/etc/systemd/system/<name>.slice)) so a dedicated
    slice such as C(rock5b-untrusted.slice) exists at boot; units are placed in it with O(slice).
  - B(raw cgroup) (O(path), the seed's way, for processes outside systemd). Creates the cgroup under
    the memory hierarchy, enables C(+memory) in the C(cgroup.subtree_control) of the parents that
    need it (v2), writes the limit files idempotently (v2 C(memory.max), C(memory.high),
    C(memory.swap.max), C(memory.min), C(memory.low), C(memory.oom.group); v1
    C(memory.limit_in_bytes), C(memory.memsw.limit_in_bytes), C(memory.soft_limit_in_bytes),
    C(memory.oom_control)), reads every value back and moves the selected processes in
    (O(pids), O(comm), O(pattern)). Raw cgroups vanish at reboot; prefer O(unit).
  - A setting without meaning on the host's hierarchy is never a silent no-op. On v1,
    O(memory_high) of a raw cgroup is written as C(memory.soft_limit_in_bytes) (reclaim priority
    under global memory pressure, not a throttle) with a warning; O(memory_min), O(memory_low) and
    O(oom_group) do not exist on v1 and O(oom_kill_disable) does not exist on v2. Such settings are
    left out with a warning, or fail the task with O(unsupported=fail).
  - Everything is validated before anything changes - sizes, units, and the order
    O(memory_min) <= O(memory_low) <= O(memory_high) <= O(memory_max).
  - B(Many targets in one call) (O(entries), what the C(rock5b.oom.cgroup_limits) role uses). Every
    entry is first run in check mode; only when none fails are they applied, in order. One module
    execution per board instead of one per unit, which is most of a converged run's cost.
author:
  - rock5b.oom contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - rock5b.oom.state_module
options:
  entries:
    description:
      - Several units and raw cgroups in one call, each a dict of the per-target options - O(unit) or
        O(path), O(state), O(memory_max), O(memory_high), O(swap_max), O(memory_min), O(memory_low),
        O(oom_group), O(oom_kill_disable), O(pids), O(comm), O(pattern), O(slice), O(description),
        O(oom_policy), O(managed_oom_swap), O(managed_oom_memory_pressure),
        O(managed_oom_memory_pressure_limit) - with the same meaning and defaults, except that an
        entry without O(state) takes the task's O(state). O(unsupported), O(live), O(dropin_name)
        and O(restart_moved) apply to every entry.
      - Every entry is checked (as in check mode) before the first one changes anything; an invalid
        entry fails the task naming it, with nothing changed. Results are in RV(results), the
        hierarchy in RV(cgroup) and RV(hierarchy). An empty list reports the hierarchy only.
      - Mutually exclusive with O(unit) and O(path).
    type: list
    elements: dict
  unit:
    description:
      - The systemd unit to limit - a C(.service), C(.scope) or C(.slice); a name without a suffix
        means C(.service). Mutually exclusive with O(path).
    type: str
  path:
    description:
      - The raw cgroup, relative to the root of the memory hierarchy (C(/sys/fs/cgroup) on v2,
        C(/sys/fs/cgroup/memory) on v1), for example C(rock5b/myapp). Parents are created as needed.
        May not leave the hierarchy (C(..)) or be its root. Mutually exclusive with O(unit).
    type: str
  state:
    description:
      - V(present) creates the cgroup or drop-in and applies the limits.
      - V(absent) removes the module's drop-in (and a slice unit file it created), or the raw cgroup
        (which must hold no processes and no child cgroups). Limits a running unit got stay until
        its next start or a C(systemctl set-property).
      - V(query) changes nothing and reports the hierarchy and, with O(unit) or O(path), the current
        limits; neither is required then.
    type: str
    choices: [present, absent, query]
    default: present
  memory_max:
    description:
      - The hard limit; the group's processes are OOM-killed inside the group when it cannot
        reclaim below it. A size in bytes or with a 1024-based unit (C(512M), C(1.5G), C(2GiB)), or
        V(max) for no limit. At least 1M. Rounded down to whole pages, as the kernel does.
      - On cgroup v2 lowering it below the current usage makes the kernel reclaim and, if that is
        not enough, OOM-kill in the group at once; the module warns.
    type: raw
  memory_high:
    description:
      - The throttling limit (cgroup v2) - above it the group is slowed down and reclaimed hard, but
        not killed. Same sizes as O(memory_max), at least 1M, at most O(memory_max).
      - On cgroup v1 there is no throttling limit; see the description for what happens then.
    type: raw
  swap_max:
    description:
      - How much swap (zram included) the group may use; V(0) forbids swapping, V(max) does not
        limit. On cgroup v1 it is written as C(memory.memsw.limit_in_bytes) = O(memory_max) +
        O(swap_max), which needs a finite O(memory_max) and a kernel booted with C(swapaccount=1).
    type: raw
  memory_min:
    description: Memory the kernel never reclaims from the group (cgroup v2 only). At most O(memory_low) and O(memory_high).
    type: raw
  memory_low:
    description: Memory reclaimed from the group only when nothing else can be (cgroup v2 only). At most O(memory_high).
    type: raw
  oom_group:
    description:
      - Raw cgroups on v2 - C(memory.oom.group); when the OOM killer picks one process of the group it
        kills all of them (no half-dead application). For units use O(oom_policy=kill), which makes
        systemd set it.
    type: bool
  oom_kill_disable:
    description:
      - Raw cgroups on v1 - C(memory.oom_control); V(true) makes the group's processes wait
        instead of being OOM-killed at the limit (they hang until memory is freed). Rarely wanted.
    type: bool
  pids:
    description: Raw cgroups - move these processes in. A pid that does not exist fails the task before any change.
    type: list
    elements: int
    default: []
  comm:
    description: Raw cgroups - move in the processes whose comm (C(/proc/<pid>/comm), at most 15 characters) equals this.
    type: str
  pattern:
    description:
      - Raw cgroups - move in the processes whose command line matches this Python regular
        expression. With O(comm), both must match. The module's own process and its parents are
        never moved.
    type: str
  slice:
    description:
      - Units - put the unit into this slice (C(Slice=) in the drop-in), for example
        C(rock5b-untrusted.slice). Takes effect at the unit's next start (RV(restart_required)).
        Not for slices themselves - their parent is given by the name (C(a-b.slice) is in C(a.slice)).
    type: str
  description:
    description: Units - the C(Description=) of a slice unit file the module creates.
    type: str
    default: Memory-limited slice (managed by rock5b.oom)
  oom_policy:
    description:
      - Units (services) - C(OOMPolicy=) - what systemd does when the kernel OOM-kills a process of
        the service - V(continue), V(stop) or V(kill) (kill the rest of the service too; systemd
        also sets C(memory.oom.group)). Needs systemd 243 or later.
    type: str
    choices: [continue, stop, kill]
  managed_oom_swap:
    description: Units - C(ManagedOOMSwap=) for systemd-oomd (systemd 247 or later, cgroup v2).
    type: str
    choices: [auto, kill]
  managed_oom_memory_pressure:
    description: Units - C(ManagedOOMMemoryPressure=) for systemd-oomd (systemd 247 or later, cgroup v2).
    type: str
    choices: [auto, kill]
  managed_oom_memory_pressure_limit:
    description:
      - Units - C(ManagedOOMMemoryPressureLimit=), a percentage such as C(60%) (0-100, up to two
        decimals) of memory pressure above which systemd-oomd acts (systemd 248 or later).
    type: str
  unsupported:
    description:
      - What to do with a setting that has no effect on this host (hierarchy, systemd version,
        systemd-oomd missing) - V(warn) leaves it out (drop-ins keep it, so the same file works
        after a move to cgroup v2) and warns; V(fail) fails before any change.
    type: str
    choices: [warn, fail]
    default: warn
  live:
    description: Units - bring a running unit to the new limits now (daemon-reload, then set-property where still needed).
    type: bool
    default: true
  dropin_name:
    description: Units - file name of the drop-in in C(/etc/systemd/system/<unit>.d/).
    type: str
    default: 60-rock5b-memory.conf
  restart_moved:
    description:
      - Units - restart a running unit that runs in another slice than its O(slice) (RV(restart_required)),
        so it moves now (RV(restarted)). Without it the module only warns that a restart is needed.
    type: bool
    default: false
notes:
  - Raw cgroups are not persistent - they vanish at reboot with the processes in them. Use O(unit)
    (a drop-in for a service, or a slice) for limits that must survive a reboot.
  - Moving a process of a systemd service into a raw cgroup hides it from systemd's accounting on
    cgroup v2; the module warns. Limit the unit instead.
  - In containers the cgroup file system is usually read-only - drop-ins are written and systemd
    reports the limits, but the kernel does not enforce them (RV(kernel), with a warning).
seealso:
  - name: Control Group v2, memory
    description: The kernel's documentation of the memory controller's files.
    link: https://docs.kernel.org/admin-guide/cgroup-v2.html#memory
  - name: systemd.resource-control(5)
    description: MemoryMax=, MemoryHigh=, ManagedOOM*= and how systemd maps them on cgroup v1.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.resource-control.html
"""

EXAMPLES = r"""
- name: Limit a service to 512 MiB, throttled from 384 MiB, no swap (persistent, no restart)
  rock5b.oom.cgroup_memory:
    unit: myapp.service
    memory_max: 512M
    memory_high: 384M
    swap_max: 0
    oom_policy: kill

- name: A slice for untrusted apps, and an app placed in it
  rock5b.oom.cgroup_memory:
    unit: rock5b-untrusted.slice
    memory_max: 1.5G
    managed_oom_memory_pressure: kill
    managed_oom_memory_pressure_limit: 60%

- name: Place the kiosk browser in the slice (takes effect at its next start)
  rock5b.oom.cgroup_memory:
    unit: kiosk.service
    slice: rock5b-untrusted.slice
  register: kiosk_limits

- name: The seed's raw cgroup, on v1 and v2 alike, with a running process moved in
  rock5b.oom.cgroup_memory:
    path: rock5b/myapp
    memory_max: 512M
    comm: myapp

- name: Every limit of a board in one module execution (checked first, then applied in order)
  rock5b.oom.cgroup_memory:
    entries:
      - unit: rock5b-untrusted.slice
        memory_max: 1G
      - unit: kiosk.service
        slice: rock5b-untrusted.slice
        memory_max: 512M
      - path: rock5b/myapp
        memory_max: 256M
        comm: myapp
  register: board_limits

- name: Which hierarchy does the board run?
  rock5b.oom.cgroup_memory:
    state: query
  register: board_cgroup
"""

RETURN = r"""
cgroup:
  description:
    - The cgroup hierarchy, as rock5b.oom's cgroups helper detects it (C(version) v2, v1, hybrid or none;
      C(memory) says where the memory controller is).
  returned: always
  type: dict
  sample: {"version": "v2", "unified_mount": "/sys/fs/cgroup", "v1_mounts": {}, "unified_controllers": ["cpu", "memory"],
           "memory": {"available": true, "hierarchy": "v2", "mount": "/sys/fs/cgroup", "kernel_enabled": true,
                      "reason": "the cgroup v2 root at /sys/fs/cgroup offers the memory controller"}, "source": "mountinfo"}
hierarchy:
  description: The hierarchy the memory settings are translated for, V(v2) or V(v1) (hybrid hosts keep memory in v1); V(null) without a memory controller.
  returned: always
  type: str
  sample: v2
results:
  description:
    - With O(entries) - one result per entry, in order, each what the module returns for that entry alone
      (RV(desired), RV(before), RV(after), RV(unit) or RV(directory), RV(restart_required), ...) plus
      C(changed), C(failed), C(msg) when it failed, and C(item), the entry as given.
  returned: when O(entries) is given
  type: list
  elements: dict
  sample: [{"item": {"unit": "myapp.service", "memory_max": "512M"}, "changed": false, "failed": false,
            "unit": "myapp.service", "dropin_changed": false, "live_changed": [], "restart_required": false}]
desired:
  description: The settings after validation, sizes in bytes rounded down to pages or V(max).
  returned: when O(entries) is not given
  type: dict
  sample: {"memory_max": 536870912, "memory_high": 402653184}
unsupported:
  description: Settings that do not act on this host, each with the reason (left out, with a warning).
  returned: when O(entries) is not given
  type: dict
  sample: {"memory_low": "cgroup v1 has no memory.low (best-effort protection exists only in cgroup v2)"}
before:
  description:
    - Raw cgroups - the limits in the module's vocabulary before the run (V(null) where the file does not exist).
    - Units - C(dropin) (the managed drop-in's properties) and C(live) (C(systemctl show)).
  returned: when O(entries) is not given
  type: dict
  sample: {"memory_max": "max", "memory_high": "max", "swap_max": "max"}
after:
  description: As RV(before), after the run (read back from the kernel or systemd; predicted in check mode).
  returned: when O(entries) is not given
  type: dict
  sample: {"memory_max": 536870912, "memory_high": "max", "swap_max": "max"}
directory:
  description: Raw cgroups - the cgroup's directory.
  returned: when O(path) is given
  type: str
  sample: /sys/fs/cgroup/rock5b/myapp
created:
  description: Raw cgroups - directories created (or to be created), parents first.
  returned: when O(path) is given
  type: list
  elements: str
written:
  description: Raw cgroups - control files written (or to be written), in order, with the values.
  returned: when O(path) is given
  type: list
  elements: dict
  sample: [{"file": "memory.max", "value": "536870912"}]
moved:
  description: Raw cgroups - pids moved (or to be moved) into the cgroup.
  returned: when O(path) is given
  type: list
  elements: int
procs:
  description: Raw cgroups - the pids in the cgroup after the run.
  returned: when O(path) is given
  type: list
  elements: int
stats:
  description: Usage and OOM counters of the cgroup (v2 memory.current and memory.events; v1 usage_in_bytes, failcnt, oom_control).
  returned: when O(path) is given or the unit has a cgroup
  type: dict
  sample: {"usage": 1236992, "oom": 0, "oom_kill": 0, "failcnt": null}
unit:
  description: Units - the unit name as systemd knows it.
  returned: when O(unit) is given
  type: str
  sample: myapp.service
systemd_version:
  description: Units - the major version of systemd.
  returned: when O(unit) is given
  type: int
  sample: 252
dropin:
  description: Units - the managed drop-in.
  returned: when O(unit) is given
  type: str
  sample: /etc/systemd/system/myapp.service.d/60-rock5b-memory.conf
dropin_changed:
  description: Units - whether the drop-in (or a slice unit file) was, or in check mode would be, written or removed.
  returned: when O(unit) is given
  type: bool
live_changed:
  description: Units - properties whose live value differed from the wanted one and were (or would be) corrected.
  returned: when O(unit) is given
  type: list
  elements: str
  sample: ["MemoryMax"]
restart_required:
  description: Units - the unit runs in another slice than its configuration names; it moves at its next (re)start.
  returned: when O(unit) is given
  type: bool
restarted:
  description: Units - the unit was (in check mode, would be) restarted to move into its slice (O(restart_moved)).
  returned: when O(unit) is given
  type: bool
kernel:
  description: Units - the limits the kernel holds for the unit's cgroup (V(null) where unreadable), in the module's vocabulary.
  returned: when O(unit) is given
  type: dict
  sample: {"memory_max": 536870912}
"""

import errno
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.rock5b.oom.plugins.module_utils.atomic_file import write_atomically
from ansible_collections.rock5b.oom.plugins.module_utils import cgroups, memcg
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import processes
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.sizes import (
    MAX, SizeError, human, less_or_equal, page_size, parse_size, round_to_page,
)

PROC_ROOT = "/proc"
FS_ROOT = "/"
SYSTEMCTL = "systemctl"
UNIT_BASE = "/etc/systemd/system"
HEADER = ("# Managed by Ansible (rock5b.oom.cgroup_memory). Local edits are overwritten on the next run;\n"
          "# set the limits through the cgroup_limits_units variable instead.\n")
MIN_LIMIT = 1 << 20
ORDER = ("memory_min", "memory_low", "memory_high", "memory_max")
PROPERTIES = (
    ("memory_max", "MemoryMax"), ("memory_high", "MemoryHigh"), ("swap_max", "MemorySwapMax"),
    ("memory_min", "MemoryMin"), ("memory_low", "MemoryLow"),
)
SIZE_PROPERTY = dict(PROPERTIES)
# Properties systemd can change on a running unit (set-property), and the version that has them.
OOM_PROPERTIES = (
    ("managed_oom_swap", "ManagedOOMSwap", 247), ("managed_oom_memory_pressure", "ManagedOOMMemoryPressure", 247),
    ("managed_oom_memory_pressure_limit", "ManagedOOMMemoryPressureLimit", 248),
)
MIN_VERSION = {"MemoryMin": 240, "OOMPolicy": 243}
SECTIONS = {".service": "Service", ".slice": "Slice", ".scope": "Scope"}
DROPIN_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]+\.conf$")
PERCENT_RE = re.compile(r"^\s*([0-9]{1,3}(?:\.[0-9]{1,2})?)\s*%\s*$")
UINT32_MAX = 0xFFFFFFFF


# --- values -------------------------------------------------------------------------------------

def validate_sizes(params, page):
    """Parsed, page-rounded sizes of the given keys and a list of errors (nothing is read)."""
    desired, errors = {}, []
    for key in memcg.SIZE_KEYS:
        if params.get(key) is None:
            continue
        try:
            value = round_to_page(parse_size(params[key], key), page)
        except SizeError as error:
            errors.append(str(error))
            continue
        if key in ("memory_max", "memory_high") and value != MAX and value < MIN_LIMIT:
            errors.append("%s: %s is below 1M; nothing can run in so little memory (use max for no limit)"
                          % (key, params[key]))
            continue
        desired[key] = value
    given = [key for key in ORDER if key in desired]
    for low_index, low in enumerate(given):
        for high in given[low_index + 1:]:
            if not less_or_equal(desired[low], desired[high]):
                errors.append("%s (%s) must not be above %s (%s)" % (low, human(desired[low]), high, human(desired[high])))
    return desired, errors


def permyriad(text):
    """``60%`` -> 6000; None when it is not a percentage from 0 to 100."""
    match = PERCENT_RE.match(text or "")
    if not match:
        return None
    value = int(round(float(match.group(1)) * 100))
    return value if 0 <= value <= 10000 else None


def show_permyriad(text):
    """systemd's ManagedOOMMemoryPressureLimit as shown: ``60.00%`` or a uint32 fraction."""
    text = (text or "").strip()
    if text.endswith("%"):
        return permyriad(text)
    if text.isdigit():
        return int(round(int(text) * 10000.0 / UINT32_MAX))
    return None


def render_percent(value):
    whole, rest = divmod(value, 100)
    return "%d%%" % whole if not rest else "%d.%02d%%" % (whole, rest)


# --- systemd ------------------------------------------------------------------------------------

def systemd_version(module):
    rc, out, err = module.run_command([SYSTEMCTL, "--version"])
    match = re.match(r"systemd (\d+)", out or "")
    if rc != 0 or not match:
        module.fail_json(msg="systemctl --version failed (is this a systemd host?): %s" % (err or out).strip())
    return int(match.group(1))


def show(module, unit, names):
    rc, out, err = module.run_command([SYSTEMCTL, "show", "--no-pager"] + ["-p%s" % name for name in names] + [unit])
    if rc != 0:
        module.fail_json(msg="systemctl show %s failed: %s" % (unit, (err or out).strip()))
    values = {}
    for line in out.splitlines():
        key, _sep, value = line.partition("=")
        values[key] = value
    return values


def size_from_show(text):
    text = (text or "").strip()
    if text in ("infinity", ""):
        return MAX
    return int(text) if text.isdigit() else text


def render_dropin(section, settings):
    lines = [HEADER, "[%s]\n" % section]
    for key, value in settings:
        lines.append("%s=%s\n" % (key, value))
    return "".join(lines)


def render_slice(description):
    return "%s[Unit]\nDescription=%s\nBefore=slices.target\n" % (HEADER, description.replace("\n", " "))


def slice_cgroup(name):
    """``rock5b-untrusted.slice`` -> ``/rock5b.slice/rock5b-untrusted.slice`` (systemd's nesting)."""
    if name == "-.slice":
        return ""
    base = name[:-len(".slice")]
    parts = base.split("-")
    return "".join("/%s.slice" % "-".join(parts[:index + 1]) for index in range(len(parts)))


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def under(path):
    return os.path.join(FS_ROOT, path.lstrip("/"))


def kernel_limits(info, control_group, proc_root):
    """The unit's limits as the kernel holds them (vocabulary), its stats, and the directory."""
    memory = info["memory"]
    if not memory["available"] or not control_group:
        return None, None, None
    mounts, _source = cgroups.read_mounts(proc_root)
    relative = memcg.relative_path(control_group, memcg.mount_root(mounts, memory["mount"]))
    if relative is None:
        return None, None, None
    directory = cgroups.cgroup_dir(FS_ROOT, memory["mount"], relative)
    if not os.path.isdir(directory):
        return None, None, directory
    return memcg.read_limits(directory, memory["hierarchy"]), memcg.read_stats(directory, memory["hierarchy"]), directory


def run_unit(module, ctx):
    params, info, desired = ctx["params"], ctx["info"], ctx["desired"]
    warnings, unsupported = ctx["warnings"], ctx["unsupported"]
    unit = processes.normalize_unit(params["unit"])
    if not processes.valid_unit(unit):
        module.fail_json(msg="unit %r is not a valid systemd unit name" % params["unit"])
    suffix = "." + unit.rsplit(".", 1)[1]
    if suffix not in SECTIONS:
        module.fail_json(msg="unit %s: only .service, .scope and .slice units take memory limits here" % unit)
    section = SECTIONS[suffix]
    errors = []
    if not DROPIN_NAME_RE.match(params["dropin_name"]):
        errors.append("dropin_name must be a file name ending in .conf, got %r" % params["dropin_name"])
    for key in ("oom_group", "oom_kill_disable"):
        if params[key] is not None:
            errors.append("%s is for raw cgroups; for a unit use oom_policy: kill (systemd then sets memory.oom.group)"
                          % key)
    for key in ("comm", "pattern"):
        if params[key] is not None:
            errors.append("%s selects processes for a raw cgroup (path); a unit's processes are the unit's" % key)
    if params["pids"]:
        errors.append("pids are for a raw cgroup (path); a unit's processes are the unit's")
    if params["slice"] is not None:
        slice_name = params["slice"].strip()
        if suffix == ".slice":
            errors.append("slice: a slice's parent is given by its name (a-b.slice is in a.slice), not Slice=")
        elif not slice_name.endswith(".slice") or not processes.valid_unit(slice_name):
            errors.append("slice %r is not a valid slice unit name (like rock5b-untrusted.slice)" % params["slice"])
    if params["oom_policy"] is not None and suffix != ".service":
        errors.append("oom_policy is a service setting; %s is a %s" % (unit, suffix[1:]))
    limit = None
    if params["managed_oom_memory_pressure_limit"] is not None:
        limit = permyriad(str(params["managed_oom_memory_pressure_limit"]))
        if limit is None:
            errors.append("managed_oom_memory_pressure_limit must be a percentage from 0%% to 100%% (like 60%%), got %r"
                          % params["managed_oom_memory_pressure_limit"])
    if errors:
        module.fail_json(msg="invalid settings, nothing was changed: " + "; ".join(errors), errors=errors)

    if "systemd_version" not in ctx["cache"]:
        ctx["cache"]["systemd_version"] = systemd_version(module)
    version = ctx["cache"]["systemd_version"]
    hierarchy = info["memory"]["hierarchy"]
    # (drop-in key, rendered value, comparable value, live via set-property)
    settings = []
    if params["slice"] is not None:
        settings.append(("Slice", params["slice"].strip(), params["slice"].strip(), False))
    for key, prop in PROPERTIES:
        if key not in desired:
            continue
        if version < MIN_VERSION.get(prop, 0):
            unsupported[key] = "%s= needs systemd %d or later, this host runs %d" % (prop, MIN_VERSION[prop], version)
            continue
        value = desired[key]
        if hierarchy == "v1" and key != "memory_max":
            unsupported[key] = ("systemd applies %s= only on cgroup v2; this host keeps the memory controller in "
                                "cgroup v1 (only MemoryMax= acts, as memory.limit_in_bytes)" % prop)
        elif hierarchy is None:
            unsupported[key] = "no memory controller here: %s" % info["memory"]["reason"]
        settings.append((prop, "infinity" if value == MAX else human(value), value, True))
    if params["oom_policy"] is not None:
        if version < 243:
            unsupported["oom_policy"] = "OOMPolicy= needs systemd 243 or later, this host runs %d" % version
        else:
            settings.append(("OOMPolicy", params["oom_policy"], params["oom_policy"], False))
    oomd_needed = False
    for key, prop, minimum in OOM_PROPERTIES:
        if params[key] is None:
            continue
        if version < minimum:
            unsupported[key] = "%s= needs systemd %d or later, this host runs %d" % (prop, minimum, version)
            continue
        oomd_needed = True
        if key == "managed_oom_memory_pressure_limit":
            settings.append((prop, render_percent(limit), limit, True))
        else:
            settings.append((prop, params[key], params[key], True))
        if info["version"] != "v2":
            unsupported[key] = "systemd-oomd works only on the unified cgroup v2 hierarchy (this host: %s)" % info["version"]
    if oomd_needed and info["version"] == "v2":
        oomd = show(module, "systemd-oomd.service", ["LoadState", "ActiveState"])
        if oomd.get("ActiveState") != "active":
            for key, _prop, _minimum in OOM_PROPERTIES:
                if params[key] is not None and key not in unsupported:
                    unsupported[key] = ("systemd-oomd is not running (%s, %s): nothing acts on ManagedOOM settings; "
                                        "install the systemd-oomd package and enable it"
                                        % (oomd.get("LoadState"), oomd.get("ActiveState")))
    report_unsupported(module, ctx)

    names = ["LoadState", "ActiveState", "FragmentPath", "DropInPaths", "ControlGroup", "Slice"]
    names += [setting[0] for setting in settings]
    names += [prop for _key, prop in PROPERTIES if prop not in names]
    before_live_raw = show(module, unit, sorted(set(names)))

    def comparable(prop, raw):
        if prop in SIZE_PROPERTY.values():
            return size_from_show(raw)
        if prop == "ManagedOOMMemoryPressureLimit":
            return show_permyriad(raw)
        return raw

    before_live = dict((prop, comparable(prop, before_live_raw.get(prop))) for prop, _t, _v, _l in settings)
    dropin = os.path.join(UNIT_BASE, unit + ".d", params["dropin_name"])
    old_text = read_text(under(dropin))
    state = params["state"]
    if state == "query":
        kernel, stats, _directory = kernel_limits(info, before_live_raw.get("ControlGroup"), PROC_ROOT)
        current = dict((prop, comparable(prop, before_live_raw.get(prop))) for _key, prop in PROPERTIES)
        finish(module, ctx, changed=False, unit=unit, systemd_version=version, dropin=dropin, dropin_changed=False,
               live_changed=[], daemon_reloaded=False, restart_required=False, restarted=False, kernel=kernel,
               stats=stats,
               before={"dropin": parse_dropin(old_text), "live": current},
               after={"dropin": parse_dropin(old_text), "live": current})
    if state == "present" and not settings:
        module.fail_json(msg="unit %s: no setting to manage (give memory_max, memory_high, swap_max, memory_min, "
                             "memory_low, slice, oom_policy or managed_oom_*), or state=absent to remove the drop-in"
                         % unit)
    new_text = render_dropin(section, [(prop, text) for prop, text, _value, _live in settings]) if settings else None
    if state == "absent":
        new_text = None
    files = [(dropin, old_text, new_text)]
    fragment = os.path.join(UNIT_BASE, unit)
    if suffix == ".slice":
        old_fragment = read_text(under(fragment))
        fragment_ours = old_fragment is not None and old_fragment.startswith(HEADER)
        no_other = not before_live_raw.get("FragmentPath") or before_live_raw.get("FragmentPath") == fragment
        if state == "present" and (fragment_ours or (old_fragment is None and no_other)):
            files.append((fragment, old_fragment, render_slice(params["description"])))
        elif state == "absent" and fragment_ours:
            files.append((fragment, old_fragment, None))
    dropin_changed = any(old != new for _path, old, new in files)
    loaded = before_live_raw.get("LoadState") == "loaded"
    active = before_live_raw.get("ActiveState") in ("active", "activating", "reloading", "deactivating")
    if not loaded and state == "present" and suffix != ".slice":
        warnings.append("%s is not loaded (%s): the drop-in is written and applies once the unit is installed"
                        % (unit, before_live_raw.get("LoadState")))

    live_keys = []
    if state == "present" and params["live"] and (loaded or suffix == ".slice"):
        for prop, _text, value, live in settings:
            if live and before_live.get(prop) != value:
                live_keys.append(prop)
    control_group = before_live_raw.get("ControlGroup") or ""
    restart_required = False
    if state == "present" and params["slice"] is not None and active and control_group:
        restart_required = ("%s/%s" % (slice_cgroup(params["slice"].strip()), unit)) not in control_group
        if restart_required and not params["restart_moved"]:
            warnings.append("%s runs in %s; it moves into %s at its next start (restart it, or set "
                            "cgroup_limits_allow_restart)" % (unit, control_group, params["slice"].strip()))

    restart = restart_required and params["restart_moved"]
    reloaded = False
    after_live = dict(before_live)
    if not module.check_mode:
        for path, old, new in files:
            if old == new:
                continue
            if new is None:
                os.unlink(under(path))
                try:
                    os.rmdir(os.path.dirname(under(path)))
                except OSError:
                    pass
            else:
                write_atomically(module, under(path), new)
        if dropin_changed:
            rc, out, err = module.run_command([SYSTEMCTL, "daemon-reload"])
            if rc != 0:
                module.fail_json(msg="systemctl daemon-reload failed: %s" % (err or out).strip())
            reloaded = True
        if live_keys:
            current = show(module, unit, list(live_keys))
            still = [(prop, text, value) for prop, text, value, _live in settings
                     if prop in live_keys and comparable(prop, current.get(prop)) != value]
            if still and (active or suffix == ".slice"):
                args = ["%s=%s" % (prop, text) for prop, text, _value in still]
                rc, out, err = module.run_command([SYSTEMCTL, "set-property", "--runtime", unit] + args)
                if rc != 0:
                    module.fail_json(msg="systemctl set-property --runtime %s %s failed: %s"
                                         % (unit, " ".join(args), (err or out).strip()))
        if restart:
            rc, out, err = module.run_command([SYSTEMCTL, "restart", unit])
            if rc != 0:
                module.fail_json(msg="systemctl restart %s (to move it into %s) failed: %s"
                                     % (unit, params["slice"].strip(), (err or out).strip()))
            restart_required = False
        after_raw = show(module, unit, sorted(set(names)))
        after_live = dict((prop, comparable(prop, after_raw.get(prop))) for prop, _t, _v, _l in settings)
        control_group = after_raw.get("ControlGroup") or ""
        if state == "present":
            wrong = ["%s=%s (wanted %s)" % (prop, after_raw.get(prop), text) for prop, text, value, _live in settings
                     if after_live.get(prop) != value and (loaded or suffix == ".slice")]
            if wrong:
                module.fail_json(msg="systemd reports other values for %s after the run: %s. Another drop-in or a "
                                     "runtime setting (/run/systemd/system.control) overrides the managed one?"
                                 % (unit, ", ".join(wrong)), after={"live": after_live})
    elif state == "present":
        after_live.update((prop, value) for prop, _text, value, _live in settings if prop in live_keys)

    kernel, stats, directory = kernel_limits(info, control_group, PROC_ROOT)
    enforce = [key for key, _prop in PROPERTIES if key in desired and key not in unsupported]
    if state == "present" and active and enforce and info["memory"]["available"] and not module.check_mode:
        if kernel is None:
            warnings.append("the kernel has no memory cgroup for %s (%s) under %s: the limits are configured but "
                            "not enforced here (a read-only cgroup file system, as in a container?)"
                            % (unit, control_group or "no cgroup", info["memory"]["mount"]))
        for key in enforce if kernel is not None else []:
            if kernel.get(key) is not None and kernel[key] != desired[key]:
                warnings.append("systemd has %s=%s for %s but the kernel's %s holds %s: not enforced here "
                                "(a read-only cgroup file system, as in a container?)"
                                % (SIZE_PROPERTY[key], human(desired[key]), unit, directory, human(kernel[key])))

    diff = [{"before_header": path, "after_header": path, "before": old or "", "after": new or ""}
            for path, old, new in files if old != new] or [{"before": "", "after": ""}]
    if live_keys:
        diff.append({
            "before_header": "%s (live)" % unit, "after_header": "%s (live)" % unit,
            "before": "".join("%s=%s\n" % (prop, before_live_raw.get(prop)) for prop in live_keys),
            "after": "".join("%s=%s\n" % (prop, text) for prop, text, _v, _l in settings if prop in live_keys),
        })
    finish(module, ctx,
           changed=dropin_changed or bool(live_keys) or restart, unit=unit, systemd_version=version,
           dropin=dropin, dropin_changed=dropin_changed, live_changed=live_keys, daemon_reloaded=reloaded,
           restart_required=restart_required, restarted=restart, kernel=kernel, stats=stats,
           before={"dropin": parse_dropin(old_text), "live": before_live},
           after={"dropin": parse_dropin(new_text), "live": after_live}, diff=diff)


def parse_dropin(text):
    values = {}
    for line in (text or "").splitlines():
        if line.startswith(("#", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


# --- raw cgroups --------------------------------------------------------------------------------

def ancestors_of_self():
    """This module's pid and its parents' (never moved into a limited cgroup)."""
    found, pid = set(), os.getpid()
    for _hop in range(64):
        if pid <= 1 or pid in found:
            break
        found.add(pid)
        try:
            with open(os.path.join(PROC_ROOT, str(pid), "stat")) as handle:
                pid = processes.parse_stat(handle.read())["ppid"]
        except (OSError, ValueError, IndexError):
            break
    return found


def create_cgroup(path):
    """mkdir in a cgroup file system: the kernel fills the new directory with control files."""
    os.mkdir(path, 0o755)


def probe_directory(mount, directory):
    """An existing non-root cgroup that shows which memory files this kernel offers."""
    path = os.path.dirname(directory)
    while len(path) > len(mount):
        if os.path.isdir(path):
            return path
        path = os.path.dirname(path)
    try:
        for name in sorted(os.listdir(mount)):
            candidate = os.path.join(mount, name)
            if os.path.isdir(candidate) and (os.path.exists(os.path.join(candidate, "memory.max"))
                                             or os.path.exists(os.path.join(candidate, "memory.limit_in_bytes"))):
                return candidate
    except OSError:
        pass
    return None


def defaults(hierarchy):
    """The limits of a cgroup the kernel has just created."""
    values = {"memory_max": MAX, "memory_high": MAX, "swap_max": MAX, "memory_min": 0, "memory_low": 0,
              "oom_group": False, "oom_kill_disable": None}
    if hierarchy == "v1":
        values.update(memory_min=None, memory_low=None, oom_group=None, oom_kill_disable=False)
    else:
        values["oom_kill_disable"] = None
    return values


def shown(key, value):
    """A value for a person: sizes as 512M, missing files as "-"."""
    if value is None:
        return "-"
    return human(value) if key in memcg.SIZE_KEYS else value


def vocabulary(values, keys):
    return dict((key, values.get(key)) for key in keys)


def run_raw(module, ctx):
    params, info, desired = ctx["params"], ctx["info"], ctx["desired"]
    warnings, unsupported = ctx["warnings"], ctx["unsupported"]
    memory = info["memory"]
    state = params["state"]
    if not memory["available"]:
        if state == "query":
            finish(module, ctx, changed=False, directory=None, created=[], written=[], moved=[], procs=[],
                   stats=None, before={}, after={})
        module.fail_json(msg="no memory cgroup controller on this host, nothing was changed: %s" % memory["reason"],
                         cgroup=info)
    hierarchy, mount = memory["hierarchy"], memory["mount"]
    try:
        directory = cgroups.cgroup_dir(FS_ROOT, mount, params["path"])
    except ValueError as error:
        module.fail_json(msg="invalid settings, nothing was changed: path: %s" % error)
    relative = "/" + "/".join(part for part in params["path"].strip().strip("/").split("/") if part not in ("", "."))
    mount_dir = cgroups.under(FS_ROOT, mount)
    if relative == "/":
        module.fail_json(msg="invalid settings, nothing was changed: path %r is the root of the memory hierarchy, "
                             "which takes no limits" % params["path"])

    # What this kernel offers (for a cgroup yet to be created: a sibling shows it).
    probe = directory if os.path.isdir(directory) else probe_directory(mount_dir, directory)
    files = memcg.files_for(hierarchy)
    errors = []
    bools = dict((key, params[key]) for key in memcg.BOOL_KEYS if params[key] is not None)
    for key in list(desired) + list(bools):
        if (hierarchy, key) in memcg.UNSUPPORTED:
            unsupported[key] = memcg.UNSUPPORTED[(hierarchy, key)]
        elif probe is not None and not os.path.exists(os.path.join(probe, files[key])):
            reason = "this kernel has no %s (%s)" % (files[key], probe)
            if key == "swap_max":
                reason += ": swap accounting is off (boot with swapaccount=1 on older kernels, and without swapaccount=0)"
            unsupported[key] = reason
    if hierarchy == "v1" and "memory_high" in desired:
        warnings.append("memory_high on cgroup v1: v1 has no throttling limit; written as memory.soft_limit_in_bytes, "
                        "which only makes the group reclaimed first under global memory pressure")
    if hierarchy == "v1" and "swap_max" in desired and "swap_max" not in unsupported and desired["swap_max"] != MAX \
            and desired.get("memory_max", MAX) == MAX:
        errors.append("swap_max on cgroup v1 is written as memory.memsw.limit_in_bytes = memory_max + swap_max, so it "
                      "needs a memory_max other than max")
    if state == "present":
        report_unsupported(module, ctx)
    wanted = dict((key, value) for key, value in list(desired.items()) + list(bools.items()) if key not in unsupported)

    # Processes to move in.
    pattern = None
    if params["pattern"] is not None:
        try:
            pattern = re.compile(params["pattern"])
        except re.error as error:
            errors.append("pattern %r is not a valid regular expression: %s" % (params["pattern"], error))
    if params["comm"] is not None and not params["comm"]:
        errors.append("comm is empty")
    if errors:
        module.fail_json(msg="invalid settings, nothing was changed: " + "; ".join(errors), errors=errors)
    selected = []
    table = {}
    if state == "present" and (params["pids"] or params["comm"] is not None or pattern is not None):
        table = processes.list_processes(PROC_ROOT)
        missing = [pid for pid in params["pids"] if pid not in table]
        if missing:
            module.fail_json(msg="pids %s do not exist (or are kernel threads or zombies); nothing was changed"
                                 % ", ".join(str(pid) for pid in missing))
        chosen = set(params["pids"])
        if params["comm"] is not None or pattern is not None:
            matched = processes.select(table, comm=params["comm"], pattern=pattern)
            if not matched:
                warnings.append("no running process matches %s" % " and ".join(
                    item for item in ("comm=%s" % params["comm"] if params["comm"] is not None else "",
                                      "pattern=%s" % params["pattern"] if pattern is not None else "") if item))
            chosen.update(matched)
        chosen -= ancestors_of_self()
        selected = sorted(chosen)
    if state == "absent" and (params["pids"] or params["comm"] or params["pattern"]):
        module.fail_json(msg="state=absent removes the cgroup; it moves no processes (pids, comm, pattern)")

    exists = os.path.isdir(directory)
    before = memcg.read_limits(directory, hierarchy) if exists else defaults(hierarchy)
    if not exists and probe is not None:
        before.update((key, None) for key, name in files.items() if not os.path.exists(os.path.join(probe, name)))
    if hierarchy == "v1":
        before["_memsw"] = memcg.read_memsw(directory) if exists else MAX
    keys = [key for key in memcg.KEYS if key in wanted or (key in memcg.SIZE_KEYS and before.get(key) is not None)]

    if state == "query":
        finish(module, ctx, changed=False, directory=directory, created=[], written=[], moved=[],
               procs=memcg.read_procs(directory) if exists else [],
               stats=memcg.read_stats(directory, hierarchy) if exists else None,
               before=vocabulary(before, keys) if exists else {}, after=vocabulary(before, keys) if exists else {})

    if state == "absent":
        created, changed = [], False
        if exists:
            procs = memcg.read_procs(directory)
            children = [name for name in os.listdir(directory) if os.path.isdir(os.path.join(directory, name))]
            if procs or children:
                module.fail_json(msg="cgroup %s still holds %s; move or stop them first, nothing was changed" % (
                    directory, ", ".join(filter(None, ["processes %s" % procs if procs else "",
                                                       "child cgroups %s" % children if children else ""]))))
            changed = True
            if not module.check_mode:
                try:
                    os.rmdir(directory)
                except OSError as error:
                    module.fail_json(msg="removing cgroup %s failed: %s" % (directory, error.strerror or error))
        diff = {"before": "%s\n" % directory if exists else "", "after": ""}
        finish(module, ctx, changed=changed, directory=directory, created=created, written=[], moved=[],
               procs=[], stats=None, before=vocabulary(before, keys) if exists else {}, after={}, diff=diff)

    # Directories to create, and parents that must pass the memory controller down (v2).
    to_create = []
    path = directory
    while not os.path.isdir(path) and len(path) > len(mount_dir):
        to_create.insert(0, path)
        path = os.path.dirname(path)
    subtree = []
    if hierarchy == "v2":
        parent = os.path.dirname(directory)
        chain = []
        while len(parent) >= len(mount_dir):
            chain.insert(0, parent)
            if parent == mount_dir:
                break
            parent = os.path.dirname(parent)
        for ancestor in chain:
            if ancestor in to_create or not memcg.subtree_has_memory(ancestor):
                if ancestor not in to_create and ancestor != mount_dir and memcg.read_procs(ancestor):
                    module.fail_json(msg="cgroup %s holds processes, so it cannot pass the memory controller to %s "
                                         "(cgroup v2 allows controllers only where no process is); choose a path "
                                         "under another parent. Nothing was changed." % (ancestor, directory))
                subtree.append(ancestor)
    try:
        writes = memcg.plan_writes(hierarchy, wanted, before)
    except ValueError as error:
        module.fail_json(msg="invalid settings, nothing was changed: %s" % error)

    usage = memcg.read_stats(directory, hierarchy)["usage"] if exists else None
    if "memory_max" in wanted and wanted["memory_max"] != MAX and usage is not None and usage > wanted["memory_max"]:
        warnings.append("%s uses %s, above the new memory_max %s: the kernel reclaims and may OOM-kill processes "
                        "in the group now" % (directory, human(usage), human(wanted["memory_max"])))

    to_move = []
    mounts, _source = cgroups.read_mounts(PROC_ROOT)
    root = memcg.mount_root(mounts, mount)
    for pid in selected:
        try:
            with open(os.path.join(PROC_ROOT, str(pid), "cgroup")) as handle:
                current = memcg.process_cgroup(handle.read(), hierarchy)
        except OSError:
            continue
        where = memcg.relative_path(current, root) if current is not None else None
        if where != relative:
            to_move.append(pid)
            unit = table.get(pid, {}).get("unit")
            if hierarchy == "v2" and unit and unit != "init.scope":
                warnings.append("pid %d belongs to %s: moving it into a raw cgroup takes it out of systemd's "
                                "accounting for that unit; limit the unit (unit:) instead" % (pid, unit))

    if to_create:
        warnings.append("raw cgroups vanish at reboot (with the processes in them): %s is created now but not "
                        "persistent; limit a systemd unit or slice (unit:) for limits that survive" % directory)

    written, moved = [], []
    if not module.check_mode:
        done = []

        def rollback(problem):
            for name, old_text in reversed(done):
                try:
                    memcg.write_control(directory, name, old_text)
                except memcg.CgroupError as error:
                    problem += "; and %s could not be restored to %s (%s)" % (name, old_text, error)
            module.fail_json(msg=problem + ". Limits written in this run were restored.", written=written)

        try:
            for path in to_create:
                create_cgroup(path)
            for ancestor in subtree:
                memcg.write_control(ancestor, "cgroup.subtree_control", "+memory")
                if not memcg.subtree_has_memory(ancestor):
                    module.fail_json(msg="%s/cgroup.subtree_control does not list memory after +memory" % ancestor)
        except OSError as error:
            module.fail_json(msg="creating cgroup %s failed: %s%s" % (
                directory, error.strerror or error,
                " (the cgroup file system is read-only here: a container?)" if error.errno == errno.EROFS else ""))
        except memcg.CgroupError as error:
            module.fail_json(msg=str(error))
        for name, text, key in writes:
            old = before.get("_memsw") if name == memcg.V1_FILES["swap_max"] else before.get(key)
            old_text = (memcg.render_v2(key, old) if hierarchy == "v2"
                        else ("1" if old else "0") if key == "oom_kill_disable" else memcg.render_v1_size(old))
            try:
                memcg.write_control(directory, name, text)
            except memcg.CgroupError as error:
                rollback(str(error))
            done.append((name, old_text))
            written.append({"file": name, "value": text})
        after = memcg.read_limits(directory, hierarchy)
        wrong = ["%s holds %s, wanted %s" % (files[key], shown(key, after.get(key)), shown(key, value))
                 for key, value in wanted.items() if after.get(key) != value]
        if wrong:
            rollback("the kernel did not keep the limits: " + "; ".join(wrong))
        for pid in to_move:
            try:
                memcg.write_control(directory, "cgroup.procs", str(pid))
            except memcg.CgroupError as error:
                if error.errno == errno.ESRCH:
                    warnings.append("pid %d exited before it could be moved" % pid)
                    continue
                module.fail_json(msg="moving pid %d failed: %s" % (pid, error), written=written, moved=moved)
            moved.append(pid)
    else:
        written = [{"file": name, "value": text} for name, text, _key in writes]
        moved = list(to_move)
        after = dict(before)
        after.update(wanted)

    procs = memcg.read_procs(directory) if os.path.isdir(directory) else []
    if module.check_mode:
        procs = sorted(set(procs) | set(moved))
    before_report = vocabulary(before, keys) if exists else {}
    after_report = vocabulary(after, keys)
    diff = {
        "before_header": directory, "after_header": directory,
        "before": "".join("%s = %s\n" % (key, shown(key, value)) for key, value in sorted(before_report.items()))
        if exists else "",
        "after": "".join("%s = %s\n" % (key, shown(key, value)) for key, value in sorted(after_report.items())),
    }
    if to_move:
        diff["after"] += "cgroup.procs += %s\n" % " ".join(str(pid) for pid in to_move)
    finish(module, ctx, changed=bool(to_create or subtree or writes or to_move), directory=directory,
           created=to_create, written=written, moved=moved, procs=procs,
           stats=memcg.read_stats(directory, hierarchy) if os.path.isdir(directory) else None,
           before=before_report, after=after_report, diff=diff)


# --- common -------------------------------------------------------------------------------------

def report_unsupported(module, ctx):
    unsupported = ctx["unsupported"]
    if not unsupported or ctx["params"]["state"] == "query":
        return
    text = "; ".join("%s: %s" % (key, reason) for key, reason in sorted(unsupported.items()))
    if ctx["params"]["unsupported"] == "fail":
        module.fail_json(msg="settings without effect on this host (unsupported=fail), nothing was changed: " + text,
                         unsupported=unsupported, cgroup=ctx["info"])
    if ctx["params"]["unit"] is not None:
        ctx["warnings"].append("settings without effect on this host (the drop-in keeps those systemd knows, for "
                               "cgroup v2; nothing applies them here): " + text)
    else:
        ctx["warnings"].append("settings without effect on this host, left out: " + text)


def finish(module, ctx, **result):
    for warning in ctx["warnings"]:
        module.warn(warning)
    result.update(cgroup=ctx["info"], hierarchy=ctx["info"]["memory"]["hierarchy"],
                  desired=ctx["desired"], unsupported=ctx["unsupported"])
    module.exit_json(**result)


ARGUMENT_SPEC = dict(
    entries=dict(type="list", elements="dict"),
    unit=dict(type="str"),
    path=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent", "query"]),
    memory_max=dict(type="raw"),
    memory_high=dict(type="raw"),
    swap_max=dict(type="raw"),
    memory_min=dict(type="raw"),
    memory_low=dict(type="raw"),
    oom_group=dict(type="bool"),
    oom_kill_disable=dict(type="bool"),
    pids=dict(type="list", elements="int", default=[]),
    comm=dict(type="str"),
    pattern=dict(type="str"),
    slice=dict(type="str"),
    description=dict(type="str", default="Memory-limited slice (managed by rock5b.oom)"),
    oom_policy=dict(type="str", choices=["continue", "stop", "kill"]),
    managed_oom_swap=dict(type="str", choices=["auto", "kill"]),
    managed_oom_memory_pressure=dict(type="str", choices=["auto", "kill"]),
    managed_oom_memory_pressure_limit=dict(type="str"),
    unsupported=dict(type="str", default="warn", choices=["warn", "fail"]),
    live=dict(type="bool", default=True),
    dropin_name=dict(type="str", default="60-rock5b-memory.conf"),
    restart_moved=dict(type="bool", default=False),
)
# Options every entry shares with the task (the rest are per entry).
SHARED = ("unsupported", "live", "dropin_name", "restart_moved")


class EntryDone(Exception):
    """An entry's exit_json or fail_json: its result."""

    def __init__(self, result):
        super().__init__(result.get("msg", ""))
        self.result = result


class EntryModule:
    """What run_unit and run_raw use of AnsibleModule, for one entry of ``entries``: the entry's
    parameters and check mode, warnings kept, and exit or failure raised as EntryDone."""

    def __init__(self, module, params, check_mode):
        self.module, self.params, self.check_mode = module, params, check_mode
        self.warnings = []

    def run_command(self, *args, **kwargs):
        return self.module.run_command(*args, **kwargs)

    def atomic_move(self, *args, **kwargs):
        return self.module.atomic_move(*args, **kwargs)

    def warn(self, warning):
        self.warnings.append(warning)

    def exit_json(self, **result):
        result.setdefault("changed", False)
        result["failed"] = False
        raise EntryDone(result)

    def fail_json(self, msg, **result):
        result.update(msg=msg, failed=True, changed=False)
        raise EntryDone(result)


def run_one(module, info, params, cache):
    """Run one target (``params`` holds unit or path); exits through ``module``."""
    desired, errors = validate_sizes(params, page_size())
    if errors:
        module.fail_json(msg="invalid settings, nothing was changed: " + "; ".join(errors), errors=errors, cgroup=info)
    ctx = {"params": params, "info": info, "desired": desired, "unsupported": {}, "warnings": [], "cache": cache}
    if params["unit"] is not None:
        run_unit(module, ctx)
    if params["path"] is not None:
        run_raw(module, ctx)
    # state=query without a target: the hierarchy only.
    finish(module, ctx, changed=False)


def entry_label(entry):
    return str(entry.get("unit") or entry.get("path") or "?") if isinstance(entry, dict) else repr(entry)


def run_entries(module, info):
    """``entries``: validate each, check them all, then apply them in order; one result each."""
    spec = dict((key, dict(value)) for key, value in ARGUMENT_SPEC.items() if key not in SHARED + ("entries",))
    spec["state"]["default"] = module.params["state"]
    validator = ArgumentSpecValidator(spec, mutually_exclusive=[("unit", "path")],
                                      required_one_of=[("unit", "path")])
    entries, errors = [], []
    for index, entry in enumerate(module.params["entries"]):
        validated = validator.validate(entry)
        if validated.error_messages:
            errors.append("entry %d (%s): %s" % (index + 1, entry_label(entry), "; ".join(validated.error_messages)))
            continue
        params = dict(validated.validated_parameters)
        params.update((key, module.params[key]) for key in SHARED)
        entries.append((entry, params))
    if errors:
        module.fail_json(msg="invalid entries, nothing was changed: " + "; ".join(errors), errors=errors, cgroup=info)
    cache = {}

    def run(check_mode):
        results, warnings = [], []
        for entry, params in entries:
            proxy = EntryModule(module, params, check_mode)
            result = {"changed": False, "failed": False}  # run_one always exits, through EntryDone
            try:
                run_one(proxy, info, params, cache)
            except EntryDone as done:
                result = done.result
            result["item"] = entry
            results.append(result)
            warnings.extend(proxy.warnings)
        return results, warnings

    changing = [params for _entry, params in entries if params["state"] != "query"]
    if len(changing) > 1 and not module.check_mode:
        checked, _warnings = run(check_mode=True)
        failed = [result for result in checked if result["failed"]]
        if failed:
            module.fail_json(msg="invalid entries, nothing was changed: " + "; ".join(
                "%s: %s" % (entry_label(result["item"]), result["msg"]) for result in failed),
                results=checked, cgroup=info, hierarchy=info["memory"]["hierarchy"])
    results, warnings = run(check_mode=module.check_mode)
    for warning in warnings:
        module.warn(warning)
    diff = []
    for result in results:
        parts = result.pop("diff", [])
        for part in parts if isinstance(parts, list) else [parts]:
            if part.get("before") != part.get("after"):
                diff.append(part)
    outcome = dict(changed=any(result["changed"] for result in results), results=results, cgroup=info,
                   hierarchy=info["memory"]["hierarchy"])
    if diff:
        outcome["diff"] = diff
    failed = [result for result in results if result["failed"]]
    if failed:
        module.fail_json(msg="; ".join("%s: %s" % (entry_label(result["item"]), result["msg"]) for result in failed),
                         **outcome)
    module.exit_json(**outcome)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("unit", "path"), ("entries", "unit"), ("entries", "path")],
        required_if=[("state", "present", ("unit", "path", "entries"), True),
                     ("state", "absent", ("unit", "path", "entries"), True)],
        supports_check_mode=True,
    )
    info = cgroups.detect(PROC_ROOT, FS_ROOT)
    if module.params["entries"] is not None:
        run_entries(module, info)
    run_one(module, info, module.params, {})


if __name__ == "__main__":
    main()
