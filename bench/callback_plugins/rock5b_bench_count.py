# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counts, per host, what a playbook run executed on the boards (for bench/)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rock5b_bench_count
type: aggregate
short_description: Count module executions per board
description:
  - Counts per host the task results that executed a module on the board
    (C(ok), C(changed) or C(failed); not C(skipped), not C(unreachable)). A looped task counts
    once per item that ran. Actions that run only on the controller do not count -
    debug, assert, fail, set_fact, set_stats, meta, validate_argument_spec,
    rock5b.oom.validate_role_arguments, include_*,
    import_*, add_host, group_by, pause - nor tasks delegated to localhost.
  - It also traces, in the worker processes, every remote module the action plugins send
    (C(_execute_module) - a template or copy task sends stat, then copy or file) and every
    low-level command and file transfer. Under the mitogen strategy only the task results are counted.
  - Writes a JSON summary to E(ROCK5B_BENCH_COUNT_OUT) and prints a per-host table.
options: {}
"""

import json
import os
import tempfile
import time
from collections import defaultdict

from ansible.plugins.callback import CallbackBase

CONTROLLER_ONLY = frozenset((
    "debug", "assert", "fail", "set_fact", "set_stats", "meta", "validate_argument_spec",
    "validate_role_arguments",  # rock5b.oom's own: every role's argument spec in one task
    "include_tasks", "import_tasks", "include_role", "import_role", "include_vars",
    "include", "add_host", "group_by", "pause", "import_playbook",
))


def _short(action):
    return (action or "").rsplit(".", 1)[-1]


def _install_trace(path):
    """Wrap ActionBase in this (parent) process; forked workers inherit the wrapper and
    append one line per remote operation to ``path`` (O_APPEND lines are atomic)."""
    from ansible.plugins.action import ActionBase

    if getattr(ActionBase, "_rock5b_bench_traced", False):
        return

    def emit(action, kind, what, task_vars=None):
        try:
            tv = task_vars or getattr(action, "_rock5b_task_vars", None) or {}
            host = tv.get("inventory_hostname") or getattr(action._play_context, "remote_addr", "?")
            line = json.dumps({"host": host, "kind": kind, "what": what,
                               "task": action._task.get_name(), "uuid": action._task._uuid})
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except Exception:  # pylint: disable=broad-except
            pass  # never break a run for a statistic

    orig_run = ActionBase.run
    orig_module = ActionBase._execute_module
    orig_low = ActionBase._low_level_execute_command
    orig_transfer = ActionBase._transfer_data

    def _execute_module(self, module_name=None, module_args=None, tmp=None, task_vars=None, *a, **kw):
        if task_vars:
            self._rock5b_task_vars = task_vars
        emit(self, "module", module_name or self._task.action, task_vars)
        return orig_module(self, module_name, module_args, tmp, task_vars, *a, **kw)

    def run(self, tmp=None, task_vars=None):
        if task_vars:
            self._rock5b_task_vars = task_vars
        return orig_run(self, tmp, task_vars)

    def _low_level_execute_command(self, cmd, *a, **kw):
        emit(self, "command", cmd.split(" ", 1)[0] if cmd else "")
        return orig_low(self, cmd, *a, **kw)

    def _transfer_data(self, remote_path, data):
        emit(self, "transfer", os.path.basename(remote_path))
        return orig_transfer(self, remote_path, data)

    ActionBase.run = run
    ActionBase._execute_module = _execute_module
    ActionBase._low_level_execute_command = _low_level_execute_command
    ActionBase._transfer_data = _transfer_data
    ActionBase._rock5b_bench_traced = True


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "rock5b_bench_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counts = defaultdict(int)                          # host -> executions
        self.per_task = defaultdict(lambda: defaultdict(int))   # host -> task -> executions
        self.statuses = defaultdict(lambda: defaultdict(int))   # host -> status -> n
        self.start = time.monotonic()
        fd, self.trace = tempfile.mkstemp(prefix="rock5b-bench-trace-", suffix=".jsonl")
        os.close(fd)
        _install_trace(self.trace)

    # -- what counts ------------------------------------------------------------------------
    def _counts(self, result):
        task = result._task
        if _short(task.action) in CONTROLLER_ONLY:
            return False
        delegate = task.delegate_to
        if delegate and str(delegate) in ("localhost", "127.0.0.1"):
            return False
        return True

    def _add(self, result, status):
        if not self._counts(result):
            return
        host = result._host.get_name()
        name = result._task.get_name()
        self.counts[host] += 1
        self.per_task[host][name] += 1
        self.statuses[host][status] += 1

    def _is_loop(self, result):
        # A looped task's items were counted one by one (v2_runner_item_on_*). Not its result
        # having a "results" list: a module may return one (cgroup_memory with entries).
        task = result._task
        return bool(getattr(task, "loop", None) or getattr(task, "loop_with", None)) \
            and isinstance(result._result.get("results"), list)

    def v2_runner_on_ok(self, result):
        if not self._is_loop(result):
            self._add(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not self._is_loop(result):
            self._add(result, "failed")

    def v2_runner_item_on_ok(self, result):
        self._add(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_item_on_failed(self, result):
        self._add(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self.statuses[result._host.get_name()]["unreachable"] += 1

    # -- report -----------------------------------------------------------------------------
    def _read_trace(self):
        remote = defaultdict(lambda: defaultdict(int))      # host -> kind -> n
        per_task = defaultdict(lambda: defaultdict(list))   # host -> task -> [module names]
        try:
            with open(self.trace, encoding="utf-8") as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    remote[ev["host"]][ev["kind"]] += 1
                    if ev["kind"] == "module":
                        per_task[ev["host"]][ev["task"]].append(_short(ev["what"]))
        except OSError:
            pass
        finally:
            try:
                os.unlink(self.trace)
            except OSError:
                pass
        return remote, per_task

    def v2_playbook_on_stats(self, stats):
        remote, remote_per_task = self._read_trace()
        hosts = sorted(set(self.counts) | set(stats.processed) | set(remote))
        summary = {
            "wall_seconds": round(time.monotonic() - self.start, 3),
            "hosts": {
                h: {
                    "module_executions": self.counts.get(h, 0),
                    "statuses": dict(self.statuses.get(h, {})),
                    "per_task": dict(self.per_task.get(h, {})),
                    "remote_modules": remote.get(h, {}).get("module", 0),
                    "remote_commands": remote.get(h, {}).get("command", 0),
                    "remote_transfers": remote.get(h, {}).get("transfer", 0),
                    "remote_modules_per_task": {t: m for t, m in remote_per_task.get(h, {}).items()},
                }
                for h in hosts
            },
        }
        out = os.environ.get("ROCK5B_BENCH_COUNT_OUT")
        if out:
            with open(out, "w", encoding="utf-8") as f:
                json.dump(summary, f, indent=2, sort_keys=True)
        self._display.display("MODULE EXECUTIONS PER BOARD (rock5b_bench_count) " + "*" * 30)
        for h in hosts:
            s = summary["hosts"][h]
            self._display.display(
                "%-20s executions=%-3d remote_modules=%-3d commands=%-3d transfers=%-3d %s"
                % (h, s["module_executions"], s["remote_modules"], s["remote_commands"],
                   s["remote_transfers"], json.dumps(s["statuses"], sort_keys=True)))
