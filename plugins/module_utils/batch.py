# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lists of items (entries, targets, files): validate all -> plan -> apply in order -> roll back.

A module that takes a list works in three steps, so one bad item never leaves a board half-way:

1. ``validate_items`` checks every item (its own argument spec, then the module's checks) and
   raises one ModuleError listing every problem - before anything is read or written.
2. The module plans: it reads the board and turns each item into ``Change`` objects (what to
   write, and how to put the old state back). Check mode stops here and reports the plan.
3. ``apply_changes`` applies them in order; when one fails, the ones already applied are
   undone, newest first, and the ModuleError says what failed and what was restored.
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError, invalid
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import WriteError


class Change:
    """One planned change: ``apply()`` does it, ``undo()`` (optional) puts the old state back.

    ``live`` marks a change of the running system only (a sysctl, a process's oom_score_adj)
    that is safe to keep on its own: when a later file cannot be written because the file
    system is read-only, it is kept (until the next boot) instead of undone."""

    def __init__(self, label, apply, undo=None, live=False):
        self.label, self.apply, self.undo, self.live = label, apply, undo, live

    def __repr__(self):
        return "Change(%s)" % self.label


def item_label(item, index, keys=("name", "unit", "path")):
    """How an item is named in messages: its first naming key, or its position."""
    if isinstance(item, dict):
        for key in keys:
            if item.get(key):
                return "%s (%s)" % (index_label(index), item[key])
    return index_label(index)


def index_label(index):
    return "item %d" % (index + 1)


def validate_items(items, spec, check=None, what="invalid entries", label=item_label, **spec_rules):
    """Validate every item of ``items`` against the argument ``spec`` (and ``spec_rules`` such as
    mutually_exclusive), then with ``check(params) -> [problems]``.

    Returns the validated parameter dicts in order; raises one ModuleError listing every
    problem of every item, with nothing changed.
    """
    validator = ArgumentSpecValidator(spec, **spec_rules)
    validated, errors = [], []
    for index, item in enumerate(items):
        name = label(item, index)
        if not isinstance(item, dict):
            errors.append("%s: must be a dict, got %r" % (name, item))
            continue
        result = validator.validate(item)
        if result.error_messages:
            errors.append("%s: %s" % (name, "; ".join(result.error_messages)))
            continue
        params = dict(result.validated_parameters)
        problems = check(params) if check is not None else []
        errors.extend("%s: %s" % (name, problem) for problem in problems)
        validated.append(params)
    if errors:
        raise invalid(errors, what=what)
    return validated


def apply_changes(changes):
    """Apply ``changes`` in order. On a failure (ModuleError, WriteError or OSError) undo the
    ones applied, newest first, and raise a ModuleError that names the failed change, the
    reason, and anything that could not be restored. Returns the labels applied.

    A read-only file system (WriteError.read_only: an overlayroot or ro-mounted board) is the
    one failure that keeps the ``live`` changes applied before it: the file can never be
    written there, the live values are what the operator asked for, and they last until the
    next boot. The error then has ``persisted=False`` and ``kept_live`` (their labels)."""
    done = []
    for change in changes:
        try:
            change.apply()
        except (ModuleError, WriteError, OSError) as error:
            reason = error.msg if isinstance(error, ModuleError) else str(error)
            problem = "%s: %s" % (change.label, reason.rstrip("."))
            if isinstance(error, WriteError) and error.read_only:
                kept = [applied for applied in done if applied.live]
                undone = [applied for applied in done if not applied.live]
                message = _rolled_back(problem, undone, kept)
                raise ModuleError(message, applied=[], failed=change.label, persisted=False,
                                  kept_live=[applied.label for applied in kept])
            # A reason that is sentences already ("... were restored.") gets no second period.
            raise ModuleError(_rolled_back(problem, done), applied=[], failed=change.label)
        done.append(change)
    return [change.label for change in done]


def _rolled_back(problem, done, kept=()):
    if kept:
        problem += ". Kept live until the next boot (nothing of it persisted): %s" % ", ".join(
            change.label for change in kept)
    failed = []
    for change in reversed(done):
        if change.undo is None:
            failed.append("%s (cannot be undone)" % change.label)
            continue
        try:
            change.undo()
        except (ModuleError, WriteError, OSError) as error:
            failed.append("%s (%s)" % (change.label, error.msg if isinstance(error, ModuleError) else error))
    message = problem
    if done:
        message += ". Changes made before it in this run were undone"
        if failed:
            message += ", except: %s" % "; ".join(failed)
    elif not kept:
        message += ". Nothing was changed"
    return message + "."
