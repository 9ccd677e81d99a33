# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_adj's plan: what each target selects and the drop-ins it wants, read from the board.

Validates every target (selectors through ``selection``), selects its processes (never PID 1
nor the module's own chain), plans the ``OOMScoreAdjust=`` drop-ins, and finds the unit
configuration and the inherited scores that defeat a target. Reads only; ``oom_score_apply``
writes.
"""

from __future__ import annotations

import os

from ansible_collections.rock5b.oom.plugins.module_utils import oom_preference, selection, systemd
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError, invalid
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import OOM_SCORE_ADJ_RANGE, read_pidfile
from ansible_collections.rock5b.oom.plugins.module_utils.selection import descendants, main_processes

# The module's options of a target (oom_score_adj's argument spec takes them from here).
SCOPES = ["matched", "main", "tree"]
ON_NO_MATCH = ["fail", "warn", "ignore"]
SELECTOR_OPTIONS = dict(
    pid=dict(type="int"),
    comm=dict(type="str"),
    pattern=dict(type="str"),
    unit=dict(type="str"),
    pidfile=dict(type="path"),
    value=dict(type="int", aliases=["score"]),
)
TARGET_OPTIONS = dict(
    SELECTOR_OPTIONS,
    name=dict(type="str"),
    scope=dict(type="str", choices=SCOPES),
    persist=dict(type="bool"),
    on_no_match=dict(type="str", choices=ON_NO_MATCH),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    allow_broad=dict(type="bool"),
)
TARGET_KEYS = ("name",) + selection.SELECTOR_KEYS + ("value", "scope", "persist", "on_no_match", "state", "allow_broad")
HEADER = systemd.header("oom_score_adj", "protect_daemons_list", what="the score")
DROPIN_MODE = 0o644
DROPIN_OWNER = (0, 0)  # root:root
BROAD_HINT = ("with nothing killable left the kernel panics on the next OOM. Narrow the selectors, or, if that is "
              "meant, set allow_broad: true on this target (protect_daemons: on the entry) or raise max_protected "
              "(protect_daemons_max_matches)")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def score_problem(value, option="value"):
    """Why ``value`` cannot be an oom_score_adj (None when it can): a whole number within
    OOM_SCORE_ADJ_RANGE; a boolean is not one (YAML's ``true`` would become 1)."""
    low, high = OOM_SCORE_ADJ_RANGE
    if not _is_int(value):
        return "%s must be a whole number from %d to %d, got %r" % (option, low, high, value)
    if not low <= value <= high:
        return "%s %d is out of range: oom_score_adj goes from %d to %d" % (option, value, low, high)
    return None


def render_dropin(value, preference=None):
    """The drop-in: OOMScoreAdjust= (unless ``value`` is None), then ManagedOOMPreference= when
    ``preference`` (oom_preference) is given."""
    settings = ([] if value is None else [("OOMScoreAdjust", "%d" % value)]) + (
        [(oom_preference.KEY, preference)] if preference else [])
    return systemd.render_dropin(HEADER, "Service", settings)


# --- targets ------------------------------------------------------------------------------------

def normalize_targets(params):
    """The targets as complete dicts (top-level defaults filled in, selectors validated).

    Raises one ModuleError listing every problem of every target.
    """
    many = params["targets"] is not None
    raw = params["targets"] if many else [dict((key, params.get(key)) for key in TARGET_KEYS)]
    targets, errors = [], []
    for index, given in enumerate(raw):
        target, problems = _normalize_target(params, given, index, many)
        errors += ["%s: %s" % (target["label"], problem) for problem in problems]
        targets.append(target)
    if params["targets"] == []:
        errors.append("targets is empty: there is nothing to select")
    if not systemd.valid_dropin_name(params["dropin_name"]):
        errors.append("dropin_name must be a file name ending in .conf, got %r" % params["dropin_name"])
    limit = selection.max_protected_problem(params.get("max_protected", selection.MAX_PROTECTED))
    if limit:
        errors.append(limit)
    if errors:
        raise invalid(errors)
    return targets


def entry_problems(given, allow_broad=False):
    """Problems of one target (``score`` or ``value``) as this module would find them, reading
    nothing: the check validate_role_arguments runs on protect_daemons' entries on the controller."""
    params = {"state": "present", "scope": "matched", "on_no_match": "fail", "persist": True, "allow_broad": allow_broad}
    given = dict(given)
    if given.get("value") is None and "score" in given:
        given["value"] = given["score"]
    _target, problems = _normalize_target(params, given, 0, True)
    return problems


def _normalize_target(params, given, index, many):
    target = dict((key, given.get(key)) for key in TARGET_KEYS)
    target["index"] = index
    target["label"] = target["name"] or ("targets[%d]" % index if many else "the target")
    # A target's own state defaults to present; a top-level "query" wins over it.
    if target["state"] is None or params["state"] == "query":
        target["state"] = params["state"]
    for key in ("scope", "on_no_match"):
        if target[key] is None:
            target[key] = params[key]
    if target["allow_broad"] is None:
        target["allow_broad"] = bool(params.get("allow_broad"))
    explicit_persist = target["persist"] is not None
    if not explicit_persist:
        target["persist"] = params["persist"]
    problems = []
    if target["state"] == "absent":
        if target["unit"] is None:
            problems.append("state=absent removes a unit's drop-in, so it needs unit")
    elif all(target[key] is None for key in selection.SELECTOR_KEYS):
        problems.append("no selector: give at least one of %s" % ", ".join(selection.SELECTOR_KEYS))
    problems += selection.validate(target)
    if target["state"] == "present":
        if target["value"] is None:
            problems.append("value is required to set a score")
        elif score_problem(target["value"]):
            # Named as the role's entries name it too when the type is wrong ("score: true").
            problems.append(score_problem(target["value"], "value" if _is_int(target["value"]) else "value (score)"))
        elif target["value"] < 0 and not target["allow_broad"] and target["pattern"] is not None \
                and selection.universal_pattern(target["pattern"]):
            problems.append("refusing the protective value %d for pattern %r, which matches every process, now and "
                            "later (the monitor protects what it matches too): %s" % (target["value"], target["pattern"], BROAD_HINT))
    if target["unit"] is None:
        if explicit_persist:
            problems.append("persist needs a unit: the drop-in is per systemd unit")
        target["persist"] = None
    return target, problems


# --- what each target selects -------------------------------------------------------------------

def select_targets(fs, table, units, targets):
    """Set each target's ``pids``. Returns (no_match: [(target, reason)], conflicts: [message])."""
    no_match, conflicts, owner = [], [], {}
    for target in targets:
        target["pids"] = []
        if target["state"] == "absent":
            continue
        reason = _select(fs, table, units.get(target["unit"]), target)
        if reason is not None:
            no_match.append((target, reason))
        if target["state"] != "present":
            continue
        for pid in target["pids"]:
            if pid in owner and owner[pid]["value"] != target["value"]:
                conflicts.append("pid %d (%s) is selected by %s (value %d) and %s (value %d)" % (
                    pid, table[pid]["comm"], owner[pid]["label"], owner[pid]["value"],
                    target["label"], target["value"]))
            owner.setdefault(pid, target)
    return no_match, conflicts


def _select(fs, table, info, target):
    """Select ``target``'s processes (its scope applied); why it selected none, or None."""
    pidfile_pid, reason = None, None
    if target["pidfile"]:
        try:
            pidfile_pid = read_pidfile(fs.path(target["pidfile"]), shown=target["pidfile"])
        except ValueError as error:
            raise ModuleError("%s: %s. Nothing was changed." % (target["label"], error))
        if pidfile_pid is None:
            pidfile_pid, reason = 0, "pidfile %s does not exist" % target["pidfile"]
        elif pidfile_pid not in table:
            reason = "pidfile %s names pid %d, which is not running" % (target["pidfile"], pidfile_pid)
    unit_names = [info["canonical"]] if info else None
    matched = selection.select(table, target, unit_names, pidfile_pid)
    if target["scope"] == "main":
        matched = main_processes(table, matched)
    elif target["scope"] == "tree":
        matched = selection.unguarded(table, sorted(set(matched) | set(descendants(table, matched))))
    target["pids"] = matched
    if info and matched:
        info["exists"] = True
    if matched or reason is not None:
        return reason
    refused = selection.refused(table, target, unit_names, pidfile_pid)
    if refused:
        return "%s matches only %s: %s" % (
            selection.describe(target), ", ".join("pid %d (%s)" % (pid, table[pid]["comm"]) for pid in refused),
            selection.GUARD_NOTE)
    reason = "no running process matches %s" % selection.describe(target)
    if info and not info["exists"]:
        reason += " (unit %s is not installed)" % target["unit"]
    return reason


def broad_problems(table, targets, limit=selection.MAX_PROTECTED):
    """Targets giving a protective (negative) score to too much (selection.broad_negative_problem),
    unless they allow_broad: one message each, naming the target and how to override."""
    problems = []
    for target in targets:
        if target["state"] != "present" or target["value"] >= 0 or target["allow_broad"]:
            continue
        problem = selection.broad_negative_problem(target, target["pids"], table, limit)
        if problem:
            problems.append("%s: refusing the protective value %d: %s; %s" % (
                target["label"], target["value"], problem, BROAD_HINT))
    return problems


def no_match_warnings(no_match):
    """Fail (nothing changed) when a target with on_no_match=fail matched nothing; the warnings."""
    failing = ["%s: %s" % (target["label"], reason) for target, reason in no_match if target["on_no_match"] == "fail"]
    if failing:
        raise ModuleError("no process matched, nothing was changed: " + "; ".join(failing)
                          + ". Set on_no_match to warn or ignore where that is expected.")
    return ["%s: %s" % (target["label"], reason) for target, reason in no_match if target["on_no_match"] == "warn"]


# --- drop-ins and what the unit's configuration does at the next start ------------------------------

def plan_dropins(fs, targets, units, dropin_name, preference=None):
    """The drop-ins to write, remove or check: (entries, conflicts). ``preference(value)`` is the
    ManagedOOMPreference= of a drop-in for the score ``value`` (oom_preference.preference_rule), or None."""
    dropins, wanted, conflicts = [], {}, []
    for target in targets:
        if target["state"] == "query" or target["persist"] is None and target["state"] != "absent":
            continue
        info = units[target["unit"]]
        wanted_preference = preference(target["value"]) if preference and target["state"] == "present" else None
        # persist false (sshd: its sessions would inherit OOMScoreAdjust=) still tells systemd-oomd,
        # which goes by cgroup, not by score: a drop-in with ManagedOOMPreference= alone
        state = "present" if target["state"] == "present" and (target["persist"] or wanted_preference) else "absent"
        if state == "present" and not info["exists"]:
            continue  # not installed: nothing to persist for (on_no_match said what to do)
        path = systemd.dropin_path(info["canonical"], dropin_name)
        score = target["value"] if target["persist"] else None
        text = render_dropin(score, wanted_preference) if state == "present" else None
        if path in wanted:
            if wanted[path]["text"] != text:
                conflicts.append("%s and %s disagree about %s" % (wanted[path]["label"], target["label"], path))
            continue
        wanted[path] = {"label": target["label"], "text": text}
        before = fs.read_text(path)
        # Same text but the wrong mode or owner is drift too.
        changed = before != text or state == "present" and _attributes_differ(fs, path)
        dropins.append({"unit": info["canonical"], "path": path, "state": state, "changed": changed,
                        "before": before, "after": text, "target": target["label"],
                        "managed_oom_preference": wanted_preference})
    return dropins, conflicts


def _attributes_differ(fs, path):
    """Whether the board's file ``path`` exists without mode 0644 and owner root:root."""
    try:
        status = os.stat(fs.path(path))
    except OSError:
        return False
    return (status.st_mode & 0o7777, status.st_uid, status.st_gid) != (DROPIN_MODE,) + DROPIN_OWNER


def oom_settings(fs, unit_info):
    """OOMScoreAdjust= of a unit's files in the order systemd applies them: dicts of path, name
    (the drop-in's file name, None for the unit file) and value (the last assignment, "" for a reset)."""
    settings = []
    for source in systemd.dropin_sources(fs, unit_info):
        value = systemd.section_value(fs.read_text(source["path"]), "Service", "OOMScoreAdjust")
        if value is not None:
            settings.append(dict(source, value=value))
    return settings


def find_overrides(fs, targets, units, dropin_name):
    """Unit configuration that sets OOMScoreAdjust= against a target's intent."""
    overrides = []
    for target in targets:
        info = units.get(target["unit"])
        if target["state"] != "present" or not info or not info["exists"] or info["masked"]:
            continue
        ours = systemd.dropin_path(info["canonical"], dropin_name)
        settings = [item for item in oom_settings(fs, info) if item["path"] != ours]
        if target["persist"]:
            settings.append({"path": ours, "name": dropin_name, "value": str(target["value"])})
            settings.sort(key=lambda item: (item["name"] is not None, item["name"] or ""))
            last = settings[-1]
            if last["path"] != ours:
                overrides.append({"unit": info["canonical"], "path": last["path"], "value": last["value"],
                                  "reason": "sorts after %s and sets OOMScoreAdjust=%s: it wins at the next start"
                                  % (dropin_name, last["value"] or "(reset)")})
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
    return overrides


def find_inherited(table, targets, selected):
    """Processes forked from a protected one (not selected) that carry its negative score too."""
    inherited, seen = [], set(selected)
    for target in targets:
        if target["state"] != "present" or target["value"] >= 0 or target["scope"] == "tree":
            continue
        for ancestor in target["pids"]:
            for pid in descendants(table, [ancestor]):
                if pid in seen or pid == selection.SELF_PID or table[pid]["oom_score_adj"] > target["value"]:
                    continue
                seen.add(pid)
                inherited.append({"pid": pid, "comm": table[pid]["comm"], "unit": table[pid]["unit"],
                                  "oom_score_adj": table[pid]["oom_score_adj"], "ancestor": ancestor,
                                  "target": target["label"]})
    return inherited


def inherited_warning(inherited):
    shown = ", ".join("%d (%s) %d" % (item["pid"], item["comm"], item["oom_score_adj"]) for item in inherited[:5])
    return ("%d process(es) forked from protected ones carry the protective score too (oom_score_adj is inherited "
            "across fork), so the OOM killer spares them as well: %s%s. Look for OOMScoreAdjust= on their unit."
            % (len(inherited), shown, ", ..." if len(inherited) > 5 else ""))
