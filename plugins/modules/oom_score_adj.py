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
      - For a target with a O(unit), V(true) writes the drop-in with C(OOMScoreAdjust=<value>),
        V(false) removes this module's drop-in if there is one, unset leaves files alone.
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
  dropin_name:
    description: File name of the drop-in in C(/etc/systemd/system/<unit>.d/).
    type: str
    default: 50-oom-score-adj.conf
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
            "state": "present", "changed": true}]
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

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils.atomic_file import write_atomically
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import (
    DENIED, OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN, ProcessGone, descendants, has_capability,
    list_processes, main_processes, normalize_unit, read_pidfile, select, valid_unit,
    write_oom_score_adj,
)

PROC_ROOT = "/proc"
FS_ROOT = "/"
# Never select the module's own process (a pattern such as "python" would match it).
SELF_PID = os.getpid()
DROPIN_BASE = "/etc/systemd/system"
# systemd's system unit search path, highest precedence first (systemd.unit(5)); /lib for
# Debian systems without merged /usr.
UNIT_DIRS = (
    "/etc/systemd/system.control", "/run/systemd/system.control", "/run/systemd/transient",
    "/run/systemd/generator.early", "/etc/systemd/system", "/etc/systemd/system.attached",
    "/run/systemd/system", "/run/systemd/system.attached", "/run/systemd/generator",
    "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/run/systemd/generator.late",
    "/lib/systemd/system",
)
HEADER = ("# Managed by Ansible (rock5b.oom.oom_score_adj). Local edits are overwritten on the next run;\n"
          "# set the score through the protect_daemons_list variable instead.\n")
SELECTORS = ("pid", "comm", "pattern", "unit", "pidfile")
TARGET_KEYS = ("name", "pid", "comm", "pattern", "unit", "pidfile", "value", "scope", "persist",
               "on_no_match", "state")
DROPIN_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]+\.conf$")
DENIED_HINT = ("lowering oom_score_adj below the floor a privileged writer set (0 for most processes) needs "
               "CAP_SYS_RESOURCE, which root in a container usually lacks")


def predict_denied(before, value, cap):
    """Whether the kernel is expected to refuse ``before`` -> ``value`` for a writer with ``cap``.

    Without CAP_SYS_RESOURCE a score can go down only to the process's oom_score_adj_min,
    the value a privileged writer last set (0 when none did); /proc does not show it, so 0
    is assumed.
    """
    return cap is False and value < before and value < 0


def _under(path):
    return os.path.join(FS_ROOT, path.lstrip("/"))


def render_dropin(value):
    return "%s[Service]\nOOMScoreAdjust=%d\n" % (HEADER, value)


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def resolve_unit(unit):
    """Where ``unit`` is defined: dict(name, canonical, exists, masked, path)."""
    info = {"name": unit, "canonical": unit, "exists": False, "masked": False, "path": None}
    candidates = [unit]
    prefix, at, rest = unit.partition("@")
    if at and not rest.startswith("."):
        candidates.append("%s@.%s" % (prefix, rest.rsplit(".", 1)[1]))  # the template
    for name in candidates:
        for directory in UNIT_DIRS:
            path = os.path.join(directory, name)
            full = _under(path)
            if not os.path.lexists(full):
                continue
            info.update(exists=True, path=path)
            for _hop in range(10):
                if not os.path.islink(full):
                    break
                link = os.readlink(full)
                if link == "/dev/null":
                    info["masked"] = True
                    return info
                path = link if link.startswith("/") else os.path.join(os.path.dirname(path), link)
                full = _under(os.path.normpath(path))
            target = os.path.basename(path)
            if name == unit and target != unit and valid_unit(target):
                info["canonical"] = target
            return info
    return info


def unit_settings(unit_info):
    """OOMScoreAdjust= settings of a unit in the order systemd applies them.

    The unit file first, then its drop-ins sorted by file name (a name in a directory of
    higher precedence masks the same name further down). Returns a list of dicts: path, name
    (drop-in file name, None for the unit file), value (the last assignment in that file,
    "" for a reset).
    """
    names = sorted(set([unit_info["name"], unit_info["canonical"]]))
    dropin_dirs = []
    for name in names:
        dropin_dirs.append(name + ".d")
        prefix, at, rest = name.partition("@")
        if at:
            dropin_dirs.append("%s@.%s.d" % (prefix, rest.rsplit(".", 1)[-1]))
    dropin_dirs.append(names[0].rsplit(".", 1)[-1] + ".d")  # service.d: all services
    chosen = {}
    for directory in UNIT_DIRS:
        for sub in dropin_dirs:
            try:
                files = os.listdir(_under(os.path.join(directory, sub)))
            except OSError:
                continue
            for file_name in files:
                if file_name.endswith(".conf") and file_name not in chosen:
                    chosen[file_name] = os.path.join(directory, sub, file_name)
    sources = []
    if unit_info["path"] and not unit_info["masked"]:
        sources.append((None, unit_info["path"]))
    sources += [(name, chosen[name]) for name in sorted(chosen)]
    settings = []
    for name, path in sources:
        value = oom_setting(read_text(_under(path)) or "")
        if value is not None:
            settings.append({"path": path, "name": name, "value": value})
    return settings


def oom_setting(text):
    """The last OOMScoreAdjust= of a unit file's [Service] section; None when it has none."""
    section, value = None, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line:
            key, setting = line.split("=", 1)
            if key.strip() == "OOMScoreAdjust":
                value = setting.strip()
    return value


def target_label(target, index, many):
    if target.get("name"):
        return target["name"]
    return "targets[%d]" % index if many else "the target"


def normalize_targets(params):
    """The targets as a list of complete dicts, and a list of error messages."""
    many = params["targets"] is not None
    raw = params["targets"] if many else [dict((key, params.get(key)) for key in TARGET_KEYS)]
    targets, errors = [], []
    for index, given in enumerate(raw):
        target = dict((key, given.get(key)) for key in TARGET_KEYS)
        target["index"] = index
        label = target["label"] = target_label(target, index, many)
        # A target's own state defaults to present; a top-level "query" wins over it.
        if target["state"] is None or params["state"] == "query":
            target["state"] = params["state"]
        for key in ("scope", "on_no_match"):
            if target[key] is None:
                target[key] = params[key]
        explicit_persist = target["persist"] is not None
        if not explicit_persist:
            target["persist"] = params["persist"]
        problems = []
        given_selectors = [key for key in SELECTORS if target[key] is not None]
        if target["state"] == "absent":
            if target["unit"] is None:
                problems.append("state=absent removes a unit's drop-in, so it needs unit")
        elif not given_selectors:
            problems.append("no selector: give at least one of %s" % ", ".join(SELECTORS))
        if target["pid"] is not None and target["pidfile"] is not None:
            problems.append("pid and pidfile each name one process and cannot be combined")
        if target["pid"] is not None and target["pid"] <= 0:
            problems.append("pid must be > 0, got %d" % target["pid"])
        if target["comm"] is not None and not target["comm"]:
            problems.append("comm is empty")
        if target["pattern"] is not None:
            try:
                target["regex"] = re.compile(target["pattern"])
            except re.error as error:
                problems.append("pattern %r is not a valid regular expression: %s" % (target["pattern"], error))
        if target["unit"] is not None:
            given_unit, target["unit"] = target["unit"], normalize_unit(target["unit"])
            if not valid_unit(target["unit"]):
                problems.append("unit %r is not a valid systemd unit name" % given_unit)
        if target["pidfile"] is not None and not os.path.isabs(target["pidfile"]):
            problems.append("pidfile must be an absolute path, got %s" % target["pidfile"])
        if target["state"] == "present":
            if target["value"] is None:
                problems.append("value is required to set a score")
            elif not OOM_SCORE_ADJ_MIN <= target["value"] <= OOM_SCORE_ADJ_MAX:
                problems.append("value %d is out of range: oom_score_adj goes from %d to %d"
                                % (target["value"], OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX))
        if target["unit"] is None:
            if explicit_persist:
                problems.append("persist needs a unit: the drop-in is per systemd unit")
            target["persist"] = None
        errors += ["%s: %s" % (label, problem) for problem in problems]
        targets.append(target)
    return targets, errors


def main():
    selector_options = dict(
        pid=dict(type="int"),
        comm=dict(type="str"),
        pattern=dict(type="str"),
        unit=dict(type="str"),
        pidfile=dict(type="path"),
        value=dict(type="int", aliases=["score"]),
    )
    target_options = dict(
        selector_options,
        name=dict(type="str"),
        scope=dict(type="str", choices=["matched", "main", "tree"]),
        persist=dict(type="bool"),
        on_no_match=dict(type="str", choices=["fail", "warn", "ignore"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(
        argument_spec=dict(
            selector_options,
            scope=dict(type="str", choices=["matched", "main", "tree"], default="matched"),
            persist=dict(type="bool"),
            on_no_match=dict(type="str", choices=["fail", "warn", "ignore"], default="fail"),
            on_denied=dict(type="str", choices=["fail", "warn"], default="fail"),
            state=dict(type="str", choices=["present", "query"], default="present"),
            targets=dict(type="list", elements="dict", options=target_options),
            dropin_name=dict(type="str", default="50-oom-score-adj.conf"),
        ),
        mutually_exclusive=[("targets", key) for key in selector_options] + [("pid", "pidfile")],
        required_one_of=[("targets",) + SELECTORS],
        supports_check_mode=True,
    )
    params = module.params
    targets, errors = normalize_targets(params)
    if params["targets"] == []:
        errors.append("targets is empty: there is nothing to select")
    if not DROPIN_NAME_RE.match(params["dropin_name"]):
        errors.append("dropin_name must be a file name ending in .conf, got %r" % params["dropin_name"])
    if errors:
        module.fail_json(msg="invalid arguments, nothing was changed: " + "; ".join(errors), errors=errors)

    table = list_processes(PROC_ROOT)
    table.pop(SELF_PID, None)
    units = {}
    for target in targets:
        if target["unit"] and target["unit"] not in units:
            units[target["unit"]] = resolve_unit(target["unit"])

    # --- what each target selects ---------------------------------------------------------------
    warnings, no_match, owner = [], [], {}
    for target in targets:
        target["pids"] = []
        if target["state"] == "absent":
            continue
        info = units.get(target["unit"])
        pidfile_pid = None
        reason = None
        if target["pidfile"]:
            try:
                pidfile_pid = read_pidfile(_under(target["pidfile"]))
            except ValueError as error:
                module.fail_json(msg="%s: %s. Nothing was changed." % (target["label"], error))
            if pidfile_pid is None:
                pidfile_pid, reason = 0, "pidfile %s does not exist" % target["pidfile"]
            elif pidfile_pid not in table:
                reason = "pidfile %s names pid %d, which is not running" % (target["pidfile"], pidfile_pid)
        matched = select(
            table, pid=target["pid"], comm=target["comm"], pattern=target.get("regex"),
            unit=target["unit"], units=[info["canonical"]] if info else None, pidfile_pid=pidfile_pid)
        if target["scope"] == "main":
            matched = main_processes(table, matched)
        elif target["scope"] == "tree":
            matched = sorted(set(matched) | set(descendants(table, matched)))
        target["pids"] = matched
        if info and matched:
            info["exists"] = True
        if not matched:
            if reason is None:
                given = ", ".join("%s=%s" % (key, target[key]) for key in SELECTORS if target[key] is not None)
                reason = "no running process matches %s" % given
                if info and not info["exists"]:
                    reason += " (unit %s is not installed)" % target["unit"]
            no_match.append((target, reason))
        if target["state"] != "present":
            continue
        for pid in matched:
            if pid in owner and owner[pid]["value"] != target["value"]:
                errors.append("pid %d (%s) is selected by %s (value %d) and %s (value %d)" % (
                    pid, table[pid]["comm"], owner[pid]["label"], owner[pid]["value"],
                    target["label"], target["value"]))
            owner.setdefault(pid, target)

    failing = ["%s: %s" % (target["label"], reason) for target, reason in no_match if target["on_no_match"] == "fail"]
    if failing:
        module.fail_json(msg="no process matched, nothing was changed: " + "; ".join(failing)
                         + ". Set on_no_match to warn or ignore where that is expected.")
    for target, reason in no_match:
        if target["on_no_match"] == "warn":
            warnings.append("%s: %s" % (target["label"], reason))

    # --- drop-ins -----------------------------------------------------------------------------
    dropins, wanted = [], {}
    for target in targets:
        if target["state"] == "query" or target["persist"] is None and target["state"] != "absent":
            continue
        info = units[target["unit"]]
        state = "present" if target["state"] == "present" and target["persist"] else "absent"
        if state == "present" and not info["exists"]:
            continue  # not installed: nothing to persist for (on_no_match said what to do)
        path = os.path.join(DROPIN_BASE, info["canonical"] + ".d", params["dropin_name"])
        text = render_dropin(target["value"]) if state == "present" else None
        if path in wanted:
            if wanted[path]["text"] != text:
                errors.append("%s and %s disagree about %s" % (wanted[path]["label"], target["label"], path))
            continue
        wanted[path] = {"label": target["label"], "text": text}
        full = _under(path)
        before = read_text(full)
        changed = before != text
        dropins.append({"unit": info["canonical"], "path": path, "state": state, "changed": changed,
                        "before": before, "after": text, "target": target["label"]})
    if errors:
        module.fail_json(msg="conflicting targets, nothing was changed: " + "; ".join(errors), errors=errors)

    # --- what the unit's configuration will do at the next start --------------------------------
    overrides = []
    for target in targets:
        if target["state"] != "present" or not target["unit"] or target["unit"] not in units:
            continue
        info = units[target["unit"]]
        if not info["exists"] or info["masked"]:
            continue
        ours = os.path.join(DROPIN_BASE, info["canonical"] + ".d", params["dropin_name"])
        settings = [item for item in unit_settings(info) if item["path"] != ours]
        if target["persist"]:
            settings.append({"path": ours, "name": params["dropin_name"], "value": str(target["value"])})
            settings.sort(key=lambda item: (item["name"] is not None, item["name"] or ""))
            last = settings[-1]
            if last["path"] != ours:
                overrides.append({"unit": info["canonical"], "path": last["path"], "value": last["value"],
                                  "reason": "sorts after %s and sets OOMScoreAdjust=%s: it wins at the next start"
                                  % (params["dropin_name"], last["value"] or "(reset)")})
        elif target["scope"] == "main" and target["value"] < 0 and settings:
            last = settings[-1]
            try:
                inherited_value = int(last["value"])
            except ValueError:
                inherited_value = 0
            if inherited_value < 0:
                overrides.append({"unit": info["canonical"], "path": last["path"], "value": last["value"],
                                  "reason": "every process of %s, and everything it forks (logins, jobs), starts "
                                  "with %s" % (info["canonical"], last["value"])})
    for item in overrides:
        warnings.append("%s: %s %s" % (item["unit"], item["path"], item["reason"]))

    # --- live values ------------------------------------------------------------------------------
    cap = has_capability(PROC_ROOT)
    processes = {}
    for target in targets:
        for pid in target["pids"]:
            if pid in processes:
                continue
            process = table[pid]
            processes[pid] = {
                "pid": pid, "comm": process["comm"], "unit": process["unit"], "target": target["label"],
                "value": target["value"] if target["state"] == "present" else None,
                "before": process["oom_score_adj"], "after": process["oom_score_adj"],
                "changed": False, "skipped": None,
            }
    todo = [entry for entry in processes.values() if entry["value"] is not None and entry["value"] != entry["before"]]
    # Lowerings first: they are what the kernel may refuse, so a refusal comes before any other write.
    todo.sort(key=lambda entry: (entry["value"] > entry["before"], entry["pid"]))
    denied = []
    if module.check_mode and cap is False:
        # The kernel's floor for an unprivileged writer (oom_score_adj_min) is not visible in
        # /proc; it is 0 for processes no privileged writer has touched, which is what
        # containers hold. A real run does not guess: it writes and handles the answer.
        refused = [entry for entry in todo if predict_denied(entry["before"], entry["value"], cap)]
        if refused:
            listing = ", ".join("pid %d (%s) %d -> %d" % (entry["pid"], entry["comm"], entry["before"], entry["value"])
                                for entry in refused)
            if params["on_denied"] == "fail":
                module.fail_json(
                    msg="the kernel would refuse: %s. This process lacks CAP_SYS_RESOURCE (CapEff of %s/self/status), "
                        "and %s. Set on_denied=warn (protect_daemons_on_denied: warn) to skip such writes with a "
                        "warning." % (listing, PROC_ROOT, DENIED_HINT), denied=[entry["pid"] for entry in refused])
            for entry in refused:
                entry["skipped"] = "denied"
                denied.append(entry["pid"])
                todo.remove(entry)
            warnings.append("the kernel would refuse: %s; %s" % (listing, DENIED_HINT))

    vanished = []
    if not module.check_mode:
        written = []
        for entry in todo:
            problem = None
            try:
                entry["after"] = write_oom_score_adj(PROC_ROOT, entry["pid"], entry["value"],
                                                     table[entry["pid"]]["starttime"])
                written.append(entry)
                if entry["after"] != entry["value"]:
                    problem = "pid %d (%s) holds oom_score_adj %d after writing %d" % (
                        entry["pid"], entry["comm"], entry["after"], entry["value"])
            except ProcessGone:
                entry["skipped"] = "vanished"
                vanished.append(entry["pid"])
                continue
            except OSError as error:
                reason = error.strerror or str(error)
                if error.errno in DENIED:
                    hint = DENIED_HINT + ("; this process lacks it (CapEff of %s/self/status)" % PROC_ROOT
                                          if cap is False else "")
                    if params["on_denied"] == "warn":
                        entry["skipped"] = "denied"
                        denied.append(entry["pid"])
                        warnings.append("the kernel refused oom_score_adj %d for pid %d (%s): %s; %s" % (
                            entry["value"], entry["pid"], entry["comm"], reason, hint))
                        continue
                    reason += "; %s. Set on_denied=warn (protect_daemons_on_denied: warn) to skip such " \
                              "writes with a warning" % hint
                problem = "the kernel refused oom_score_adj %d for pid %d (%s): %s" % (
                    entry["value"], entry["pid"], entry["comm"], reason)
            if problem:
                restore_failed = []
                for done in reversed(written):
                    try:
                        write_oom_score_adj(PROC_ROOT, done["pid"], done["before"])
                    except ProcessGone:
                        pass
                    except OSError as error:
                        restore_failed.append("pid %d to %d (%s)" % (done["pid"], done["before"], error.strerror))
                msg = "%s. The values written in this run were restored and no drop-in was changed." % problem
                if restore_failed:
                    msg += " Could not restore: %s." % ", ".join(restore_failed)
                module.fail_json(msg=msg, pid=entry["pid"])
        for entry in dropins:
            if not entry["changed"]:
                continue
            full = _under(entry["path"])
            if entry["state"] == "present":
                write_atomically(module, full, entry["after"])
            else:
                os.unlink(full)
    else:
        for entry in todo:
            entry["after"] = entry["value"]
    for entry in todo:
        entry["changed"] = entry["skipped"] is None and entry["after"] != entry["before"]
    for entry in dropins:
        full = _under(entry["path"])
        if entry["state"] == "present" and os.path.exists(full):
            # Same text but the wrong mode or owner is drift too; these honour check mode.
            entry["changed"] = module.set_mode_if_different(full, "0644", entry["changed"])
            entry["changed"] = module.set_owner_if_different(full, "root", entry["changed"])
            entry["changed"] = module.set_group_if_different(full, "root", entry["changed"])

    # --- processes that inherited a protective score -------------------------------------------------
    inherited = []
    selected = set(processes)
    for target in targets:
        if target["state"] != "present" or target["value"] >= 0 or target["scope"] == "tree":
            continue
        for ancestor in target["pids"]:
            for pid in descendants(table, [ancestor]):
                if pid in selected or table[pid]["oom_score_adj"] > target["value"]:
                    continue
                selected.add(pid)
                inherited.append({"pid": pid, "comm": table[pid]["comm"], "unit": table[pid]["unit"],
                                  "oom_score_adj": table[pid]["oom_score_adj"], "ancestor": ancestor,
                                  "target": target["label"]})
    if inherited:
        shown = ", ".join("%d (%s) %d" % (item["pid"], item["comm"], item["oom_score_adj"]) for item in inherited[:5])
        warnings.append(
            "%d process(es) forked from protected ones carry the protective score too (oom_score_adj is inherited "
            "across fork), so the OOM killer spares them as well: %s%s. Look for OOMScoreAdjust= on their unit."
            % (len(inherited), shown, ", ..." if len(inherited) > 5 else ""))

    entries = [processes[pid] for pid in sorted(processes)]
    live_changes = [entry for entry in entries if entry["changed"]]
    diff = []
    if live_changes:
        diff.append({
            "before_header": "oom_score_adj (live)", "after_header": "oom_score_adj (live)",
            "before": "".join("%d %s: %d\n" % (entry["pid"], entry["comm"], entry["before"]) for entry in live_changes),
            "after": "".join("%d %s: %d\n" % (entry["pid"], entry["comm"], entry["after"]) for entry in live_changes),
        })
    for entry in dropins:
        if entry["changed"]:
            diff.append({"before_header": entry["path"], "after_header": entry["path"],
                         "before": entry["before"] or "", "after": entry["after"] or ""})
    dropins_changed = any(entry["changed"] for entry in dropins)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(
        changed=bool(live_changes) or dropins_changed,
        processes=entries,
        targets=[{
            "name": target["label"], "unit": units[target["unit"]]["canonical"] if target["unit"] else None,
            "unit_exists": units[target["unit"]]["exists"] if target["unit"] else None,
            "state": target["state"], "value": target["value"], "scope": target["scope"],
            "persist": target["persist"], "pids": target["pids"],
        } for target in targets],
        dropins=[dict((key, entry[key]) for key in ("unit", "path", "state", "changed", "target")) for entry in dropins],
        dropins_changed=dropins_changed,
        vanished=sorted(vanished), denied=sorted(denied), inherited=inherited, overrides=overrides,
        cap_sys_resource=cap, diff=diff,
    )


if __name__ == "__main__":
    main()
