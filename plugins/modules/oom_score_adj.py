#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: oom_score_adj
short_description: Set the OOM killer's score adjustment of running processes, and persist it per systemd unit
version_added: 0.1.0
description:
  - Selects processes by pid, comm, command line, systemd unit or pidfile and sets their
    C(/proc/<pid>/oom_score_adj) (-1000 never kill ... 1000 kill first) idempotently, without
    restarting them.
  - Optionally persists the value for a systemd unit as a drop-in
    C(/etc/systemd/system/<unit>.d/50-oom-score-adj.conf) holding C([Service]) C(OOMScoreAdjust=<value>),
    so the next start of the unit gets it too. Vendor unit files are never edited. Run
    C(systemctl daemon-reload) after a drop-in changed (RV(dropins_changed) says when).
  - Takes one target (the selectors at the top level) or a list of them (O(targets)), so a
    whole host's scores are one module call.
  - Everything is validated, and every target resolved, before anything is written. A process
    that exits between the listing and the write is skipped, not an error. When the kernel
    refuses a write, the values written so far in this run are restored and the task fails
    (or, with O(on_denied=warn), the write is skipped with a warning).
  - Warns when processes forked by a protected process carry the protective score too
    (the value is inherited across C(fork)), and when a unit's own configuration sets
    C(OOMScoreAdjust=) in a way that overrides the drop-in or makes every process of the unit
    inherit a negative score.
author:
  - rock5b.oom contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - rock5b.oom.state_module
options:
  pid:
    description: Select the process with this pid.
    type: int
  comm:
    description:
      - Select processes whose C(comm) (C(/proc/<pid>/comm), what C(pgrep) and C(ps -o comm)
        match) equals this. The kernel keeps at most 15 characters of it; a longer value is
        compared by its first 15.
      - Called comm, not name, because it is not the executable's path nor argv[0], and so that
        a target's O(targets[].name) can label it.
    type: str
  pattern:
    description:
      - Select processes whose command line (arguments joined by spaces) matches this Python
        regular expression (C(re.search)). Kernel threads and zombies are never selected, and
        neither is this module's own process.
    type: str
  unit:
    description:
      - Select every process of this systemd unit, from the unit named in
        C(/proc/<pid>/cgroup) (cgroup v2 C(0::/system.slice/ssh.service), v1
        C(1:name=systemd:/system.slice/ssh.service)).
      - A name without a type suffix means C(.service). An alias (C(sshd.service) on Debian)
        is resolved to the unit it names through the unit file symlinks.
    type: str
  pidfile:
    description:
      - Select the process whose pid this file holds. A missing pidfile or a pid that is not
        running selects nothing.
    type: path
  value:
    description:
      - The oom_score_adj to set, -1000 to 1000. Required when O(state=present) (and a
        target is not O(targets[].state=absent)).
    type: int
    aliases: [score]
  scope:
    description:
      - Which of the selected processes change.
      - V(matched) every process the selectors match.
      - V(main) only the matched processes whose parent is not matched - the daemon itself, not
        the sessions or workers it forked. For a unit this is what systemd calls its main
        process (C(MainPID)) for ordinary services.
      - V(tree) the matched processes and all their descendants, matched or not.
      - The default for every target that does not set its own.
    type: str
    choices: [matched, main, tree]
    default: matched
  persist:
    description:
      - For a target with a O(unit), V(true) writes the drop-in with C(OOMScoreAdjust=<value>), V(false) removes
        this module's drop-in (or keeps only its O(managed_oom_preference) line), unset leaves files alone.
      - The default for every target that does not set its own (ignored for targets without a
        unit).
    type: bool
  on_no_match:
    description:
      - What happens when a target selects no process.
      - V(fail) fails the task before anything is changed, naming every target that matched
        nothing; V(warn) and V(ignore) carry on (with a warning, or silently).
      - A persisted unit that exists but is not running still gets its drop-in; a unit that is
        not installed gets none.
      - The default for every target that does not set its own.
    type: str
    choices: [fail, warn, ignore]
    default: fail
  on_denied:
    description:
      - What happens when the kernel refuses a value (C(EACCES)). Lowering a score below the
        floor a privileged writer set for the process (C(oom_score_adj_min), 0 for most
        processes) needs C(CAP_SYS_RESOURCE), which root in a container usually lacks; raising
        a score never does.
      - V(fail) restores the values written in this run and fails, naming the capability.
        Lowerings are written first, so a refusal normally comes before any other write.
      - V(warn) skips refused writes, reports them in RV(denied) and warns; the other values and
        the drop-ins are still applied.
      - Check mode predicts refusals when this process lacks C(CAP_SYS_RESOURCE) (bit 24 of
        CapEff in C(/proc/self/status)), assuming a floor of 0, since the kernel does not show
        the real one.
    type: str
    choices: [fail, warn]
    default: fail
  state:
    description:
      - V(present) sets the values (and drop-ins); V(query) only reports, for every target,
        whatever the targets say.
    type: str
    choices: [present, query]
    default: present
  targets:
    description:
      - Several targets in one call, instead of the selectors at the top level. Each target's
        selectors combine as for a single target; the targets are independent of each other.
      - A process selected by two targets with different values, or a unit persisted by two
        targets with different values, fails the task before anything changes.
    type: list
    elements: dict
    suboptions:
      name:
        description: A label for the target, used in the results and messages.
        type: str
      pid:
        description: As O(pid).
        type: int
      comm:
        description: As O(comm).
        type: str
      pattern:
        description: As O(pattern).
        type: str
      unit:
        description: As O(unit).
        type: str
      pidfile:
        description: As O(pidfile).
        type: path
      value:
        description: As O(value).
        type: int
        aliases: [score]
      scope:
        description: As O(scope); defaults to the top-level O(scope).
        type: str
        choices: [matched, main, tree]
      persist:
        description: As O(persist); defaults to the top-level O(persist).
        type: bool
      on_no_match:
        description: As O(on_no_match); defaults to the top-level O(on_no_match).
        type: str
        choices: [fail, warn, ignore]
      state:
        description:
          - V(present) as O(state=present).
          - V(absent) removes this module's drop-in of the O(targets[].unit) (the only selector
            it needs). Running processes keep their score until they restart, since the score
            they would have had is not known; set O(targets[].value=0) to reset them now.
        type: str
        choices: [present, absent]
        default: present
      allow_broad:
        description: As O(allow_broad), for this target; defaults to the top-level O(allow_broad).
        type: bool
  dropin_name:
    description: File name of the drop-in in C(/etc/systemd/system/<unit>.d/).
    type: str
    default: 50-oom-score-adj.conf
  max_protected:
    description:
      - The most processes one target may give a negative (protective) value. A target past it
        fails the task before anything changes, as does a negative value for a O(pattern) that
        matches every command line (C(.*), C(^), C(.)) or for a process of a user's session
        (C(session-*.scope), C(user@*.service)), since with nothing killable left the kernel panics
        on the next OOM. O(allow_broad) lifts all three.
    type: int
    default: 16
  allow_broad:
    description: Lift the O(max_protected) guards; the default of O(targets[].allow_broad).
    type: bool
    default: false
  managed_oom_preference:
    description:
      - Also write C(ManagedOOMPreference=) into the drop-ins of units given a negative value, since
        systemd-oomd ignores oom_score_adj. V(omit) (oomd never picks the unit) or V(avoid) (only when
        nothing else is left) for every such unit; V(auto) V(omit) for -1000 and V(avoid) for the other
        negative values; V(none) writes none (and drops one this module wrote). Never for a value of 0 or more.
      - Written only where C(systemd-oomd.service) is installed and not masked, or with
        O(assume_systemd_oomd=true); left out with a warning on systemd older than 248.
      - systemd-oomd honours it only for units whose cgroup is owned by root (the system
        manager's units, not a user manager's).
    type: str
    choices: [none, auto, avoid, omit]
    default: none
  assume_systemd_oomd:
    description:
      - Write O(managed_oom_preference) as if C(systemd-oomd.service) were installed (the run that
        installs it, so check mode predicts that run).
    type: bool
    default: false
notes:
  - Selectors given together must all match (intersection). C(unit=ssh.service) plus
    C(comm=sshd) narrows the unit to the sshd processes; for a union, give several targets.
    C(pid) and C(pidfile) name one process each and cannot be combined.
  - oom_score_adj is inherited across C(fork). systemd's C(OOMScoreAdjust=) is applied to every
    process the unit starts and so reaches everything they fork. For a daemon that starts
    user sessions or jobs (sshd, cron, a CI runner) a negative value would make those
    unkillable too - protect the daemon's main process live (O(scope=main), O(persist=false))
    instead. OpenSSH's sshd sets its own listener to -1000 and gives the sessions it forks the
    score it started with, so an C(OOMScoreAdjust=-1000) on C(ssh.service) would give every
    login -1000.
  - The kernel refuses to lower a score below the value a privileged writer last set for the
    process (C(oom_score_adj_min)) unless the writer has C(CAP_SYS_RESOURCE); raising is
    always allowed.
seealso:
  - name: proc(5), /proc/pid/oom_score_adj
    description: What the value means and who may change it.
    link: https://man7.org/linux/man-pages/man5/proc_pid_oom_score_adj.5.html
  - name: systemd.exec(5), OOMScoreAdjust=
    description: The persistent form, per unit.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html#OOMScoreAdjust=
  - name: systemd.resource-control(5), ManagedOOMPreference=
    description: What systemd-oomd spares.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.resource-control.html#ManagedOOMPreference=
"""

EXAMPLES = r"""
- name: Make a memory-hungry batch job the first victim
  rock5b.oom.oom_score_adj:
    comm: chromium
    value: 800
    on_no_match: ignore

- name: Protect sshd's listener only (not the logins it forks), live
  rock5b.oom.oom_score_adj:
    unit: ssh.service
    comm: sshd
    scope: main
    value: -1000

- name: Protect mosquitto now and at every start (drop-in), and the monitor when installed
  rock5b.oom.oom_score_adj:
    targets:
      - name: mosquitto
        unit: mosquitto.service
        value: -900
        persist: true
      - name: monitor
        unit: rock5b-oom-monitor.service
        value: -900
        persist: true
        on_no_match: ignore
  register: oom_scores
  notify: Reload systemd units

- name: Report the scores of a pidfile's process and its children
  rock5b.oom.oom_score_adj:
    pidfile: /run/nginx.pid
    scope: tree
    state: query
  register: nginx_scores
"""

RETURN = r"""
processes:
  description: Every selected process, by pid.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The pid.
      type: int
    comm:
      description: Its comm.
      type: str
    unit:
      description: Its systemd unit (V(null) outside any).
      type: str
    target:
      description: The target that selected it (its name, or C(targets[i])).
      type: str
    value:
      description: The value asked for (V(null) in query mode).
      type: int
    before:
      description: oom_score_adj before the run.
      type: int
    after:
      description: oom_score_adj after the run, as read back (predicted in check mode).
      type: int
    changed:
      description: Whether the value changed (would change in check mode).
      type: bool
    skipped:
      description: V(null), or why it was not written - V(vanished) (exited, or its pid was reused) or V(denied).
      type: str
  sample: [{"pid": 512, "comm": "sshd", "unit": "ssh.service", "target": "sshd", "value": -1000,
            "before": 0, "after": -1000, "changed": true, "skipped": null}]
targets:
  description: Each target as resolved, with the pids it selected.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "sshd", "unit": "ssh.service", "unit_exists": true, "state": "present",
            "value": -1000, "scope": "main", "persist": false, "pids": [512]}]
dropins:
  description: Drop-ins written, removed or checked.
  returned: always
  type: list
  elements: dict
  sample: [{"unit": "mosquitto.service", "path": "/etc/systemd/system/mosquitto.service.d/50-oom-score-adj.conf",
            "state": "present", "changed": true, "target": "mosquitto", "managed_oom_preference": "avoid"}]
dropins_changed:
  description: Whether a drop-in was (or in check mode would be) written or removed; run C(systemctl daemon-reload) then.
  returned: always
  type: bool
vanished:
  description: Pids that exited (or were reused) between the listing and the write.
  returned: always
  type: list
  elements: int
denied:
  description: Pids whose write the kernel refused (or, without CAP_SYS_RESOURCE, would refuse), with O(on_denied=warn).
  returned: always
  type: list
  elements: int
inherited:
  description: Processes forked from a protected process (not selected) that carry its negative score too.
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 900, "comm": "bash", "oom_score_adj": -1000, "ancestor": 512, "target": "sshd"}]
overrides:
  description: Unit configuration that sets OOMScoreAdjust= against a target's intent.
  returned: always
  type: list
  elements: dict
  sample: [{"unit": "ssh.service", "path": "/etc/systemd/system/ssh.service.d/override.conf", "value": "-1000",
            "reason": "every process of ssh.service, and what it forks, starts with -1000"}]
cap_sys_resource:
  description: Whether this process holds CAP_SYS_RESOURCE (V(null) when it cannot be told).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils import errors, hostfs, oom_preference, oom_score_apply
# A target's options (its selectors among them) are oom_score's, with the rules it checks them by.
from ansible_collections.rock5b.oom.plugins.module_utils.oom_score import ON_NO_MATCH, SCOPES, SELECTOR_OPTIONS, TARGET_OPTIONS
from ansible_collections.rock5b.oom.plugins.module_utils.selection import MAX_PROTECTED

ARGUMENT_SPEC = dict(
    SELECTOR_OPTIONS,
    scope=dict(type="str", choices=SCOPES, default="matched"),
    persist=dict(type="bool"),
    on_no_match=dict(type="str", choices=ON_NO_MATCH, default="fail"),
    on_denied=dict(type="str", choices=["fail", "warn"], default="fail"),
    state=dict(type="str", choices=["present", "query"], default="present"),
    targets=dict(type="list", elements="dict", options=TARGET_OPTIONS),
    dropin_name=dict(type="str", default="50-oom-score-adj.conf"),
    max_protected=dict(type="int", default=MAX_PROTECTED),
    allow_broad=dict(type="bool", default=False),
    managed_oom_preference=dict(type="str", choices=list(oom_preference.CHOICES), default="none"),
    assume_systemd_oomd=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("targets", key) for key in SELECTOR_OPTIONS] + [("pid", "pidfile")],
        required_one_of=[("targets", "pid", "comm", "pattern", "unit", "pidfile")],
        supports_check_mode=True,
    )
    # Validate every target, select, plan, then write (oom_score, oom_score_apply).
    with errors.failing_on(module):
        result, warnings = oom_score_apply.run(hostfs.host(), module.params, module.check_mode)
        for warning in warnings:
            module.warn(warning)
        module.exit_json(**result)


if __name__ == "__main__":
    main()
