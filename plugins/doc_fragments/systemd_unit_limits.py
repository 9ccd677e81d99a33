# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The options of rock5b.oom.cgroup_memory that act on a systemd unit (O(unit), or an entry with unit)."""

    DOCUMENTATION = r"""
options:
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
"""
