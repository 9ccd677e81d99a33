# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A raw cgroup's memory limits (cgroup_memory with ``path``): check, plan, apply, report.

- ``check(params)``: what is wrong with a raw target's options, reading nothing.
- ``plan(...)``: reads the cgroup (or a sibling that shows what the kernel offers) and the
  processes once and returns a ``RawPlan``: directories to create, parents whose
  cgroup.subtree_control must pass ``+memory`` down (v2), control-file writes in a safe order,
  and the processes to move in. Processes are chosen with ``selection``: never PID 1 or the
  module's own process chain.
- ``apply(plan)``: does it, reads every limit back and restores the written files when the
  kernel refuses one or did not keep it; ``undo(plan)`` restores them after a later failure.
- ``result(plan, check_mode)``: the module's result for the cgroup.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.rock5b.oom.plugins.module_utils import errors, selection
from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import hierarchy, limits, memory
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import processes
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.sizes import MAX, human


def create_cgroup(path):
    """mkdir in a cgroup file system: the kernel fills the new directory with control files."""
    os.mkdir(path, 0o755)


def remove_cgroup(path):
    """rmdir in a cgroup file system: the kernel removes an empty cgroup with its control files."""
    os.rmdir(path)


def check(params):
    """Problems of a raw target's options (path, selectors); normalizes the selector keys."""
    problems = []
    try:
        if hierarchy.clean_path(params["path"]) == "/":
            problems.append("path %r is the root of the memory hierarchy, which takes no limits" % params["path"])
    except ValueError as error:
        problems.append("path: %s" % error)
    # Ansible's int check lets a bool through (pids: [true] would mean pid 1).
    problems += ["pids: %r is not a process id" % pid for pid in params["pids"] if isinstance(pid, bool) or pid <= 0]
    selector = {"comm": params["comm"], "pattern": params["pattern"]}
    problems += selection.validate(selector)
    params["regex"] = selector["regex"]
    if params["pattern"] is not None and selection.universal_pattern(params["pattern"]):
        problems.append("pattern %r matches every process, now and later: moving them all into one limited cgroup "
                        "would cap the whole board; select the processes to limit" % params["pattern"])
    if params["state"] == "absent" and (params["pids"] or params["comm"] or params["pattern"]):
        problems.append("state=absent removes the cgroup; it moves no processes (pids, comm, pattern)")
    return problems


class RawPlan:
    """What cgroup_memory would do to one raw cgroup; ``applied`` records what apply() did."""

    def __init__(self, fs, info, params, desired):
        self.fs, self.info, self.params, self.desired = fs, info, params, desired
        self.state = params["state"]
        self.unsupported, self.warnings = {}, []
        # Where the warning about unsupported settings goes among the others.
        self.report_at = 0
        self.directory = None
        self.exists = False
        self.before, self.keys, self.wanted = {}, [], {}
        self.to_create, self.subtree, self.writes, self.to_move = [], [], [], []
        self.applied = {"created": [], "written": [], "restore": [], "moved": [], "removed": False, "after": None}


def _unsupported(plan, probe):
    """Keys this hierarchy or kernel has no file for; the wanted values that remain."""
    hierarchy_name, params, desired = plan.hierarchy, plan.params, plan.desired
    files = memory.files_for(hierarchy_name)
    bools = dict((key, params[key]) for key in memory.BOOL_KEYS if params[key] is not None)
    for key in list(desired) + list(bools):
        if (hierarchy_name, key) in memory.UNSUPPORTED:
            plan.unsupported[key] = memory.UNSUPPORTED[(hierarchy_name, key)]
        elif probe is not None and not os.path.exists(os.path.join(probe, files[key])):
            reason = "this kernel has no %s (%s)" % (files[key], probe)
            if key == "swap_max":
                reason += ": swap accounting is off (boot with swapaccount=1 on older kernels, and without swapaccount=0)"
            plan.unsupported[key] = reason
    if hierarchy_name == "v1" and "memory_high" in desired:
        plan.warnings.append("memory_high on cgroup v1: v1 has no throttling limit; written as "
                             "memory.soft_limit_in_bytes, which only makes the group reclaimed first under global "
                             "memory pressure")
    if hierarchy_name == "v1" and "swap_max" in desired and "swap_max" not in plan.unsupported \
            and desired["swap_max"] != MAX and desired.get("memory_max", MAX) == MAX:
        raise errors.invalid(["swap_max on cgroup v1 is written as memory.memsw.limit_in_bytes = memory_max + "
                              "swap_max, so it needs a memory_max other than max"], what="invalid settings")
    plan.wanted = dict((key, value) for key, value in list(desired.items()) + list(bools.items())
                       if key not in plan.unsupported)


def _select(plan):
    """The processes to move in: the pids given (all must exist) and those comm/pattern match."""
    params = plan.params
    if plan.state != "present" or not (params["pids"] or params["comm"] is not None or params["regex"] is not None):
        return [], {}
    table = processes.list_processes(plan.fs.proc)
    missing = [pid for pid in params["pids"] if pid not in table]
    if missing:
        raise ModuleError("pids %s do not exist (or are kernel threads or zombies); nothing was changed"
                          % ", ".join(str(pid) for pid in missing))
    # A limited cgroup can starve what it holds: guard the whole chain Ansible reaches the board
    # through, the sshd listener included.
    guarded = selection.guarded(table, whole_chain=True)
    refused = sorted(set(params["pids"]) & guarded)
    if refused:
        plan.warnings.append("pids %s are not moved: %s" % (", ".join(str(pid) for pid in refused), selection.GUARD_NOTE))
    chosen = set(params["pids"]) - guarded
    if params["comm"] is not None or params["regex"] is not None:
        matched = selection.select(table, {"comm": params["comm"], "regex": params["regex"]}, whole_chain=True)
        if not matched:
            plan.warnings.append("no running process matches %s" % " and ".join(
                "%s=%s" % (key, params[key]) for key in ("comm", "pattern") if params[key] is not None))
        chosen.update(matched)
    return sorted(chosen), table


def _read_before(plan, probe):
    """The cgroup's limits now (a new cgroup's defaults when it does not exist yet)."""
    files = memory.files_for(plan.hierarchy)
    plan.exists = os.path.isdir(plan.directory)
    before = memory.read_limits(plan.directory, plan.hierarchy) if plan.exists else memory.defaults(plan.hierarchy)
    if not plan.exists and probe is not None:
        before.update((key, None) for key, name in files.items() if not os.path.exists(os.path.join(probe, name)))
    if plan.hierarchy == "v1":
        before["_memsw"] = memory.read_memsw(plan.directory) if plan.exists else MAX
    plan.before = before
    plan.keys = [key for key in memory.KEYS
                 if key in plan.wanted or (key in memory.SIZE_KEYS and before.get(key) is not None)]


def _plan_absent(plan):
    if not plan.exists:
        return
    procs = memory.read_procs(plan.directory)
    children = [name for name in os.listdir(plan.directory) if os.path.isdir(os.path.join(plan.directory, name))]
    if procs or children:
        raise ModuleError("cgroup %s still holds %s; move or stop them first, nothing was changed" % (
            plan.directory, ", ".join(filter(None, ["processes %s" % procs if procs else "",
                                                    "child cgroups %s" % children if children else ""]))))


def _plan_tree(plan):
    """Directories to create, and parents that must pass the memory controller down (v2)."""
    directory, mount_dir = plan.directory, plan.mount_dir
    path = directory
    while not os.path.isdir(path) and len(path) > len(mount_dir):
        plan.to_create.insert(0, path)
        path = os.path.dirname(path)
    if plan.hierarchy != "v2":
        return
    parent = os.path.dirname(directory)
    chain = []
    while len(parent) >= len(mount_dir):
        chain.insert(0, parent)
        if parent == mount_dir:
            break
        parent = os.path.dirname(parent)
    for ancestor in chain:
        if ancestor in plan.to_create or not memory.subtree_has_memory(ancestor):
            if ancestor not in plan.to_create and ancestor != mount_dir and memory.read_procs(ancestor):
                raise ModuleError("cgroup %s holds processes, so it cannot pass the memory controller to %s "
                                  "(cgroup v2 allows controllers only where no process is); choose a path "
                                  "under another parent. Nothing was changed." % (ancestor, directory))
            plan.subtree.append(ancestor)


def _plan_moves(plan, selected, table):
    root = hierarchy.memory_root(plan.fs, plan.info)
    for pid in selected:
        if not os.path.exists(plan.fs.proc_path(pid, "cgroup")):
            continue
        if hierarchy.memory_cgroup_of(plan.fs, pid, plan.hierarchy, root) == plan.relative:
            continue
        plan.to_move.append(pid)
        unit = table.get(pid, {}).get("unit")
        if plan.hierarchy == "v2" and unit and unit != "init.scope":
            plan.warnings.append("pid %d belongs to %s: moving it into a raw cgroup takes it out of systemd's "
                                 "accounting for that unit; limit the unit (unit:) instead" % (pid, unit))


def plan(fs, info, params, desired):
    """Read the cgroup, its parents and the processes once; the RawPlan. Raises ModuleError."""
    plan = RawPlan(fs, info, params, desired)
    memory_info = info["memory"]
    if not memory_info["available"]:
        if plan.state == "query":
            return plan
        raise ModuleError("no memory cgroup controller on this host, nothing was changed: %s" % memory_info["reason"],
                          cgroup=info)
    plan.hierarchy, plan.mount = memory_info["hierarchy"], memory_info["mount"]
    plan.directory = hierarchy.cgroup_dir(fs, plan.mount, params["path"])
    plan.relative = hierarchy.clean_path(params["path"])
    plan.mount_dir = fs.path(plan.mount)
    exists = os.path.isdir(plan.directory)
    # What this kernel offers (for a cgroup yet to be created: a sibling shows it).
    probe = plan.directory if exists else memory.probe_directory(plan.mount_dir, plan.directory)
    _unsupported(plan, probe)
    plan.report_at = len(plan.warnings)
    selected, table = _select(plan)
    _read_before(plan, probe)
    if plan.state == "absent":
        _plan_absent(plan)
    if plan.state != "present":
        return plan
    _plan_tree(plan)
    try:
        plan.writes = memory.plan_writes(plan.hierarchy, plan.wanted, plan.before)
    except ValueError as error:
        raise errors.invalid([str(error)], what="invalid settings")
    wanted_max = plan.wanted.get("memory_max")
    usage = memory.read_stats(plan.directory, plan.hierarchy)["usage"] if plan.exists else None
    if wanted_max not in (None, MAX) and usage is not None and usage > wanted_max:
        plan.warnings.append("%s uses %s, above the new memory_max %s: the kernel reclaims and may OOM-kill "
                             "processes in the group now" % (plan.directory, human(usage), human(wanted_max)))
    _plan_moves(plan, selected, table)
    if plan.to_create:
        plan.warnings.append("raw cgroups vanish at reboot (with the processes in them): %s is created now but not "
                             "persistent; limit a systemd unit or slice (unit:) for limits that survive"
                             % plan.directory)
    return plan


def changed(plan):
    if plan.state == "absent":
        return plan.exists
    return plan.state == "present" and bool(plan.to_create or plan.subtree or plan.writes or plan.to_move)


# --- applying -----------------------------------------------------------------------------------

def _restore(plan, problem):
    """Write back the limits written so far, newest first; ``problem`` with what could not be."""
    for name, old_text in reversed(plan.applied["restore"]):
        try:
            memory.write_control(plan.directory, name, old_text)
        except memory.CgroupError as error:
            problem += "; and %s could not be restored to %s (%s)" % (name, old_text, error)
    plan.applied["restore"] = []
    return problem


def _create(plan):
    try:
        for path in plan.to_create:
            create_cgroup(path)
            plan.applied["created"].append(path)
        for ancestor in plan.subtree:
            memory.write_control(ancestor, "cgroup.subtree_control", "+memory")
            if not memory.subtree_has_memory(ancestor):
                raise ModuleError("%s/cgroup.subtree_control does not list memory after +memory" % ancestor)
    except OSError as error:
        raise ModuleError("creating cgroup %s failed: %s%s" % (
            plan.directory, error.strerror or error,
            " (the cgroup file system is read-only here: a container?)" if error.errno == errno.EROFS else ""))
    except memory.CgroupError as error:
        raise ModuleError(str(error))


def _write_limits(plan):
    """The planned writes, then the read-back; on a refusal or a value the kernel did not keep,
    the files written are restored and ModuleError raised."""
    applied = plan.applied
    for name, text, key in plan.writes:
        old = plan.before.get("_memsw") if name == memory.V1_FILES["swap_max"] else plan.before.get(key)
        try:
            memory.write_control(plan.directory, name, text)
        except memory.CgroupError as error:
            raise ModuleError(_restore(plan, str(error)) + ". Limits written in this run were restored.",
                              written=applied["written"])
        applied["restore"].append((name, memory.render(plan.hierarchy, key, old)))
        applied["written"].append({"file": name, "value": text})
    after = memory.read_limits(plan.directory, plan.hierarchy)
    files = memory.files_for(plan.hierarchy)
    wrong = ["%s holds %s, wanted %s" % (files[key], limits.shown(key, after.get(key)), limits.shown(key, value))
             for key, value in plan.wanted.items() if after.get(key) != value]
    if wrong:
        raise ModuleError(_restore(plan, "the kernel did not keep the limits: " + "; ".join(wrong))
                          + ". Limits written in this run were restored.", written=applied["written"])
    applied["after"] = after


def apply(plan):
    """Create, pass +memory down, write the limits (read back), move the processes in; or remove
    the cgroup (state=absent). Raises ModuleError."""
    applied = plan.applied
    if plan.state == "absent":
        if plan.exists:
            try:
                remove_cgroup(plan.directory)
            except OSError as error:
                raise ModuleError("removing cgroup %s failed: %s" % (plan.directory, error.strerror or error))
            applied["removed"] = True
        return
    try:
        _create(plan)
        _write_limits(plan)
    except ModuleError:
        # The limits are restored already; the cgroups created for them go too.
        _remove_created(plan)
        raise
    for pid in plan.to_move:
        try:
            memory.write_control(plan.directory, "cgroup.procs", str(pid))
        except memory.CgroupError as error:
            if error.errno == errno.ESRCH:
                plan.warnings.append("pid %d exited before it could be moved" % pid)
                continue
            raise ModuleError("moving pid %d failed: %s" % (pid, error), written=applied["written"],
                              moved=applied["moved"])
        applied["moved"].append(pid)


def _remove_created(plan):
    """Remove the cgroups this run created, newest first, unless processes were moved in."""
    if not plan.applied["moved"]:
        for path in reversed(plan.applied["created"]):
            try:
                remove_cgroup(path)
            except OSError:
                pass


def undo(plan):
    """Put the limits written back and remove the cgroups created (when they are empty again).
    Processes moved in stay there: ModuleError says so."""
    problem = _restore(plan, "")
    _remove_created(plan)
    if plan.applied["moved"]:
        problem += "; pids %s stay in %s" % (", ".join(str(pid) for pid in plan.applied["moved"]), plan.directory)
    if problem:
        raise ModuleError(problem.lstrip("; "))


# --- reporting ----------------------------------------------------------------------------------

def _vocabulary(values, keys):
    return dict((key, values.get(key)) for key in keys)


def _describe(values):
    return "".join("%s = %s\n" % (key, limits.shown(key, value)) for key, value in sorted(values.items()))


def result(plan, check_mode):
    """The cgroup's result (after apply(), or predicted in check mode)."""
    empty = dict(changed=False, directory=plan.directory, created=[], written=[], moved=[], procs=[], stats=None,
                 before={}, after={})
    if plan.directory is None:  # state=query without a memory controller
        return empty
    directory, exists, hierarchy_name = plan.directory, plan.exists, plan.hierarchy
    before = _vocabulary(plan.before, plan.keys) if exists else {}
    if plan.state == "query":
        return dict(empty, procs=memory.read_procs(directory) if exists else [],
                    stats=memory.read_stats(directory, hierarchy_name) if exists else None,
                    before=before, after=before)
    if plan.state == "absent":
        return dict(empty, changed=changed(plan), before=before,
                    diff={"before": "%s\n" % directory if exists else "", "after": ""})
    if check_mode:
        written = [{"file": name, "value": text} for name, text, _key in plan.writes]
        moved = list(plan.to_move)
        after = dict(plan.before)
        after.update(plan.wanted)
    else:
        written, moved, after = plan.applied["written"], plan.applied["moved"], plan.applied["after"]
    now = os.path.isdir(directory)
    procs = memory.read_procs(directory) if now else []
    if check_mode:
        procs = sorted(set(procs) | set(moved))
    after = _vocabulary(after, plan.keys)
    diff = {"before_header": directory, "after_header": directory,
            "before": _describe(before) if exists else "", "after": _describe(after)}
    if plan.to_move:
        diff["after"] += "cgroup.procs += %s\n" % " ".join(str(pid) for pid in plan.to_move)
    return dict(changed=changed(plan), directory=directory, created=plan.to_create, written=written, moved=moved,
                procs=procs, stats=memory.read_stats(directory, hierarchy_name) if now else None,
                before=before, after=after, diff=diff)
