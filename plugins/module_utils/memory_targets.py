# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cgroup_memory's targets - a systemd unit (``unit_limits``) or a raw cgroup (``raw_cgroup``) -
one at a time or as a list (``entries``), in three steps:

1. validate: every target's options (sizes, names, selectors), before anything is read;
2. plan: read each target once and plan it; any target's error fails the task with nothing
   changed, and check mode stops here with the predicted results;
3. apply the plans in order (``batch.apply_changes`` for ``entries``: a failure undoes the
   targets applied before it), then report each target as read back.

A single ``unit`` or ``path`` is the one-target case of the same steps.
"""

from __future__ import annotations

import functools

from ansible_collections.rock5b.oom.plugins.module_utils import batch, errors, hostfs, raw_cgroup, systemd, unit_limits
from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import hierarchy, limits
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError

# Options every entry shares with the task (the rest are per entry).
SHARED = ("unsupported", "live", "dropin_name", "restart_moved")


def entry_spec(argument_spec, state):
    """The argument spec of one entry: the task's per-target options, ``state`` defaulting to the task's."""
    spec = dict((key, dict(value)) for key, value in argument_spec.items() if key not in SHARED + ("entries",))
    spec["state"]["default"] = state
    return spec


def check(params):
    """Problems of one target's options (reads nothing); normalizes the unit name and the selectors."""
    _desired, problems = limits.parse_limits(params)
    if params["unit"] is not None:
        problems += unit_limits.check(params)
    elif params["path"] is not None:
        problems += raw_cgroup.check(params)
    return problems


def label(item):
    """An entry in messages: its unit or path."""
    return str(item.get("unit") or item.get("path") or "?") if isinstance(item, dict) else repr(item)


class Target:
    """One target: its options, the wanted sizes, the layer that handles it and its plan."""

    def __init__(self, params, item=None):
        self.params, self.item = params, item
        self.desired, _problems = limits.parse_limits(params)
        self.layer = unit_limits if params["unit"] is not None else raw_cgroup if params["path"] is not None else None
        self.plan = None


def _report_unsupported(target, info):
    """Settings without effect here: fail (unsupported=fail) or warn."""
    plan, params = target.plan, target.params
    if not plan.unsupported or params["state"] == "query" or (target.layer is raw_cgroup and params["state"] != "present"):
        return
    text = "; ".join("%s: %s" % (key, reason) for key, reason in sorted(plan.unsupported.items()))
    if params["unsupported"] == "fail":
        raise ModuleError("settings without effect on this host (unsupported=fail), nothing was changed: " + text,
                          unsupported=plan.unsupported, cgroup=info)
    if target.layer is unit_limits:
        warning = ("settings without effect on this host (the drop-in keeps those systemd knows, for cgroup v2; "
                   "nothing applies them here): " + text)
    else:
        warning = "settings without effect on this host, left out: " + text
    plan.warnings.insert(plan.report_at, warning)


def plan(target, systemctl, fs, info):
    """Read the target once and plan it (reading only). Raises ModuleError."""
    if target.layer is unit_limits:
        target.plan = unit_limits.plan(systemctl, fs, info, target.params, target.desired)
    else:
        target.plan = raw_cgroup.plan(fs, info, target.params, target.desired)
    _report_unsupported(target, info)


def result(target, info, check_mode):
    """The target's result with the hierarchy, the wanted sizes and what is unsupported."""
    outcome = target.layer.result(target.plan, check_mode) if target.layer else {"changed": False}
    unsupported = target.plan.unsupported if target.plan else {}
    outcome.update(cgroup=info, hierarchy=info["memory"]["hierarchy"], desired=target.desired, unsupported=unsupported)
    return outcome


def _change(target):
    return batch.Change(label(target.params), functools.partial(target.layer.apply, target.plan),
                        functools.partial(target.layer.undo, target.plan))


def run_one(module, fs, info):
    """``unit``, ``path``, or neither (state=query: the hierarchy only). Returns (result, warnings)."""
    params = dict(module.params)
    problems = check(params)
    if problems:
        raise errors.invalid(problems, what="invalid settings", cgroup=info)
    target = Target(params)
    if target.layer is not None:
        plan(target, systemd.Systemctl(module), fs, info)
        if not module.check_mode and params["state"] != "query":
            # One target: its own error is the task's (a raw cgroup restores its limits itself).
            _change(target).apply()
    return result(target, info, module.check_mode), target.plan.warnings if target.plan else []


def run_entries(module, fs, info, argument_spec):
    """``entries``: validate all, plan all, then apply in order. Returns (result, warnings)."""
    items = module.params["entries"]

    def check_entry(params):
        params.update((key, module.params[key]) for key in SHARED)
        return check(params)

    try:
        validated = batch.validate_items(
            items, entry_spec(argument_spec, module.params["state"]), check=check_entry, what="invalid entries",
            label=lambda item, index: "entry %d (%s)" % (index + 1, label(item)),
            mutually_exclusive=[("unit", "path")], required_one_of=[("unit", "path")])
    except ModuleError as error:
        raise ModuleError(error.msg, cgroup=info, **error.result)
    targets = [Target(params, item) for params, item in zip(validated, items)]
    systemctl = systemd.Systemctl(module)
    failed = []
    for target in targets:
        try:
            plan(target, systemctl, fs, info)
        except ModuleError as error:
            failed.append((target, error.msg))
    if failed:
        reasons = dict((id(target), msg) for target, msg in failed)
        results = [dict(item=target.item, changed=False, failed=True, msg=reasons[id(target)]) if id(target) in reasons
                   else dict(result(target, info, True), item=target.item, failed=False) for target in targets]
        for entry in results:
            entry.pop("diff", None)
        raise ModuleError("invalid entries, nothing was changed: " + "; ".join(
            "%s: %s" % (label(target.params), msg) for target, msg in failed),
            results=results, cgroup=info, hierarchy=info["memory"]["hierarchy"])
    if not module.check_mode:
        try:
            batch.apply_changes([_change(target) for target in targets if target.params["state"] != "query"])
        except ModuleError as error:
            raise ModuleError(error.msg, cgroup=info, hierarchy=info["memory"]["hierarchy"], **error.result)
    results, diff, warnings = [], [], []
    for target in targets:
        outcome = result(target, info, module.check_mode)
        parts = outcome.pop("diff", [])
        diff += [part for part in (parts if isinstance(parts, list) else [parts]) if part.get("before") != part.get("after")]
        outcome.update(failed=False, item=target.item)
        results.append(outcome)
        warnings += target.plan.warnings
    outcome = dict(changed=any(entry["changed"] for entry in results), results=results, cgroup=info,
                   hierarchy=info["memory"]["hierarchy"])
    if diff:
        outcome["diff"] = diff
    return outcome, warnings


def run(module, argument_spec):
    """cgroup_memory's work on the board hostfs.host() reads: (result, warnings)."""
    fs = hostfs.host()
    info = hierarchy.detect(fs)
    if module.params["entries"] is not None:
        return run_entries(module, fs, info, argument_spec)
    return run_one(module, fs, info)
