#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: oom_facts
short_description: Gather a board's memory, OOM protection and OOM kill history as facts
version_added: 0.1.0
description:
  - Returns one fact, C(rock5b_oom), describing what decides whether a board survives memory
    exhaustion, and what the OOM killer did already.
  - Memory and overcommit (C(MemTotal), C(MemAvailable), C(Committed_AS), C(CommitLimit)), swap
    devices from C(/proc/swaps) and zram devices from C(/sys/block/zram*).
  - The cgroup hierarchy (v2, v1 or hybrid) and whether the memory controller is usable.
  - Whether PSI works (and why not), with the current memory pressure.
  - The kernel's OOM kill counter (C(oom_kill) in C(/proc/vmstat)).
  - The processes the OOM killer would pick first (highest C(oom_score)), with their
    C(oom_score_adj), RSS and systemd unit.
  - OOM kill events from the kernel log since a given time, read from journald
    (C(journalctl -o json)) when it runs, else from C(dmesg), with the victim, invoking task, constraint,
    memory cgroups, RSS at the kill, and whether it was a memory cgroup (memcg) OOM.
  - Which userspace OOM killers run (this collection's monitor, systemd-oomd, earlyoom, nohang),
    how each is configured, and the state of C(rock5b-oom-monitor.service) with its level and
    resolved thresholds.
  - The multi-gen LRU (C(/sys/kernel/mm/lru_gen)), whether it is on and its C(min_ttl_ms).
  - Changes nothing.
author:
  - rock5b.oom contributors (!UNKNOWN)
options:
  top_n:
    description:
      - How many processes to list, highest C(oom_score) first. V(0) lists none.
    type: int
    default: 10
  log_source:
    description:
      - Where to read OOM events from.
      - V(auto) uses journald when C(journalctl) is installed and journald runs
        (C(/run/systemd/journal) exists), else C(dmesg); when journalctl fails it falls back to
        dmesg with a warning.
      - V(journal) reads C(journalctl --no-pager -o json) kernel entries. Only the journal keeps
        events from earlier boots, and only when it is persistent (C(/var/log/journal)).
      - V(dmesg) reads the kernel ring buffer (this boot only; it may have wrapped).
      - V(none) skips the kernel log.
    type: str
    choices: [auto, journal, dmesg, none]
    default: auto
  since:
    description:
      - The oldest OOM event to return. V(boot) means this boot; V(all) everything the log source
        holds; an age such as V(-24h), V(-30m) or V(-7d); seconds since the epoch (V(@1714557600));
        or an ISO 8601 time (V(2024-05-01T10:00:00+02:00); without an offset it is the board's
        local time).
    type: str
    default: boot
  max_events:
    description:
      - Keep only the newest this many OOM events (RV(ansible_facts.rock5b_oom.oom_events)); older
        ones are counted in C(oom_log.events_total) and C(oom_log.truncated) is true. From V(0)
        (count only) to V(10000).
      - Bounds the facts a board with a long OOM history returns.
    type: int
    default: 50
  max_bytes:
    description:
      - Read at most this many bytes of kernel log output, line by line (never the whole log at
        once), then stop, set C(oom_log.truncated) and warn. From V(4096) to V(1073741824) (1 GiB).
      - The journal is read newest first, so the oldest entries are the ones left out; dmesg is
        read oldest first (it holds only this boot, in a ring buffer of usually under 1 MiB).
      - Bounds the time and memory the module takes on a board with a huge journal.
    type: int
    default: 16777216
  monitor_config:
    description:
      - The config file of the rock5b.oom.monitor role's program (its C(monitor_config_path)); its
        C(metrics.path) names the textfile the thresholds and action counters of
        RV(ansible_facts.rock5b_oom.monitor) are read from.
    type: path
    default: /etc/rock5b-oom/monitor.json
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    support: full
    platforms: posix
notes:
  - Reading the kernel log needs root on Debian, which sets C(kernel.dmesg_restrict=1);
    use C(become). Without it the events are left out with a warning.
  - The time of an event is the time of its kill line. dmesg times are computed from the boot
    time and drift after a suspend; journald times do not.
seealso:
  - module: rock5b.oom.memory_pressure
  - name: The OOM killer
    description: How the kernel picks its victim.
    link: https://docs.kernel.org/admin-guide/mm/concepts.html#oom-killer
"""

EXAMPLES = r"""
- name: Gather OOM facts
  rock5b.oom.oom_facts:
  become: true

- name: Show the last week's OOM kills from the persistent journal
  rock5b.oom.oom_facts:
    since: -7d
    log_source: journal
    top_n: 5
  become: true

- name: Report the victims
  ansible.builtin.debug:
    msg: "{{ item.time }} {{ item.kind }} OOM killed {{ item.victim.comm }} ({{ item.victim.pid }})"
  loop: "{{ rock5b_oom.oom_events }}"
  when: item.victim is not none

- name: Boards where sshd is not protected
  ansible.builtin.debug:
    msg: "{{ rock5b_oom.top_processes | selectattr('comm', 'equalto', 'sshd') | list }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's variables.
  returned: always
  type: complex
  contains:
    rock5b_oom:
      description: All the facts of this module.
      returned: always
      type: complex
      contains:
        kernel:
          description: The running kernel's release.
          type: dict
          returned: always
          sample: {"release": "6.1.0-18-arm64"}
        memory:
          description: /proc/meminfo fields in kB (null when the kernel lacks the field), and MemAvailable as a percentage of MemTotal.
          type: dict
          returned: always
          sample: {"mem_total_kb": 3995120, "mem_available_kb": 3100000, "mem_free_kb": 2500000,
                   "committed_as_kb": 900000, "commit_limit_kb": 1997560, "swap_total_kb": 0,
                   "swap_free_kb": 0, "mem_available_percent": 77.6}
        swap:
          description: Swap devices from /proc/swaps (path, type, size_kb, used_kb, priority, zram).
          type: list
          elements: dict
          returned: always
          sample: [{"path": "/dev/zram0", "type": "partition", "size_kb": 1997556, "used_kb": 1024,
                    "priority": 100, "zram": true}]
        zram:
          description:
            - zram devices from /sys/block (sizes in kB). C(comp_algorithm) is the selected one;
              the data sizes come from mm_stat and are null on kernels without it.
          type: list
          elements: dict
          returned: always
          sample: [{"device": "zram0", "disksize_kb": 1997556, "comp_algorithm": "zstd",
                    "orig_data_kb": 40960, "compr_data_kb": 10240, "mem_used_kb": 11264,
                    "used_as_swap": true}]
        cgroup:
          description:
            - The cgroup hierarchy, as rock5b.oom's cgroups helper sees it. C(version) is C(v2),
              C(v1), C(hybrid) or C(none); C(memory.available) says whether memory limits can be set.
          type: dict
          returned: always
          sample: {"version": "v2", "unified_mount": "/sys/fs/cgroup", "v1_mounts": {},
                   "unified_controllers": ["cpuset", "cpu", "io", "memory", "pids"],
                   "memory": {"available": true, "hierarchy": "v2", "mount": "/sys/fs/cgroup",
                              "kernel_enabled": true,
                              "reason": "the cgroup v2 root at /sys/fs/cgroup offers the memory controller"},
                   "source": "mountinfo"}
        psi:
          description:
            - Whether PSI works (C(available), C(state), C(reason), C(hint), as in
              rock5b.oom.memory_pressure) and the current memory pressure (C(memory), null when
              unavailable).
          type: dict
          returned: always
          sample: {"available": false, "state": "disabled", "memory": null,
                   "reason": "no /proc/pressure: PSI is disabled by psi=0 on the kernel command line",
                   "hint": "replace psi=0 with psi=1 on the kernel command line and reboot"}
        vmstat:
          description: C(oom_kill), the number of OOM kills since boot (null before Linux 4.13).
          type: dict
          returned: always
          sample: {"oom_kill": 2}
        top_processes:
          description:
            - The O(top_n) processes with the highest C(oom_score), highest first; kernel
              threads are left out. C(rss_kb) is VmRSS; C(unit) is the systemd unit or null.
          type: list
          elements: dict
          returned: always
          sample: [{"pid": 1234, "comm": "myapp", "oom_score": 912, "oom_score_adj": 0,
                    "rss_kb": 3740048, "unit": "myapp.service"}]
        oom_events:
          description:
            - The newest O(max_events) OOM events since O(since), oldest first. C(kind) is C(global) or C(memcg) (a
              memory cgroup hit its limit); C(victim) has pid, comm, uid, total_vm_kb,
              anon_rss_kb, file_rss_kb, shmem_rss_kb, pgtables_kb and oom_score_adj (null where
              an old kernel does not print them); C(invoker) is the task whose allocation
              started the OOM (comm, pid, uid, gfp_mask, gfp_flags, order, oom_score_adj) or
              null when the kernel rate-limited the report header; C(reaped) is the victim's RSS
              after the OOM reaper, or null.
            - Other keys are time (ISO 8601, UTC), timestamp (epoch), boot_id (journal only),
              memcg, message, constraint, nodemask, cpuset, mems_allowed, oom_memcg,
              task_memcg, group_kill (memory.oom.group), memcg_usage_kb, memcg_limit_kb,
              memcg_failcnt.
          type: list
          elements: dict
          returned: always
          sample: [{"time": "2024-05-01T10:00:00.250400+00:00", "kind": "memcg", "memcg": true,
                    "message": "Memory cgroup out of memory", "constraint": "CONSTRAINT_MEMCG",
                    "oom_memcg": "/system.slice/sensor-logger.service",
                    "task_memcg": "/system.slice/sensor-logger.service",
                    "victim": {"pid": 2201, "comm": "python3", "uid": 998, "total_vm_kb": 392844,
                               "anon_rss_kb": 258400, "file_rss_kb": 1648, "shmem_rss_kb": 0,
                               "pgtables_kb": 620, "oom_score_adj": 0},
                    "invoker": {"comm": "python3", "pid": 2201, "uid": null, "gfp_mask": "0xcc0",
                                "gfp_flags": "GFP_KERNEL", "order": 0, "oom_score_adj": 0}}]
        oom_log:
          description:
            - How the events were read. C(source) is C(journal), C(dmesg) or C(none); C(since)
              the oldest time asked for (ISO 8601, UTC, null for all); C(error) why the log
              could not be read (null when it could).
            - C(events) is the number of events returned, C(events_total) the number found in the
              log that was read; C(bytes_read) how much log was read. C(truncated) is true when
              a cap was hit, events beyond O(max_events) or log beyond O(max_bytes) (then
              C(bytes_read) is close to C(max_bytes) and a warning says so).
          type: dict
          returned: always
          sample: {"source": "journal", "since": "2024-05-01T07:53:20+00:00", "error": null, "events": 1,
                   "events_total": 1, "truncated": false, "bytes_read": 13821, "max_events": 50,
                   "max_bytes": 16777216}
        killers:
          description:
            - The userspace OOM killers running, by process name or systemd unit, out of
              C(rock5b-oom-monitor), C(systemd-oomd), C(earlyoom) and C(nohang).
          type: list
          elements: str
          returned: always
          sample: ["rock5b-oom-monitor"]
        killer_config:
          description:
            - How each killer of RV(ansible_facts.rock5b_oom.killers) is configured, by its name.
            - C(systemd-oomd) - C(files) (the oomd.conf and C(oomd.conf.d/*.conf) files it reads, in the order it
              applies them), C(settings) (C(SwapUsedLimit), C(DefaultMemoryPressureLimit),
              C(DefaultMemoryPressureDurationSec) in effect, the built-in default where no file sets one),
              C(set_in) (the file that set each, null for the default) and C(managed_units) (the units whose
              files set C(ManagedOOM*=), with those settings).
            - C(earlyoom) - C(pid), C(args) (its command line after the program) and the fields parsed from them
              - C(mem_term_percent), C(mem_kill_percent), C(swap_term_percent), C(swap_kill_percent) (C(-m),
              C(-s)), C(mem_term_kib), C(mem_kill_kib), C(swap_term_kib), C(swap_kill_kib) (C(-M), C(-S)), the
              SIGKILL value half the SIGTERM one where only that is given, null where not given (earlyoom's
              default is C(-m 10 -s 10)); C(avoid), C(prefer), C(ignore) (regular expressions, null when not
              given), C(dryrun), C(other) (the arguments not parsed).
            - C(nohang) - C(pid), C(args) and C(config), the file it reads (its C(--config), else the first of
              its default paths that exists; null when none does).
            - C(rock5b-oom-monitor) - C(config) (O(monitor_config)), C(metrics_path), C(warn_bytes), C(critical_bytes).
          type: dict
          returned: always
          sample: {"earlyoom": {"pid": 612, "args": ["-r", "3600", "-m", "5", "--avoid", "(^|/)(sshd)$"],
                                "mem_term_percent": 5, "mem_kill_percent": 2.5, "swap_term_percent": null,
                                "swap_kill_percent": null, "mem_term_kib": null, "mem_kill_kib": null,
                                "swap_term_kib": null, "swap_kill_kib": null, "avoid": "(^|/)(sshd)$",
                                "prefer": null, "ignore": null, "dryrun": false, "other": ["-r", "3600"]}}
        lru_gen:
          description:
            - The multi-gen LRU. C(present) is false (the rest null) where the kernel has no
              C(/sys/kernel/mm/lru_gen); C(enabled) is its main switch, C(enabled_mask) the component
              mask as the kernel shows it, C(min_ttl_ms) its thrashing protection (0 off).
          type: dict
          returned: always
          sample: {"present": true, "enabled": true, "enabled_mask": "0x0007", "min_ttl_ms": 0}
        monitor:
          description:
            - C(rock5b-oom-monitor.service). C(state) is C(active), C(inactive), C(failed) or
              C(absent) (no such unit); C(status) its last systemd status text; C(level) (C(ok),
              C(warn), C(critical)) is known only while it is active; C(actions) the actions it
              counted since it started, by C(action result), the counters above zero.
            - C(last_action) is the latest action it took, from its textfile (so also after it
              stopped), or null - C(action) (C(warn), C(critical), C(drop_caches), C(kill),
              C(kill_dry_run), C(hook)), C(target) (C(comm (pid N)) for a kill, the event for a
              hook, else null) and C(time) (seconds since the epoch, the board's clock).
            - C(warn_bytes) and C(critical_bytes) are its resolved thresholds and C(metrics_path)
              its textfile (from O(monitor_config)), null when unknown.
          type: dict
          returned: always
          sample: {"unit": "rock5b-oom-monitor.service", "state": "active", "level": "ok",
                   "status": "ok: 2.9 GiB available, PSI trigger armed",
                   "actions": {"drop_caches ok": 1, "kill ok": 1},
                   "last_action": {"action": "kill", "target": "chromium (pid 4242)", "time": 1765000060.5},
                   "warn_bytes": 209715200, "critical_bytes": 104857600,
                   "metrics_path": "/var/lib/prometheus/node-exporter/rock5b_oom_monitor.prom"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import hierarchy as cgroup_hierarchy
from ansible_collections.rock5b.oom.plugins.module_utils import (
    errors, hostfs, kernel_log_source, killer_config, memory_state, numbers, oom_killers, paths,
)
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import lru_gen, vmstat, zram
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.meminfo import read_swaps
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import list_processes


def gather(module, fs):
    """(the rock5b_oom fact, warnings)."""
    params = module.params
    top_n = numbers.whole_number(params["top_n"], "top_n", minimum=0)
    problem = paths.absolute_problem(params["monitor_config"], "monitor_config")
    if problem:
        raise errors.ModuleError(problem)
    max_events = numbers.whole_number(params["max_events"], "max_events", 0, kernel_log_source.MAX_MAX_EVENTS)
    max_bytes = numbers.whole_number(params["max_bytes"], "max_bytes", kernel_log_source.MIN_MAX_BYTES,
                                     kernel_log_source.MAX_MAX_BYTES)

    swaps = read_swaps(fs.proc)
    processes = list_processes(fs.proc)
    events, log_facts, warnings = kernel_log_source.oom_log(
        module, fs, params["log_source"], params["since"].strip(), vmstat.boot_time(fs.proc), max_events, max_bytes)
    facts = {
        "kernel": {"release": (hostfs.read_text(fs.proc_path("sys", "kernel", "osrelease")) or "").strip() or None},
        "memory": memory_state.memory_facts(fs),
        "swap": swaps,
        "zram": zram.read_zram(fs.sys, swaps),
        "cgroup": cgroup_hierarchy.detect(fs),
        "psi": memory_state.psi_facts(fs),
        "vmstat": {"oom_kill": vmstat.oom_kills(fs.proc)},
        "top_processes": memory_state.top_processes(fs, top_n, processes),
        "oom_events": events,
        "oom_log": log_facts,
        "lru_gen": lru_gen.read_lru_gen(fs.sys),
    }
    facts["monitor"] = oom_killers.monitor_facts(module, fs, processes, params["monitor_config"])
    facts["killers"] = oom_killers.running_killers(processes, facts["monitor"]["state"] == "active")
    facts["killer_config"] = killer_config.killer_config(fs, processes, facts["killers"], facts["monitor"],
                                                         params["monitor_config"])
    return facts, warnings


def main():
    module = AnsibleModule(
        argument_spec=dict(
            top_n=dict(type="int", default=10),
            log_source=dict(type="str", choices=["auto", "journal", "dmesg", "none"], default="auto"),
            since=dict(type="str", default="boot"),
            max_events=dict(type="int", default=kernel_log_source.DEFAULT_MAX_EVENTS),
            max_bytes=dict(type="int", default=kernel_log_source.DEFAULT_MAX_BYTES),
            monitor_config=dict(type="path", default=oom_killers.DEFAULT_MONITOR_CONFIG),
        ),
        supports_check_mode=True,
    )
    fs = hostfs.host()
    with errors.failing_on(module):
        facts, warnings = gather(module, fs)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"rock5b_oom": facts})


if __name__ == "__main__":
    main()
