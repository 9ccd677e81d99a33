# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_adj's run: the plan of ``oom_score`` applied - live values, then drop-ins - and reported.

The live values are written lowerings first (what the kernel may refuse comes before any
other write), then the drop-ins, as one ``batch``: when a write fails, what this run wrote is
put back. A process that exits meanwhile is skipped (``vanished``); a refusal either fails the
run or, with on_denied=warn, is skipped (``denied``).
"""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils import batch, oom_preference, oom_score, selection
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError, invalid
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import (
    DENIED, ProcessGone, has_capability, list_processes, write_oom_score_adj,
)
from ansible_collections.rock5b.oom.plugins.module_utils.systemd import resolve_unit

DENIED_HINT = ("lowering oom_score_adj below the floor a privileged writer set (0 for most processes) needs "
               "CAP_SYS_RESOURCE, which root in a container usually lacks")
ON_DENIED_HINT = "Set on_denied=warn (protect_daemons_on_denied: warn) to skip such writes with a warning"


def live_entries(table, targets):
    """pid -> the result entry of every selected process (first target that selected it)."""
    entries = {}
    for target in targets:
        for pid in target["pids"]:
            if pid in entries:
                continue
            process = table[pid]
            entries[pid] = {
                "pid": pid, "comm": process["comm"], "unit": process["unit"], "target": target["label"],
                "value": target["value"] if target["state"] == "present" else None,
                "before": process["oom_score_adj"], "after": process["oom_score_adj"],
                "changed": False, "skipped": None,
            }
    return entries


def writes(entries):
    """The entries whose value changes, lowerings first: they are what the kernel may refuse, so a
    refusal comes before any other write."""
    todo = [entry for entry in entries.values() if entry["value"] is not None and entry["value"] != entry["before"]]
    todo.sort(key=lambda entry: (entry["value"] > entry["before"], entry["pid"]))
    return todo


def predict_denials(fs, todo, cap, on_denied):
    """Check mode without CAP_SYS_RESOURCE: the writes the kernel would refuse, taken out of
    ``todo`` and marked. Fails with on_denied=fail. Returns (denied pids, warnings).

    The kernel's floor for an unprivileged writer (oom_score_adj_min) is not visible in /proc;
    it is 0 for processes no privileged writer has touched, which is what containers hold. A
    real run does not guess: it writes and handles the answer.
    """
    refused = [entry for entry in todo if predict_denied(entry["before"], entry["value"], cap)]
    if not refused:
        return [], []
    listing = ", ".join("pid %d (%s) %d -> %d" % (entry["pid"], entry["comm"], entry["before"], entry["value"])
                        for entry in refused)
    if on_denied == "fail":
        raise ModuleError(
            "the kernel would refuse: %s. This process lacks CAP_SYS_RESOURCE (CapEff of %s/self/status), and %s. "
            "%s." % (listing, fs.proc, DENIED_HINT, ON_DENIED_HINT), denied=[entry["pid"] for entry in refused])
    for entry in refused:
        entry["skipped"] = "denied"
        todo.remove(entry)
    return [entry["pid"] for entry in refused], ["the kernel would refuse: %s; %s" % (listing, DENIED_HINT)]


def predict_denied(before, value, cap):
    """Whether the kernel is expected to refuse ``before`` -> ``value`` for a writer with ``cap``.

    Without CAP_SYS_RESOURCE a score can go down only to the process's oom_score_adj_min,
    the value a privileged writer last set (0 when none did); /proc does not show it, so 0
    is assumed.
    """
    return cap is False and value < before and value < 0


class Writer:
    """The run's writes as ``batch`` changes, and what happened to them."""

    def __init__(self, fs, table, on_denied, cap):
        self.fs, self.table, self.on_denied, self.cap = fs, table, on_denied, cap
        self.vanished, self.denied, self.warnings = [], [], []
        self.problem, self.problem_pid, self.restore_failed = None, None, []

    def apply(self, todo, dropins):
        """Write ``todo`` then the changed ``dropins``; on a failure restore and raise ModuleError."""
        changes = [self._live(entry) for entry in todo]
        changes += [self._dropin(entry) for entry in dropins if entry["changed"]]
        try:
            batch.apply_changes(changes)
        except ModuleError:
            if self.problem is None:
                raise  # a drop-in: batch's message says what was undone
            msg = "%s. The values written in this run were restored and no drop-in was changed." % self.problem
            if self.restore_failed:
                msg += " Could not restore: %s." % ", ".join(self.restore_failed)
            raise ModuleError(msg, pid=self.problem_pid)

    def _live(self, entry):
        written = []

        def restore():
            if not written:
                return
            try:
                write_oom_score_adj(self.fs.proc, entry["pid"], entry["before"])
            except ProcessGone:
                pass
            except OSError as error:
                self.restore_failed.append("pid %d to %d (%s)" % (entry["pid"], entry["before"], error.strerror))
                raise

        def write():
            try:
                entry["after"] = write_oom_score_adj(self.fs.proc, entry["pid"], entry["value"],
                                                     self.table[entry["pid"]]["starttime"])
            except ProcessGone:
                entry["skipped"] = "vanished"
                self.vanished.append(entry["pid"])
                return
            except OSError as error:
                self._refused(entry, error)
                return
            written.append(entry["pid"])
            if entry["after"] != entry["value"]:
                try:
                    restore()
                except OSError:
                    pass  # named in restore_failed
                self._fail(entry, "pid %d (%s) holds oom_score_adj %d after writing %d" % (
                    entry["pid"], entry["comm"], entry["after"], entry["value"]))

        # live: on a read-only /etc the score is kept (until the process ends) though its drop-in cannot be written
        return batch.Change("oom_score_adj %d for pid %d (%s)" % (entry["value"], entry["pid"], entry["comm"]),
                            write, restore, live=True)

    def _refused(self, entry, error):
        """The kernel refused a write: skip it with a warning (on_denied=warn) or fail."""
        reason = error.strerror or str(error)
        if error.errno in DENIED:
            hint = DENIED_HINT + ("; this process lacks it (CapEff of %s/self/status)" % self.fs.proc
                                  if self.cap is False else "")
            if self.on_denied == "warn":
                entry["skipped"] = "denied"
                self.denied.append(entry["pid"])
                self.warnings.append("the kernel refused oom_score_adj %d for pid %d (%s): %s; %s" % (
                    entry["value"], entry["pid"], entry["comm"], reason, hint))
                return
            reason += "; %s. %s" % (hint, ON_DENIED_HINT)
        self._fail(entry, "the kernel refused oom_score_adj %d for pid %d (%s): %s" % (
            entry["value"], entry["pid"], entry["comm"], reason))

    def _fail(self, entry, problem):
        self.problem, self.problem_pid = problem, entry["pid"]
        raise ModuleError(problem)

    def _dropin(self, entry):
        fs, path, before = self.fs, entry["path"], entry["before"]

        def write():
            if entry["state"] == "present":
                fs.write_atomic(path, entry["after"], oom_score.DROPIN_MODE, oom_score.DROPIN_OWNER)
            else:
                fs.remove(path)

        def restore():
            if before is None:
                fs.remove(path)
            else:
                fs.write_atomic(path, before, oom_score.DROPIN_MODE, oom_score.DROPIN_OWNER)

        return batch.Change(path, write, restore)


# --- the run --------------------------------------------------------------------------------------

def run(fs, params, check_mode):
    """The module's run on the board ``fs``: (result for exit_json, warnings)."""
    targets = oom_score.normalize_targets(params)
    table = list_processes(fs.proc)
    units = {}
    for target in targets:
        if target["unit"] and target["unit"] not in units:
            units[target["unit"]] = resolve_unit(fs, target["unit"])
    no_match, conflicts = oom_score.select_targets(fs, table, units, targets)
    broad = oom_score.broad_problems(table, targets, params.get("max_protected", selection.MAX_PROTECTED))
    if broad:
        raise invalid(broad, what="too broad a protection")
    warnings = oom_score.no_match_warnings(no_match)
    preference, preference_warnings = oom_preference.preference_rule(
        fs, params.get("managed_oom_preference") or "none", bool(params.get("assume_systemd_oomd")))
    warnings += preference_warnings
    dropins, disagreements = oom_score.plan_dropins(fs, targets, units, params["dropin_name"], preference)
    if conflicts + disagreements:
        raise invalid(conflicts + disagreements, what="conflicting targets")
    overrides = oom_score.find_overrides(fs, targets, units, params["dropin_name"])
    warnings += ["%s: %s %s" % (item["unit"], item["path"], item["reason"]) for item in overrides]

    cap = has_capability(fs.proc)
    entries = live_entries(table, targets)
    todo = writes(entries)
    writer = Writer(fs, table, params["on_denied"], cap)
    if check_mode and cap is False:
        writer.denied, predicted = predict_denials(fs, todo, cap, params["on_denied"])
        warnings += predicted
    if check_mode:
        for entry in todo:
            entry["after"] = entry["value"]
    else:
        writer.apply(todo, dropins)
        warnings += writer.warnings
    for entry in todo:
        entry["changed"] = entry["skipped"] is None and entry["after"] != entry["before"]

    inherited = oom_score.find_inherited(table, targets, entries)
    if inherited:
        warnings.append(oom_score.inherited_warning(inherited))
    result = report([entries[pid] for pid in sorted(entries)], targets, units, dropins)
    result.update(vanished=sorted(writer.vanished), denied=sorted(writer.denied), inherited=inherited,
                  overrides=overrides, cap_sys_resource=cap)
    return result, warnings


def report(entries, targets, units, dropins):
    """changed, processes, targets, dropins, dropins_changed and diff of the result."""
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
    return {
        "changed": bool(live_changes) or dropins_changed,
        "processes": entries,
        "targets": [{
            "name": target["label"], "unit": units[target["unit"]]["canonical"] if target["unit"] else None,
            "unit_exists": units[target["unit"]]["exists"] if target["unit"] else None,
            "state": target["state"], "value": target["value"], "scope": target["scope"],
            "persist": target["persist"], "pids": target["pids"],
        } for target in targets],
        "dropins": [dict((key, entry[key]) for key in ("unit", "path", "state", "changed", "target", "managed_oom_preference"))
                    for entry in dropins],
        "dropins_changed": dropins_changed,
        "diff": diff,
    }
