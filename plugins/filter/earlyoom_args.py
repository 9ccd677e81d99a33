# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rock5b.oom.earlyoom_args filter: earlyoom's arguments from the monitor role's thresholds."""

from __future__ import annotations

DOCUMENTATION = r"""
name: earlyoom_args
author:
  - rock5b.oom contributors (!UNKNOWN)
version_added: 0.2.0
short_description: earlyoom's arguments from the low-memory monitor's settings
description:
  - The arguments P(rock5b.oom.monitor#role) gives Debian's earlyoom with C(monitor_backend=earlyoom),
    after the executable, from the same settings its own monitor reads.
  - O(_input) (C(monitor_critical)) is the SIGTERM level - a size (V(100M)) becomes C(-M) in KiB, a
    percentage of MemTotal (V(5%)) C(-m); earlyoom sends SIGKILL at half of it.
  - O(count_swap) false adds C(-s 100) (earlyoom ignores swap); true keeps earlyoom's own swap
    minimum (10 % of swap free).
  - O(avoid) and O(prefer) become C(--avoid) and C(--prefer), each an anchored extended regular
    expression of the names, escaped (C(^(sshd|systemd\)$)); an empty list leaves the flag out.
    Names in O(avoid) are cut to 15 bytes as the kernel keeps a process name; a name in O(prefer)
    that is not a process name (empty, longer than 15 bytes, a control character) fails the templating.
  - Also C(-r 3600), one memory report an hour (earlyoom 1.7 reports every second by default).
positional: _input
options:
  _input:
    description: The SIGTERM level, as C(monitor_critical) takes it.
    type: str
    required: true
  count_swap:
    description: Whether free swap counts as available memory (C(monitor_count_swap)).
    type: bool
    default: true
  avoid:
    description: Process names (comm) earlyoom avoids killing.
    type: list
    elements: str
    default: []
  prefer:
    description: Process names (comm) earlyoom kills first.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
# ['-r', '3600', '-M', '102400', '-s', '100', '--avoid', '^(sshd|systemd)$', '--prefer', '^(chromium)$']
- name: earlyoom's arguments
  ansible.builtin.debug:
    msg: "{{ '100M' | rock5b.oom.earlyoom_args(count_swap=false, avoid=['sshd', 'systemd'], prefer=['chromium']) }}"
"""

RETURN = r"""
_value:
  description: The arguments, executable not included.
  type: list
  elements: str
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.rock5b.oom.plugins.module_utils.killer_backends import earlyoom_args as _earlyoom_args


def _names(value, option):
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise AnsibleFilterError("earlyoom_args: %s must be a list of process names, got %r" % (option, value))
    return list(value)


def earlyoom_args(critical, count_swap=True, avoid=(), prefer=()):
    """earlyoom's arguments; AnsibleFilterError naming the variables at fault."""
    if not isinstance(count_swap, bool):
        raise AnsibleFilterError("earlyoom_args: count_swap must be a boolean, got %r" % (count_swap,))
    try:
        return _earlyoom_args(critical, count_swap, _names(avoid, "avoid"), _names(prefer, "prefer"))
    except ValueError as error:
        raise AnsibleFilterError("earlyoom_args: %s" % error)


class FilterModule:
    """rock5b.oom filters."""

    def filters(self):
        return {"earlyoom_args": earlyoom_args}
