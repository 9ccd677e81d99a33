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
  - Everything is validated before anything changes - sizes (bytes or 1024-based units, at most
    1024T; V(true), NaN or infinity are not sizes), units, and the order
    O(memory_min) <= O(memory_low) <= O(memory_high) <= O(memory_max).
  - B(Many targets in one call) (O(entries), what the C(rock5b.oom.cgroup_limits) role uses). Every
    entry is first read and planned; only when none fails are they applied, in order, and a failure
    while applying undoes the entries applied before it. One module execution per board instead of
    one per unit, which is most of a converged run's cost.
author:
  - rock5b.oom contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - rock5b.oom.state_module
  - rock5b.oom.systemd_unit_limits
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
      - Every entry is checked and planned before the first one changes anything; an invalid
        entry fails the task naming it, with nothing changed. Results are in RV(results), the
        hierarchy in RV(cgroup) and RV(hierarchy). An empty list reports the hierarchy only.
      - Mutually exclusive with O(unit) and O(path).
    type: list
    elements: dict
  unit:
    description:
      - The systemd unit to limit - a C(.service), C(.scope) or C(.slice); a name without a suffix
        means C(.service). Mutually exclusive with O(path). A name beginning with C(-) is refused
        (C(-.slice), the root slice, takes no limits), and so is a slice name with an empty part (C(a--b.slice)).
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
        V(max) for no limit. At least 1M and at most 1024T (1 PiB) - a bigger number is a typo the
        kernel would wrap to a tiny limit, so it is refused. Rounded down to whole pages, as the kernel does.
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
        limit. At most 1024T, as every size. On cgroup v1 it is written as
        C(memory.memsw.limit_in_bytes) = O(memory_max) + O(swap_max), which needs a finite
        O(memory_max) and a kernel booted with C(swapaccount=1); a raw cgroup's O(memory_max) given
        without O(swap_max) keeps the swap it allows (V(0) stays V(0)).
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
        expression. With O(comm), both must match. PID 1, the module's own process and its parents
        (up to the SSH daemon Ansible came in through) are never moved.
    type: str
  unsupported:
    description:
      - What to do with a setting that has no effect on this host (hierarchy, systemd version,
        systemd-oomd missing) - V(warn) leaves it out (drop-ins keep it, so the same file works
        after a move to cgroup v2) and warns; V(fail) fails before any change.
    type: str
    choices: [warn, fail]
    default: warn
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils import errors, memory_targets

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


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("unit", "path"), ("entries", "unit"), ("entries", "path")],
        required_if=[("state", "present", ("unit", "path", "entries"), True),
                     ("state", "absent", ("unit", "path", "entries"), True)],
        supports_check_mode=True,
    )
    with errors.failing_on(module):
        result, warnings = memory_targets.run(module, ARGUMENT_SPEC)
        for warning in warnings:
            module.warn(warning)
        module.exit_json(**result)


if __name__ == "__main__":
    main()
