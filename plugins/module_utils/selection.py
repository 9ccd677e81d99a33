# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choosing processes: the selectors (pid, comm, pattern, unit, pidfile) and the guards.

Used by every module that acts on processes (oom_score_adj, cgroup_memory). A selector is
validated before anything is read; ``select`` returns the matching pids of a process table
(``procfs.processes.list_processes``) with the guarded ones left out, so no module can pick:

- PID 1 (init: the kernel never OOM-kills it, and moving it into a limited cgroup or changing
  its score only harms the board),
- kernel threads and zombies (``list_processes`` leaves them out of the table),
- the module's own process and its ancestors in the same systemd unit or scope (the Python
  wrapper, the shell, sudo, the SSH login Ansible runs it from: a pattern such as ``python`` or
  ``^`` would match them). The chain stops at the first ancestor in another unit: the sshd
  listener that forked the login (``ssh.service``) is a daemon to protect, not Ansible's.
"""

from __future__ import annotations

import os
import re

from ansible_collections.rock5b.oom.plugins.module_utils import paths
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import processes

SELECTOR_KEYS = ("pid", "comm", "pattern", "unit", "pidfile")
INIT_PID = 1
# The module's own pid (tests set it to a pid of their fake tree).
SELF_PID = os.getpid()
# Why a selector that matched only guarded processes selects nothing.
GUARD_NOTE = "PID 1 and this module's own process chain are never selected"
# The most processes one selector may give a protective (negative) score unless the caller allows
# more: a board's daemons (sshd's listener, journald, dbus, the monitor, a broker) are one to a
# few processes each; a selector past this is almost surely broader than meant.
MAX_PROTECTED = 16
# Unlike characters: a pattern that finds something in each of them (".", "\\S", "[^x]") finds
# something in any command line.
_PROBES = ("/", "a", "Z", "0", "-", ".", "_", "[", "@", ":")
# systemd units of user sessions: a login's scope and a user's own service manager.
_SESSION_UNIT = re.compile(r"^(session-[^/]+\.scope|user@[0-9]+\.service)$")


def validate(selector):
    """Check and normalize the selector keys of ``selector`` (a dict) in place.

    Adds ``regex`` (the compiled pattern) and normalizes ``unit`` (``ssh`` -> ``ssh.service``).
    Returns a list of problems (empty when it is valid); reads nothing.
    """
    problems = []
    if selector.get("pid") is not None and selector.get("pidfile") is not None:
        problems.append("pid and pidfile each name one process and cannot be combined")
    if isinstance(selector.get("pid"), bool):
        problems.append("pid must be a number, got the boolean %s" % selector["pid"])
    elif selector.get("pid") is not None and selector["pid"] <= 0:
        problems.append("pid must be > 0, got %d" % selector["pid"])
    if selector.get("comm") is not None and not selector["comm"]:
        problems.append("comm is empty")
    selector["regex"] = None
    if selector.get("pattern") is not None:
        try:
            selector["regex"] = re.compile(selector["pattern"])
        except re.error as error:
            problems.append("pattern %r is not a valid regular expression: %s" % (selector["pattern"], error))
    if selector.get("unit") is not None:
        given = selector["unit"]
        selector["unit"] = processes.normalize_unit(given)
        if not processes.valid_unit(selector["unit"]) or selector["unit"].startswith("-"):
            problems.append("unit %r is not a valid systemd unit name" % given)
    if selector.get("pidfile") is not None and paths.absolute_problem(selector["pidfile"], "pidfile"):
        problems.append(paths.absolute_problem(selector["pidfile"], "pidfile"))
    return problems


def describe(selector):
    """``comm=sshd, pattern=^/usr/sbin`` for messages."""
    return ", ".join("%s=%s" % (key, selector[key]) for key in SELECTOR_KEYS if selector.get(key) is not None)


def own_chain(table, self_pid=None, whole=False):
    """The module's pid and its ancestors in ``table`` that run in the same systemd unit as it.

    That is how Ansible reaches the module: the wrapper, the shell, sudo, and the login scope
    (``session-3.scope``) or the service (ansible-pull) it runs from. The walk stops at the
    first ancestor in another unit - the sshd listener (``ssh.service``) that forked the login
    is a daemon to protect - and before PID 1. With ``whole`` it goes on up to PID 1: what a
    change must not touch when it could cut the connection (moving the sshd listener into a
    limited cgroup).
    """
    pid = SELF_PID if self_pid is None else self_pid
    chain = set()
    while pid > INIT_PID and pid not in chain:
        chain.add(pid)
        if pid not in table:
            break
        parent = table[pid]["ppid"]
        if not whole and parent in table and table[parent]["unit"] != table[pid]["unit"]:
            break
        pid = parent
    return chain


def guarded(table, whole_chain=False):
    """Pids no selector may return: PID 1 and the module's own chain (``whole_chain``: up to PID 1)."""
    return own_chain(table, whole=whole_chain) | {INIT_PID}


def _matches(table, selector, unit_names, pidfile_pid):
    return match(
        table, pid=selector.get("pid"), comm=selector.get("comm"), pattern=selector.get("regex"),
        unit=selector.get("unit"), units=unit_names, pidfile_pid=pidfile_pid)


def select(table, selector, unit_names=None, pidfile_pid=None, whole_chain=False):
    """Pids of ``table`` matching every key of a validated ``selector``, guarded ones left out.

    ``unit_names`` are the names the selector's unit is known by (its aliases); ``pidfile_pid``
    the pid its pidfile names (0 for a missing pidfile: it selects nothing); ``whole_chain``
    guards every ancestor of the module up to PID 1 (see own_chain).
    """
    refused = guarded(table, whole_chain)
    return [pid for pid in _matches(table, selector, unit_names, pidfile_pid)
            if pid not in refused and not table[pid].get("kernel_thread")]


def refused(table, selector, unit_names=None, pidfile_pid=None):
    """The guarded pids ``selector`` matches - what select() left out - for a message that says
    why a selector chose nothing (see GUARD_NOTE)."""
    chosen = guarded(table)
    return [pid for pid in _matches(table, selector, unit_names, pidfile_pid) if pid in chosen]


def unguarded(table, pids):
    """``pids`` without the guarded ones (for a selection widened to descendants)."""
    chosen = guarded(table)
    return [pid for pid in pids if pid not in chosen]


# --- the guard against protecting too much -------------------------------------------------------

def universal_pattern(pattern):
    """Whether the regular expression ``pattern`` (text) obviously matches every command line:
    it matches the empty string (``.*``, ``^``, ``""``, ``x*``) or any single character (``.``,
    ``\\S``). Such a pattern matches every process that will ever run, whatever matches now.
    An invalid pattern is not universal (validate() reports it)."""
    try:
        regex = re.compile(pattern)
    except (re.error, TypeError):
        return False
    return regex.search("") is not None or all(regex.search(probe) for probe in _PROBES)


def session_unit(unit):
    """Whether ``unit`` holds a user's session: a login (``session-3.scope``) or the user's own
    service manager and what it runs (``user@1000.service``)."""
    return bool(unit) and bool(_SESSION_UNIT.match(unit))


def max_protected_problem(value, option="max_protected"):
    """Why ``value`` cannot be a limit of protected processes per selector (None when it can)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "%s must be a whole number, got %r" % (option, value)
    if value < 1:
        return "%s must be at least 1, got %d" % (option, value)
    return None


def broad_negative_problem(selector, matched, table, limit=MAX_PROTECTED):
    """Why a protective (negative) score for the pids ``matched`` by ``selector`` is refused;
    None when it is not.

    Refused: a pattern that matches everything (universal_pattern: every later process too, and
    the monitor protects what an entry's pattern matches), more than ``limit`` processes, PID 1, a
    kernel thread, or a process of a user's session (session_unit: a login shell and everything
    run from it would become unkillable). With nothing killable left, the kernel panics on the
    next OOM. The caller adds the entry's name and how to override.
    """
    if selector.get("pattern") is not None and universal_pattern(selector["pattern"]):
        return "pattern %r matches every process" % selector["pattern"]
    if len(matched) > limit:
        return "it matches %d processes, more than %d" % (len(matched), limit)
    for pid in matched:
        process = table.get(pid, {})
        if pid == INIT_PID or process.get("kernel_thread"):
            return "it matches pid %d (%s), %s" % (pid, process.get("comm"), "PID 1" if pid == INIT_PID else "a kernel thread")
        if session_unit(process.get("unit")):
            return "it matches pid %d (%s) of the user session %s" % (pid, process.get("comm"), process["unit"])
    return None


# --- the process tree and matching (pure functions over a process table) -------------------------

def children_map(table):
    """ppid -> [pids] over a process table."""
    children = {}
    for pid in sorted(table):
        children.setdefault(table[pid]["ppid"], []).append(pid)
    return children


def descendants(table, pids):
    """All descendants (children, grandchildren, ...) of ``pids`` in ``table``, sorted."""
    children = children_map(table)
    found, todo = set(), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return sorted(found - set(pids))


def main_processes(table, pids):
    """Those of ``pids`` whose parent is not among them: the daemon, not what it forked."""
    chosen = set(pids)
    return sorted(pid for pid in chosen if table[pid]["ppid"] not in chosen)


def match(table, pid=None, comm=None, pattern=None, unit=None, units=None, pidfile_pid=None):
    """Pids in ``table`` matching every selector given (intersection), sorted.

    ``comm`` is compared with the kernel's comm, which holds at most 15 characters: a longer
    name is compared by its first 15. ``pattern`` is a compiled regular expression searched
    in the command line. ``unit`` matches the process's systemd unit; ``units`` is a set of
    names the unit is known by (the unit and its aliases). ``pidfile_pid`` is the pid a
    pidfile named (a missing pidfile selects nothing: pass 0).
    """
    names = set(units or ()) | ({unit} if unit else set())
    chosen = []
    for candidate in sorted(table):
        process = table[candidate]
        if pid is not None and candidate != pid:
            continue
        if pidfile_pid is not None and candidate != pidfile_pid:
            continue
        if comm is not None and process["comm"] != comm[:processes.COMM_LEN]:
            continue
        if pattern is not None and not pattern.search(process["cmdline"]):
            continue
        if names and process["unit"] not in names:
            continue
        chosen.append(candidate)
    return chosen
