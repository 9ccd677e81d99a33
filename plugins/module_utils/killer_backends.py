# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor role's ``monitor_backend`` other than its own monitor: what the role hands earlyoom.

earlyoom(1) (Debian 12: 1.7, Debian 13: 1.8) is configured from the monitor's thresholds:

- ``monitor_critical`` is the SIGTERM level: a size becomes ``-M <KiB>``, a percentage of
  MemTotal ``-m <percent>``; earlyoom sends SIGKILL at half of it (its default).
- earlyoom acts only once memory **and** swap are low. ``monitor_count_swap: false`` (the
  monitor ignores swap) is ``-s 100`` (earlyoom's way to ignore swap); ``true`` keeps earlyoom's
  swap minimum (10 % of swap free): a ``-S`` above the board's swap total would stop earlyoom
  from starting, and the role does not know that total.
- The comms the monitor protects become ``--avoid``, the ones to kill first ``--prefer``: an
  anchored POSIX extended regular expression, each name escaped, matched by earlyoom against
  ``/proc/<pid>/comm``.

Controller side (the rock5b.oom.earlyoom_args filter and the ``comm`` value rule); standard
library and procfs only.
"""

from __future__ import annotations

import re

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import processes, sizes

# earlyoom's periodic memory report; 1.7 defaults to one a second. The operator's
# EARLYOOM_ARGS come after the role's arguments, so an -r there wins.
REPORT_INTERVAL_S = 3600
# Flags the role sets (and the operator's EARLYOOM_ARGS must not repeat).
ROLE_FLAGS = ("-m", "-M", "-s", "-S", "--avoid", "--prefer")
# POSIX extended regular expressions: the characters that mean something outside brackets.
_ERE_SPECIAL = re.compile(r"([\\.\[\]{}()*+?^$|])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def comm_problem(value, name):
    """Why ``value`` cannot be a process name (comm) as the kernel keeps it, or None.

    A comm is 1 to 15 bytes (TASK_COMM_LEN 16 with its NUL) without control characters; a longer
    name never matches, as the kernel keeps only its first 15 bytes."""
    if isinstance(value, bool) or not isinstance(value, str):
        return "%s: %r is not a process name (a string)" % (name, value)
    if not value:
        return "%s: a process name is empty" % name
    if _CONTROL.search(value):
        return "%s: %r holds a control character, which no process name does" % (name, value)
    encoded = value.encode("utf-8", "surrogateescape")
    if len(encoded) > processes.COMM_LEN:
        kept = encoded[:processes.COMM_LEN].decode("utf-8", "ignore")
        return ("%s: %r is longer than a process name (comm, %d bytes): the kernel shows it as %r; write that"
                % (name, value, processes.COMM_LEN, kept))
    return None


def truncated_comm(value):
    """``value`` as the kernel keeps it: its first 15 bytes (a character cut in two is dropped)."""
    return value.encode("utf-8", "surrogateescape")[:processes.COMM_LEN].decode("utf-8", "ignore")


def comm_regex(comms):
    """An ERE matching exactly these comms (``^(sshd|systemd)$``, each escaped); None for none."""
    names = []
    for comm in comms:
        escaped = _ERE_SPECIAL.sub(r"\\\1", comm)
        if escaped not in names:
            names.append(escaped)
    return "^(%s)$" % "|".join(names) if names else None


def _number(value):
    """``5.0`` -> ``5``, ``2.5`` -> ``2.5``: earlyoom reads both with strtod."""
    return ("%.6f" % value).rstrip("0").rstrip(".")


def earlyoom_args(critical, count_swap, avoid_comms, prefer_comms):
    """earlyoom's arguments (after the executable) from the monitor's settings.

    ``avoid_comms``: the comms the monitor protects, cut to 15 bytes as the kernel keeps them;
    ``prefer_comms``: names refused unless each is a valid comm. Raises ValueError with the
    problems, naming the variables."""
    problems = [problem for problem in (comm_problem(comm, "monitor_prefer_comms[%d]" % index)
                                        for index, comm in enumerate(prefer_comms)) if problem]
    problems += ["monitor_protect_comms: %r is not a process name" % (comm,)
                 for comm in avoid_comms if isinstance(comm, bool) or not isinstance(comm, str) or not comm]
    try:
        size_kib, percent = sizes.parse_size_or_percent(critical, "monitor_critical", unit=1024)
    except sizes.SizeError as error:
        problems.append(str(error))
    if problems:
        raise ValueError("; ".join(problems))
    args = ["-r", str(REPORT_INTERVAL_S)]
    args += ["-M", str(size_kib)] if percent is None else ["-m", _number(percent)]
    if not count_swap:
        args += ["-s", "100"]
    avoid = comm_regex([truncated_comm(comm) for comm in avoid_comms])
    if avoid:
        args += ["--avoid", avoid]
    prefer = comm_regex(prefer_comms)
    if prefer:
        args += ["--prefer", prefer]
    return args
